"""ToyPets: procedurally drawn animal faces with full ground truth (class, box, mask, part mask).

All animals share one face (round outlined head, eyes, muzzle, nose); only the ears, the
discriminative part, tell the classes apart: cat = pointy triangles on top, dog = long floppy
ears hanging at the sides (drawn in front of the head), rabbit = tall narrow upright ellipses,
bear = small round ears on top. Fur colour is drawn from a palette whatever the class.
Backgrounds are cluttered (gradient, stripes/checks/dots, rectangles, blobs, lines, pixel noise);
animals are drawn last, so clutter never covers them.

`compose` draws a `Scene` the learner describes (animals with class, position, size, fur and
ears, or another class's ears; a background seed and texture; an optional cue square) with the
same drawing code; `random_scene` makes a valid one and `check_scene` explains an invalid one.

Image ``i`` comes from its own generator ``np.random.default_rng([seed, SCENE_ID, i])``: a dataset
is a prefix of any larger one with the same arguments, bit for bit. Images are quantized to uint8
and back, and drawing uses only IEEE-exact arithmetic (+ - * / sqrt, comparisons; no sin or exp),
so pixels are exactly reproducible across machines and hashable.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

CLASSES = ("cat", "dog", "rabbit", "bear")
SCENES = ("single", "multi", "pair", "biased")
SCENE_IDS = {name: k for k, name in enumerate(SCENES)}
SPLITS = {"train": (6000, 1101), "val": (500, 2202), "test": (1000, 3303)}  # (count, base seed)
# head radius range at size 64 (scaled with size); "multi3": multi scenes with three animals
RADIUS = {
    "single": (10.0, 15.0),
    "biased": (10.0, 15.0),
    "pair": (8.0, 11.0),
    "multi": (7.5, 10.0),
    "multi3": (7.0, 8.5),
}

_f32 = lambda *rows: np.array(rows, np.float32)  # noqa: E731
# ginger, brown, grey, cream, white, dark brown, charcoal, golden
FUR_COLOURS = _f32(
    (0.86, 0.52, 0.22),
    (0.56, 0.36, 0.20),
    (0.62, 0.62, 0.64),
    (0.94, 0.86, 0.70),
    (0.96, 0.95, 0.93),
    (0.38, 0.26, 0.16),
    (0.34, 0.34, 0.37),
    (0.82, 0.68, 0.36),
)
# saturated red, green, blue, magenta: one per class (the biased scene's cue)
CUE_COLOURS = _f32((0.95, 0.0, 0.0), (0.0, 0.85, 0.0), (0.0, 0.2, 1.0), (1.0, 0.0, 1.0))
OUTLINE, PINK, CREAM, EYE_WHITE, DARK = _f32(
    (0.06, 0.05, 0.04),
    (0.96, 0.64, 0.70),
    (0.98, 0.94, 0.86),
    (0.97, 0.97, 0.90),
    (0.08, 0.05, 0.05),
)
EAR_SCALE = (0.92, 1.08)  # random ear size factor, drawn for every animal whatever its class
TEXTURES = ("stripes", "checks", "dots", "plain")  # background patterns; plain: no distractors


@dataclass(frozen=True, eq=False)
class Animal:
    """One animal of a scene; ``box`` is (x0, y0, x1, y1), half-open, tight around ``mask``."""

    label: int
    name: str
    box: tuple
    mask: torch.Tensor  # (H, W) bool: head and ears
    part: torch.Tensor  # (H, W) bool: the visible ear pixels
    center: tuple  # (cx, cy) of the head, in pixels
    ears: int | None = None  # the class whose ears are drawn, -1 when hidden (None: its own)

    def __post_init__(self):
        if self.ears is None:
            object.__setattr__(self, "ears", self.label)


@dataclass(frozen=True)
class Pet:
    """One animal of a `Scene`; ``ears``: "shown", "hidden" or the class whose ears it wears."""

    cls: int  # the animal's class (0 cat, 1 dog, 2 rabbit, 3 bear): fur and ear colours follow it
    x: float  # head centre, pixels (at the scene size)
    y: float
    size: float = 12.0  # head radius in pixels at size 64 (scaled with the scene size)
    fur: int = 0  # index into FUR_COLOURS
    ears: int | str = "shown"


@dataclass(frozen=True)
class Scene:
    """A scene to `compose`: one to three pets on a seeded background."""

    pets: tuple  # of Pet, one to three
    background: int = 0  # seed of the clutter (gradient, pattern, distractors, pixel noise)
    texture: str = "stripes"  # one of TEXTURES; "plain": no pattern, no distractors
    cue: int | None = None  # None, or a class: the biased scene's corner square in CUE_COLOURS[cue]
    size: int = 64


@dataclass(frozen=True, eq=False)
class Composed:
    """What `compose` returns: the image, its animals and the cue square's mask."""

    image: torch.Tensor  # (3, S, S) float32 in [0, 1], quantized to uint8 like ToyPets
    objects: list  # of Animal, in the order of the scene's pets
    cue_mask: torch.Tensor  # (S, S) bool


# ---- shapes, in head units (radius 1, centre 0, y pointing down) ----------------------------
# ("c", x, y, radius) | ("e", x, y, half-width, half-height, cos, sin) | ("t", vertices, edges)


def _ellipse(x, y, a, b, tilt):
    """Ellipse with half-axes a (across) and b (along), turned by the angle of sine ``tilt``."""
    return ("e", x, y, a, b, math.sqrt(1.0 - tilt * tilt), tilt)


def _triangle(*pts):
    """Triangle with its three edges as inward lines (nx, ny, off): distance = nx*u + ny*v + off."""
    edges = []
    for k in range(3):
        (ax, ay), (bx, by), (qx, qy) = pts[k], pts[(k + 1) % 3], pts[(k + 2) % 3]
        n = math.sqrt((bx - ax) ** 2 + (by - ay) ** 2)
        nx, ny = (ay - by) / n, (bx - ax) / n
        sign = 1.0 if nx * (qx - ax) + ny * (qy - ay) > 0 else -1.0
        edges.append((sign * nx, sign * ny, -sign * (nx * ax + ny * ay)))
    return ("t", tuple(pts), tuple(edges))


def _pair(s):
    """A left ear and its mirror image in the head's vertical axis."""
    if s[0] == "c":
        return s, ("c", -s[1], s[2], s[3])
    if s[0] == "e":
        return s, ("e", -s[1], *s[2:6], -s[6])
    return s, _triangle(*[(-x, y) for x, y in s[1]])


def _extent(s):
    """Bounding box (x0, y0, x1, y1) of a shape."""
    if s[0] == "c":
        return (s[1] - s[3], s[2] - s[3], s[1] + s[3], s[2] + s[3])
    if s[0] == "e":
        _, x, y, a, b, c, sn = s
        hw, hh = math.sqrt((a * c) ** 2 + (b * sn) ** 2), math.sqrt((a * sn) ** 2 + (b * c) ** 2)
        return (x - hw, y - hh, x + hw, y + hh)
    xs, ys = zip(*s[1])
    return (min(xs), min(ys), max(xs), max(ys))


def _inside(s, u, v):
    """Signed distance to a shape's edge at (u, v), positive inside (exact sign, close size)."""
    if s[0] == "c":
        return s[3] - np.sqrt((u - s[1]) ** 2 + (v - s[2]) ** 2)
    if s[0] == "e":
        _, x, y, a, b, c, sn = s
        p, q = ((u - x) * c + (v - y) * sn) / a, ((v - y) * c - (u - x) * sn) / b
        return (1.0 - p * p - q * q) / np.maximum(2.0 * np.sqrt((p / a) ** 2 + (q / b) ** 2), 1e-6)
    (a, b, c) = s[2]
    d = np.minimum(a[0] * u + a[1] * v + a[2], b[0] * u + b[1] * v + b[2])
    return np.minimum(d, c[0] * u + c[1] * v + c[2])


# per class: (ears drawn in front of the head?, outer ears, inner ears)
EARS = {
    "cat": (
        False,
        _pair(_triangle((-0.98, -0.20), (-0.20, -0.96), (-0.90, -1.66))),
        _pair(_triangle((-0.84, -0.52), (-0.45, -0.90), (-0.80, -1.25))),
    ),
    "dog": (True, _pair(_ellipse(-0.98, 0.12, 0.34, 0.80, 0.30)), ()),
    "rabbit": (
        False,
        _pair(_ellipse(-0.44, -1.42, 0.28, 0.80, -0.16)),
        _pair(_ellipse(-0.44, -1.36, 0.13, 0.58, -0.16)),
    ),
    "bear": (False, _pair(("c", -0.74, -0.76, 0.42)), _pair(("c", -0.76, -0.79, 0.22))),
}
MUZZLE, NOSE = _ellipse(0.0, 0.40, 0.44, 0.30, 0.0), _ellipse(0.0, 0.25, 0.17, 0.11, 0.0)
EYES, PUPILS = _pair(("c", -0.38, -0.12, 0.18)), _pair(("c", -0.37, -0.11, 0.11))


def _class_extent(cls):
    """Box around head and ears at the largest ear scale, in head units: safe for placement."""
    ears = [[EAR_SCALE[1] * t for t in _extent(s)] for s in EARS[cls][1]]
    boxes = [(-1.0, -1.0, 1.0, 1.0)] + ears
    return np.array([f(b[k] for b in boxes) for k, f in enumerate((min, min, max, max))])


CLASS_EXTENT = {c: _class_extent(c) for c in CLASSES}
HEAD_EXTENT = np.array([-1.0, -1.0, 1.0, 1.0])  # an animal without ears


def _extent_of(ears):
    """Safe box in head units of an animal wearing class ``ears``'s ears (-1: none)."""
    return CLASS_EXTENT[CLASSES[ears]] if ears >= 0 else HEAD_EXTENT


# the box that holds an animal of any class: single scenes place it, so position tells no class
ENVELOPE = np.array(
    [f(CLASS_EXTENT[c][k] for c in CLASSES) for k, f in enumerate((min, min, max, max))]
)
_GRIDS = {}


def _grid(size):
    """Pixel-centre coordinates: 1-D vector c and 2-D grids (X, Y), float32, cached per size."""
    if size not in _GRIDS:
        c = np.arange(size, dtype=np.float32) + np.float32(0.5)
        grid = np.broadcast_to(c[None, :], (size, size)), np.broadcast_to(c[:, None], (size, size))
        _GRIDS[size] = (c, *grid)
    return _GRIDS[size]


# ---- drawing: images are channel-first float32 arrays (3, H, W) -----------------------------


def _paint(win, inside, colour, inset=0.0):
    np.copyto(win, colour[:, None, None], where=inside > inset)


def _draw_animal(img, cls, cx, cy, r, es, fur, ears=None):
    """Draw one animal onto ``img``; return its window's corner (y0, x0), mask and part in it.

    ``ears``: the class whose ears are drawn (default ``cls``), -1 for none; the colours of fur
    and ears follow ``cls``, the shapes (and whether they hang in front) follow ``ears``.
    """
    ears = cls if ears is None else ears
    front, outer, inner = EARS[CLASSES[ears]] if ears >= 0 else (False, (), ())
    (_, X, Y), ext, size = _grid(img.shape[1]), _extent_of(ears) * r, img.shape[1]
    x0, y0 = max(int(cx + ext[0]) - 1, 0), max(int(cy + ext[1]) - 1, 0)
    x1, y1 = min(int(cx + ext[2]) + 2, size), min(int(cy + ext[3]) + 2, size)
    win = img[:, y0:y1, x0:x1]
    u, v = (X[y0:y1, x0:x1] - cx) / r, (Y[y0:y1, x0:x1] - cy) / r  # head units
    w = max(1.0, 0.09 * r) / r  # outline width
    head = _inside(("c", 0.0, 0.0, 1.0), u, v)
    ear_dists = [_inside(s, u / es, v / es) * es for s in outer]
    ear_colour = fur * np.float32(0.68) if cls == 1 else fur  # dogs: darker ears
    inner_colour = fur * np.float32(0.62) if cls == 3 else PINK  # bears: darker inner ears

    def draw_ears():
        for d in ear_dists:
            _paint(win, d, OUTLINE)
            _paint(win, d, ear_colour, w)
        for s in inner:
            _paint(win, _inside(s, u / es, v / es), inner_colour)

    if not front:
        draw_ears()
    _paint(win, head, OUTLINE)
    _paint(win, head, fur, w)
    # the face features lie inside the head: draw them in the head's window
    hy = slice(max(int(cy - r) - y0, 0), int(cy + r) + 2 - y0)
    hx = slice(max(int(cx - r) - x0, 0), int(cx + r) + 2 - x0)
    fw, fu, fv = win[:, hy, hx], u[hy, hx], v[hy, hx]
    _paint(fw, _inside(MUZZLE, fu, fv), fur * np.float32(0.35) + CREAM * np.float32(0.65))
    _paint(fw, _inside(NOSE, fu, fv), DARK)
    for eye, pupil in zip(EYES, PUPILS):
        _paint(fw, _inside(eye, fu, fv), EYE_WHITE)
        _paint(fw, _inside(pupil, fu, fv), DARK)
    if front:
        draw_ears()
    head_mask, ear_mask = head > 0, np.zeros(head.shape, bool)
    for d in ear_dists:
        ear_mask |= d > 0
    return (y0, x0), head_mask | ear_mask, (ear_mask if front else ear_mask & ~head_mask)


def _unit(rng):
    """A random direction (cos, sin) as Python floats, without trigonometry."""
    x, y = rng.normal(size=2).tolist()
    n = max(math.sqrt(x * x + y * y), 1e-9)
    return x / n, y / n


def _hits(box, boxes):
    return any(box[0] < k[2] and k[0] < box[2] and box[1] < k[3] and k[1] < box[3] for k in boxes)


def _background(rng, size, animals, cue, texture=None, clutter=None):
    """Gradient, stripes/checks/dots and 4-7 distractors, float32 (3, size, size).

    No distractor touches a ``cue`` box; no round blob touches an ``animals`` box (next to a
    head, a blob could pass for an ear). Animals are drawn later, over everything. ``texture``
    (one of TEXTURES) sets the pattern, None draws it from ``rng``; the distractors come from
    the generator ``clutter`` (default ``rng``).
    """
    s, (c, X, Y) = size / 64.0, _grid(size)
    c0, c1 = rng.uniform(0.15, 0.85, (2, 3, 1, 1)).astype(np.float32)
    dx, dy = _unit(rng)
    t = ((c[None, :] - size / 2) * dx + (c[:, None] - size / 2) * dy) / size + 0.5
    img = c0 + t * (c1 - c0)
    if texture == "plain":
        return img
    amp, period, kind = rng.uniform(0.06, 0.16), rng.uniform(4, 11) * s, rng.integers(3)
    kind = kind if texture is None else TEXTURES.index(texture)
    if kind == 0:  # stripes in a random direction
        dx, dy = _unit(rng)
        phase = (X * dx + Y * dy) / period
        pattern = (phase - np.floor(phase)) < 0.5
    elif kind == 1:  # checks
        k = np.floor(c / period)
        pattern = (k[None, :] + k[:, None]) % 2 > 0
    else:  # dots
        f = c / period - np.floor(c / period) - 0.5
        pattern = f[None, :] ** 2 + f[:, None] ** 2 < 0.09
    img += np.where(pattern, np.float32(amp), np.float32(-amp))
    rng = rng if clutter is None else clutter
    for _ in range(rng.integers(4, 8)):
        kind, colour = rng.integers(3), rng.uniform(0.05, 0.95, 3).astype(np.float32)
        cx, cy, a, b = rng.uniform(0, size, 2).tolist() + (rng.uniform(3, 12, 2) * s).tolist()
        if kind == 0:  # rectangle
            box = (max(int(cx - a), 0), max(int(cy - b), 0), int(cx + a), int(cy + b))
            if not _hits(box, cue):
                img[:, box[1] : box[3], box[0] : box[2]] = colour[:, None, None]
            continue
        if kind == 1:  # blob: a turned ellipse
            shape, h = ("e", cx, cy, a, b, *_unit(rng)), max(a, b)
            x0, y0, x1, y1 = int(cx - h), int(cy - h), int(cx + h) + 2, int(cy + h) + 2
        else:  # line: a thick segment from (cx, cy) to (cx + ex, cy + ey)
            (ex, ey), width = _unit(rng), rng.uniform(0.6, 1.6) * s
            ex, ey = ex * 2 * a, ey * 2 * a
            x0, y0 = int(min(cx, cx + ex) - 2), int(min(cy, cy + ey) - 2)
            x1, y1 = int(max(cx, cx + ex) + 3), int(max(cy, cy + ey) + 3)
        x0, y0 = max(x0, 0), max(y0, 0)
        if _hits((x0, y0, x1, y1), cue) or (kind == 1 and _hits((x0, y0, x1, y1), animals)):
            continue
        px, py = X[y0:y1, x0:x1], Y[y0:y1, x0:x1]
        if kind == 1:
            inside = _inside(shape, px, py)
        else:
            px, py = px - cx, py - cy
            t = np.clip((px * ex + py * ey) / (ex * ex + ey * ey), 0.0, 1.0)
            inside = width - np.sqrt((px - t * ex) ** 2 + (py - t * ey) ** 2)
        _paint(img[:, y0:y1, x0:x1], inside, colour)
    return img


# ---- scenes ---------------------------------------------------------------------------------


def _cue_box(size):
    """The biased scene's cue square (x0, y0, x1, y1): 12x12 at 2 px from the corner at size 64."""
    m, c = round(2 * size / 64), round(12 * size / 64)
    return (m, m, m + c, m + c)


def _place(rng, extents, r_range, size, avoid=()):
    """Random positions for animals of safe boxes ``extents`` (head units), boxes >= 3 px apart
    and 1 px inside the image: list of (cx, cy, r, box), or None if it fails."""
    placed = []
    for extent in extents:
        r = rng.uniform(*r_range) * size / 64.0
        ext = (extent * r).tolist()
        for _ in range(50):
            cx = rng.uniform(1 - ext[0], size - 1 - ext[2])
            cy = rng.uniform(1 - ext[1], size - 1 - ext[3])
            box = (cx + ext[0], cy + ext[1], cx + ext[2], cy + ext[3])
            # a 3 px gap between these safe boxes leaves >= 2 px between tight pixel boxes
            grown = (box[0] - 3, box[1] - 3, box[2] + 3, box[3] + 3)
            if not _hits(grown, [p[3] for p in placed] + list(avoid)):
                placed.append((cx, cy, r, box))
                break
        else:
            return None
    return placed


def _grow(box, by):
    return (box[0] - by, box[1] - by, box[2] + by, box[3] + by)


def _record(cls, cx, cy, corner, mask, part):
    """An animal as (cls, tight box, centre, mask, part), the masks cropped to the box."""
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    by0, by1, bx0, bx1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    (y0, x0), crop = corner, (slice(by0, by1), slice(bx0, bx1))
    box = (int(x0 + bx0), int(y0 + by0), int(x0 + bx1), int(y0 + by1))
    return int(cls), box, (float(cx), float(cy)), mask[crop], part[crop]


def _animal(record, size, ears):
    """An `Animal` with full-size masks from a `_record`."""
    cls, (x0, y0, x1, y1), center, m, p = record
    mask = torch.zeros(size, size, dtype=torch.bool)
    part = torch.zeros(size, size, dtype=torch.bool)
    mask[y0:y1, x0:x1], part[y0:y1, x0:x1] = torch.from_numpy(m), torch.from_numpy(p)
    return Animal(cls, CLASSES[cls], (x0, y0, x1, y1), mask, part, center, ears)


def _add_noise(rng, img):
    """Pixel noise over the whole image, then quantized to uint8."""
    noise = rng.random(img.shape, dtype=np.float32) - np.float32(0.5)
    img += noise * np.float32(rng.uniform(0.04, 0.12))
    return np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8)


def _render(scene, seed, i, size, cue_agree, label):
    """Draw image ``i`` of a scene: (uint8 image (3, H, W), objects, cue label, cue box or None)."""
    rng = np.random.default_rng([seed, SCENE_IDS[scene], i])
    cue_label, cue_box, avoid = -1, None, []
    if scene == "biased":
        cue_box = _cue_box(size)
        avoid = [cue_box]
        agree, shift = rng.random(), int(rng.integers(1, 4))
        cue_label = label if agree < cue_agree else (label + shift) % 4
    if scene in ("single", "biased"):
        classes, r_range = [label], RADIUS[scene]
    elif scene == "multi":
        count = int(rng.integers(2, 4))
        classes, r_range = [label] * count, RADIUS["multi" if count == 2 else "multi3"]
    else:
        classes, r_range = [label, (label + int(rng.integers(1, 4))) % 4], RADIUS["pair"]
    # single scenes place the envelope of all classes, so position tells no class
    extents = [ENVELOPE] if len(classes) == 1 else [CLASS_EXTENT[CLASSES[c]] for c in classes]
    placed = None
    while placed is None:
        placed = _place(rng, extents, r_range, size, avoid)
    looks = [
        (rng.uniform(*EAR_SCALE), rng.integers(len(FUR_COLOURS)), rng.uniform(-0.04, 0.04, 3))
        for _ in placed
    ]  # (ear scale, fur colour, tint): never depends on the class
    img = _background(
        rng, size, [_grow(p[3], 2) for p in placed], [_grow(cue_box, 2)] if cue_box else []
    )
    if cue_box is not None:
        img[:, cue_box[1] : cue_box[3], cue_box[0] : cue_box[2]] = CUE_COLOURS[cue_label][
            :, None, None
        ]
    objects = []
    for cls, (cx, cy, r, _), (es, fur, tint) in zip(classes, placed, looks):
        fur = np.clip(FUR_COLOURS[fur] + tint, 0, 1).astype(np.float32)
        objects.append(_record(cls, cx, cy, *_draw_animal(img, cls, cx, cy, r, es, fur)))
    return _add_noise(rng, img), objects, cue_label, cue_box


def _labels(seed, scene, n):
    """Label of each image: every block of 4 consecutive images holds each class once, shuffled."""
    blocks = [
        np.random.default_rng([seed, 100 + SCENE_IDS[scene], b]).permutation(4)
        for b in range((n + 3) // 4)
    ]
    return np.concatenate(blocks)[:n] if blocks else np.zeros(0, np.int64)


class ToyPets(Dataset):
    """ToyPets scenes, all drawn at construction; ``ds[i]`` is (image [3, size, size], label).

    scene: "single" (one animal), "multi" (2-3 of one class), "pair" (two of different classes,
    labelled by the first) or "biased" (single, plus a coloured square in the top-left corner that
    has the label's colour with probability ``cue_agree`` and another class's colour otherwise).

    Attributes: ``images`` (N, 3, H, W) float32, ``labels`` (N,), ``masks`` and ``parts`` (N, H, W)
    bool (union of the animals' full and ear masks), ``cue_labels`` (N,) (-1 unless biased) and
    ``cue_masks`` (N, H, W) bool. ``objects(i)`` lists the animals of image i.
    """

    def __init__(self, n, scene="single", seed=0, size=64, cue_agree=1.0):
        if scene not in SCENES:
            raise ValueError(f"unknown scene {scene!r}; valid scenes are {', '.join(SCENES)}")
        self.n, self.scene, self.seed, self.size = int(n), scene, int(seed), int(size)
        self.cue_agree = cue_agree
        labels = _labels(self.seed, scene, self.n)
        u8 = np.empty((self.n, 3, size, size), np.uint8)
        masks, parts, cue_masks = np.zeros((3, self.n, size, size), bool)
        cue_labels = np.full(self.n, -1, np.int64)
        self._objects = []
        for i in range(self.n):
            u8[i], objs, cue_labels[i], cue = _render(
                scene, self.seed, i, size, cue_agree, int(labels[i])
            )
            for _, (x0, y0, x1, y1), _, m, p in objs:
                masks[i, y0:y1, x0:x1] |= m
                parts[i, y0:y1, x0:x1] |= p
            if cue is not None:
                cue_masks[i, cue[1] : cue[3], cue[0] : cue[2]] = True
            self._objects.append(objs)
        self.images = torch.from_numpy(u8).float().div_(255.0)
        self.labels = torch.from_numpy(labels.astype(np.int64))
        self.cue_labels = torch.from_numpy(cue_labels)
        self.masks, self.parts = torch.from_numpy(masks), torch.from_numpy(parts)
        self.cue_masks = torch.from_numpy(cue_masks)

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return self.images[i], int(self.labels[i])

    def objects(self, i):
        """The animals of image ``i``, a list of `Animal`; the labelled animal comes first."""
        return [_animal(record, self.size, record[0]) for record in self._objects[i]]


def split(name, scene="single", n=None, size=64, cue_agree=None):
    """The course's fixed split ``name`` ("train" 6000, "val" 500, "test" 1000 images) of a scene.

    Each (name, scene) pair has its own seed; ``n`` keeps the first n images of the split. For
    scene="biased", cue_agree defaults to 1.0 for train and val, 0.0 (bias-conflicting) for test.
    """
    if name not in SPLITS:
        raise ValueError(f"unknown split {name!r}; valid splits are {', '.join(SPLITS)}")
    count, base = SPLITS[name]
    if cue_agree is None:
        cue_agree = 0.0 if (scene == "biased" and name == "test") else 1.0
    seed = base * 10 + SCENE_IDS.get(scene, 0)  # ToyPets rejects an unknown scene
    return ToyPets(count if n is None else n, scene, seed, size, cue_agree)


def checksum(ds):
    """sha256 hex digest of a dataset's images as uint8 (N, 3, H, W) and its labels as int64."""
    h = hashlib.sha256(str(tuple(ds.images.shape)).encode())
    h.update(torch.round(ds.images * 255).to(torch.uint8).contiguous().numpy().tobytes())
    h.update(ds.labels.to(torch.int64).numpy().astype("<i8").tobytes())
    return h.hexdigest()


# ---- the scene builder ----------------------------------------------------------------------

COMPOSE_ID = 10  # generator stream of composed backgrounds, apart from the SCENE_IDS
GAP = 3  # px between two animals' safe boxes, or an animal's and the cue square (as `_place`)


def _ears_class(pet):
    """The class whose ears ``pet`` wears, -1 for none."""
    return pet.cls if pet.ears == "shown" else -1 if pet.ears == "hidden" else pet.ears


def _is_index(v, n):
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool) and 0 <= v < n


def _is_number(v):
    return isinstance(v, (int, float, np.integer, np.floating)) and math.isfinite(v)


def _safe_box(pet, scale):
    """(x0, y0, x1, y1) around head and ears at the largest ear scale, in pixels."""
    r, ext = pet.size * scale, _extent_of(_ears_class(pet))
    return (pet.x + ext[0] * r, pet.y + ext[1] * r, pet.x + ext[2] * r, pet.y + ext[3] * r)


def _gap(a, b):
    """Distance between two boxes along the axis where they are furthest apart (< 0: overlap)."""
    return max(b[0] - a[2], a[0] - b[2], b[1] - a[3], a[1] - b[3])


def _up(v):  # a distance to move, rounded up to 0.1 px
    return f"{math.ceil(v * 10 - 1e-6) / 10:.1f}"


def _down(v):  # a size limit, rounded down to 0.1 px
    return f"{math.floor(v * 10 + 1e-6) / 10:.1f}"


def _span(box):
    return f"x {box[0]:.1f} to {box[2]:.1f}, y {box[1]:.1f} to {box[3]:.1f}"


def _clearing_move(box, other, size, keep_clear=()):
    """The shortest move that takes ``box`` GAP px away from ``other``, keeps it in the image
    and GAP px from the ``keep_clear`` boxes: (px, "right by at least 1.5 px"), or None."""
    need = {
        "right": other[2] + GAP - box[0],
        "left": box[2] + GAP - other[0],
        "down": other[3] + GAP - box[1],
        "up": box[3] + GAP - other[1],
    }
    step = {"right": (1, 0), "left": (-1, 0), "down": (0, 1), "up": (0, -1)}
    fits = []
    for way, d in need.items():
        dx, dy = (float(_up(d)) * t for t in step[way])
        moved = (box[0] + dx, box[1] + dy, box[2] + dx, box[3] + dy)
        if (
            min(moved) >= 0
            and max(moved) <= size
            and all(_gap(moved, b) >= GAP for b in keep_clear)
        ):
            fits.append((d, way))
    return (min(fits)[0], f"{min(fits)[1]} by at least {_up(min(fits)[0])} px") if fits else None


def _outside_problem(pet, box, size, scale):
    """What is wrong if ``box`` (an animal's safe box) leaves the image, and the fix, or None."""
    ext = _extent_of(_ears_class(pet))
    for lo, hi, c, e0, e1, axis, edges, moves in (
        (box[0], box[2], pet.x, ext[0], ext[2], "x", ("left", "right"), ("right", "left")),
        (box[1], box[3], pet.y, ext[1], ext[3], "y", ("top", "bottom"), ("down", "up")),
    ):
        if lo >= 0 and hi <= size:
            continue
        where = (
            f"with its ears (at the largest ear scale) it spans {axis} {lo:.1f} to "
            f"{hi:.1f}, the image {axis} 0 to {size}"
        )
        if hi - lo > size:
            return f"is too big: {where}; make it smaller than {_down(size / (e1 - e0) / scale)} px"
        if lo < 0:
            fix = f"move it {moves[0]} by at least {_up(-lo)} px"
            room, e, edge = c, -e0, edges[0]
        else:
            fix = f"move it {moves[1]} by at least {_up(hi - size)} px"
            room, e, edge = size - c, e1, edges[1]
        if room > 0:
            fix += f" or make it smaller than {_down(room / e / scale)} px"
        return f"leaves the image at the {edge}: {where}; {fix}"
    return None


def check_scene(scene: Scene) -> None:
    """Raise ValueError naming the first problem of ``scene`` and how to fix it.

    An animal's box is its head and the ears it wears at the largest ear scale (CLASS_EXTENT):
    it must lie in the image, and be >= 3 px from every other animal's and from the cue square.
    """
    size, pets = scene.size, scene.pets
    if not _is_index(size, 4097) or size < 16:
        raise ValueError(f"scene size must be an integer from 16 to 4096, got {size!r}")
    if scene.texture not in TEXTURES:
        raise ValueError(f"unknown texture {scene.texture!r}; use one of {', '.join(TEXTURES)}")
    if scene.cue is not None and not _is_index(scene.cue, len(CLASSES)):
        raise ValueError(f"unknown cue {scene.cue!r}; use None (no cue) or a class index 0 to 3")
    if not _is_index(scene.background, 2**63):
        raise ValueError(f"background must be a seed, an integer >= 0, got {scene.background!r}")
    if not 1 <= len(pets) <= 3:
        fix = "add a Pet" if not pets else f"remove {len(pets) - 3} of them"
        raise ValueError(f"a scene holds 1 to 3 animals, this one has {len(pets)}: {fix}")
    classes = ", ".join(f"{k} {c}" for k, c in enumerate(CLASSES))
    for k, pet in enumerate(pets, 1):
        if not isinstance(pet, Pet):
            raise ValueError(f"animal {k} must be a Pet, got {type(pet).__name__}")
        if not _is_index(pet.cls, len(CLASSES)):
            raise ValueError(f"animal {k}: unknown class {pet.cls!r}; use one of {classes}")
        if not _is_index(pet.fur, len(FUR_COLOURS)):
            raise ValueError(
                f"animal {k}: unknown fur {pet.fur!r}; use 0 to "
                f"{len(FUR_COLOURS) - 1} (an index into FUR_COLOURS)"
            )
        if pet.ears not in ("shown", "hidden") and not _is_index(pet.ears, len(CLASSES)):
            raise ValueError(
                f'animal {k}: unknown ears {pet.ears!r}; use "shown", "hidden" '
                f"or a class index ({classes})"
            )
        if not (_is_number(pet.x) and _is_number(pet.y)):
            raise ValueError(f"animal {k}: position ({pet.x!r}, {pet.y!r}) must be two numbers")
        if not (_is_number(pet.size) and pet.size > 0):
            raise ValueError(f"animal {k}: size {pet.size!r} must be a number > 0")
    scale = size / 64.0
    boxes = [_safe_box(pet, scale) for pet in pets]
    names = [f"animal {k} ({CLASSES[pet.cls]})" for k, pet in enumerate(pets, 1)]
    for pet, box, name in zip(pets, boxes, names):
        problem = _outside_problem(pet, box, size, scale)
        if problem:
            raise ValueError(f"{name} {problem}")
    cues = [] if scene.cue is None else [_cue_box(size)]
    for cue in cues:
        for box, name in zip(boxes, names):
            gap = _gap(box, cue)
            if gap < GAP:
                what = "is over the cue square" if gap < 0 else "is too close to the cue square"
                move = _clearing_move(box, cue, size, [b for b in boxes if b is not box])
                raise ValueError(
                    f"{name} {what}: its box with ears spans {_span(box)}, the "
                    f"square {_span(cue)}; keep it at least {GAP} px away: "
                    + (f"move it {move[1]}" if move else "make it smaller")
                )
    for j in range(len(pets)):
        for k in range(j + 1, len(pets)):
            gap = _gap(boxes[j], boxes[k])
            if gap < GAP:
                what = (
                    f"overlap: their boxes with ears overlap by {_up(-gap)} px"
                    if gap < 0
                    else f"are too close: their boxes with ears are {_down(gap)} px apart"
                )
                # the shorter of the moves of either animal (the later one's if as short)
                others = cues + [b for i, b in enumerate(boxes) if i not in (j, k)]
                moves = [
                    (mv[0], -n, f"move animal {n + 1} {mv[1]}")
                    for n, m in ((k, j), (j, k))
                    if (mv := _clearing_move(boxes[n], boxes[m], size, others))
                ]
                fix = min(moves)[2] if moves else "make them smaller"
                raise ValueError(
                    f"animals {j + 1} ({CLASSES[pets[j].cls]}) and {k + 1} "
                    f"({CLASSES[pets[k].cls]}) {what}, they must be at least {GAP} "
                    f"px apart; {fix}"
                )


def compose(scene: Scene) -> Composed:
    """Draw ``scene`` (checked by `check_scene`) as ToyPets draws its images, ear scale 1.0.

    The background seed alone sets the clutter: gradient and pattern, distractors and pixel noise
    each come from their own generator, so moving an animal or changing the texture keeps the
    rest (only round blobs next to an animal are left out, as in ToyPets).
    """
    check_scene(scene)
    size, scale = scene.size, scene.size / 64.0
    rngs = [np.random.default_rng([int(scene.background), COMPOSE_ID, k]) for k in range(3)]
    cue = None if scene.cue is None else _cue_box(size)
    img = _background(
        rngs[0],
        size,
        [_grow(_safe_box(p, scale), 2) for p in scene.pets],
        [] if cue is None else [_grow(cue, 2)],
        scene.texture,
        rngs[1],
    )
    cue_mask = torch.zeros(size, size, dtype=torch.bool)
    if cue is not None:
        img[:, cue[1] : cue[3], cue[0] : cue[2]] = CUE_COLOURS[scene.cue][:, None, None]
        cue_mask[cue[1] : cue[3], cue[0] : cue[2]] = True
    objects = []
    for pet in scene.pets:
        cls, ears, cx, cy = int(pet.cls), int(_ears_class(pet)), float(pet.x), float(pet.y)
        drawn = _draw_animal(img, cls, cx, cy, pet.size * scale, 1.0, FUR_COLOURS[pet.fur], ears)
        objects.append(_animal(_record(cls, cx, cy, *drawn), size, ears))
    image = torch.from_numpy(_add_noise(rngs[2], img)).float().div_(255.0)
    return Composed(image, objects, cue_mask)


def random_scene(
    rng: np.random.Generator, n: int = 1, ears="shown", cue=None, texture=None, size: int = 64
) -> Scene:
    """A valid scene of ``n`` animals (random classes and fur, sizes in the RADIUS range of the
    matching ToyPets scene, boxes >= 3 px apart); ``ears`` for every animal; texture None: a
    random pattern (never plain)."""
    if not 1 <= n <= 3:
        raise ValueError(f"n must be 1, 2 or 3 animals, got {n!r}")
    classes = [int(c) for c in rng.integers(len(CLASSES), size=n)]
    wears = [_ears_class(Pet(c, 0.0, 0.0, ears=ears)) for c in classes]
    extents = [ENVELOPE] if n == 1 else [_extent_of(e) for e in wears]
    avoid = [] if cue is None else [_cue_box(size)]
    r_range = RADIUS[("single", "pair", "multi3")[n - 1]]
    placed = None
    while placed is None:
        placed = _place(rng, extents, r_range, size, avoid)
    pets = tuple(
        Pet(c, cx, cy, r * 64.0 / size, int(rng.integers(len(FUR_COLOURS))), ears)
        for c, (cx, cy, r, _) in zip(classes, placed)
    )
    texture = TEXTURES[int(rng.integers(3))] if texture is None else texture
    return Scene(pets, int(rng.integers(2**31)), texture, cue, size)


if __name__ == "__main__":
    torch.set_num_threads(1)  # numpy's elementwise work here is single-threaded already
    start = time.perf_counter()
    ToyPets(5000)
    took = time.perf_counter() - start
    print(
        f"ToyPets: 5000 single scenes at 64x64 in {took:.2f} s "
        f"({1000 * took / 5000:.2f} ms/image, 1 thread)"
    )

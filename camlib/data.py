"""ToyPets: procedurally drawn animal faces with full ground truth.

Every animal shares one face (round head, two eyes, a muzzle with a nose);
only the ears tell the four classes apart, so the ears are a known
discriminative part:

    cat     two pointy triangles on top of the head
    dog     two long floppy ears hanging down at the sides (drawn in front)
    rabbit  two tall narrow upright ellipses
    bear    two small round ears on top

Fur colour is drawn from a palette independently of the class. Backgrounds
are cluttered (colour gradient, stripes or checks, rectangles, blobs, lines,
pixel noise); clutter is drawn first and never covers an animal.

Each image ``i`` comes from its own generator
``np.random.default_rng([seed, SCENE_ID, i])``, so a dataset is a prefix of
any larger one with the same arguments, bit for bit. Images are quantized to
uint8 and back, so pixels are exactly reproducible and hashable.

Only IEEE-exact array arithmetic (+, -, *, /, sqrt, comparisons) is used
while drawing, never sin/exp, so pixels do not depend on the CPU's SIMD
flavour of transcendental functions.
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

FUR_COLOURS = np.array([
    (0.86, 0.52, 0.22), (0.56, 0.36, 0.20), (0.62, 0.62, 0.64), (0.94, 0.86, 0.70),
    (0.96, 0.95, 0.93), (0.38, 0.26, 0.16), (0.34, 0.34, 0.37), (0.82, 0.68, 0.36),
], dtype=np.float32)  # ginger, brown, grey, cream, white, dark brown, charcoal, golden
CUE_COLOURS = np.array([(0.95, 0.0, 0.0), (0.0, 0.85, 0.0), (0.0, 0.2, 1.0), (1.0, 0.0, 1.0)],
                       dtype=np.float32)  # red, green, blue, magenta: one per class
OUTLINE = np.array((0.06, 0.05, 0.04), np.float32)
PINK = np.array((0.96, 0.64, 0.70), np.float32)
CREAM = np.array((0.98, 0.94, 0.86), np.float32)
EYE_WHITE = np.array((0.97, 0.97, 0.90), np.float32)
DARK = np.array((0.08, 0.05, 0.05), np.float32)
EAR_SCALE = (0.92, 1.08)  # random ear size factor, drawn for every animal whatever its class


@dataclass(frozen=True, eq=False)
class Animal:
    """One animal in a scene. ``box`` is (x0, y0, x1, y1), half-open and tight around ``mask``."""

    label: int
    name: str
    box: tuple
    mask: torch.Tensor  # (H, W) bool: head and ears
    part: torch.Tensor  # (H, W) bool: visible ear pixels
    center: tuple  # (cx, cy) of the head, in pixels


# ---- shapes, in head units (radius 1, centre 0, y pointing down) ----------------------------------

def _ellipse(x, y, a, b, tilt):
    """Ellipse with half-axes a (across) and b (along), rotated by ``tilt`` (= sin of the angle)."""
    return ("e", x, y, a, b, math.sqrt(1.0 - tilt * tilt), tilt)


def _triangle(*pts):
    """Triangle as three inward-facing edges (nx, ny, off): distance = nx*u + ny*v + off."""
    edges = []
    for k in range(3):
        (ax, ay), (bx, by), (qx, qy) = pts[k], pts[(k + 1) % 3], pts[(k + 2) % 3]
        length = math.sqrt((bx - ax) ** 2 + (by - ay) ** 2)
        nx, ny = -(by - ay) / length, (bx - ax) / length
        sign = 1.0 if nx * (qx - ax) + ny * (qy - ay) > 0 else -1.0
        edges.append((sign * nx, sign * ny, -sign * (nx * ax + ny * ay)))
    return ("t", tuple(pts), tuple(edges))


def _mirror(s):
    """The same shape reflected in the vertical axis through the head centre."""
    if s[0] == "c":
        return ("c", -s[1], s[2], s[3])
    if s[0] == "e":
        return ("e", -s[1], s[2], s[3], s[4], s[5], -s[6])
    return _triangle(*[(-x, y) for x, y in s[1]])


def _extent(s):
    """Bounding box (x0, y0, x1, y1) of a shape."""
    if s[0] == "c":
        return (s[1] - s[3], s[2] - s[3], s[1] + s[3], s[2] + s[3])
    if s[0] == "e":
        _, x, y, a, b, c, sn = s
        hw, hh = math.sqrt((a * c) ** 2 + (b * sn) ** 2), math.sqrt((a * sn) ** 2 + (b * c) ** 2)
        return (x - hw, y - hh, x + hw, y + hh)
    xs, ys = [p[0] for p in s[1]], [p[1] for p in s[1]]
    return (min(xs), min(ys), max(xs), max(ys))


def _inside(s, u, v):
    """Approximate signed distance (positive inside, in head units) of points (u, v) to a shape."""
    if s[0] == "c":
        return s[3] - np.sqrt((u - s[1]) ** 2 + (v - s[2]) ** 2)
    if s[0] == "e":
        _, x, y, a, b, c, sn = s
        du, dv = u - x, v - y
        p, q = (du * c + dv * sn) / a, (dv * c - du * sn) / b
        grad = 2.0 * np.sqrt((p / a) ** 2 + (q / b) ** 2)
        return (1.0 - p * p - q * q) / np.maximum(grad, 1e-6)
    (n0, n1, n2) = s[2]
    d = np.minimum(n0[0] * u + n0[1] * v + n0[2], n1[0] * u + n1[1] * v + n1[2])
    return np.minimum(d, n2[0] * u + n2[1] * v + n2[2])


def _pair(shape):
    return (shape, _mirror(shape))


def _shrink(pts, f, dy=0.0):
    cx, cy = sum(p[0] for p in pts) / 3, sum(p[1] for p in pts) / 3
    return [(cx + f * (x - cx), cy + dy + f * (y - cy)) for x, y in pts]


_CAT = [(-0.98, -0.20), (-0.20, -0.96), (-0.90, -1.66)]
# per class: (ears in front of the head?, outer ear shapes, inner ear shapes)
EARS = {
    "cat": (False, _pair(_triangle(*_CAT)), _pair(_triangle(*_shrink(_CAT, 0.5, 0.05)))),
    "dog": (True, _pair(_ellipse(-0.98, 0.12, 0.34, 0.80, 0.30)), ()),
    "rabbit": (False, _pair(_ellipse(-0.44, -1.42, 0.28, 0.80, -0.16)),
               _pair(_ellipse(-0.44, -1.36, 0.13, 0.58, -0.16))),
    "bear": (False, _pair(("c", -0.74, -0.76, 0.42)), _pair(("c", -0.76, -0.79, 0.22))),
}
MUZZLE, NOSE = _ellipse(0.0, 0.40, 0.44, 0.30, 0.0), _ellipse(0.0, 0.25, 0.17, 0.11, 0.0)
EYES = _pair(("c", -0.38, -0.12, 0.18))
PUPILS = _pair(("c", -0.37, -0.11, 0.11))


def _class_extent(cls):
    """Box around head and ears at the largest ear scale (head units); a conservative bound."""
    boxes = [(-1.0, -1.0, 1.0, 1.0)] + [tuple(EAR_SCALE[1] * t for t in _extent(s)) for s in EARS[cls][1]]
    return np.array([min(b[0] for b in boxes), min(b[1] for b in boxes),
                     max(b[2] for b in boxes), max(b[3] for b in boxes)])


CLASS_EXTENT = {c: _class_extent(c) for c in CLASSES}
ENVELOPE = np.array([f(CLASS_EXTENT[c][k] for c in CLASSES) for k, f in enumerate((min, min, max, max))])

_GRIDS = {}


def _grid(size):
    """Pixel-centre coordinate grids (X, Y), float32, cached per size."""
    if size not in _GRIDS:
        c = np.arange(size, dtype=np.float32) + np.float32(0.5)
        _GRIDS[size] = (np.broadcast_to(c[None, :], (size, size)), np.broadcast_to(c[:, None], (size, size)))
    return _GRIDS[size]


# ---- drawing ------------------------------------------------------------------------------------------

def _paint(win, inside, colour, inset=0.0):
    win[inside > inset] = colour


def _draw_animal(img, X, Y, cls, cx, cy, r, es, fur):
    """Draw one animal onto ``img`` (H, W, 3); return (window offsets, mask, part) in its window."""
    front, outer, inner = EARS[CLASSES[cls]]
    ext = CLASS_EXTENT[CLASSES[cls]] * r
    size = img.shape[0]
    x0, y0 = max(int(cx + ext[0]) - 1, 0), max(int(cy + ext[1]) - 1, 0)
    x1, y1 = min(int(cx + ext[2]) + 2, size), min(int(cy + ext[3]) + 2, size)
    win = img[y0:y1, x0:x1]
    u, v = (X[y0:y1, x0:x1] - cx) / r, (Y[y0:y1, x0:x1] - cy) / r  # head units
    ue, ve = u / es, v / es  # ear units
    w = max(1.0, 0.09 * r) / r  # outline width, head units
    head = _inside(("c", 0.0, 0.0, 1.0), u, v)
    ears = [_inside(s, ue, ve) * es for s in outer]
    ear_mask = (ears[0] > 0) | (ears[1] > 0)
    ear_colour = fur * np.float32(0.68) if cls == 1 else fur
    inner_colour = fur * np.float32(0.62) if cls == 3 else PINK

    def draw_ears():
        for d in ears:
            _paint(win, d, OUTLINE)
            _paint(win, d, ear_colour, w)
        for s in inner:
            _paint(win, _inside(s, ue, ve), inner_colour)

    if not front:
        draw_ears()
    _paint(win, head, OUTLINE)
    _paint(win, head, fur, w)
    _paint(win, _inside(MUZZLE, u, v), fur * np.float32(0.35) + CREAM * np.float32(0.65))
    _paint(win, _inside(NOSE, u, v), DARK)
    for eye, pupil in zip(EYES, PUPILS):
        _paint(win, _inside(eye, u, v), EYE_WHITE)
        _paint(win, _inside(pupil, u, v), DARK)
    if front:
        draw_ears()
    head_mask = head > 0
    part = ear_mask if front else ear_mask & ~head_mask
    return (y0, x0), head_mask | ear_mask, part


def _unit(rng):
    """A random direction (cos, sin) without trigonometry."""
    d = rng.normal(size=2)
    return d / max(math.sqrt(d[0] ** 2 + d[1] ** 2), 1e-9)


def _background(rng, X, Y, size, keep_out):
    """Gradient + stripes/checks + distractor shapes; no round blob touches a ``keep_out`` box."""
    s = size / 64.0
    c0, c1 = rng.uniform(0.15, 0.85, (2, 3)).astype(np.float32)
    dx, dy = _unit(rng)
    t = ((X - size / 2) * dx + (Y - size / 2) * dy) / size + 0.5
    img = c0 + t[..., None] * (c1 - c0)
    amp, period, kind = rng.uniform(0.06, 0.16), rng.uniform(4, 11) * s, rng.integers(3)
    if kind == 0:  # stripes in a random direction
        dx, dy = _unit(rng)
        phase = (X * dx + Y * dy) / period
        pattern = (phase - np.floor(phase)) < 0.5
    elif kind == 1:  # checks
        pattern = ((np.floor(X / period) + np.floor(Y / period)) % 2) > 0
    else:  # dots
        fx, fy = X / period, Y / period
        pattern = (fx - np.floor(fx) - 0.5) ** 2 + (fy - np.floor(fy) - 0.5) ** 2 < 0.09
    img += (amp * (2 * pattern - 1))[..., None].astype(np.float32)
    for _ in range(rng.integers(4, 8)):
        kind, colour = rng.integers(3), rng.uniform(0.05, 0.95, 3).astype(np.float32)
        cx, cy = rng.uniform(0, size, 2)
        a, b = rng.uniform(3, 12, 2) * s
        if kind == 0:  # rectangle
            img[max(int(cy - b), 0):int(cy + b), max(int(cx - a), 0):int(cx + a)] = colour
        elif kind == 1:  # blob (ellipse), kept away from the animals
            shape = ("e", cx, cy, a, b, *_unit(rng))
            hw = max(a, b)
            if any(cx + hw > k[0] and cx - hw < k[2] and cy + hw > k[1] and cy - hw < k[3] for k in keep_out):
                continue
            y0, x0 = max(int(cy - hw), 0), max(int(cx - hw), 0)
            win = img[y0:int(cy + hw) + 1, x0:int(cx + hw) + 1]
            _paint(win, _inside(shape, X[y0:y0 + win.shape[0], x0:x0 + win.shape[1]],
                                Y[y0:y0 + win.shape[0], x0:x0 + win.shape[1]]), colour)
        else:  # thick line segment
            ex, ey = _unit(rng) * a * 2
            width = rng.uniform(0.6, 1.6) * s
            y0, x0 = max(int(min(cy, cy + ey) - 2), 0), max(int(min(cx, cx + ex) - 2), 0)
            y1, x1 = int(max(cy, cy + ey) + 3), int(max(cx, cx + ex) + 3)
            px, py = X[y0:y1, x0:x1] - cx, Y[y0:y1, x0:x1] - cy
            h = np.clip((px * ex + py * ey) / (ex * ex + ey * ey), 0.0, 1.0)
            _paint(img[y0:y1, x0:x1], width - np.sqrt((px - h * ex) ** 2 + (py - h * ey) ** 2), colour)
    return img

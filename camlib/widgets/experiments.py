"""The lab's experiments measured over many random scenes, as chapter 09 prints them.

    ear_swap(model, n)              # whose ears does the prediction follow?
    shift(model, method, n, dx)     # does the map move with the animal? (equivariance)
    cue_conflict(model, n)          # does the prediction follow the corner square or the animal?
    erase_ears(model, n, fill)      # erase the ears, or as many background pixels

Each draws its scenes with `data.random_scene` from a seeded generator and returns plain
numbers (counts and arrays), so the same call gives the same result on every machine.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from scipy import ndimage

from .. import data, table
from . import compute


def _scenes(n: int, seed: int, **kwargs) -> list[data.Scene]:
    rng = np.random.default_rng([seed, 909])
    return [data.random_scene(rng, n=1, **kwargs) for _ in range(n)]


def _batch(scenes):
    out = [data.compose(s) for s in scenes]
    return torch.stack([o.image for o in out]), out


def ear_swap(model, n: int = 100, seed: int = 0) -> dict:
    """Single animals drawn with another class's ears ("a dog with cat ears"), and without ears.

    ToyPets' faces are the same for every class; what else follows the animal's class is the
    colouring of the ears (a dog's are darker, a bear's inner ears too). So the prediction either
    follows the ears' shape, or the animal's class (its ear colouring), or neither. Returns
    counts, the predictions, and for ears hidden the share of each predicted class and the mean
    top probability.
    """
    rng = np.random.default_rng([seed, 910])
    scenes = []
    for s in _scenes(n, seed):
        pet = s.pets[0]
        ears = (pet.cls + int(rng.integers(1, 4))) % 4
        scenes.append(dataclasses.replace(s, pets=(dataclasses.replace(pet, ears=ears),)))
    x, _ = _batch(scenes)
    pred = compute.probabilities(model, x).argmax(1).numpy()
    body = np.array([s.pets[0].cls for s in scenes])
    ears = np.array([s.pets[0].ears for s in scenes])
    hidden = [
        dataclasses.replace(s, pets=(dataclasses.replace(s.pets[0], ears="hidden"),))
        for s in scenes
    ]
    p_hidden = compute.probabilities(model, _batch(hidden)[0])
    return {
        "n": n,
        "follows the ears": int((pred == ears).sum()),
        "follows the animal's class": int((pred == body).sum()),
        "neither": int(((pred != ears) & (pred != body)).sum()),
        "pred": pred,
        "ears": ears,
        "body": body,
        "hidden: predicted": np.bincount(p_hidden.argmax(1).numpy(), minlength=4),
        "hidden: mean top p": float(p_hidden.max(1).values.mean()),
    }


def _centroid_x(s: np.ndarray) -> float:
    return float((s.sum(0) * (np.arange(s.shape[1]) + 0.5)).sum() / max(s.sum(), 1e-12))


def shift(
    model,
    method: str = "Grad-CAM",
    n: int = 100,
    dx: int = 4,
    seed: int = 0,
    layer: str | None = None,
) -> dict:
    """Move each animal dx px sideways (left when right does not fit; same background seed)
    and measure how far the centroid and the peak of the map of the predicted class move.

    A convolutional network is equivariant to shifts by multiples of its stride (4 at the last
    layer of the course's networks); other shifts move the map only approximately. Returns the
    shifts measured per scene (signed so that +dx is the animal's move) and the number of
    scenes whose prediction changed.
    """
    pairs = []
    for s in _scenes(n, seed):
        pet = s.pets[0]
        for step in (dx, -dx):
            moved = dataclasses.replace(s, pets=(dataclasses.replace(pet, x=pet.x + step),))
            try:
                data.check_scene(moved)
            except ValueError:
                continue
            pairs.append((s, moved, np.sign(step)))
            break
    x0, _ = _batch([a for a, _, _ in pairs])
    x1, _ = _batch([b for _, b, _ in pairs])
    c0 = compute.probabilities(model, x0).argmax(1)
    c1 = compute.probabilities(model, x1).argmax(1)
    m0 = table.compute(method, model, x0, layer, c0)
    m1 = table.compute(method, model, x1, layer, c0)  # the same class before and after
    size = x0.shape[-1]
    moved_centroid, moved_peak = [], []
    for a, b, (_, _, sign) in zip(m0, m1, pairs):
        s0, s1 = compute.heat(a, size), compute.heat(b, size)
        moved_centroid.append(sign * (_centroid_x(s1) - _centroid_x(s0)))
        p0 = np.unravel_index(np.argmax(s0), s0.shape)[1]
        p1 = np.unravel_index(np.argmax(s1), s1.shape)[1]
        moved_peak.append(sign * (p1 - p0))
    return {
        "n": len(pairs),
        "dx": dx,
        "centroid": np.array(moved_centroid),
        "peak": np.array(moved_peak),
        "prediction changed": int((c0 != c1).sum()),
    }


def cue_conflict(model, n: int = 100, seed: int = 0, method: str = "Grad-CAM") -> dict:
    """Single animals with the corner square in another class's colour, and the same scenes
    without the square. Counts the predictions that follow the animal and those that follow
    the square, and the share of the map's energy (predicted class) inside the square."""
    rng = np.random.default_rng([seed, 911])
    plain = _scenes(n, seed, cue=0)  # placed clear of the square; its colour is set below
    animal = np.array([s.pets[0].cls for s in plain])
    cue = (animal + rng.integers(1, 4, size=n)) % 4
    with_cue = [dataclasses.replace(s, cue=int(c)) for s, c in zip(plain, cue)]
    without = [dataclasses.replace(s, cue=None) for s in plain]
    x, out = _batch(with_cue)
    pred = compute.probabilities(model, x).argmax(1)
    maps = table.compute(method, model, x, None, pred)
    square = torch.stack([o.cue_mask for o in out]).numpy()
    energy = np.array(
        [
            float((h * m).sum() / max(h.sum(), 1e-12))
            for h, m in zip((compute.heat(a, x.shape[-1]) for a in maps), square)
        ]
    )
    pred_plain = compute.probabilities(model, _batch(without)[0]).argmax(1).numpy()
    pred = pred.numpy()
    return {
        "n": n,
        "follows the animal": int((pred == animal).sum()),
        "follows the square": int((pred == cue).sum()),
        "correct without the square": int((pred_plain == animal).sum()),
        "energy in the square": energy,
        "square share of the image": float(square[0].mean()),
    }


def erase_ears(model, n: int = 100, seed: int = 0, fill: str = "mean colour") -> dict:
    """Erase each animal's ears (its part mask, grown by 1 px), and as a control as many pixels
    of background, the region farthest from the animal; p(class) before and after each."""
    x, out = _batch(_scenes(n, seed))
    label = torch.tensor([o.objects[0].label for o in out])
    size = x.shape[-1]
    ears, control = [], []
    for o in out:
        a = o.objects[0]
        part = ndimage.binary_dilation(a.part.numpy(), iterations=1)
        far = ndimage.distance_transform_edt(~a.mask.numpy())
        order = np.argsort(-far.ravel(), kind="stable")[: part.sum()]
        bg = np.zeros(size * size, bool)
        bg[order] = True
        ears.append(part)
        control.append(bg.reshape(size, size))
    rows = torch.arange(n)
    p = compute.probabilities(model, x)[rows, label].numpy()
    edited = [
        torch.stack([compute.erase(img, m, fill) for img, m in zip(x, masks)])
        for masks in (ears, control)
    ]
    after = [compute.probabilities(model, e)[rows, label].numpy() for e in edited]
    return {
        "n": n,
        "p before": p,
        "p ears erased": after[0],
        "p background erased": after[1],
        "share of the image": float(np.mean([m.mean() for m in ears])),
    }

"""What the lab computes, as pure functions: tensors and arrays in, tensors and arrays out.

    maps = class_maps(model, image, "Grad-CAM", layer)   # (K, h, w): every class, one call
    s    = heat(maps[c], size)                            # ReLU, bilinear up, min-max to [0, 1]
    box  = box_at(s, threshold)                           # largest connected region >= threshold
    x2   = erase(image, mask, "blur")                     # fill a region: mean colour, blur, ROAD
    occ  = occlusion(model, image, cls)                   # sliding-window occlusion map
    nets = cascade(model)                                 # copies, re-initialized top-down
    hit, energy = on_animal(s, mask)                      # pointing-game hit, energy inside

Every method goes through `camlib.table`, the one table of methods.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass

import numpy as np
import torch
from scipy import sparse
from scipy.sparse.linalg import spsolve
from torch import nn

from .. import data, methods, metrics, table

FILLS = ("mean colour", "blur", "neighbours")


@torch.no_grad()
def probabilities(model, images: torch.Tensor) -> torch.Tensor:
    """Softmax class probabilities (N, K) of a batch (N, 3, H, W)."""
    return torch.softmax(model(images), dim=1)


def image_key(image: torch.Tensor) -> str:
    """A short fingerprint of an image's pixels: the cache key of everything computed on it."""
    return hashlib.sha1(image.detach().cpu().numpy().tobytes()).hexdigest()[:16]


def methods_for(model) -> tuple[str, ...]:
    """The methods of the table that this model supports."""
    return table.available(model)


def class_maps(model, image: torch.Tensor, method: str, layer: str | None = None) -> torch.Tensor:
    """Raw maps of every class for one image (3, H, W): (K, h, w) float32, from one method call.

    CAM is signed (Zhou et al.'s M_c); gradient maps are ReLU'd; pixel-space methods are reduced
    over colour channels as max |R|; ACoL is the fused map max(A, B), each class driving the
    erasing for its own map; a class-agnostic method gives the same map for every class.
    """
    every = torch.arange(len(data.CLASSES))[None]  # (1, K): all classes in one call
    return table.compute(method, model, image[None], layer, every)[0]


def rectified(amap, size: int) -> torch.Tensor:
    """u = upsample(ReLU(map)), bilinear, (1, size, size): the map before min-max scaling."""
    m = torch.as_tensor(amap, dtype=torch.float32).clamp_min(0)[None]
    return methods.upsample(m, size) if m.shape[-1] != size else m


def heat(amap, size: int) -> np.ndarray:
    """What the overlay and the box use: s = minmax(upsample(ReLU(map))) in [0, 1], (size, size)."""
    return methods.normalize(rectified(amap, size))[0].numpy()


def box_at(s: np.ndarray, threshold: float):
    """Box (x0, y0, x1, y1), half-open, around the largest 8-connected region where s >= threshold.

    s is a heat map in [0, 1]; threshold 0 keeps every pixel (the whole image). None when no
    pixel passes. Up to ties at the threshold this is camlib.metrics.box_from_map.
    """
    return metrics.largest_region_box(np.asarray(s) >= threshold)


def true_boxes(objects, cls: int) -> tuple:
    """Ground-truth boxes of the animals of class cls in a scene (a list of data.Animal)."""
    return tuple(o.box for o in objects if o.label == cls)


def class_mask(objects, cls: int, size: int) -> np.ndarray:
    """Union of the masks of the animals of class cls, (size, size) bool (all False: none)."""
    out = np.zeros((size, size), bool)
    for o in objects:
        if o.label == cls:
            out |= o.mask.numpy()
    return out


def on_animal(s: np.ndarray, mask: np.ndarray) -> tuple[bool | None, float | None]:
    """Pointing-game hit (the maximum on the animal) and energy share sum_mask s / sum s.

    Both None when the class has no animal in the image (nothing to point at).
    """
    if not mask.any():
        return None, None
    hit = bool(metrics.pointing_game(s[None], mask[None], per_image=True)[0])
    return hit, float(metrics.energy_pointing_game(s[None], mask[None], per_image=True)[0])


# ------------------------------------------------------------------- erasing ----


def neighbour_fill(image: torch.Tensor, mask) -> torch.Tensor:
    """ROAD's linear imputation (Rong et al., ICML 2022), without noise: every removed pixel
    becomes the weighted mean of its 8 neighbours (weight 1/6 on the sides, 1/12 on the
    diagonals), solved as one sparse linear system for all removed pixels at once."""
    gone = np.asarray(mask, bool)
    C, H, W = image.shape
    idx = np.flatnonzero(gone)
    if idx.size == 0:
        return image.clone()
    var = np.full(H * W, -1)
    var[idx] = np.arange(idx.size)
    img = image.reshape(C, -1).double().numpy().copy()
    rows, cols, vals = [np.arange(idx.size)], [np.arange(idx.size)], []
    diag, b = np.zeros(idx.size), np.zeros((idx.size, C))
    r0, c0 = idx // W, idx % W
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            if dy == dx == 0:
                continue
            w = 1 / 6 if dy == 0 or dx == 0 else 1 / 12
            r, c = r0 + dy, c0 + dx
            inside = (r >= 0) & (r < H) & (c >= 0) & (c < W)
            q = np.where(inside, r * W + c, 0)
            diag += w * inside
            unknown, known = inside & gone.ravel()[q], inside & ~gone.ravel()[q]
            rows.append(np.flatnonzero(unknown))
            cols.append(var[q[unknown]])
            vals.append(np.full(unknown.sum(), -w))
            b[known] += w * img[:, q[known]].T
    A = sparse.csc_matrix(
        (np.concatenate([diag, *vals]), (np.concatenate(rows), np.concatenate(cols))),
        shape=(idx.size, idx.size),
    )
    solved = spsolve(A, b).reshape(idx.size, C)
    img[:, idx] = solved.T
    return torch.from_numpy(img).to(image.dtype).reshape(C, H, W)


def erase(image: torch.Tensor, mask, fill: str = "mean colour") -> torch.Tensor:
    """image (3, H, W) with the mask's pixels replaced: the image's mean colour, its blur, or
    ROAD's neighbour fill (linear imputation from the kept pixels around the hole)."""
    mask_t = torch.as_tensor(np.asarray(mask), dtype=torch.bool)
    if fill == "mean colour":
        base = image.mean(dim=(1, 2), keepdim=True).expand_as(image)
    elif fill == "blur":
        base = metrics.blur(image[None])[0]
    elif fill == "neighbours":
        return neighbour_fill(image, mask_t)
    else:
        raise ValueError(f"unknown fill {fill!r}; choose one of {', '.join(FILLS)}")
    return torch.where(mask_t, base, image)


@dataclass(frozen=True)
class Erased:
    before: np.ndarray  # (K,) probabilities on the image
    after: np.ndarray  # (K,) probabilities on the edited image
    edited: torch.Tensor  # (3, H, W)


def erase_and_watch(model, image: torch.Tensor, mask, fill: str = "mean colour") -> Erased:
    """Erase a region and return the class probabilities before and after (one forward pass)."""
    edited = erase(image, mask, fill)
    p = probabilities(model, torch.stack([image, edited])).numpy()
    return Erased(p[0], p[1], edited)


def disc(size: int, x: float, y: float, radius: float) -> np.ndarray:
    """Boolean (size, size) disc of pixels whose centres lie within `radius` of (x, y)."""
    c = np.arange(size) + 0.5
    return (c[None, :] - x) ** 2 + (c[:, None] - y) ** 2 <= radius**2


@torch.no_grad()
def occlusion(
    model, image: torch.Tensor, cls: int, window: int = 16, stride: int = 8, batch: int = 256
) -> np.ndarray:
    """Sliding-window occlusion (Zeiler & Fergus, ECCV 2014): p(cls) drop when a grey window
    (the image's mean colour) covers each position, averaged over the windows covering a pixel.
    Returns (H, W) float, positive where covering the pixel lowers p(cls)."""
    _, H, W = image.shape
    base = float(probabilities(model, image[None])[0, cls])
    mean = image.mean(dim=(1, 2), keepdim=True)
    corners = [
        (y, x) for y in range(0, H - window + 1, stride) for x in range(0, W - window + 1, stride)
    ]
    edited = image.repeat(len(corners), 1, 1, 1)
    for k, (y, x) in enumerate(corners):
        edited[k, :, y : y + window, x : x + window] = mean
    p = torch.cat([probabilities(model, chunk)[:, cls] for chunk in edited.split(batch)])
    total, count = np.zeros((H, W)), np.zeros((H, W))
    for (y, x), pk in zip(corners, p.tolist()):
        total[y : y + window, x : x + window] += base - pk
        count[y : y + window, x : x + window] += 1
    return total / np.maximum(count, 1)


# -------------------------------------------------------- layer randomization ----


def cascade_steps(model: nn.Module) -> list[tuple[str, list[nn.Module]]]:
    """(name, modules) to re-initialize, top first: each conv or linear layer with the
    BatchNorm that follows it, in the reverse of the order they are registered."""
    steps = []
    for name, m in model.named_modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            steps.append((name, [m]))
        elif isinstance(m, nn.BatchNorm2d) and steps:
            steps[-1][1].append(m)
    return steps[::-1]


def cascade(model: nn.Module, seed: int = 0) -> list[tuple[str, nn.Module]]:
    """Adebayo et al.'s cascading randomization: [("trained", model), (name_1, copy with the top
    layer re-initialized), (name_2, copy with the top two), ...]. The model is not changed."""
    out = [("trained", model)]
    net = copy.deepcopy(model)
    torch.manual_seed(seed)
    for name, modules in cascade_steps(model):
        for m in modules:
            dict(net.named_modules())[_name(model, m)].reset_parameters()
        out.append((name, copy.deepcopy(net).eval()))
    return out


def _name(model: nn.Module, module: nn.Module) -> str:
    return next(n for n, m in model.named_modules() if m is module)


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rho of two maps (0 when either is constant, as chapter 05 counts it)."""
    r = metrics.spearman(a, b)
    return 0.0 if np.isnan(r) else r


# --------------------------------------------------------------------- curves ----


def removal_curves(model, image: torch.Tensor, s: np.ndarray, cls: int, steps: int = 16):
    """Deletion and insertion curves of one map (Petsiuk et al.): the metrics of chapter 08."""
    x, m = image[None], torch.as_tensor(s)[None]
    return (
        metrics.deletion_auc(model, x, m, [cls], steps=steps),
        metrics.insertion_auc(model, x, m, [cls], steps=steps),
    )

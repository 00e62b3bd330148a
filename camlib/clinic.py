"""Small tools for chapter 12, the map clinic: reproduce a symptom, measure it, measure the fix.

    ring(64, 4)                          # bool (64, 64): the 4-px frame of the image
    in_batches(fn, images, order, 16)    # maps computed batch by batch in `order` (train mode!)
    padded(fn, images, 8)                # maps of reflect-padded images, cropped back
    randomized(model, ["fc"], seed=0)    # a copy with those modules re-initialized
    rank_corr(a, b)                      # mean Spearman rho of two stacks of maps
    blank(maps)                          # how many maps are all zero
    overlay(ax, image, amap, title)      # heat over the image; zero heat leaves the image as it is

`fn` is any `images -> maps` function, e.g. ``lambda v: camlib.grad_cam(model, v, layer, y)``;
a function that needs the labels of the images it gets takes ``(images, index)``.
"""

from __future__ import annotations

import copy

import matplotlib as mpl
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import metrics, plot
from .methods import upsample

__all__ = [
    "blank",
    "imagenet_normalize",
    "in_batches",
    "overlay",
    "padded",
    "randomized",
    "rank_corr",
    "ring",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def ring(size: int, width: int) -> Tensor:
    """Boolean (size, size) mask of the frame `width` pixels wide along the image border."""
    if not 0 < 2 * width < size:
        raise ValueError(f"width must be in 1..{(size - 1) // 2} for size {size}, got {width}")
    r = torch.ones(size, size, dtype=torch.bool)
    r[width:-width, width:-width] = False
    return r


def imagenet_normalize(images: Tensor) -> Tensor:
    """(x - mean) / std with torchvision's ImageNet statistics: what many copied pipelines do."""
    mean = torch.tensor(IMAGENET_MEAN, dtype=images.dtype)[:, None, None]
    std = torch.tensor(IMAGENET_STD, dtype=images.dtype)[:, None, None]
    return (images - mean) / std


def in_batches(fn, images: Tensor, order, batch: int) -> Tensor:
    """fn(images[idx], idx) for consecutive batches idx of `order`, put back in image order.

    In eval mode the result does not depend on `order`; in training mode BatchNorm normalizes
    each batch by its own statistics, so an image's map depends on its batch mates.
    """
    order = torch.as_tensor(order)
    if sorted(order.tolist()) != list(range(len(images))):
        raise ValueError("order must be a permutation of range(len(images))")
    out = None
    for i in range(0, len(order), batch):
        idx = order[i : i + batch]
        m = fn(images[idx], idx)
        if out is None:
            out = torch.empty((len(images), *m.shape[1:]), dtype=m.dtype)
        out[idx] = m
    return out


def padded(fn, images: Tensor, pad: int) -> Tensor:
    """Maps of the images reflect-padded by `pad` px, upsampled to the padded size, cropped.

    The network's own zero padding then falls outside the image: whatever it lights up at
    the border of its input is cut away. Returns (N, H, W) at the image size.
    """
    if pad <= 0:
        raise ValueError(f"pad must be a positive number of pixels, got {pad}")
    H, W = images.shape[-2:]
    maps = fn(F.pad(images, (pad, pad, pad, pad), mode="reflect"))
    return upsample(maps, (H + 2 * pad, W + 2 * pad))[..., pad : pad + H, pad : pad + W]


def randomized(model: nn.Module, names, seed: int = 0) -> nn.Module:
    """A deep copy of `model` with the modules `names` re-initialized (`reset_parameters`).

    BatchNorm's reset also resets its running statistics. The original model is untouched.
    """
    net = copy.deepcopy(model)
    modules = dict(net.named_modules())
    torch.manual_seed(seed)
    for name in names:
        if name not in modules or not hasattr(modules[name], "reset_parameters"):
            raise ValueError(f"{name!r} is not a module of the model with parameters to reset")
        modules[name].reset_parameters()
    return net.eval() if not model.training else net


def rank_corr(a, b) -> float:
    """Mean over images of the Spearman rank correlation of maps a[i] and b[i] (NaN counts 0)."""
    if len(a) != len(b):
        raise ValueError(f"a and b hold {len(a)} and {len(b)} maps; pass maps of the same images")
    rho = [metrics.spearman(u, v) for u, v in zip(a, b)]
    return float(np.mean([0.0 if np.isnan(r) else r for r in rho]))


def blank(maps: Tensor) -> int:
    """How many of the maps (N, ...) are zero everywhere."""
    return int((maps.flatten(1).abs().amax(1) == 0).sum())


def overlay(
    ax,
    image,
    amap,
    title: str | None = None,
    vmax: float | None = None,
    alpha: float = 0.8,
    cmap: str = plot.CMAP,
):
    """The map (upsampled to the image) over the image, its opacity growing with its value.

    Where the map is 0 the image shows as it is (never darkened); `vmax` fixes the scale
    (default: the map's own maximum, i.e. min-max scaling from 0).
    """
    img = plot.to_numpy_image(image)
    heat = plot.to_numpy_map(amap, size=img.shape[0]).clip(min=0)
    top = float(heat.max()) if vmax is None else float(vmax)
    level = heat / top if top > 0 else np.zeros_like(heat)
    level = level.clip(0, 1)
    rgba = mpl.colormaps[cmap](level)
    rgba[..., 3] = alpha * np.sqrt(level)  # weak heat stays visible, zero stays clear
    ax.imshow(img, interpolation="nearest")
    ax.imshow(rgba, interpolation="bilinear")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title)

"""Metrics for explanation maps: localization, pointing, faithfulness, sanity checks.

Conventions:
- `maps` are (N, H, W) at the image size (upsample first with
  `camlib.upsample(maps, images.shape[-2:])`), numpy arrays or tensors.
- A box is (x0, y0, x1, y1) in pixels, half-open: columns x0..x1-1 and rows
  y0..y1-1, so its area is (x1 - x0) * (y1 - y0). ToyPets uses this too.
- `boxes` holds one entry per image: a box, or a list of boxes (a hit on
  any of them counts). `masks` are boolean (N, H, W).
- Functions return the mean over images; `per_image=True` gives the values.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from camlib import hooks
from camlib.methods import normalize, upsample

__all__ = [
    "average_drop_increase",
    "blur",
    "box_from_map",
    "box_hits",
    "box_mask",
    "deletion_auc",
    "energy_pointing_game",
    "insertion_auc",
    "iou",
    "largest_region_box",
    "largest_region_boxes",
    "localization_accuracy",
    "mask_iou",
    "max_box_acc",
    "pointing_game",
    "pxap",
    "spearman",
    "ssim",
]

_EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)
_PLANES = np.zeros((3, 3, 3), dtype=bool)
_PLANES[1] = True  # 8-connected within each plane of a stack, never across planes

# ---------------------------------------------------------------- boxes ----


def box_from_map(map, fraction: float = 0.2):
    """Box around the largest 8-connected region where map > fraction * max(map).

    The box protocol of Zhou et al. (CVPR 2016, sec. 3.1) with fraction 0.2.
    Returns (x0, y0, x1, y1), half-open, or None when no pixel passes (an
    all-zero or all-negative map, or fraction >= 1); `iou` scores None as 0.
    Of equally large regions the first in row-major order wins.
    """
    m = _array(map, "map", ndim=2)
    peak = m.max()
    if not peak > 0:
        return None
    return largest_region_box(m > fraction * peak)


def largest_region_box(keep):
    """Half-open box (x0, y0, x1, y1) around the largest 8-connected region of a boolean (H, W)
    array; None when it is all False. Of equally large regions the first in row-major order wins."""
    labels, count = ndimage.label(np.asarray(keep, dtype=bool), structure=_EIGHT_CONNECTED)
    if count == 0:
        return None
    k = 1 + int(np.argmax(np.bincount(labels.ravel())[1:]))  # labels run in row-major order
    rows, cols = ndimage.find_objects(labels, max_label=k)[k - 1]
    return cols.start, rows.start, cols.stop, rows.stop


def largest_region_boxes(keeps) -> list:
    """`largest_region_box` of every plane of a boolean (T, H, W) stack, from one labelling.

    Labels are numbered in row-major order over the stack, so each plane's labels form one
    contiguous run and the first of equally large regions wins, exactly as plane by plane.
    """
    labels, count = ndimage.label(np.asarray(keeps, dtype=bool), structure=_PLANES)
    if count == 0:
        return [None] * len(labels)
    sizes = np.bincount(labels.ravel())
    boxes, first = [], 1
    for plane, last in zip(labels, labels.reshape(len(labels), -1).max(axis=1)):
        if last < first:  # an empty plane (last is the plane's highest label)
            boxes.append(None)
            continue
        k = first + int(np.argmax(sizes[first : last + 1]))
        region = plane == k
        ys, xs = np.flatnonzero(region.any(axis=1)), np.flatnonzero(region.any(axis=0))
        boxes.append((int(xs[0]), int(ys[0]), int(xs[-1]) + 1, int(ys[-1]) + 1))
        first = last + 1
    return boxes


def box_mask(box, shape) -> np.ndarray:
    """Boolean (H, W) mask that is True inside the half-open box (x0, y0, x1, y1)."""
    mask = np.zeros(tuple(shape), dtype=bool)
    x0, y0, x1, y1 = (max(int(v), 0) for v in box)
    mask[y0:y1, x0:x1] = True
    return mask


def iou(box_a, box_b) -> float:
    """Intersection over union of two half-open boxes, |A ∩ B| / |A ∪ B|; None (no box) gives 0."""
    if box_a is None or box_b is None:
        return 0.0
    ax0, ay0, ax1, ay1 = box_a
    bx0, by0, bx1, by1 = box_b
    inter = max(0, min(ax1, bx1) - max(ax0, bx0)) * max(0, min(ay1, by1) - max(ay0, by0))
    union = (ax1 - ax0) * (ay1 - ay0) + (bx1 - bx0) * (by1 - by0) - inter
    return float(inter / union) if union > 0 else 0.0


def localization_accuracy(maps, boxes, fraction=0.2, iou_threshold=0.5, per_image=False):
    """Share of images whose box_from_map(map, fraction) has IoU >= iou_threshold with a true box.

    The CAM protocol (Zhou et al., CVPR 2016): 20% of the max, the largest
    connected component, IoU >= 0.5; one map per image, for the class you choose.
    """
    maps = _batch(maps)
    truth = _boxes(boxes, len(maps))
    hits = np.array(
        [
            _best_iou(box_from_map(m, fraction), t) >= iou_threshold
            for m, t in zip(maps, truth, strict=True)
        ]
    )
    return hits if per_image else float(hits.mean())


class MaxBoxAcc(NamedTuple):
    accuracy: float  # the best BoxAcc over the thresholds
    threshold: float  # the threshold tau that gives it (the first, on ties)
    thresholds: np.ndarray
    curve: np.ndarray  # BoxAcc at each threshold


def box_hits(maps, boxes, thresholds, iou_threshold: float = 0.5) -> np.ndarray:
    """Hits (T, N): [t, n] is localization_accuracy's hit for map n at threshold thresholds[t].

    The same boxes as `box_from_map(map, tau)` (largest 8-connected region where
    map > tau * max(map)) for every tau, from one labelling per map.
    """
    maps = _batch(maps)
    taus = np.asarray(thresholds, dtype=float)
    truth = _boxes(boxes, len(maps))
    hits = np.zeros((len(taus), len(maps)), dtype=bool)
    for n, (m, t) in enumerate(zip(maps, truth, strict=True)):
        peak = m.max()
        if peak > 0:
            keeps = m[None] > taus[:, None, None] * peak
            hits[:, n] = [_best_iou(b, t) >= iou_threshold for b in largest_region_boxes(keeps)]
    return hits


def max_box_acc(maps, boxes, thresholds=None, iou_threshold: float = 0.5) -> MaxBoxAcc:
    """MaxBoxAcc (Choe et al., CVPR 2020): max over tau of BoxAcc(tau).

    BoxAcc(tau) = (1/N) sum_n 1[IoU(box(s_n, tau), B_n) >= delta], each map s_n
    min-max normalized, one tau for all images, box(s, tau) around the largest
    connected region where s > tau. Default thresholds: 0, 0.01, ..., 0.99.
    """
    maps = normalize(torch.from_numpy(_batch(maps))).numpy()
    taus = np.arange(100) / 100 if thresholds is None else np.asarray(thresholds, dtype=float)
    curve = box_hits(maps, boxes, taus, iou_threshold).mean(axis=1)
    best = int(np.argmax(curve))
    return MaxBoxAcc(float(curve[best]), float(taus[best]), taus, curve)


# ------------------------------------------------------------- pointing ----


def pointing_game(maps, masks, tolerance: float = 0, per_image: bool = False):
    """Pointing game (Zhang et al., ECCV 2016): a hit when the map's maximum is on the object.

    Hit when the Euclidean distance from the maximum to the nearest mask pixel
    is <= `tolerance` px (0: inside the mask; TorchRay counts distances < 15).
    A constant map points nowhere and misses; ties go to the first maximum in
    row-major order.
    """
    maps = _batch(maps)
    masks = _masks(masks, maps)
    hits = []
    for m, mask in zip(maps, masks, strict=True):
        if m.max() == m.min():
            hits.append(False)
            continue
        y, x = np.unravel_index(np.argmax(m), m.shape)
        distance = 0.0 if mask[y, x] else ndimage.distance_transform_edt(~mask)[y, x]
        hits.append(distance <= tolerance)
    hits = np.array(hits)
    return hits if per_image else float(hits.mean())


def energy_pointing_game(maps, regions, per_image: bool = False):
    """Energy-based pointing game (Wang et al., Score-CAM, CVPRW 2020): sum L inside / sum L.

    `regions`: boolean masks (N, H, W), or boxes (one per image, or a list per
    image: their union). Maps must be non-negative; an all-zero map scores 0.
    """
    maps = _batch(maps)
    if (maps < 0).any():
        raise ValueError(
            "energy needs non-negative maps; apply a ReLU first, e.g. maps.clamp(min=0), "
            "or normalize(maps)"
        )
    if _is_masks(regions):
        masks = _masks(regions, maps)
    else:
        per_image_boxes = _boxes(regions, len(maps))
        masks = np.array([sum(box_mask(b, maps.shape[1:]) for b in t) > 0 for t in per_image_boxes])
    total = maps.sum(axis=(1, 2))
    inside = (maps * masks).sum(axis=(1, 2))
    share = np.where(total > 0, inside / np.where(total > 0, total, 1), 0.0)
    return share if per_image else float(share.mean())


# ------------------------------------------------ deletion and insertion ----


class RemovalCurve(NamedTuple):
    auc: float  # mean over images of the area under each curve
    per_image: np.ndarray  # (N,) area under each image's curve
    curves: np.ndarray  # (N, steps + 1) class probability after each step
    fractions: np.ndarray  # (steps + 1,) share of pixels changed, from 0 to 1


def deletion_auc(model, images, maps, target=None, steps=32, baseline=None, batch_size=hooks.CHUNK):
    """Deletion (Petsiuk et al., RISE, BMVC 2018): p(class) as the most salient pixels go.

    Pixels are replaced by `baseline` (default: each image's mean colour; any
    tensor that broadcasts to the images), most salient first, in `steps`
    equal steps. The AUC is the trapezoid rule on a [0, 1] x-axis; lower is
    better. `target`: None (predicted class), an int, or N classes.
    """
    return _removal(model, images, maps, target, steps, baseline, batch_size, insert=False)


def insertion_auc(
    model, images, maps, target=None, steps=32, baseline=None, batch_size=hooks.CHUNK
):
    """Insertion (Petsiuk et al., RISE, BMVC 2018): p(class) as the most salient pixels come back.

    Starts from `baseline` (default: `blur(images)`, RISE's Gaussian blur)
    and puts the image's pixels back, most salient first. Higher is better.
    """
    return _removal(model, images, maps, target, steps, baseline, batch_size, insert=True)


def blur(images, sigma: float = 5.0, kernel: int = 11):
    """Gaussian blur of (N, C, H, W) images per channel, edges replicated.

    RISE blurs with kernel 11 and sigma 5 at 224 px; pass a smaller sigma
    for small images if the default wipes out too much.
    """
    t = torch.arange(kernel, dtype=images.dtype, device=images.device) - (kernel - 1) / 2
    g = torch.exp(-(t**2) / (2 * sigma**2))
    g = g / g.sum()
    C, pad = images.shape[1], kernel // 2
    x = F.pad(images, (pad, pad, pad, pad), mode="replicate")
    x = F.conv2d(x, g.view(1, 1, 1, -1).expand(C, 1, 1, kernel), groups=C)
    return F.conv2d(x, g.view(1, 1, -1, 1).expand(C, 1, kernel, 1), groups=C)


@torch.no_grad()
def _removal(model, images, maps, target, steps, baseline, batch_size, insert) -> RemovalCurve:
    hooks.check_images(model, images)
    maps = torch.as_tensor(_batch(maps, images.shape[-2:]), device=images.device)
    if baseline is None:
        baseline = blur(images) if insert else images.mean(dim=(2, 3), keepdim=True)
    baseline = torch.as_tensor(baseline, dtype=images.dtype, device=images.device)
    start, end = (baseline.expand_as(images), images) if insert else (images, baseline)
    end = end.expand_as(images)
    c = hooks.classes(target, hooks.outputs(model, images))
    if c.dim() != 1:
        raise ValueError(f"target has shape {tuple(c.shape)}; pass one class per image")
    N, HW = maps.shape[0], maps[0].numel()
    order = torch.argsort(maps.flatten(1), dim=1, descending=True, stable=True)
    rank = torch.empty_like(order).scatter_(1, order, torch.arange(HW).expand(N, HW).to(order))
    rank = rank.view(N, 1, *images.shape[-2:])  # rank 0: the most salient pixel
    changed = torch.linspace(0, HW, steps + 1, device=images.device).round().long()
    probs = []
    for chunk in torch.arange(N * (steps + 1), device=images.device).split(batch_size):
        n, s = chunk // (steps + 1), chunk % (steps + 1)  # image n after step s
        x = torch.where(rank[n] < changed[s].view(-1, 1, 1, 1), end[n], start[n])
        probs.append(torch.softmax(model(x), dim=1)[torch.arange(len(chunk)), c[n]])
    curves = torch.cat(probs).view(N, steps + 1).double().cpu().numpy()
    x = changed.double().cpu().numpy() / HW
    areas = ((curves[:, 1:] + curves[:, :-1]) / 2 * np.diff(x)).sum(axis=1)
    return RemovalCurve(float(areas.mean()), areas, curves, x)


class AverageDrop(NamedTuple):
    average_drop: float  # % (lower is better)
    increase_in_confidence: float  # % (higher is better)
    Y: np.ndarray  # (N,) probability of the class on the image I
    O: np.ndarray  # (N,) probability of the class on the explanation map E = L ∘ I


@torch.no_grad()
def average_drop_increase(model, images, maps, target=None) -> AverageDrop:
    """Average Drop % and Increase in Confidence % (Chattopadhay et al., WACV 2018, sec. 5.1).

    E = L ∘ I, with L the map upsampled to the image size and min-max
    normalized; Y and O are the softmax probabilities of class c on I and E.
    Average Drop = (1/N) sum_n max(0, Y_n - O_n) / Y_n x 100;
    Increase in Confidence = (1/N) sum_n 1[Y_n < O_n] x 100.
    """
    hooks.check_images(model, images)
    maps = torch.as_tensor(_batch(maps), dtype=images.dtype, device=images.device)
    L = normalize(upsample(maps, images.shape[-2:]))
    logits = hooks.outputs(model, images)
    c = hooks.classes(target, logits)
    if c.dim() != 1:
        raise ValueError(f"target has shape {tuple(c.shape)}; pass one class per image")
    rows = torch.arange(len(images), device=images.device)
    Y = torch.softmax(logits, dim=1)[rows, c].double().cpu().numpy()
    O = (
        torch.softmax(hooks.outputs(model, L[:, None] * images), dim=1)[rows, c]
        .double()
        .cpu()
        .numpy()
    )
    drop = np.maximum(0.0, Y - O) / Y
    return AverageDrop(float(100 * drop.mean()), float(100 * (Y < O).mean()), Y, O)


# ------------------------------------------------ sanity, segmentation ----


def spearman(a, b) -> float:
    """Spearman rank correlation of two maps, flattened: Pearson correlation of their ranks.

    Tied values share their mean rank. Used for the sanity checks of Adebayo
    et al. (NeurIPS 2018). Undefined, so NaN (as in scipy), when a map is constant.
    """
    a, b = _array(a, "a").ravel(), _array(b, "b").ravel()
    if a.size != b.size or a.size < 2:
        raise ValueError(
            f"spearman needs two maps with the same number (>= 2) of values, got {a.size} and "
            f"{b.size}; compare maps of the same shape"
        )
    ra, rb = _ranks(a) - (a.size + 1) / 2, _ranks(b) - (b.size + 1) / 2
    denominator = np.sqrt((ra**2).sum() * (rb**2).sum())
    return float((ra * rb).sum() / denominator) if denominator > 0 else float("nan")


def ssim(a, b, sigma: float = 1.5, data_range: float = 1.0) -> float:
    """Mean structural similarity (Wang et al., IEEE TIP 2004) of two maps (H, W).

    Local means, variances and the covariance are Gaussian-weighted (standard deviation
    `sigma` px, window cut at 3.5 sigma, borders reflected); C1 = (0.01 L)^2, C2 = (0.03 L)^2
    with L = `data_range`. 1 means identical maps. Scale maps to [0, 1] first (L = 1), as for
    the sanity checks of Adebayo et al. (NeurIPS 2018), who report SSIM beside Spearman.
    """
    return float(_ssim_map(a, b, sigma, data_range).mean())


def _ssim_map(a, b, sigma: float, data_range: float) -> np.ndarray:
    """SSIM at every pixel of two maps (H, W)."""
    a, b = _array(a, "a", 2), _array(b, "b", 2)
    if a.shape != b.shape:
        raise ValueError(f"ssim needs two maps of the same shape, got {a.shape} and {b.shape}")
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2

    def local(x):
        return ndimage.gaussian_filter(x, sigma, mode="reflect", truncate=3.5)

    mu_a, mu_b = local(a), local(b)
    var_a, var_b = local(a * a) - mu_a**2, local(b * b) - mu_b**2
    cov = local(a * b) - mu_a * mu_b
    return ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / (
        (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
    )


def _ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n of x; equal values share the mean of their ranks."""
    order = np.argsort(x, kind="stable")
    sorted_x = x[order]
    first = np.r_[True, sorted_x[1:] != sorted_x[:-1]]  # the first of each run of equal values
    starts = np.flatnonzero(first)
    ends = np.r_[starts[1:], x.size]  # exclusive
    ranks = np.empty(x.size)
    ranks[order] = ((starts + 1 + ends) / 2)[np.cumsum(first) - 1]
    return ranks


def mask_iou(pred, true, per_image: bool = False):
    """Mask IoU |P ∩ T| / |P ∪ T| of boolean masks (H, W) or (N, H, W); two empty masks give 1."""
    p, t = _binary(pred, "pred"), _binary(true, "true")
    if p.shape != t.shape:
        raise ValueError(
            f"pred has shape {p.shape} but true {t.shape}; upsample the maps to the mask size first"
        )
    p, t = p.reshape(-1, *p.shape[-2:]), t.reshape(-1, *t.shape[-2:])
    inter, union = (p & t).sum(axis=(1, 2)), (p | t).sum(axis=(1, 2))
    values = np.where(union > 0, inter / np.maximum(union, 1), 1.0)
    return values if per_image else float(values.mean())


class PxAP(NamedTuple):
    ap: float  # area under the pixel precision-recall curve
    precision: np.ndarray
    recall: np.ndarray
    thresholds: np.ndarray


def pxap(maps, masks, thresholds=None) -> PxAP:
    """PxAP (Choe et al., CVPR 2020): area under the pixel precision-recall curve.

    Maps are min-max normalized per image and the pixels of all images are
    pooled; at threshold tau a pixel is foreground when s >= tau.
    AP = sum_i (R(tau_i) - R(tau_i+1)) P(tau_i), with R = 0 past the last
    threshold. Default thresholds: 0, 0.001, ..., 1.
    """
    maps = _batch(maps)
    truth = _masks(masks, maps).ravel()
    scores = normalize(torch.from_numpy(maps)).numpy().ravel()
    if not truth.any():
        raise ValueError("pxap needs foreground pixels in the masks; pass the objects' masks")
    taus = np.linspace(0, 1, 1001) if thresholds is None else np.sort(np.asarray(thresholds, float))
    tp = truth.sum() - np.searchsorted(np.sort(scores[truth]), taus)  # foreground with s >= tau
    predicted = scores.size - np.searchsorted(np.sort(scores), taus)  # pixels with s >= tau
    precision = np.where(predicted > 0, tp / np.maximum(predicted, 1), 1.0)
    recall = tp / truth.sum()
    ap = float((precision * (recall - np.r_[recall[1:], 0.0])).sum())
    return PxAP(ap, precision, recall, taus)


# --------------------------------------------------------- input checks ----


def _array(x, name: str, ndim: int | None = None) -> np.ndarray:
    a = x.detach().cpu().numpy() if torch.is_tensor(x) else np.asarray(x)
    if not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
        raise TypeError(f"{name} must hold numbers, got dtype {a.dtype}; pass an array or tensor")
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"{name} must be (H, W), got shape {a.shape}; pass one map, e.g. maps[0]")
    return a.astype(np.float64)


def _batch(maps, size=None) -> np.ndarray:
    a = _array(maps, "maps")
    if a.ndim != 3:
        raise ValueError(
            f"maps must be (N, H, W), one map per image, got shape {a.shape}; "
            f"for (N, T, H, W) pick one class, maps[:, t]; for one map use maps[None]"
        )
    if size is not None and tuple(a.shape[-2:]) != tuple(size):
        raise ValueError(
            f"maps are {tuple(a.shape[-2:])} but the images {tuple(size)}; "
            f"upsample first: camlib.upsample(maps, images.shape[-2:])"
        )
    return a


def _is_masks(x) -> bool:
    return (torch.is_tensor(x) or isinstance(x, np.ndarray)) and x.ndim == 3


def _masks(masks, maps: np.ndarray) -> np.ndarray:
    m = _binary(masks, "masks")
    if m.shape != maps.shape:
        raise ValueError(
            f"masks have shape {m.shape} but maps {maps.shape}; pass one (H, W) mask per map, "
            f"with the maps at the image size: camlib.upsample(maps, images.shape[-2:])"
        )
    return m


def _binary(x, name: str) -> np.ndarray:
    a = _array(x, name)
    if not np.isin(a, (0, 1)).all():
        raise ValueError(
            f"{name} must be boolean (or 0/1), got other values; threshold a map first, "
            f"e.g. normalize(maps) >= 0.5"
        )
    return a.astype(bool)


def _boxes(boxes, n: int) -> list:
    """One list of ground-truth boxes per image."""
    if len(boxes) != n:
        raise ValueError(
            f"got {len(boxes)} box entries for {n} maps; pass one box, or one list of boxes, "
            f"per image"
        )
    out = []
    for b in boxes:
        a = np.asarray(b.detach().cpu() if torch.is_tensor(b) else b, dtype=float)
        if a.ndim not in (1, 2) or a.shape[-1] != 4 or a.size == 0:
            raise ValueError(
                f"a box entry has shape {a.shape}; pass (x0, y0, x1, y1), or a list of such "
                f"boxes, per image"
            )
        out.append([tuple(row) for row in a.reshape(-1, 4)])
    return out


def _best_iou(box, truth: list) -> float:
    return max(iou(box, t) for t in truth)

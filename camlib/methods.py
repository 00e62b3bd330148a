"""Class activation maps and their relatives, one short function per paper.

Every method has the same shape:

    maps = method(model, images, layer, target=None)

- `images`: float tensor (N, C, H, W) on the model's device.
- `layer` (and `fc` for `cam`): a module of the model or its dotted name
  from `model.named_modules()`, e.g. "layer4" or "features.7".
- `target`: None (each image's predicted class), an int (one class for all
  images), a sequence or LongTensor of N classes, a LongTensor (N, T) of T
  classes per image (maps come back as (N, T, h, w), from one forward pass),
  or a callable `logits -> Tensor[N]` (any differentiable score).
- Maps come back raw: (N, h, w) at the layer's resolution, float32, on the
  input's device, detached; ReLU applied except for `cam`; neither
  normalized nor upsampled. `upsample` and `normalize` do those steps.
- `reshape` (keyword): None for a feature-map layer (N, K, h, w); for a token
  layer (N, T, D) the patch grid (h, w) of its last h*w tokens, or a callable
  `tokens -> (N, D, h, w)` (see `camlib.hooks.Grid`).

Scores S are raw class scores (logits, before softmax). The model's mode is
never changed: call `model.eval()` first. `camlib.hooks` holds the one hook
mechanism: how the layer is caught and how the gradients are taken.
In the formulas, k is a channel of the layer and (i, j) a position.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from camlib import hooks
from camlib.hooks import Layer, Reshape, Target

__all__ = [
    "cam",
    "counterfactual",
    "deconvnet",
    "grad_cam",
    "grad_cam_pp",
    "guided_backprop",
    "guided_grad_cam",
    "normalize",
    "upsample",
]

_SPATIAL = (-2, -1)  # the positions (i, j) of a map


def cam(
    model: nn.Module,
    images: Tensor,
    layer: Layer,
    fc: Layer,
    target: Target = None,
    *,
    reshape: Reshape = None,
):
    """Class activation map, Zhou et al., CVPR 2016, eq. M_c(x, y) = sum_k w_k^c f_k(x, y).

    f_k is channel k of `layer`, the activation that feeds global average
    pooling, and w^c is row c of the classifier `fc` (an nn.Linear, or the
    1x1 nn.Conv2d of an ACoL head). M_c is returned signed (no ReLU) and
    without the bias b_c: for a GAP network with a Linear fc, the class
    score is S_c = mean_xy M_c(x, y) + b_c. No gradient is needed, only the
    forward activation and the fc weights, so `target` must be class indices.
    """
    f, logits = hooks.layer_activation(model, images, layer, reshape)  # f_k(x, y): (N, K, h, w)
    c = hooks.classes(target, logits)  # (N,) or (N, T)
    w = _class_weights(model, fc, channels=f.shape[1], num_classes=logits.shape[1])  # (classes, K)
    M = torch.stack([_sum_k(w[c_t], f) for c_t in c.view(len(f), -1).T], dim=1)
    return hooks.finish(M, per_class=c.dim() == 2)


def grad_cam(
    model: nn.Module,
    images: Tensor,
    layer: Layer,
    target: Target = None,
    *,
    reshape: Reshape = None,
) -> Tensor:
    """Grad-CAM, Selvaraju et al., ICCV 2017, eqs. 1-2.

    alpha_k^c = 1/Z sum_ij dS^c/dA^k_ij,   L^c = ReLU(sum_k alpha_k^c A^k),
    with S^c the raw score before softmax and Z the number of positions.
    """

    def L(A, dS_dA):  # one class per image: A, dS_dA (N, K, h, w)
        alpha = dS_dA.mean(dim=_SPATIAL)
        return F.relu(_sum_k(alpha, A))

    return hooks.class_maps(L, model, images, layer, target, reshape)


def grad_cam_pp(
    model: nn.Module,
    images: Tensor,
    layer: Layer,
    target: Target = None,
    *,
    reshape: Reshape = None,
) -> Tensor:
    """Grad-CAM++, Chattopadhay et al., WACV 2018, eqs. 19-20, with g = dS^c/dA^k, S^c raw.

    alpha_ij^k = g_ij^2 / (2 g_ij^2 + (sum_ab A_ab^k) g_ij^3)   (0 where the denominator is 0)
    w_k = sum_ij alpha_ij^k ReLU(g_ij),   L^c = ReLU(sum_k w_k A^k).
    The paper's positive factor exp(S^c) is left out (it overflows), and
    alpha is not renormalized (the authors' code does that; the paper does not).
    """

    def L(A, g):  # one class per image: A, g (N, K, h, w)
        sum_A = A.sum(dim=_SPATIAL, keepdim=True)  # one scalar per channel k
        denominator = 2 * g**2 + sum_A * g**3
        alpha = torch.where(denominator != 0, g**2 / denominator, 0.0)
        w = (alpha * F.relu(g)).sum(dim=_SPATIAL)
        return F.relu(_sum_k(w, A))

    return hooks.class_maps(L, model, images, layer, target, reshape)


def counterfactual(
    model: nn.Module,
    images: Tensor,
    layer: Layer,
    target: Target = None,
    *,
    reshape: Reshape = None,
):
    """Counterfactual map, Selvaraju et al., IJCV 2020, sec. 5.2: Grad-CAM, gradient negated.

    alpha_k^c = 1/Z sum_ij -dS^c/dA^k_ij,   L^c = ReLU(sum_k alpha_k^c A^k):
    the regions whose removal would raise the score of class c.
    """

    def L(A, dS_dA):  # one class per image: A, dS_dA (N, K, h, w)
        alpha = (-dS_dA).mean(dim=_SPATIAL)
        return F.relu(_sum_k(alpha, A))

    return hooks.class_maps(L, model, images, layer, target, reshape)


def guided_backprop(model: nn.Module, images: Tensor, target: Target = None) -> Tensor:
    """Guided backpropagation, Springenberg et al., ICLR 2015 workshop: dS^c/dx, guided ReLUs.

    At every nn.ReLU, R^l = 1[f^l > 0] 1[R^{l+1} > 0] R^{l+1}: a gradient
    passes only where the forward input and the incoming gradient are both
    positive. Returns (N, C, H, W), or (N, T, C, H, W) for a (N, T) target.
    """
    return hooks.input_gradients(model, images, target, rule="guided")


def deconvnet(model: nn.Module, images: Tensor, target: Target = None) -> Tensor:
    """Deconvnet, Zeiler & Fergus, ECCV 2014: dS^c/dx with the deconvnet ReLU rule.

    At every nn.ReLU, R^l = 1[R^{l+1} > 0] R^{l+1}: a gradient passes only
    where the incoming gradient is positive, whatever the forward input was.
    Returns (N, C, H, W), or (N, T, C, H, W) for a (N, T) target.
    """
    return hooks.input_gradients(model, images, target, rule="deconvnet")


def guided_grad_cam(
    model: nn.Module,
    images: Tensor,
    layer: Layer,
    target: Target = None,
    *,
    reshape: Reshape = None,
):
    """Guided Grad-CAM, Selvaraju et al., ICCV 2017, sec. 3: R_guided ⊙ bilinear-upsample(L^c).

    Returns (N, C, H, W), or (N, T, C, H, W) for a (N, T) target.
    """
    R = guided_backprop(model, images, target)
    L = grad_cam(model, images, layer, target, reshape=reshape)
    return R * upsample(L, images.shape[-2:]).unsqueeze(-3)  # one map for all colour channels


def upsample(maps: Tensor, size) -> Tensor:
    """Bilinear upsampling (align_corners=False) of maps (N, h, w) or (N, T, h, w) to `size`.

    `size` is (H, W) or one int; pass `images.shape[-2:]` for the image size.
    """
    if not torch.is_tensor(maps) or maps.dim() not in (3, 4) or not maps.is_floating_point():
        shape = tuple(maps.shape) if torch.is_tensor(maps) else type(maps).__name__
        raise ValueError(
            f"upsample needs float maps (N, h, w) or (N, T, h, w), got {shape}; "
            f"pass the maps a method returned (for one map, maps[None])"
        )
    size = (size, size) if isinstance(size, int) else tuple(int(s) for s in size)
    if len(size) != 2:
        raise ValueError(f"size must be (H, W) or an int, got {size}; pass images.shape[-2:]")
    x = maps if maps.dim() == 4 else maps.unsqueeze(1)
    up = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
    return up if maps.dim() == 4 else up.squeeze(1)


def normalize(maps: Tensor) -> Tensor:
    """Per-map min-max scaling to [0, 1]: (M - min M) / (max M - min M) over the last two axes.

    A constant map (all zeros, say) becomes all zeros, never NaN.
    """
    if not torch.is_tensor(maps) or maps.dim() < 2:
        raise ValueError(
            "normalize needs a tensor of maps (..., h, w); pass what a method returned"
        )
    lo = maps.amin(dim=_SPATIAL, keepdim=True)
    span = maps.amax(dim=_SPATIAL, keepdim=True) - lo
    return torch.where(span > 0, (maps - lo) / torch.where(span > 0, span, 1), 0.0)


def _sum_k(w: Tensor, A: Tensor) -> Tensor:
    """sum_k w_k A^k_ij for every image: w (N, K), A (N, K, h, w) -> (N, h, w)."""
    return torch.einsum("nk,nkij->nij", w, A)


def _class_weights(model: nn.Module, fc: Layer, channels: int, num_classes: int) -> Tensor:
    """w_k^c of the classifier `fc` as a (classes, K) matrix, checked against layer and logits."""
    module = hooks.resolve(model, fc, what="fc")
    if isinstance(module, nn.Linear):
        w = module.weight
    elif isinstance(module, nn.Conv2d) and module.kernel_size == (1, 1) and module.groups == 1:
        w = module.weight[:, :, 0, 0]
    else:
        raise TypeError(
            f"fc must be the classifier that maps the pooled features to class scores, an "
            f"nn.Linear or a 1x1 nn.Conv2d, got {module}; pass that module or its name "
            f"(e.g. 'fc'), or use grad_cam for other heads"
        )
    if w.shape != (num_classes, channels):
        raise ValueError(
            f"fc maps {w.shape[1]} features to {w.shape[0]} classes, but the layer has "
            f"{channels} channels and the model {num_classes} classes; CAM needs the layer "
            f"whose output is pooled straight into fc: pass that layer (or use grad_cam)"
        )
    return w.detach()

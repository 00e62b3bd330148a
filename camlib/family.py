"""The CAM family after Grad-CAM++, one short function per paper (COURSE.md section 5b).

    maps = layer_cam(model, images, layer, target=None)                   # Jiang et al. 2021
    maps = xgrad_cam(model, images, layer, target=None)                   # Fu et al. 2020
    maps = hires_cam(model, images, layer, target=None)                   # Draelos & Carin 2020
    maps = score_cam(model, images, layer, target=None, batch_size=32)    # Wang et al. 2020
    maps = ablation_cam(model, images, layer, target=None, batch_size=64) # Desai & Ramaswamy 2020
    maps = eigen_cam(model, images, layer)                                # Muhammad & Yeasin 2020

Same contract as `camlib.methods`: `target` None, an int, N classes, (N, T)
classes or a callable `logits -> Tensor[N]`; maps come back raw, (N, h, w) or
(N, T, h, w) at the layer's resolution, float32, detached, ReLU applied; the
model is left as it came. Every method also takes `reshape=` for token layers
(see `camlib.hooks.Grid`). g = dS/dA is the gradient of the raw score S of
class c at the layer's output A; k is a channel, (i, j) a position.
All layer access goes through `camlib.hooks`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from camlib import hooks
from camlib.hooks import Layer, Reshape, Target

__all__ = ["ablation_cam", "eigen_cam", "hires_cam", "layer_cam", "score_cam", "xgrad_cam"]

_SPATIAL = (-2, -1)  # the positions (i, j) of a map


def _sum_k(w: Tensor, A: Tensor) -> Tensor:
    """sum_k w_k A^k for weights w (N, K) and maps A (N, K, h, w): (N, h, w)."""
    return torch.einsum("nk,nkij->nij", w, A)


# ------------------------------------------------------ gradient methods ----


def layer_cam(
    model: nn.Module,
    images: Tensor,
    layer: Layer,
    target: Target = None,
    *,
    reshape: Reshape = None,
) -> Tensor:
    """LayerCAM, Jiang et al., IEEE TIP 2021, eq. 5-6: a weight per position, positive gradients.

    L^c_ij = ReLU(sum_k ReLU(g^k_ij) A^k_ij).
    """

    def L(A, g):
        return F.relu((F.relu(g) * A).sum(dim=1))

    return hooks.class_maps(L, model, images, layer, target, reshape)


def xgrad_cam(
    model: nn.Module,
    images: Tensor,
    layer: Layer,
    target: Target = None,
    *,
    reshape: Reshape = None,
) -> Tensor:
    """XGrad-CAM, Fu et al., BMVC 2020, eq. 13: gradients weighted by the normalized activation.

    w_k = sum_ij (A^k_ij / sum_ab A^k_ab) g^k_ij   (0 where sum_ab A^k_ab = 0),
    L^c = ReLU(sum_k w_k A^k).
    """

    def L(A, g):
        sum_A = A.sum(dim=_SPATIAL)
        safe = torch.where(sum_A != 0, sum_A, 1)
        w = torch.where(sum_A != 0, (A * g).sum(dim=_SPATIAL) / safe, 0)
        return F.relu(_sum_k(w, A))

    return hooks.class_maps(L, model, images, layer, target, reshape)


def hires_cam(
    model: nn.Module,
    images: Tensor,
    layer: Layer,
    target: Target = None,
    *,
    reshape: Reshape = None,
) -> Tensor:
    """HiResCAM, Draelos & Carin, arXiv 2011.08891, eq. 4: gradient times activation, no pooling.

    L^c_ij = ReLU(sum_k g^k_ij A^k_ij).
    """

    def L(A, g):
        return F.relu((g * A).sum(dim=1))

    return hooks.class_maps(L, model, images, layer, target, reshape)


# ------------------------------------------------- gradient-free methods ----


def score_cam(
    model: nn.Module,
    images: Tensor,
    layer: Layer,
    target: Target = None,
    batch_size: int = hooks.CHUNK,
    *,
    reshape: Reshape = None,
) -> Tensor:
    """Score-CAM, Wang et al., CVPR workshops 2020, eq. 5-8, as in the authors' released code.

    H_k = min-max of A^k bilinearly upsampled to the image size (0 <= H_k <= 1),
    alpha_k^c = softmax(model(images * H_k))_c   (0 where the upsampled A^k is constant),
    L^c = ReLU(sum_k alpha_k^c A^k).
    The N*K masked images go through the model `batch_size` at a time (constant channels are
    skipped). A callable target is applied to the logits of the masked images directly (compose
    a softmax into it for probabilities).
    """
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}; e.g. 32")
    with torch.inference_mode(False), torch.no_grad():
        A, logits = hooks.layer_activation(model, images, layer, reshape)
        f, per_class = hooks.score_fn(target, logits)
        probabilities = not callable(target) or torch.is_tensor(target)
        N, K = A.shape[:2]
        size = images.shape[-2:]
        live = (A.amax(dim=_SPATIAL) > A.amin(dim=_SPATIAL)).T.reshape(-1)  # (K*N,), k-major
        pairs = live.nonzero().squeeze(1)  # index k*N + n
        z = logits.new_zeros(K * N, logits.shape[1])
        for chunk in pairs.split(batch_size):
            k, n = chunk // N, chunk % N
            up = F.interpolate(A[n, k][:, None], size=size, mode="bilinear", align_corners=False)
            lo = up.amin(dim=_SPATIAL, keepdim=True)
            H = (up - lo) / (up.amax(dim=_SPATIAL, keepdim=True) - lo)
            z[chunk] = model(images[n] * H)
        z = z.view(K, N, -1)
        alpha = torch.stack([f(z[k].softmax(1) if probabilities else z[k]) for k in range(K)], -1)
        alpha = alpha * live.view(K, N).T[:, None]  # (N, T, K); 0 for constant channels
        maps = F.relu(torch.einsum("ntk,nkij->ntij", alpha.to(A.dtype), A))
    return hooks.finish(maps, per_class)


def ablation_cam(
    model: nn.Module,
    images: Tensor,
    layer: Layer,
    target: Target = None,
    batch_size: int = 64,
    *,
    reshape: Reshape = None,
) -> Tensor:
    """Ablation-CAM, Desai & Ramaswamy, WACV 2020, eq. 3: the score drop when a channel is zeroed.

    y = S^c(images), y_k = S^c with channel k of A set to zero (everything before the layer
    unchanged), w_k = (y - y_k) / y   (0 where y = 0),   L^c = ReLU(sum_k w_k A^k).
    Only the network after the layer runs again, on `batch_size` ablated channels x N images
    per pass (`camlib.hooks.split_at`).
    """
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}; e.g. 64")
    with torch.inference_mode(False), torch.no_grad():
        A, logits, after = hooks.split_at(model, images, layer, reshape)
        f, per_class = hooks.score_fn(target, logits)
        y = f(logits)  # (N, T)
        N, K = A.shape[:2]
        y_k = []
        for ks in torch.arange(K, device=A.device).split(batch_size):
            B = len(ks)
            keep = A.new_ones(B, 1, K, 1, 1)
            keep[torch.arange(B), 0, ks] = 0  # copy b: channel ks[b] of every image zeroed
            z = after((A * keep).view(B * N, *A.shape[1:])).view(B, N, -1)
            y_k += [f(z[b]) for b in range(B)]
        y_k = torch.stack(y_k, dim=-1)  # (N, T, K)
        y = y[..., None]
        w = torch.where(y != 0, (y - y_k) / torch.where(y != 0, y, 1), 0)  # (N, T, K)
        maps = F.relu(torch.einsum("ntk,nkij->ntij", w.to(A.dtype), A))
    return hooks.finish(maps, per_class)


def eigen_cam(model: nn.Module, images: Tensor, layer: Layer, *, reshape: Reshape = None) -> Tensor:
    """Eigen-CAM, Muhammad & Yeasin, IJCNN 2020, eq. 4-5: the first principal component of A.

    Per image, X = A as (positions, channels), centred over positions; X = U S V^T;
    L = ReLU(X v_1) with v_1 the first right singular vector, its sign chosen so that X v_1
    correlates non-negatively with sum_k A^k. Class-agnostic: no target, maps (N, h, w).
    X v_1 = s_1 u_1 is computed from the top eigenvector of the smaller of X X^T and X^T X.
    """
    with torch.inference_mode(False), torch.no_grad():
        A, _ = hooks.layer_activation(model, images, layer, reshape)
        N, K, h, w = A.shape
        X = A.flatten(2).transpose(1, 2)  # (N, Z, K)
        X = X - X.mean(dim=1, keepdim=True)
        # X v_1 = s_1 u_1 from the smaller Gram matrix, in float64: LAPACK's SVD of a batch of
        # (49, 512) matrices can take seconds on a busy CPU, this eigh milliseconds.
        # One thread: a threaded LAPACK call on small matrices stalls on a busy machine.
        X = X.to(torch.float32 if A.device.type == "mps" else torch.float64)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            if X.shape[1] <= K:
                lam, U = torch.linalg.eigh(X @ X.mT)  # (N, Z, Z), eigenvalues s^2 ascending
                proj = U[..., -1] * lam[..., -1:].clamp(min=0).sqrt()
            else:
                proj = (X @ torch.linalg.eigh(X.mT @ X).eigenvectors[..., -1:]).squeeze(-1)
        finally:
            torch.set_num_threads(threads)
        proj = proj.to(A.dtype)
        sign = torch.where((proj * A.flatten(2).sum(dim=1)).sum(dim=1) < 0, -1.0, 1.0)
        maps = F.relu(proj * sign.to(A.dtype)[:, None]).view(N, h, w)
    return hooks.finish(maps, per_class=False)

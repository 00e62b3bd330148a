"""camlib.family against independent computations: hand-written forward passes in plain torch,
the equations of COURSE.md 5b written out channel by channel, numpy's SVD, and the identities
that follow from the algebra on a GAP network."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import TinyConv, TinyGap, TinySkip, TinyTwo, seeded

import camlib
import camlib.methods as cm
from camlib import family as fam

pytestmark = pytest.mark.usefixtures("one_thread")

TARGETED = [fam.layer_cam, fam.xgrad_cam, fam.hires_cam, fam.score_cam, fam.ablation_cam]
ALL = [*TARGETED, fam.eigen_cam]


# ----------------------------------------------------- hand computations ----
# TinyConv at 'relu1': A = relu(conv1(x)), S = fc(relu(conv2(A))); g = dS/dA by autograd on a
# leaf A of the hand-written suffix (camlib's hooks are not involved).


def conv_A(m, x):
    return F.conv2d(x, m.conv1.weight, m.conv1.bias, padding=1).clamp(min=0)


def conv_suffix(m, A):
    return (
        F.conv2d(A, m.conv2.weight, m.conv2.bias, padding=1).clamp(min=0).flatten(1)
        @ (m.fc.weight.T)
        + m.fc.bias
    )


def conv_g(m, x, c):
    A = conv_A(m, x).requires_grad_(True)
    with torch.enable_grad():
        (g,) = torch.autograd.grad(conv_suffix(m, A)[torch.arange(len(x)), c].sum(), A)
    return A.detach(), g


def gap_A(m, x):
    z = F.conv2d(x, m.features[0].weight, m.features[0].bias, padding=1).clamp(min=0)
    return F.conv2d(z, m.features[2].weight, m.features[2].bias, padding=1).clamp(min=0)


def by_channel(weights, A):
    """sum_k w[n][k] A[n, k] by a loop over k, then ReLU."""
    out = torch.zeros_like(A[:, 0])
    for k in range(A.shape[1]):
        out += weights[:, k, None, None] * A[:, k]
    return out.clamp(min=0)


@torch.no_grad()
def test_hires_layer_xgrad_by_hand(conv, images):
    c = torch.tensor([3, 0, 1, 2])
    A, g = conv_g(conv, images, c)
    assert g.flatten(2).std(dim=2).min() > 0  # the gradient varies over positions: a real test
    hires = sum(g[:, k] * A[:, k] for k in range(A.shape[1])).clamp(min=0)
    layer = sum(g[:, k].clamp(min=0) * A[:, k] for k in range(A.shape[1])).clamp(min=0)
    w = torch.zeros(4, A.shape[1], dtype=A.dtype)
    for n in range(4):
        for k in range(A.shape[1]):
            s = A[n, k].sum()
            w[n, k] = (A[n, k] / s * g[n, k]).sum() if s != 0 else 0.0
    xgrad = by_channel(w, A)
    for method, expected in (
        (fam.hires_cam, hires),
        (fam.layer_cam, layer),
        (fam.xgrad_cam, xgrad),
    ):
        got = method(conv, images, "relu1", c)
        assert got.dtype == torch.float32 and got.shape == (4, 6, 6)
        assert expected.abs().sum() > 0
        assert torch.allclose(got.double(), expected, atol=1e-6), method.__name__
    assert (hires - layer).abs().max() > 1e-3 and (xgrad - hires).abs().max() > 1e-3


def test_gap_identities(gap, images):
    # On GAP -> Linear, S = sum_k w_k mean_ij A^k_ij + b, so g^k_ij = w_k / Z everywhere:
    # HiResCAM = ReLU(sum_k w_k A^k / Z) = Grad-CAM;  XGrad-CAM w_k = sum_ij A_ij/sum A * w_k/Z
    # = w_k / Z = Grad-CAM's alpha_k;  so HiResCAM * Z = XGrad-CAM * Z = ReLU(CAM).
    top = torch.arange(5).repeat(4, 1)
    Z = 36
    gc = cm.grad_cam(gap, images, "features.3", top)
    relu_cam = cm.cam(gap, images, "features.3", "fc", top).relu()
    assert gc.abs().sum() > 0
    for method in (fam.hires_cam, fam.xgrad_cam):
        maps = method(gap, images, "features.3", top)
        assert (maps - gc).abs().max() < 1e-7, method.__name__
        assert (maps * Z - relu_cam).abs().max() < 1e-6, method.__name__


@torch.no_grad()
def test_layer_cam_equals_hires_cam_exactly_where_weights_are_positive(gap, images):
    # LayerCAM = ReLU(sum_k ReLU(w_k / Z) A^k): HiResCAM's sum without the negative-weight channels.
    A, w, Z = gap_A(gap, images), gap.fc.weight, 36
    assert (w[2] < 0).any() and (w[2] > 0).any()
    expected = by_channel(w[2].clamp(min=0).expand(4, -1) / Z, A)
    layer = fam.layer_cam(gap, images, "features.3", 2)
    hires = fam.hires_cam(gap, images, "features.3", 2)
    assert torch.allclose(layer.double(), expected, atol=1e-7)
    negative = by_channel(-w[2].clamp(max=0).expand(4, -1), A)  # what the negative channels add
    differs = (layer - hires).abs() > 1e-7
    assert differs.any() and not differs[negative == 0].any()  # differs only where they are active
    gap.fc.weight[2] = w[2].abs()  # all weights positive: the two are the same map
    assert torch.allclose(
        fam.layer_cam(gap, images, "features.3", 2),
        fam.hires_cam(gap, images, "features.3", 2),
        atol=1e-7,
    )


# ---------------------------------------------------------- Ablation-CAM ----


@torch.no_grad()
def test_ablation_cam_on_gap_linear_by_hand(gap, images):
    # The head is linear in A: y_k = y - w^c_k mean(A^k), so w_k = w^c_k mean(A^k) / y.
    c = torch.tensor([0, 4, 2, 1])
    A = gap_A(gap, images)
    y = A.mean(dim=(2, 3)) @ gap.fc.weight.T + gap.fc.bias
    y = y[torch.arange(4), c]
    w = gap.fc.weight[c] * A.mean(dim=(2, 3)) / y[:, None]
    expected = by_channel(w, A)
    got = fam.ablation_cam(gap, images, "features.3", c)
    assert expected.abs().sum() > 0
    assert torch.allclose(got.double(), expected, atol=1e-6)
    assert torch.equal(fam.ablation_cam(gap, images, "features.3", c, batch_size=3), got)


def ablation_by_hand(A, suffix, c):
    """w_k = (y - y_k) / y, y_k from the hand suffix on A with channel k zeroed, k by k."""
    y = suffix(A)[torch.arange(len(A)), c]
    w = torch.zeros(A.shape[:2], dtype=A.dtype)
    for k in range(A.shape[1]):
        ablated = A.clone()
        ablated[:, k] = 0
        w[:, k] = (y - suffix(ablated)[torch.arange(len(A)), c]) / y
    return by_channel(w, A)


@torch.no_grad()
def test_ablation_cam_nonlinear_head_by_hand(conv, images):
    c = torch.tensor([1, 2, 3, 0])
    expected = ablation_by_hand(conv_A(conv, images), lambda A: conv_suffix(conv, A), c)
    assert expected.abs().sum() > 0
    for batch_size in (1, 3, 64):
        got = fam.ablation_cam(conv, images, "relu1", c, batch_size=batch_size)
        assert torch.allclose(got.double(), expected, atol=1e-6)


@torch.no_grad()
def test_ablation_cam_with_a_skip_around_the_layer(images):
    # The empty-batch shortcut cannot work (the skip needs x at full batch): the slow path runs.
    m = seeded(TinySkip)
    c = torch.tensor([0, 1, 2, 3])

    def suffix(A):
        z = F.conv2d(A, m.conv2.weight, m.conv2.bias, padding=1) + images
        return z.relu().flatten(1) @ m.fc.weight.T + m.fc.bias

    A = F.conv2d(images, m.conv1.weight, m.conv1.bias, padding=1).relu()
    expected = ablation_by_hand(A, suffix, c)
    assert expected.abs().sum() > 0
    assert torch.allclose(fam.ablation_cam(m, images, "relu", c).double(), expected, atol=1e-6)


def test_ablation_cam_runs_the_prefix_once(conv, images):
    calls = []
    handle = conv.conv1.register_forward_hook(lambda mod, i, o: calls.append(len(o)))
    try:
        fam.ablation_cam(conv, images, "relu1", 1, batch_size=2)
    finally:
        handle.remove()
    assert calls[0] == 4 and not any(calls[1:])  # the ablation passes run conv1 on 0 images


def test_ablation_cam_zero_score_gives_zero_weight(images):
    m = seeded(TinyGap)
    with torch.no_grad():
        m.fc.weight[1] = 0
        m.fc.bias[1] = 0  # y = 0 for class 1
    maps = fam.ablation_cam(m, images, "features.3", 1)
    assert torch.isfinite(maps).all() and maps.abs().max() == 0


# ------------------------------------------------------------- Score-CAM ----


def two_forward(m, x):
    A = F.conv2d(x, m.conv.weight, m.conv.bias, stride=2, padding=1).clamp(min=0)
    return A, A.mean(dim=(2, 3)) @ m.fc.weight.T + m.fc.bias


@torch.no_grad()
def score_cam_by_hand(m, x, c):
    A, _ = two_forward(m, x)  # (N, 2, 3, 3)
    alpha = torch.zeros(len(x), 2, dtype=x.dtype)
    for n in range(len(x)):
        for k in range(2):
            up = F.interpolate(
                A[n, k][None, None], size=(6, 6), mode="bilinear", align_corners=False
            )[0, 0]
            if up.max() == up.min():
                continue  # alpha_k = 0 for a constant map
            H = (up - up.min()) / (up.max() - up.min())
            _, z = two_forward(m, x[n : n + 1] * H)
            alpha[n, k] = torch.softmax(z[0], dim=0)[c[n]]
    return alpha, by_channel(alpha, A)


def test_score_cam_alpha_by_hand_two_channels(images):
    m = seeded(TinyTwo)
    c = torch.tensor([0, 1, 2, 1])
    alpha, expected = score_cam_by_hand(m, images, c)
    assert (alpha > 0).all() and expected.abs().sum() > 0
    for batch_size in (1, 3, 64):
        got = fam.score_cam(m, images, "relu", c, batch_size=batch_size)
        assert got.shape == (4, 3, 3) and torch.allclose(got.double(), expected, atol=1e-6)


def test_score_cam_constant_channel_has_zero_alpha(images):
    m = seeded(TinyTwo)
    with torch.no_grad():
        m.conv.weight[1] = 0  # channel 1 is relu(bias): constant
        m.conv.bias[1] = 0.5
    c = torch.tensor([2, 2, 0, 1])
    alpha, expected = score_cam_by_hand(m, images, c)
    assert (alpha[:, 1] == 0).all() and (alpha[:, 0] > 0).all()
    assert torch.allclose(fam.score_cam(m, images, "relu", c).double(), expected, atol=1e-6)


def test_score_cam_callable_target_is_applied_to_the_masked_logits(images):
    m = seeded(TinyTwo)
    c = torch.tensor([0, 1, 2, 1])
    as_probability = fam.score_cam(m, images, "relu", lambda z: z.softmax(1)[torch.arange(4), c])
    assert torch.allclose(as_probability, fam.score_cam(m, images, "relu", c), atol=1e-7)


# ------------------------------------------------------------- Eigen-CAM ----


@pytest.mark.parametrize("size", [6, 2], ids=["positions > channels", "positions <= channels"])
@torch.no_grad()
def test_eigen_cam_against_numpy_svd(size, gap, images):
    images = images[..., :size, :size]
    A = gap_A(gap, images).numpy()
    expected = []
    for n in range(4):
        X = A[n].reshape(A.shape[1], -1).T  # (positions, channels)
        Xc = X - X.mean(axis=0)
        _, _, Vt = np.linalg.svd(Xc, full_matrices=False)
        p = Xc @ Vt[0]
        if p @ X.sum(axis=1) < 0:
            p = -p
        expected.append(np.maximum(p, 0).reshape(A.shape[2:]))
    got = fam.eigen_cam(gap, images, "features.3")
    assert got.shape == (4, size, size) and got.dtype == torch.float32
    assert np.abs(np.stack(expected)).sum() > 0
    np.testing.assert_allclose(got.numpy(), np.stack(expected), atol=1e-6)


def test_eigen_cam_zero_activation_gives_zero_map(images):
    m = seeded(TinyGap)
    with torch.no_grad():
        m.features[2].weight.zero_()
        m.features[2].bias.fill_(-1.0)  # A = 0 everywhere
    maps = fam.eigen_cam(m, images, "features.3")
    assert torch.isfinite(maps).all() and maps.abs().max() == 0


# -------------------------------------------------- batches and targets ----


def call(method, model, x, target=None, **kw):
    layer = "features.3" if isinstance(model, TinyGap) else "relu1"
    if method is fam.eigen_cam:
        return method(model, x, layer, **kw)
    return method(model, x, layer, target, **kw)


@pytest.mark.parametrize("method", ALL, ids=lambda f: f.__name__)
def test_batch_equals_per_image(method, conv, images):
    batch = call(method, conv, images)
    single = torch.cat([call(method, conv, images[n : n + 1]) for n in range(4)])
    assert batch.abs().sum() > 0 and batch.shape == (4, 6, 6)
    assert torch.allclose(batch, single, atol=1e-6)


@pytest.mark.parametrize("method", TARGETED, ids=lambda f: f.__name__)
def test_k_classes_per_image_equal_k_calls(method, conv, images):
    top = torch.tensor([[0, 1, 2], [3, 2, 1], [1, 1, 0], [2, 3, 0]])
    together = call(method, conv, images, top)
    apart = torch.stack([call(method, conv, images, top[:, k]) for k in range(3)], dim=1)
    assert together.shape == (4, 3, 6, 6)
    assert torch.allclose(together, apart, atol=1e-6)


@pytest.mark.parametrize("method", TARGETED, ids=lambda f: f.__name__)
def test_target_forms_agree(method, conv, images):
    predicted = conv(images).argmax(1)
    none = call(method, conv, images, None)
    assert torch.equal(none, call(method, conv, images, predicted))
    assert torch.equal(none, call(method, conv, images, predicted.tolist()))
    two = call(method, conv, images, torch.full((4,), 2))
    assert torch.equal(call(method, conv, images, 2), two)
    if method is not fam.score_cam:  # Score-CAM scores a callable's value, not a probability
        score = call(method, conv, images, lambda z: z[:, 2])
        assert torch.allclose(score, call(method, conv, images, 2), atol=1e-7)


@pytest.mark.parametrize(
    "method", [fam.layer_cam, fam.xgrad_cam, fam.hires_cam], ids=lambda f: f.__name__
)
def test_all_zero_gradients_give_zero_maps(method, images):
    for model in (seeded(TinyGap), seeded(TinyConv)):
        with torch.no_grad():
            model.fc.weight.zero_()
        maps = call(method, model, images, 1)
        assert torch.isfinite(maps).all() and maps.abs().max() == 0


def test_exported_and_in_the_table():
    from camlib import table

    for name in ("layer_cam", "xgrad_cam", "hires_cam", "score_cam", "ablation_cam", "eigen_cam"):
        assert getattr(camlib, name) is getattr(fam, name) and name in camlib.__all__
    entries = {m.fn: m for m in table.METHODS.values()}
    assert all(f in entries for f in ALL)
    assert not entries[fam.eigen_cam].targeted and entries[fam.eigen_cam].gradient_free
    assert entries[fam.score_cam].gradient_free and entries[fam.ablation_cam].gradient_free
    assert not entries[fam.layer_cam].gradient_free

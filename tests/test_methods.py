"""camlib's methods against independent computations.

Hand-written chain rules, element-by-element loops, higher-order autograd,
and identities that follow from the equations (papers.md section 9).
"""

import copy

import pytest
import torch
import torch.nn.functional as F
from conftest import TinyConv, TinyGap, TinyHead1x1, seeded
from torch import nn

import camlib.methods as cm

pytestmark = pytest.mark.usefixtures("one_thread")

# ----------------------------------------------------- hand computations ----
# TinyConv by hand: z1 = conv1(x), A = relu(z1), z2 = conv2(A), S = fc(relu(z2)).
# The backward of a stride-1 conv with padding 1 is conv_transpose2d with the same weight.


def hand_forward(m, x):
    z1 = F.conv2d(x, m.conv1.weight, m.conv1.bias, padding=1)
    A = z1.clamp(min=0)
    z2 = F.conv2d(A, m.conv2.weight, m.conv2.bias, padding=1)
    S = z2.clamp(min=0).flatten(1) @ m.fc.weight.T + m.fc.bias
    return z1, A, z2, S


def relu_backward(R, f, rule):
    """The three ReLU backward rules of papers.md section 5, masks applied by hand."""
    return {"backprop": R * (f > 0), "deconvnet": R * (R > 0), "guided": R * (f > 0) * (R > 0)}[
        rule
    ]


def hand_dS_dA(m, z2, c):
    R = m.fc.weight[c].view(len(c), *z2.shape[1:])  # dS/d relu(z2)
    return F.conv_transpose2d(relu_backward(R, z2, "backprop"), m.conv2.weight, padding=1)


def hand_dS_dx(m, x, c, rule):
    z1, _, z2, _ = hand_forward(m, x)
    R = relu_backward(m.fc.weight[c].view(len(c), *z2.shape[1:]), z2, rule)
    R = relu_backward(F.conv_transpose2d(R, m.conv2.weight, padding=1), z1, rule)
    return F.conv_transpose2d(R, m.conv1.weight, padding=1)


def hand_grad_cam(A, g):
    alpha = g.mean(dim=(2, 3))  # alpha_k = 1/Z sum_ij dS/dA_ij
    return torch.einsum("nk,nkij->nij", alpha, A).clamp(min=0)


@torch.no_grad()
def test_hand_backward_is_the_true_gradient(conv, images):
    # The oracle itself: the hand chain rule with plain ReLU masks equals autograd's gradient.
    x = images.clone().requires_grad_(True)
    c = torch.tensor([0, 1, 2, 3])
    with torch.enable_grad():
        (auto,) = torch.autograd.grad(conv(x).gather(1, c[:, None]).sum(), x)
    assert torch.allclose(hand_dS_dx(conv, images, c, "backprop"), auto, atol=1e-12)


# ------------------------------------------------------------------ CAM ----


@torch.no_grad()
def test_cam_sums_to_the_score(gap, images):
    # S_c = mean_xy M_c(x, y) + b_c on a GAP network (Zhou et al.'s identity, with GAP's 1/Z).
    M = cm.cam(gap, images, "features.3", "fc", target=torch.arange(5).repeat(4, 1))
    assert M.shape == (4, 5, 6, 6) and M.dtype == torch.float32
    assert torch.allclose(M.double().mean(dim=(2, 3)) + gap.fc.bias, gap(images), atol=1e-6)
    f = gap.features(images)
    assert torch.allclose(M.double(), torch.einsum("kc,nchw->nkhw", gap.fc.weight, f), atol=1e-6)
    assert (M < 0).any()  # signed: no ReLU


@torch.no_grad()
def test_cam_accepts_a_1x1_conv_head():
    m = seeded(TinyHead1x1)
    x = torch.randn(2, 3, 5, 5, dtype=torch.float64)
    maps = m.cls(m.body(x)) - m.cls.bias.view(
        1, -1, 1, 1
    )  # the class maps of the forward pass, no bias
    assert torch.allclose(cm.cam(m, x, "body", "cls", target=1).double(), maps[:, 1], atol=1e-6)


# ------------------------------------------------------------- Grad-CAM ----


@torch.no_grad()
def test_grad_cam_by_hand(conv, images):
    c = torch.tensor([3, 0, 1, 2])
    _, A, z2, _ = hand_forward(conv, images)
    g = hand_dS_dA(conv, z2, c)
    expected = hand_grad_cam(A, g)
    assert (
        expected.abs().sum() > 0 and g.flatten(2).std(dim=2).min() > 0
    )  # a real test: non-zero, varying g
    assert torch.allclose(cm.grad_cam(conv, images, "relu1", c).double(), expected, atol=1e-6)


def test_grad_cam_times_Z_is_relu_cam(gap, images):
    # On a GAP network dS/dA_ij = w_k / Z everywhere, so Grad-CAM * Z == ReLU(CAM).
    top = torch.arange(5).repeat(4, 1)
    Z = 6 * 6
    diff = (
        cm.grad_cam(gap, images, "features.3", top) * Z
        - cm.cam(gap, images, "features.3", "fc", top).relu()
    )
    assert diff.abs().max() < 1e-6


def test_grad_cam_uses_the_score_before_softmax(conv, images):
    c = torch.tensor([1, 1, 2, 0])
    raw = cm.grad_cam(conv, images, "relu1", target=lambda logits: logits[torch.arange(4), c])
    assert torch.equal(raw, cm.grad_cam(conv, images, "relu1", c))
    soft = cm.grad_cam(
        conv, images, "relu1", target=lambda logits: logits.softmax(1)[torch.arange(4), c]
    )
    assert not torch.allclose(raw, soft)


# ----------------------------------------------------------- Grad-CAM++ ----


def grad_cam_pp_loops(A, g):
    """Eqs. 19-20 of Chattopadhay et al. for one image, element by element, in plain Python."""
    K, h, w = len(A), len(A[0]), len(A[0][0])
    weights = []
    for k in range(K):
        sum_A = sum(A[k][a][b] for a in range(h) for b in range(w))
        w_k = 0.0
        for i in range(h):
            for j in range(w):
                gij = g[k][i][j]
                den = 2 * gij**2 + sum_A * gij**3
                alpha = gij**2 / den if den != 0 else 0.0
                w_k += alpha * max(gij, 0.0)
        weights.append(w_k)
    return [
        [max(0.0, sum(weights[k] * A[k][i][j] for k in range(K))) for j in range(w)]
        for i in range(h)
    ]


@torch.no_grad()
def test_grad_cam_pp_is_eq19_element_by_element(conv, images):
    c = torch.tensor([2, 1, 0, 3])
    _, A, z2, _ = hand_forward(conv, images)
    g = hand_dS_dA(conv, z2, c)
    assert g.flatten(2).std(dim=2).min() > 0  # the gradient varies over positions
    expected = torch.tensor(
        [grad_cam_pp_loops(A[n].tolist(), g[n].tolist()) for n in range(4)], dtype=torch.float64
    )
    got = cm.grad_cam_pp(conv, images, "relu1", c).double()
    assert expected.abs().sum() > 0
    assert torch.allclose(got, expected, atol=1e-6)
    # It tells apart the versions in circulation: sum_ab A_ab g_ab^3 in the denominator differs.
    wrong_den = 2 * g**2 + (A * g**3).sum(dim=(2, 3), keepdim=True)
    alpha = torch.where(wrong_den != 0, g**2 / wrong_den, 0.0)
    wrong = torch.einsum("nk,nkij->nij", (alpha * g.clamp(min=0)).sum(dim=(2, 3)), A).clamp(min=0)
    assert (wrong - expected).abs().max() > 1e-3
    assert (cm.grad_cam(conv, images, "relu1", c).double() - expected).abs().max() > 1e-3


def test_grad_cam_pp_is_eq10_with_higher_order_derivatives(images):
    # Eq. 10 with Y = exp(S) and exact 2nd/3rd derivatives from autograd equals exp(S) * eq. 19.
    conv = seeded(TinyConv, size=4)
    x, c = images[:1, :, 1:5, 1:5], 2
    with torch.no_grad():
        _, A0, _, S = hand_forward(conv, x)
    A = A0.clone().requires_grad_(True)
    head = F.conv2d(A, conv.conv2.weight, conv.conv2.bias, padding=1).clamp(min=0).flatten(1)
    Y = torch.exp(head @ conv.fc.weight[c] + conv.fc.bias[c]).sum()
    (d1,) = torch.autograd.grad(Y, A, create_graph=True)
    d1, d2, d3 = d1.flatten(), [], []
    for e in range(A.numel()):
        (h,) = torch.autograd.grad(d1[e], A, create_graph=True)
        d2.append(h.flatten()[e])
        (t,) = torch.autograd.grad(d2[-1], A, retain_graph=True, allow_unused=True)
        d3.append(t.flatten()[e] if t is not None else torch.zeros((), dtype=A.dtype))
    with torch.no_grad():
        d1, d2, d3 = d1.view_as(A), torch.stack(d2).view_as(A), torch.stack(d3).view_as(A)
        den = 2 * d2 + A0.sum(dim=(2, 3), keepdim=True) * d3
        alpha = torch.where(den != 0, d2 / den, 0.0)
        w = (alpha * d1.clamp(min=0)).sum(dim=(2, 3))
        eq10 = torch.einsum("nk,nkij->nij", w, A0).clamp(min=0)
    got = cm.grad_cam_pp(conv, x, "relu1", c).double()
    assert eq10.abs().sum() > 0
    assert torch.allclose(eq10 / torch.exp(S[0, c]), got, atol=1e-6)


# --------------------------------------------------------- counterfactual ----


@torch.no_grad()
def test_counterfactual_is_grad_cam_of_the_negated_score(conv, images):
    c = torch.tensor([0, 3, 3, 1])
    got = cm.counterfactual(conv, images, "relu1", c)
    negated = cm.grad_cam(conv, images, "relu1", target=lambda logits: -logits[torch.arange(4), c])
    assert torch.equal(got, negated)
    _, A, z2, _ = hand_forward(conv, images)
    expected = hand_grad_cam(A, -hand_dS_dA(conv, z2, c))
    assert expected.abs().sum() > 0
    assert torch.allclose(got.double(), expected, atol=1e-6)


# ------------------------------------- guided backprop, deconvnet, Guided Grad-CAM ----


@pytest.mark.parametrize("inplace", [False, True])
@pytest.mark.parametrize("rule", ["guided", "deconvnet"])
def test_relu_rules_by_hand(rule, inplace, images):
    m = seeded(TinyConv, inplace=inplace)
    c = torch.tensor([1, 2, 3, 0])
    method = cm.guided_backprop if rule == "guided" else cm.deconvnet
    got = method(m, images, c)
    with torch.no_grad():
        expected = hand_dS_dx(m, images, c, rule)
        plain = hand_dS_dx(m, images, c, "backprop")
    assert got.shape == images.shape and got.dtype == torch.float32
    assert (expected - plain).abs().max() > 1e-3  # the rule matters on this net
    assert torch.allclose(got.double(), expected, atol=1e-6)


def test_guided_grad_cam_is_guided_backprop_times_upsampled_grad_cam(conv, images):
    c = torch.tensor([1, 0, 2, 2])
    with torch.no_grad():
        _, A, z2, _ = hand_forward(conv, images)
        L = hand_grad_cam(A, hand_dS_dA(conv, z2, c))
        up = F.interpolate(L[:, None], size=(6, 6), mode="bilinear", align_corners=False)
        expected = hand_dS_dx(conv, images, c, "guided") * up
    assert torch.allclose(
        cm.guided_grad_cam(conv, images, "relu1", c).double(), expected, atol=1e-6
    )


# -------------------------------------------------- batches and targets ----

GRAD_METHODS = [cm.grad_cam, cm.grad_cam_pp, cm.counterfactual, cm.guided_grad_cam]
INPUT_METHODS = [cm.guided_backprop, cm.deconvnet]


def call(method, model, x, target):
    layer = "features.3" if isinstance(model, TinyGap) else "relu1"
    if method is cm.cam:
        return method(model, x, layer, "fc", target)
    if method in INPUT_METHODS:
        return method(model, x, target)
    return method(model, x, layer, target)


ALL = [cm.cam, *GRAD_METHODS, *INPUT_METHODS]


@pytest.mark.parametrize("method", ALL, ids=lambda f: f.__name__)
def test_batch_equals_per_image(method, conv, gap, images):
    model = gap if method is cm.cam else conv
    batch = call(method, model, images, None)
    single = torch.cat([call(method, model, images[n : n + 1], None) for n in range(4)])
    assert batch.abs().sum() > 0
    assert torch.allclose(batch, single, atol=1e-6)


@pytest.mark.parametrize("method", ALL, ids=lambda f: f.__name__)
def test_k_classes_per_image_equal_k_calls(method, conv, gap, images):
    model = gap if method is cm.cam else conv
    top = torch.tensor([[0, 1, 2], [3, 2, 1], [1, 1, 0], [2, 3, 0]])
    together = call(method, model, images, top)
    apart = torch.stack([call(method, model, images, top[:, k]) for k in range(3)], dim=1)
    assert together.shape[:2] == (4, 3)
    assert torch.allclose(together, apart, atol=1e-6)


@pytest.mark.parametrize("method", ALL, ids=lambda f: f.__name__)
def test_target_forms_agree(method, conv, gap, images):
    model = gap if method is cm.cam else conv
    predicted = model(images).argmax(1)
    none = call(method, model, images, None)
    assert torch.equal(none, call(method, model, images, predicted))
    assert torch.equal(none, call(method, model, images, predicted.tolist()))
    assert torch.equal(
        call(method, model, images, 2), call(method, model, images, torch.full((4,), 2))
    )


@pytest.mark.parametrize("method", ALL, ids=lambda f: f.__name__)
def test_all_zero_gradients_give_zero_maps(method, images):
    models = [seeded(TinyGap)] + ([] if method is cm.cam else [seeded(TinyConv)])
    for model in models:
        with torch.no_grad():
            model.fc.weight.zero_()  # dS/dA = 0, so Grad-CAM++'s denominator is 0 everywhere
        maps = call(method, model, images, 1)
        assert torch.isfinite(maps).all() and maps.abs().max() == 0
        assert torch.equal(cm.normalize(maps), torch.zeros_like(maps))


# ------------------------------------------------- upsample, normalize ----


def test_upsample_bilinear_values():
    m = torch.tensor([[[0.0, 1.0]]])  # (1, 1, 2)
    assert torch.allclose(cm.upsample(m, (1, 4)), torch.tensor([[[0.0, 0.25, 0.75, 1.0]]]))
    k = torch.rand(2, 3, 4, 4)
    up = cm.upsample(k, 8)
    assert up.shape == (2, 3, 8, 8)
    assert torch.allclose(up[:, 1], cm.upsample(k[:, 1], (8, 8)))
    assert torch.allclose(cm.upsample(torch.full((1, 3, 3), 2.5), 7), torch.full((1, 7, 7), 2.5))


def test_normalize_values_and_zero_safety():
    m = torch.tensor([[[1.0, 3.0], [5.0, 9.0]], [[4.0, 4.0], [4.0, 4.0]]])
    expected = torch.tensor([[[0.0, 0.25], [0.5, 1.0]], [[0.0, 0.0], [0.0, 0.0]]])
    assert torch.equal(cm.normalize(m), expected)
    assert torch.equal(cm.normalize(torch.zeros(2, 3, 4, 4)), torch.zeros(2, 3, 4, 4))


# ----------------------------------------------------------- real nets ----


class _HandGuidedReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, f):
        ctx.save_for_backward(f)
        return f.clamp(min=0)

    @staticmethod
    def backward(ctx, R):
        (f,) = ctx.saved_tensors
        return R * (f > 0) * (R > 0)


class _HandGuided(nn.Module):
    def forward(self, f):
        return _HandGuidedReLU.apply(f)


def test_resnet18_every_method(resnet, resnet_images):
    x, top = resnet_images, torch.tensor([[1, 4], [7, 2]])
    # layer4 feeds GAP -> fc, so papers.md 9.1 holds: Grad-CAM * Z == ReLU(CAM), Z = 2 x 2.
    gc, c = cm.grad_cam(resnet, x, "layer4", top), cm.cam(resnet, x, "layer4", "fc", top)
    assert gc.shape == (2, 2, 2, 2) and (gc * 4 - c.relu()).abs().max() < 1e-6
    for method in (cm.grad_cam_pp, cm.counterfactual):
        maps = method(resnet, x, resnet.layer4, top)
        assert maps.shape == (2, 2, 2, 2) and torch.isfinite(maps).all()
    # guided backprop against a copy whose ReLU modules are swapped for a hand-written guided ReLU
    oracle = copy.deepcopy(resnet)
    for module in list(oracle.modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, nn.ReLU):
                setattr(module, child_name, _HandGuided())
    xr = x.clone().requires_grad_(True)
    (expected,) = torch.autograd.grad(oracle(xr)[:, 1].sum(), xr)
    got = cm.guided_backprop(resnet, x, 1)
    assert torch.allclose(got, expected, atol=1e-6 * expected.abs().max())
    assert cm.guided_grad_cam(resnet, x, "layer4", 1).shape == x.shape
    assert torch.isfinite(cm.deconvnet(resnet, x)).all()


def test_course_gap_network(images):
    models = pytest.importorskip("camlib.models")
    torch.manual_seed(0)
    net = models.build("gap").eval()
    x = torch.randn(2, 3, 64, 64)
    layer, fc = net.cam_layer, net.fc_layer
    Z = 16 * 16
    diff = cm.grad_cam(net, x, layer, 1) * Z - cm.cam(net, x, layer, fc, 1).relu()
    assert diff.abs().max() < 1e-6 * max(1.0, cm.cam(net, x, layer, fc, 1).abs().max().item())

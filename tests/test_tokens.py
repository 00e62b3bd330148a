"""Token layers (N, T, D) read as maps (N, D, h, w) through reshape=, against a hand-made grid."""

import pytest
import torch
import torch.nn.functional as F
from conftest import TinyTokens, seeded

import camlib.methods as cm
from camlib import family as fam

pytestmark = pytest.mark.usefixtures("one_thread")

H, W = 2, 3  # 4x6 images, 2x2 patches: a 2x3 grid (not square, so a transposed layout shows)


@pytest.fixture
def tok():
    return seeded(TinyTokens)


@pytest.fixture
def x():
    return torch.randn(3, 3, 4, 6, generator=torch.Generator().manual_seed(5), dtype=torch.float64)


def block_tokens(m, x):
    """The output of 'block', by hand: (N, 1 + H*W, D)."""
    t = F.conv2d(x, m.embed.weight, m.embed.bias, stride=2).flatten(2).transpose(1, 2)
    t = torch.cat([m.cls_token.expand(len(x), -1, -1), t], dim=1)
    return t @ m.block.weight.T + m.block.bias


def grid_of(tokens):
    """Patch tokens into a grid element by element: A[n, d, i, j] = tokens[n, 1 + i*W + j, d]."""
    N, _, D = tokens.shape
    A = torch.zeros(N, D, H, W, dtype=tokens.dtype)
    for i in range(H):
        for j in range(W):
            A[:, :, i, j] = tokens[:, 1 + i * W + j]
    return A


def head_from_grid(m, cls, A):
    """The network after 'block', fed the class token and the grid A (patches row-major)."""
    patches = torch.stack([A[:, :, i, j] for i in range(H) for j in range(W)], dim=1)
    t = torch.cat([cls[:, None], patches], dim=1)
    t = (t @ m.mlp[0].weight.T + m.mlp[0].bias).clamp(min=0)
    return (t[:, 1:].mean(dim=1) + t[:, 0]) @ m.head.weight.T + m.head.bias


def grid_and_gradient(m, x, c):
    with torch.no_grad():
        tokens = block_tokens(m, x)
    A = grid_of(tokens).requires_grad_(True)
    with torch.enable_grad():
        S = head_from_grid(m, tokens[:, 0], A)
        (g,) = torch.autograd.grad(S[torch.arange(len(x)), c].sum(), A)
    return tokens, A.detach(), g


def test_hand_model_is_the_model(tok, x):
    tokens, A, _ = grid_and_gradient(tok, x, torch.tensor([0, 1, 2]))
    with torch.no_grad():
        assert torch.allclose(head_from_grid(tok, tokens[:, 0], A), tok(x), atol=1e-12)


def test_grad_cam_on_tokens_by_hand(tok, x):
    c = torch.tensor([2, 0, 3])
    _, A, g = grid_and_gradient(tok, x, c)
    assert g.flatten(2).std(dim=2).min() > 0  # gradient varies over positions
    expected = torch.einsum("nk,nkij->nij", g.mean(dim=(2, 3)), A).clamp(min=0)
    got = cm.grad_cam(tok, x, "block", c, reshape=(H, W))
    assert got.shape == (3, H, W) and got.dtype == torch.float32 and expected.abs().sum() > 0
    assert torch.allclose(got.double(), expected, atol=1e-6)
    hires = (g * A).sum(dim=1).clamp(min=0)
    assert torch.allclose(
        fam.hires_cam(tok, x, "block", c, reshape=(H, W)).double(), hires, atol=1e-6
    )


def test_cam_and_ablation_on_tokens_by_hand(tok, x):
    c = torch.tensor([1, 3, 0])
    tokens, A, _ = grid_and_gradient(tok, x, c)
    with torch.no_grad():
        y = head_from_grid(tok, tokens[:, 0], A)[torch.arange(3), c]
        w = torch.zeros(3, A.shape[1], dtype=A.dtype)
        for k in range(A.shape[1]):
            ablated = A.clone()
            ablated[:, k] = 0  # channel k of the patch tokens; the class token is untouched
            w[:, k] = (y - head_from_grid(tok, tokens[:, 0], ablated)[torch.arange(3), c]) / y
        expected = torch.einsum("nk,nkij->nij", w, A).clamp(min=0)
    got = fam.ablation_cam(tok, x, "block", c, reshape=(H, W))
    assert expected.abs().sum() > 0 and torch.allclose(got.double(), expected, atol=1e-6)
    eigen = fam.eigen_cam(tok, x, "block", reshape=(H, W))
    assert eigen.shape == (3, H, W)


def patches_last(t):
    return t[:, 1:].reshape(len(t), H, W, t.shape[2]).permute(0, 3, 1, 2)


METHODS = [
    cm.grad_cam,
    cm.grad_cam_pp,
    cm.counterfactual,
    fam.layer_cam,
    fam.xgrad_cam,
    fam.hires_cam,
    fam.score_cam,
    fam.ablation_cam,
]


@pytest.mark.parametrize("method", METHODS, ids=lambda f: f.__name__)
def test_callable_reshape_equals_the_grid(method, tok, x):
    top = torch.tensor([[0, 1], [2, 3], [1, 0]])
    grid = method(tok, x, "block", top, reshape=(H, W))
    assert grid.shape == (3, 2, H, W) and grid.abs().sum() > 0
    assert torch.allclose(method(tok, x, "block", top, reshape=patches_last), grid, atol=1e-6)
    apart = torch.stack([method(tok, x, "block", top[:, t], reshape=(H, W)) for t in range(2)], 1)
    assert torch.allclose(apart, grid, atol=1e-6)


def test_guided_grad_cam_and_cam_take_reshape(tok, x):
    assert cm.guided_grad_cam(tok, x, "block", 1, reshape=(H, W)).shape == x.shape
    # CAM on the token layer that feeds the head: mlp's output, fc = head (mean over patches).
    cam = cm.cam(tok, x, "mlp", "head", 1, reshape=(H, W))
    assert cam.shape == (3, H, W)


def test_a_channels_last_feature_map_through_a_callable(x):
    # A callable also turns a channels-last 4-D output (N, h, w, C) into (N, C, h, w).
    class ChannelsLast(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
            self.act = torch.nn.Identity()
            self.fc = torch.nn.Linear(4, 5)

        def forward(self, x):
            f = self.act(self.conv(x).relu().permute(0, 2, 3, 1))  # (N, h, w, C)
            return self.fc(f.mean(dim=(1, 2)))

    torch.manual_seed(0)
    m = ChannelsLast().double().eval()
    got = cm.grad_cam(m, x, "act", 2, reshape=lambda f: f.permute(0, 3, 1, 2))
    A = m.conv(x).relu().detach()  # GAP head: dS/dA = w_k / Z, Z = 4 * 6 positions
    expected = torch.einsum("k,nkij->nij", m.fc.weight[2] / 24, A).clamp(min=0)
    assert got.shape == (3, 4, 6) and torch.allclose(got.double(), expected, atol=1e-6)


def test_model_unchanged_with_tokens(tok, x):
    before = [(n, m.training, len(m._forward_hooks)) for n, m in tok.named_modules()]
    for method in METHODS:
        method(tok, x, "block", reshape=patches_last)
    assert [(n, m.training, len(m._forward_hooks)) for n, m in tok.named_modules()] == before
    assert all(p.grad is None for p in tok.parameters())


# --------------------------------------------------------------- errors ----


@pytest.mark.parametrize("method", METHODS + [fam.eigen_cam], ids=lambda f: f.__name__)
def test_token_output_without_reshape_is_refused(method, tok, x):
    with pytest.raises(ValueError) as info:
        method(tok, x, "block") if method is fam.eigen_cam else method(tok, x, "block", 0)
    text = str(info.value)
    assert "returned (3, 7, 5)" in text and "tokens (N, T, D)" in text and "reshape=(h, w)" in text
    assert len(tok._forward_hooks) == len(tok.block._forward_hooks) == 0


def test_a_wrong_grid_is_refused_with_the_numbers(tok, x):
    with pytest.raises(ValueError) as info:
        cm.grad_cam(tok, x, "block", 0, reshape=(3, 3))
    text = str(info.value)
    assert "asks for 9 patch tokens" in text and "returned 7 tokens (3, 7, 5)" in text
    assert "patch grid" in text
    with pytest.raises(ValueError, match="asks for 1 patch tokens.*7 tokens"):
        fam.ablation_cam(tok, x, "block", 0, reshape=(1, 1))  # 6 leading tokens of 7: too many


@pytest.mark.parametrize(
    "reshape, exc, parts",
    [
        ((2, 3.0), TypeError, ["reshape must be None, the patch grid (h, w)", "callable"]),
        ("2x3", TypeError, ["got '2x3'", "reshape=(14, 14)"]),
        (lambda t: t[:, 1:], ValueError, ["reshape returned (3, 6, 5)", "not maps (N, D, h, w)"]),
    ],
)
def test_bad_reshape(reshape, exc, parts, tok, x):
    with pytest.raises(exc) as info:
        cm.grad_cam(tok, x, "block", 0, reshape=reshape)
    for part in parts:
        assert part in str(info.value), f"{part!r} not in {info.value}"


def test_grid_on_a_feature_map_is_refused(x):
    from conftest import TinyGap

    m = seeded(TinyGap)
    with pytest.raises(ValueError, match=r"reshape=\(2, 3\) is for token outputs.*drop reshape"):
        cm.grad_cam(m, x, "features.3", 0, reshape=(2, 3))

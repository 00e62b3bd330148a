"""camlib.vit and token maps on it, against the same network evaluated with the patches by hand."""

import pytest
import torch

import camlib.methods as cm
from camlib import family as fam
from camlib import hooks, models
from camlib.vit import ViT

pytestmark = pytest.mark.usefixtures("one_thread")

GRID = 4  # 16x16 images, 4x4 patches: a 4x4 grid of patch tokens behind one class token


@pytest.fixture
def vit():
    torch.manual_seed(0)
    m = ViT(num_classes=3, size=16, patch=4, dim=8, depth=3, heads=2, hidden=16)
    with torch.no_grad():
        m.cls_token.normal_()  # not zero, so the class token carries something of its own
    return m.double().eval()


@pytest.fixture
def x():
    return torch.randn(
        2, 3, 16, 16, generator=torch.Generator().manual_seed(3), dtype=torch.float64
    )


def by_hand(m, x, k):
    """The output of block k (N, 1 + 16, D), from the model's parts called one by one."""
    t = m.tokens(x)
    for block in list(m.blocks)[: k + 1]:
        t = block(t)
    return t


def grid_of(tokens):
    """A[n, d, i, j] = tokens[n, 1 + i * GRID + j, d], element by element."""
    N, _, D = tokens.shape
    A = torch.zeros(N, D, GRID, GRID, dtype=tokens.dtype)
    for i in range(GRID):
        for j in range(GRID):
            A[:, :, i, j] = tokens[:, 1 + i * GRID + j]
    return A


def rest(m, cls, A, k):
    """The network after block k, fed the class token `cls` and the patches of the grid A."""
    patches = [A[:, :, i, j] for i in range(GRID) for j in range(GRID)]
    t = torch.stack([cls, *patches], dim=1)
    for block in list(m.blocks)[k + 1 :]:
        t = block(t)
    return m.head(m.norm(t[:, 0]))


def grid_and_gradient(m, x, k, c):
    with torch.no_grad():
        tokens = by_hand(m, x, k)
    A = grid_of(tokens).requires_grad_(True)
    with torch.enable_grad():
        S = rest(m, tokens[:, 0], A, k)
        (g,) = torch.autograd.grad(S[torch.arange(len(x)), c].sum(), A)
    return tokens, A.detach(), g


def test_the_hand_assembly_is_the_model(vit, x):
    for k in range(3):
        tokens, A, _ = grid_and_gradient(vit, x, k, torch.tensor([0, 1]))
        with torch.no_grad():
            assert torch.allclose(rest(vit, tokens[:, 0], A, k), vit(x), atol=1e-12)


@pytest.mark.parametrize("k", [0, 1])
def test_grad_cam_on_a_block_by_hand(vit, x, k):
    c = torch.tensor([2, 0])
    _, A, g = grid_and_gradient(vit, x, k, c)
    assert g.flatten(2).std(dim=2).min() > 0  # attention: the gradient varies over positions
    expected = torch.einsum("nk,nkij->nij", g.mean(dim=(2, 3)), A).clamp(min=0)
    got = cm.grad_cam(vit, x, f"blocks.{k}", c, reshape=vit.grid)
    assert got.shape == (2, GRID, GRID) and expected.abs().sum() > 0
    assert torch.allclose(got.double(), expected, atol=1e-6)
    A2, g2 = hooks.layer_gradients(vit, x, f"blocks.{k}", c, reshape=vit.grid)
    assert torch.allclose(A2, A, atol=1e-12) and torch.allclose(g2[:, 0], g, atol=1e-12)
    layer = (g.clamp(min=0) * A).sum(dim=1).clamp(min=0)
    assert torch.allclose(fam.layer_cam(vit, x, f"blocks.{k}", c, reshape=vit.grid).double(), layer)


def test_last_block_gives_the_patches_exactly_zero_gradient(vit, x):
    last = len(vit.blocks) - 1
    tokens, _, g = grid_and_gradient(vit, x, last, torch.tensor([1, 2]))
    assert torch.count_nonzero(g) == 0  # by hand: the score reads token 0 only
    _, g_cam = hooks.layer_gradients(vit, x, f"blocks.{last}", 1, reshape=vit.grid)
    assert torch.count_nonzero(g_cam) == 0
    for method in (cm.grad_cam, fam.hires_cam, fam.layer_cam, fam.xgrad_cam):
        assert torch.count_nonzero(method(vit, x, f"blocks.{last}", 1, reshape=vit.grid)) == 0
    # the class token itself does get a gradient, and the block before the last is not blank
    out = tokens.clone().requires_grad_(True)
    with torch.enable_grad():
        (g_all,) = torch.autograd.grad(vit.head(vit.norm(out[:, 0]))[:, 1].sum(), out)
    assert g_all[:, 0].abs().sum() > 0 and torch.count_nonzero(g_all[:, 1:]) == 0
    assert cm.grad_cam(vit, x, f"blocks.{last - 1}", 1, reshape=vit.grid).abs().sum() > 0


def test_vit_layout(vit, x):
    assert vit.grid == (GRID, GRID) and vit.cam_layer == "blocks.1"
    assert vit.layers == {"block 0": "blocks.0", "block 1": "blocks.1", "block 2": "blocks.2"}
    assert by_hand(vit, x, 2).shape == (2, 1 + GRID * GRID, 8)
    with torch.no_grad():  # the patches are row-major: patch (i, j) is the conv's output at (i, j)
        emb = vit.embed(x)
        assert torch.allclose(
            vit.tokens(x)[:, 1 + 2 * GRID + 3] - vit.pos[0, 1 + 2 * GRID + 3], emb[:, :, 2, 3]
        )


def test_bad_vit_configurations():
    with pytest.raises(ValueError, match="image size 60 is not a multiple of the patch size 8"):
        ViT(size=60)
    with pytest.raises(ValueError, match="dim 10 is not a multiple of heads 4"):
        ViT(dim=10)


def test_a_block_without_reshape_is_refused(vit, x):
    with pytest.raises(ValueError) as info:
        cm.grad_cam(vit, x, "blocks.1", 0)
    text = str(info.value)
    assert "returned (2, 17, 8)" in text and "tokens (N, T, D)" in text and "reshape=(h, w)" in text
    assert all(len(m._forward_hooks) == 0 for m in vit.modules())


@pytest.mark.parametrize(
    "grid, numbers", [((8, 8), "asks for 64 patch tokens"), ((4, 5), "asks for 20")]
)
def test_a_wrong_grid_is_refused(vit, x, grid, numbers):
    with pytest.raises(ValueError) as info:
        cm.grad_cam(vit, x, "blocks.1", 0, reshape=grid)
    assert numbers in str(info.value) and "returned 17 tokens (2, 17, 8)" in str(info.value)


def test_shipped_vit():
    if "vit" not in models.available():
        pytest.skip("the vit is not shipped yet: python -m camlib.train vit")
    entry = models.info("vit")
    assert entry["bytes"] < 5e6 and entry["recipe"]["arch"] == "vit"
    vit = models.load("vit")
    assert vit.grid == (8, 8) and not vit.training
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    _, g = hooks.layer_gradients(vit, x, "blocks.3", 0, reshape=vit.grid)
    assert torch.count_nonzero(g) == 0
    assert cm.grad_cam(vit, x, vit.cam_layer, 0, reshape=vit.grid).shape == (2, 8, 8)

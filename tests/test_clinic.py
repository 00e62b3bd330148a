"""camlib.clinic: the helpers chapter 12 measures its symptoms with."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

import camlib  # noqa: E402
from camlib import clinic, models  # noqa: E402


def test_ring():
    r = clinic.ring(8, 2)
    assert r.dtype == torch.bool and r.sum() == 64 - 16
    assert not r[2:6, 2:6].any() and r[0].all() and r[:, -1].all()
    with pytest.raises(ValueError, match="width"):
        clinic.ring(8, 4)


def test_imagenet_normalize():
    x = torch.tensor(clinic.IMAGENET_MEAN)[None, :, None, None].expand(1, 3, 2, 2)
    assert clinic.imagenet_normalize(x).abs().max() < 1e-6


def test_in_batches_puts_maps_back_in_order():
    x = torch.arange(10.0).view(10, 1, 1, 1)
    out = clinic.in_batches(
        lambda v, idx: v[:, 0] - v[:, 0].mean() + idx.view(-1, 1, 1), x, torch.arange(10).flip(0), 3
    )
    assert out.shape == (10, 1, 1)
    # the per-batch mean makes the result depend on the batching, not the placement
    # batches [9, 8, 7], [6, 5, 4], [3, 2, 1], [0]: image 3 sits in a batch of mean 2
    assert out[3, 0, 0] == pytest.approx(3 - 2 + 3) and out[0, 0, 0] == 0
    with pytest.raises(ValueError, match="permutation"):
        clinic.in_batches(lambda v, idx: v, x, [0, 0, 1], 2)


def test_in_batches_eval_mode_does_not_depend_on_order():
    torch.manual_seed(0)
    model = models.build("gap").eval()
    x, y = torch.rand(6, 3, 16, 16), torch.tensor([0, 1, 2, 3, 0, 1])
    fn = lambda v, idx: camlib.grad_cam(model, v, "features.19", target=y[idx])  # noqa: E731
    a = clinic.in_batches(fn, x, torch.arange(6), 2)
    b = clinic.in_batches(fn, x, torch.tensor([5, 0, 3, 1, 4, 2]), 4)
    assert torch.allclose(a, b, rtol=1e-4, atol=1e-7)


def test_padded_crops_back_to_the_image():
    x = torch.rand(2, 3, 10, 12)
    out = clinic.padded(lambda v: v[:, 0], x, 3)  # identity "map" at full resolution
    assert out.shape == (2, 10, 12) and torch.allclose(out, x[:, 0], atol=1e-6)
    with pytest.raises(ValueError):
        clinic.padded(lambda v: v[:, 0], x, 0)


def test_randomized_leaves_the_model_alone():
    net = nn.Sequential(nn.Linear(3, 3), nn.ReLU(), nn.Linear(3, 2)).eval()
    before = [p.clone() for p in net.parameters()]
    copy = clinic.randomized(net, ["2"], seed=1)
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters()))
    assert torch.equal(copy[0].weight, net[0].weight) and not torch.equal(
        copy[2].weight, net[2].weight
    )
    assert not copy.training
    with pytest.raises(ValueError, match="not a module"):
        clinic.randomized(net, ["1"])


def test_rank_corr_and_blank():
    a = torch.rand(4, 5, 5)
    assert clinic.rank_corr(a, a) == pytest.approx(1.0)
    assert clinic.rank_corr(a, -a) == pytest.approx(-1.0)
    assert clinic.rank_corr(torch.zeros(2, 5, 5), a[:2]) == 0.0  # constant map: NaN counts 0
    m = torch.zeros(3, 2, 2)
    m[1, 0, 0] = 1e-30
    assert clinic.blank(m) == 2
    with pytest.raises(ValueError):
        clinic.rank_corr(a, a[:2])


def test_overlay_keeps_the_image_where_the_map_is_zero():
    fig, ax = plt.subplots()
    clinic.overlay(ax, torch.rand(3, 8, 8), torch.zeros(4, 4), "zero map")
    heat = ax.get_images()[1].get_array()
    assert heat[..., 3].max() == 0 and ax.get_title() == "zero map"
    plt.close(fig)

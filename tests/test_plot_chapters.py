"""The chapter figures of camlib.plot (01 pooling_heads, 02 channel_sum, 03 grad_cam_steps)
return what they draw; those values are checked here against hand computations."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from camlib import plot  # noqa: E402


def _features():
    g = torch.Generator().manual_seed(0)
    return torch.rand(3, 4, 4, generator=g)


def test_pooling_heads_values():
    f = _features()
    fig, (gap, gmp, flat) = plot.pooling_heads(torch.zeros(3, 8, 8), f, 1, "cat")
    for k in range(3):
        vals = [float(v) for v in f[k].flatten()]
        assert abs(float(gap[k]) - sum(vals) / 16) < 1e-6
        assert float(gmp[k]) == max(vals)
        # the 2x2 max-pool, position (0, 0) of channel k: max of the top-left 2x2 block
        assert float(flat[k * 4]) == max(float(v) for v in f[k, :2, :2].flatten())
    assert flat.numel() == 3 * 2 * 2
    plt.close(fig)


def test_channel_sum_adds_up():
    f, w = _features(), torch.tensor([0.5, -1.0, 2.0])
    amap = sum(w[k] * f[k] for k in range(3))
    fig, chosen, rest = plot.channel_sum(f, w, amap, "dog", top=1)
    contrib = [float(w[k] * f[k].sum()) for k in range(3)]
    assert chosen == [max(range(3), key=lambda k: contrib[k])]
    assert torch.allclose(w[chosen[0]] * f[chosen[0]] + rest, amap, atol=1e-6)
    plt.close(fig)


def test_grad_cam_steps_picks_the_largest_alphas():
    f, g = _features(), _features().flip(0)
    alpha = g.mean(dim=(1, 2))
    signed = torch.einsum("k,kij->ij", alpha, f)
    fig, chosen = plot.grad_cam_steps(torch.zeros(3, 8, 8), f, g, alpha, signed, "cat", top=2)
    order = sorted(range(3), key=lambda k: -float(alpha[k]))
    assert chosen == order[:2]
    plt.close(fig)

"""camlib.plot.backward_rules: every panel prints the values it was given, on one colour scale."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from camlib import plot  # noqa: E402


def test_backward_rules_prints_each_value_and_shares_the_scale():
    f = torch.tensor([[-1.0, 2.0], [0.5, -0.5]])
    r = torch.tensor([[1.5, -1.0], [2.0, 1.0]])
    guided = torch.where((f > 0) & (r > 0), r, 0.0)  # only (1, 0) passes: 2.0
    fig = plot.backward_rules(f, r, {"guided backprop": guided})
    axes = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in axes] == [
        "forward input f",
        "incoming R from above",
        "guided backprop",
    ]
    for ax, values in zip(axes, (f, r, guided)):
        texts = [t.get_text() for t in ax.texts]
        want = ["0" if v == 0 else f"{v:.1f}" for v in values.flatten().tolist()]
        assert texts == want
        (im,) = ax.get_images()
        assert im.get_clim() == (-2.0, 2.0)  # the largest |value| of all panels
        np.testing.assert_array_equal(np.asarray(im.get_array()), values.numpy())
    assert [t.get_text() for t in axes[2].texts].count("0") == 3

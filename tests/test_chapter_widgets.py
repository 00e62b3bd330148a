"""The chapters' small experiments (camlib.widgets.chapter): every control redraws, and the
numbers they show are the metrics computed independently."""

import numpy as np
import pytest
import torch

from camlib import acol, data, metrics, models, table, widgets
from camlib.widgets import chapter


@pytest.fixture(scope="module")
def gap():
    torch.set_num_threads(2)
    return models.load("gap")


@pytest.fixture(scope="module")
def ds():
    return data.split("test", n=4)


def sweep(exp):
    """Move every control through its first values; each move draws a new picture."""
    seen = {exp.picture.value}
    for w in exp.controls.values():
        options = (
            ([v for _, v in w.options] if isinstance(w.options[0], tuple) else list(w.options))
            if hasattr(w, "options")
            else [w.min + 1, w.max]
        )
        for v in options[:3]:
            if v != w.value:
                w.value = v
                seen.add(exp.picture.value)
    return seen


def test_heads(gap, ds):
    nets = {"gap": gap, "gmp": models.load("gmp"), "flatten": models.load("flatten")}
    exp = chapter.heads(nets, ds)
    assert len(sweep(exp)) >= 3 and exp.rgb.shape[2] == 3


def test_threshold_box_caption_is_the_iou(gap, ds):
    exp = chapter.threshold_box(gap, ds)
    for t in (0.1, 0.2, 0.5):
        exp.controls["threshold"].value = t
        c = int(widgets.probabilities(gap, ds.images[:1])[0].argmax())
        amap = table.compute("CAM", gap, ds.images[:1], None, [c])[0]
        box = widgets.box_at(widgets.heat(amap, 64), t)
        truth = widgets.true_boxes(ds.objects(0), c)
        assert f"box {box}" in exp.info.value
        if truth:
            assert f"IoU {metrics.iou(box, truth[0]):.2f}" in exp.info.value
    assert len(sweep(exp)) >= 3


def test_layer_choice_alpha_cascade_pair(gap, ds):
    for exp in (
        chapter.layer_choice(gap, ds, gap.layers),
        chapter.alpha_map(gap, ds, gap.cam_layer),
        chapter.cascade(gap, ds, gap.cam_layer),
        chapter.counterfactual_pair(gap, data.split("test", scene="pair", n=3)),
    ):
        assert len(sweep(exp)) >= 3, exp


def test_delta_shows_each_shipped_model(ds):
    exp = chapter.delta(ds)
    shipped = [d for d in acol.SWEEP if acol.sweep_name(d) in models.available()]
    assert [v for v in exp.controls["d"].options] == shipped
    assert len(sweep(exp)) >= 3


def test_metric_across_methods_are_the_metrics(gap, ds):
    exp = chapter.metric_across_methods(gap, ds, ["Grad-CAM", "CAM"])
    h = np.stack(
        [widgets.heat(a, 64) for a in table.compute("Grad-CAM", gap, ds.images, None, ds.labels)]
    )
    assert exp.scores["pointing game"]["Grad-CAM"] == metrics.pointing_game(h, ds.masks.numpy())
    assert exp.scores["energy on the animal"]["Grad-CAM"] == pytest.approx(
        metrics.energy_pointing_game(h, ds.masks.numpy())
    )
    assert len(sweep(exp)) == 3

"""The widget lab (camlib.widgets), driven without a browser: every control over its range.

ipywidgets 8 runs without a kernel and calls `observe` callbacks synchronously, so setting a
control's value here does exactly what moving it in JupyterLab does; we then look at what the
lab drew (its View, the rendered panels, the PNG it sent to the Image widget).
"""

import io
import statistics

import numpy as np
import pytest
import torch
from PIL import Image

import camlib
from camlib import data, metrics, models, widgets

SIZE = 64


@pytest.fixture(scope="module")
def lab():
    torch.set_num_threads(2)
    return widgets.Lab(n_images=3, seed=0)


@pytest.fixture(scope="module")
def gap():
    return models.load("gap")


@pytest.fixture(scope="module")
def pair():
    return data.split("test", scene="pair", n=8)


def panels(lab):
    return widgets.render_panels(lab.view, lab.scale)


def png_array(value: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(value)).convert("RGB"))


def reset(lab, **values):
    base = dict(scene="single", index=0, model="gap", method="Grad-CAM", layer="features.19",
                threshold=0.2, opacity=0.5, region="map region", fill="mean colour")
    lab.select(**{**base, **values})


# ---------------------------------------------------------------- pure functions ----


def test_class_maps_every_method_every_class(gap, pair):
    x = pair.images[0]
    for method in widgets.methods_for(gap):
        maps = widgets.class_maps(gap, x, method, "features.19")
        assert maps.dtype == torch.float32 and maps.shape[0] == len(data.CLASSES), method
        assert maps.shape[1:] == ((SIZE, SIZE) if "uided" in method else (16, 16)), method
        assert torch.isfinite(maps).all()
        if method != "CAM":
            assert (maps >= 0).all(), method
        # one map per class, and they differ between the two animals' classes
        a, b = (o.label for o in pair.objects(0))
        assert not torch.allclose(maps[a], maps[b]), method


def test_class_maps_match_camlib(gap, pair):
    x = pair.images[:1]
    for c in range(4):
        ref = camlib.grad_cam(gap, x, "features.5", c)[0]
        assert torch.allclose(widgets.class_maps(gap, x[0], "Grad-CAM", "features.5")[c], ref,
                              atol=1e-6)
    acol = models.load("acol")
    fused = camlib.acol.class_maps(acol, x.expand(4, -1, -1, -1), torch.arange(4))["fused"]
    got = widgets.class_maps(acol, x[0], "ACoL")
    assert torch.allclose(got, fused[torch.arange(4)], atol=1e-6)


def test_methods_a_model_offers():
    assert "CAM" not in widgets.methods_for(models.build("flatten"))
    assert "ACoL" in widgets.methods_for(models.build("acol"))
    for name in ("gap", "gmp", "flatten", "gap_biased"):
        assert "ACoL" not in widgets.methods_for(models.build(name))
    with pytest.raises(ValueError, match="not available"):
        widgets.class_maps(models.build("flatten"), torch.rand(3, 64, 64), "CAM")


def test_heat_is_scaled_rectified_upsampled_map():
    amap = torch.tensor([[-1.0, 0.0], [1.0, 3.0]])
    s = widgets.heat(amap, 8)
    assert s.shape == (8, 8) and s.min() == 0 and s.max() == pytest.approx(1.0)
    assert (widgets.heat(torch.zeros(4, 4), 8) == 0).all()   # constant maps: zeros, not NaN


def test_box_at_limits_and_cam_rule(gap, pair):
    s = widgets.heat(widgets.class_maps(gap, pair.images[0], "Grad-CAM", "features.19")[0], SIZE)
    assert widgets.box_at(s, 0.0) == (0, 0, SIZE, SIZE)
    peak = np.unravel_index(np.argmax(s), s.shape)
    x0, y0, x1, y1 = widgets.box_at(s, 1.0)
    assert x0 <= peak[1] < x1 and y0 <= peak[0] < y1
    assert widgets.box_at(np.zeros((4, 4)), 0.5) is None
    for t in (0.2, 0.5):      # Zhou et al.'s fraction-of-max box on the raw map
        raw = camlib.upsample(widgets.class_maps(gap, pair.images[0], "Grad-CAM",
                                                 "features.19")[:1], SIZE)[0]
        assert widgets.box_at(s, t) == metrics.box_from_map(raw, t)


def test_blend_limits():
    img, s = np.random.default_rng(0).random((SIZE, SIZE, 3)), np.linspace(0, 1, SIZE * SIZE)
    s = s.reshape(SIZE, SIZE)
    assert np.array_equal(widgets.blend(img, s, 0.0), img)
    assert np.allclose(widgets.blend(img, s, 1.0), widgets.colorize(s) / 255)


def test_render_and_figure(gap, pair):
    objs = pair.objects(0)
    c = objs[0].label
    amap = widgets.class_maps(gap, pair.images[0], "CAM")[c]
    view = widgets.make_view(pair.images[0], amap, method="CAM", class_name=data.CLASSES[c],
                             probability=0.5, boxes=widgets.true_boxes(objs, c))
    assert view.signed and view.true_boxes == (objs[0].box,)
    rgb = widgets.render(view)
    assert rgb.dtype == np.uint8 and rgb.shape[2] == 3 and rgb.shape[0] > 4 * SIZE
    assert np.array_equal(png_array(widgets.to_png(rgb)), rgb)
    fig = widgets.figure(view)
    titles = [ax.get_title() for ax in fig.axes]
    assert any("CAM" in t and data.CLASSES[c] in t for t in titles)
    import matplotlib.pyplot as plt
    plt.close(fig)


def test_erase_pure(gap, pair):
    x = pair.images[0]
    none = np.zeros((SIZE, SIZE), bool)
    assert torch.equal(widgets.erase(x, none), x)
    out = widgets.erase_and_watch(gap, x, none)
    assert np.allclose(out.before, out.after, atol=1e-6) and out.before.sum() == pytest.approx(1)
    every = np.ones((SIZE, SIZE), bool)
    flat = widgets.erase(x, every, "mean colour")
    assert torch.allclose(flat, x.mean(dim=(1, 2), keepdim=True).expand_as(x))
    assert torch.allclose(widgets.erase(x, every, "blur"), metrics.blur(x[None])[0])
    with pytest.raises(ValueError, match="unknown fill"):
        widgets.erase(x, every, "noise")


# ---------------------------------------------------------------- the lab's controls ----


def test_builders_return_containers(lab):
    import ipywidgets as W

    assert isinstance(lab.explorer, W.VBox) and isinstance(lab.eraser, W.VBox)
    assert isinstance(lab.picture, W.Image) and lab.picture.value[:4] == b"\x89PNG"
    assert isinstance(lab.erase_picture, W.Image) and lab.erase_picture.value[:4] == b"\x89PNG"


def test_every_scene_and_image(lab):
    """Every image of every scene draws its own picture; the class starts at the prediction."""
    for scene in lab.scene.options:
        reset(lab, scene=scene)
        seen = set()
        for index in range(lab.index.min, lab.index.max + 1):
            lab.index.value = index
            p, objs = lab.probs, lab.dataset.objects(index)
            pred = int(p.argmax())
            assert lab.cls.value == pred
            label = dict((v, k) for k, v in lab.cls.options)[pred]
            assert f"p = {p[pred]:.2f}" in label and "predicted" in label
            assert f"p = {p[pred]:.2f}" in lab.info.value
            assert lab.view.true_boxes == widgets.true_boxes(objs, pred)
            assert all(o.name in lab.info.value for o in objs)
            seen.add(lab.picture.value)
        assert len(seen) == lab.n_images


def test_random_image_button(lab):
    reset(lab)
    picks = []
    for _ in range(5):
        before = lab.index.value
        lab.random.click()
        assert lab.index.value != before
        picks.append(lab.index.value)
    other = widgets.Lab(models=("gap",), n_images=3, seed=0)
    again = []
    for _ in range(5):
        other.random.click()
        again.append(other.index.value)
    assert picks == again                                  # the lab's own seeded generator


def test_every_model_and_method(lab):
    for name in lab.model.options:
        reset(lab, model=name)
        offered = lab.method.options
        assert offered == widgets.methods_for(lab.net)
        pictures, maps = set(), []
        for method in offered:
            lab.method.value = method
            assert lab.layer.disabled == (method not in widgets.LAYERED)
            pictures.add(lab.picture.value)
            maps.append(lab.view.amap)
            assert method in lab.info.value
        assert len(pictures) == len(offered)               # each method draws its own picture
        for i in range(len(maps)):
            for j in range(i):
                assert maps[i].shape != maps[j].shape or not np.allclose(maps[i], maps[j])


def test_switching_model_keeps_a_valid_method(lab):
    reset(lab, model="acol", method="ACoL")
    lab.model.value = "flatten"
    assert lab.method.value == "Grad-CAM" and "CAM" not in lab.method.options
    lab.method.value = "Grad-CAM++"
    lab.model.value = "gap"
    assert lab.method.value == "Grad-CAM++"


def test_changing_the_class_changes_the_map(lab):
    for scene in ("single", "pair"):
        for method in ("CAM", "Grad-CAM", "Grad-CAM++", "counterfactual", "Guided Grad-CAM"):
            reset(lab, scene=scene, method=method)
            drawn = {}
            for c in range(len(data.CLASSES)):
                lab.cls.value = c
                assert lab.view.class_name == data.CLASSES[c]
                assert f"'{data.CLASSES[c]}'" in lab.info.value or data.CLASSES[c] in lab.info.value
                drawn[c] = panels(lab)["map"]
            for a in drawn:
                for b in drawn:
                    if a < b:
                        assert not np.array_equal(drawn[a], drawn[b]), (scene, method, a, b)


def test_pair_map_follows_the_chosen_animal(lab):
    """In a pair scene Grad-CAM for each animal's class puts its heat on that animal."""
    reset(lab, scene="pair")
    for index in range(lab.n_images):
        lab.index.value = index
        animals = lab.dataset.objects(index)
        for me, other in (animals, animals[::-1]):
            lab.cls.value = me.label
            s = lab.view.heat
            assert s[me.mask.numpy()].sum() > s[other.mask.numpy()].sum()
            assert lab.view.true_boxes == (me.box,)


def test_layers(lab):
    reset(lab, method="Grad-CAM")
    sides = []
    for _, layer in lab.layer.options:
        lab.layer.value = layer
        sides.append(lab.view.amap.shape[-1])
    assert sides == [64, 32, 16]                           # shallow, middle, last
    for method in ("CAM", "guided backprop"):
        lab.method.value = method
        assert lab.layer.disabled
        first = lab.view.amap
        lab.layer.value = lab.layer.options[0][1]
        assert np.array_equal(first, lab.view.amap)        # these methods ignore the layer
    reset(lab, method="CAM")
    assert "layer 'features.19'" in lab.info.value        # CAM reads the layer before GAP


def test_threshold_sweep(lab):
    reset(lab, scene="multi")
    fixed = {k: v for k, v in panels(lab).items() if k != "boxes"}
    boxes, drawn = [], set()
    for t in np.round(np.arange(0, 1.0001, 0.05), 2):
        lab.threshold.value = float(t)
        view = lab.view
        assert view.pred_box == widgets.box_at(view.heat, t)
        if t == 0:
            assert view.pred_box == (0, 0, SIZE, SIZE)     # threshold 0: the whole image
        boxes.append(view.pred_box)
        p = panels(lab)
        for k, v in fixed.items():
            assert np.array_equal(p[k], v), k              # only the boxes panel depends on it
        drawn.add(p["boxes"].tobytes())
    areas = [(b[2] - b[0]) * (b[3] - b[1]) for b in boxes]
    assert areas[0] == SIZE * SIZE and areas[-1] < areas[0] / 4
    assert len(set(boxes)) >= 5 and len(drawn) == len(set(boxes))


def test_opacity_sweep(lab):
    reset(lab)
    base = panels(lab)
    diffs = []
    for a in np.round(np.arange(0, 1.0001, 0.05), 2):
        lab.opacity.value = float(a)
        p = panels(lab)
        for k in ("image", "map", "boxes"):
            assert np.array_equal(p[k], base[k]), k
        diffs.append(np.abs(p["overlay"].astype(int) - p["image"].astype(int)).mean())
        if a == 0:
            assert np.array_equal(p["overlay"], p["image"])   # opacity 0: the image itself
            assert np.array_equal(png_array(lab.picture.value),
                                  widgets.render(lab.view))
        if a == 1:
            heat = widgets.colorize(lab.view.heat).repeat(lab.scale, 0).repeat(lab.scale, 1)
            assert np.abs(p["overlay"].astype(int) - heat).max() <= 1
    assert all(b > a for a, b in zip(diffs, diffs[1:]))       # more opacity, more map


def test_caption_follows_the_controls(lab):
    for name in lab.model.options:
        reset(lab, model=name)
        pred = int(lab.probs.argmax())
        assert f"<b>{name}</b> predicts <b>{data.CLASSES[pred]}</b>" in lab.info.value
        lab.cls.value = (pred + 1) % 4
        assert f"for <b>{data.CLASSES[(pred + 1) % 4]}</b>" in lab.info.value


def test_cached_redraws_are_fast_and_compute_nothing(lab):
    reset(lab)
    result = widgets.redraw_latency(lab, repeats=2)
    assert result["new computations"]["maps computed"] == 0
    assert result["new computations"]["images scored"] == 0
    for control, times in result["ms"].items():
        assert len(times) >= 3
        assert statistics.median(times) < 100, (control, times)


def test_labs_do_not_share_state(lab):
    reset(lab)
    other = widgets.Lab(models=("gap",), n_images=3, seed=0)
    assert other._maps is not lab._maps
    picture = other.picture.value
    lab.cls.value = (lab.cls.value + 1) % 4
    lab.opacity.value = 0.9
    assert other.picture.value == picture and other.opacity.value == 0.5


# ---------------------------------------------------------------- erase and watch ----


def test_eraser_regions(lab):
    reset(lab, threshold=0.0)
    mean = lab.image.mean(dim=(1, 2), keepdim=True).expand(3, SIZE, SIZE)
    assert np.allclose(lab.erased.edited, mean)         # threshold 0: the whole image erased
    assert lab.box_x.disabled and lab.box_y.disabled
    lab.region.value = "your box"
    assert not lab.box_x.disabled and not lab.box_y.disabled
    lab.box_x.value, lab.box_y.value = (10, 10), (0, 64)   # an empty box: nothing changes
    assert torch.equal(lab.erased.edited, lab.image)
    assert np.allclose(lab.erased.after, lab.erased.before, atol=1e-6)
    lab.box_x.value, lab.box_y.value = (8, 24), (40, 60)
    changed = (lab.erased.edited != lab.image).any(0)
    inside = torch.zeros(SIZE, SIZE, dtype=torch.bool)
    inside[40:60, 8:24] = True
    assert changed[inside].all() and not changed[~inside].any()
    pictures = {lab.erase_picture.value}
    lab.fill.value = "blur"
    pictures.add(lab.erase_picture.value)
    lab.region.value = "predicted box"
    x0, y0, x1, y1 = lab.view.pred_box
    changed = (lab.erased.edited != lab.image).any(0)
    assert not changed[:y0].any() and not changed[y1:].any()
    pictures.add(lab.erase_picture.value)
    assert len(pictures) == 3
    assert "→" in lab.erase_info.value


def test_erasing_the_map_region_lowers_the_class(lab):
    reset(lab, threshold=0.5)
    drops = []
    for index in range(lab.n_images):
        lab.index.value = index
        c = lab.cls.value
        drops.append(lab.erased.before[c] - lab.erased.after[c])
    assert min(drops) > 0.1 and np.mean(drops) > 0.5


def test_erasing_the_counterfactual_region_raises_the_class(lab):
    reset(lab, scene="pair", method="counterfactual", threshold=0.5)
    rises = []
    for index in range(lab.n_images):
        lab.index.value = index
        lab.cls.value = int(lab.dataset.labels[index])
        rises.append(lab.erased.after[lab.cls.value] - lab.erased.before[lab.cls.value])
    assert np.mean(np.array(rises) > 0) >= 0.8 and np.mean(rises) > 0.1


def test_erasing_background_changes_little(lab):
    reset(lab, region="your box")
    box = lab.dataset.objects(0)[0].box
    # a box in the corner farthest from the animal
    x = (0, 12) if box[0] > 32 else (52, 64)
    y = (0, 12) if box[1] > 32 else (52, 64)
    lab.box_x.value, lab.box_y.value = x, y
    c = lab.cls.value
    assert abs(lab.erased.after[c] - lab.erased.before[c]) < 0.1

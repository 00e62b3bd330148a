"""The widget lab (camlib.widgets), driven without a browser: every control over its range.

ipywidgets 8 runs without a kernel and calls `observe` callbacks synchronously, so setting a
control's value here does exactly what moving it in JupyterLab does; we then look at what the
lab drew (its View, the rendered panels, the PNG it sent to the Image widget). Every test gets
a fresh lab; the models (read-only) are loaded once.
"""

import io

import numpy as np
import pytest
import torch
from PIL import Image

import camlib
from camlib import data, metrics, models, table, widgets
from camlib.widgets import compare, compute, draw

SIZE = 64


@pytest.fixture(scope="module")
def zoo():
    torch.set_num_threads(2)
    return {name: models.load(name) for name in widgets.MODELS}


@pytest.fixture
def lab(zoo):
    return widgets.Lab(models=dict(zoo), n_images=3, seed=0)


@pytest.fixture(scope="module")
def gap(zoo):
    return zoo["gap"]


@pytest.fixture(scope="module")
def pair():
    return data.split("test", scene="pair", n=8)


def panels(lab):
    return widgets.render_panels(lab.view, lab.scale)


def png_array(value: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(value)).convert("RGB"))


# ---------------------------------------------------------------- pure functions ----


def test_class_maps_every_method_every_class(gap, pair):
    x = pair.images[0]
    for method in widgets.methods_for(gap):
        maps = widgets.class_maps(gap, x, method, "features.19")
        assert maps.dtype == torch.float32 and maps.shape[0] == len(data.CLASSES), method
        pixels = table.get(method).output == "pixels"
        assert maps.shape[1:] == ((SIZE, SIZE) if pixels else (16, 16)), method
        assert torch.isfinite(maps).all()
        if not table.get(method).signed:
            assert (maps >= 0).all(), method
        if table.get(method).targeted:  # one map per class, different for the two animals
            a, b = (o.label for o in pair.objects(0))
            assert not torch.allclose(maps[a], maps[b]), method


def test_class_maps_match_camlib(gap, pair, zoo):
    x = pair.images[:1]
    for c in range(4):
        ref = camlib.grad_cam(gap, x, "features.5", c)[0]
        assert torch.allclose(
            widgets.class_maps(gap, x[0], "Grad-CAM", "features.5")[c], ref, atol=1e-6
        )
        ref = camlib.guided_backprop(gap, x, c)[0].abs().amax(0)
        assert torch.allclose(widgets.class_maps(gap, x[0], "guided backprop")[c], ref)
    fused = camlib.acol.class_maps(zoo["acol"], x.expand(4, -1, -1, -1), torch.arange(4))["fused"]
    assert torch.allclose(widgets.class_maps(zoo["acol"], x[0], "ACoL"), fused, atol=1e-6)


def test_the_table_is_what_every_consumer_offers():
    flatten, acol = models.build("flatten"), models.build("acol")
    assert "CAM" not in widgets.methods_for(flatten) and "ACoL" in widgets.methods_for(acol)
    for name in ("gap", "gmp", "flatten", "gap_biased"):
        assert "ACoL" not in widgets.methods_for(models.build(name))
    assert set(widgets.methods_for(acol)) == set(table.METHODS)
    with pytest.raises(ValueError, match="not available"):
        widgets.class_maps(flatten, torch.rand(3, 64, 64), "CAM")
    with pytest.raises(ValueError, match="unknown method 'GradCAM'; choose one of CAM"):
        table.get("GradCAM")


def test_heat_is_scaled_rectified_upsampled_map():
    amap = torch.tensor([[-1.0, 0.0], [1.0, 3.0]])
    s = widgets.heat(amap, 8)
    up = camlib.upsample(amap.clamp_min(0)[None], 8)[0].numpy()
    assert np.allclose(s, up / up.max())
    assert (widgets.heat(torch.zeros(4, 4), 8) == 0).all()  # constant maps: zeros, not NaN


def test_box_at_limits_and_cam_rule(gap, pair):
    s = widgets.heat(widgets.class_maps(gap, pair.images[0], "Grad-CAM", "features.19")[0], SIZE)
    assert widgets.box_at(s, 0.0) == (0, 0, SIZE, SIZE)
    peak = np.unravel_index(np.argmax(s), s.shape)
    x0, y0, x1, y1 = widgets.box_at(s, 1.0)
    assert x0 <= peak[1] < x1 and y0 <= peak[0] < y1
    assert widgets.box_at(np.zeros((4, 4)), 0.5) is None
    raw = camlib.upsample(
        widgets.class_maps(gap, pair.images[0], "Grad-CAM", "features.19")[:1], SIZE
    )[0]
    for t in (0.2, 0.5):  # Zhou et al.'s fraction-of-max box on the raw map
        assert widgets.box_at(s, t) == metrics.box_from_map(raw, t)


def test_blend_weights_the_colour_by_the_heat():
    img = np.random.default_rng(0).random((SIZE, SIZE, 3))
    s = np.linspace(0, 1, SIZE * SIZE).reshape(SIZE, SIZE)
    assert np.array_equal(widgets.blend(img, s, 0.0), img)
    out = widgets.blend(img, s, 1.0)
    assert np.allclose(out[0, 0], img[0, 0])  # zero heat: the image, never darkened
    assert np.allclose(out[-1, -1], widgets.colorize(s)[-1, -1] / 255)  # full heat: the colour
    a = 0.5 * np.sqrt(s)[..., None]
    assert np.allclose(widgets.blend(img, s, 0.5), (1 - a) * img + a * widgets.colorize(s) / 255)


def test_render_and_figure(gap, pair):
    objs = pair.objects(0)
    c = objs[0].label
    amap = widgets.class_maps(gap, pair.images[0], "CAM")[c]
    view = widgets.make_view(
        pair.images[0],
        amap,
        method="CAM",
        class_name=data.CLASSES[c],
        probability=0.5,
        boxes=widgets.true_boxes(objs, c),
    )
    assert view.signed and view.true_boxes == (objs[0].box,)
    rgb = widgets.render(view)
    assert rgb.dtype == np.uint8 and rgb.shape[2] == 3 and rgb.shape[0] > 4 * SIZE
    assert np.array_equal(png_array(widgets.to_png(rgb)), rgb)
    fig = widgets.figure(view)
    titles = [ax.get_title() for ax in fig.axes]
    assert any("CAM" in t and data.CLASSES[c] in t for t in titles)
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_fills(gap, pair):
    x = pair.images[0]
    none = np.zeros((SIZE, SIZE), bool)
    for fill in widgets.FILLS:
        assert torch.equal(widgets.erase(x, none, fill), x)
    out = widgets.erase_and_watch(gap, x, none)
    assert np.allclose(out.before, out.after, atol=1e-6) and out.before.sum() == pytest.approx(1)
    every = np.ones((SIZE, SIZE), bool)
    flat = widgets.erase(x, every, "mean colour")
    assert torch.allclose(flat, x.mean(dim=(1, 2), keepdim=True).expand_as(x))
    assert torch.allclose(widgets.erase(x, every, "blur"), metrics.blur(x[None])[0])
    with pytest.raises(ValueError, match="unknown fill"):
        widgets.erase(x, every, "noise")


def test_neighbour_fill_solves_the_mean_of_neighbours_equation(pair):
    """ROAD's linear imputation: each filled pixel is the weighted mean of its 8 neighbours
    (1/6 sides, 1/12 diagonals, normalized at the border); kept pixels are untouched."""
    x = pair.images[1].double()
    hole = np.zeros((SIZE, SIZE), bool)
    hole[20:36, 10:30] = True
    hole[0:5, 0:6] = True  # at the border: fewer neighbours
    filled = widgets.erase(x, hole, "neighbours")
    k = torch.tensor([[1, 2, 1], [2, 0, 2], [1, 2, 1]], dtype=torch.float64)[None, None] / 12
    num = torch.conv2d(filled[:, None], k, padding=1)[:, 0]
    den = torch.conv2d(torch.ones(1, 1, SIZE, SIZE, dtype=torch.float64), k, padding=1)[0]
    h = torch.from_numpy(hole)
    assert torch.allclose(filled[:, h], (num / den)[:, h], atol=1e-9)
    assert torch.equal(filled[:, ~h], x[:, ~h])
    flat = torch.full_like(x, 0.3)  # a constant image fills with its constant
    assert torch.allclose(widgets.erase(flat, hole, "neighbours"), flat)


def test_occlusion_of_a_model_that_reads_one_pixel():
    """A model whose score is one pixel: occlusion is positive exactly on the windows over it."""

    class OnePixel(torch.nn.Module):
        def forward(self, x):
            v = x[:, 0, 10, 20]
            return torch.stack([4 * v, torch.zeros_like(v)], 1)

    x = torch.zeros(3, 32, 32)
    x[0, 10, 20] = 1.0
    occ = compute.occlusion(OnePixel(), x, 0, window=8, stride=4)
    covering = np.zeros((32, 32), bool)
    for y in range(0, 25, 4):
        for xx in range(0, 25, 4):
            if y <= 10 < y + 8 and xx <= 20 < xx + 8:
                covering[y : y + 8, xx : xx + 8] = True
    assert (occ[covering] > 0).all() and (occ[~covering] == 0).all()


def test_cascade_reinitializes_top_down_and_leaves_the_model(gap):
    before = {k: v.clone() for k, v in gap.state_dict().items()}
    nets = compute.cascade(gap, seed=0)
    steps = compute.cascade_steps(gap)
    assert [n for n, _ in nets] == ["trained"] + [n for n, _ in steps]
    assert steps[0][0] == "fc" and steps[-1][0] == "features.0"
    assert all(torch.equal(v, gap.state_dict()[k]) for k, v in before.items())
    for depth, (_, net) in enumerate(nets):
        changed = {name for name, _ in steps[:depth]}
        for name, m in net.named_modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
                same = torch.equal(m.weight, dict(gap.named_modules())[name].weight)
                assert same == (name not in changed), (depth, name)


# ---------------------------------------------------------------- the explorer ----


def test_the_lab_is_one_container_with_a_tab_per_experiment(lab):
    import ipywidgets as W

    assert isinstance(lab.ui, W.VBox) and lab.picture.value[:4] == b"\x89PNG"
    assert lab.tabs.titles == (
        "explore",
        "compare",
        "erase by hand",
        "sanity cascade",
        "deletion / insertion",
    )
    assert all(p.stale for p in lab.pieces)  # nothing but the explorer is drawn until asked
    lab.tabs.selected_index = 1
    assert not lab.compare.stale and lab.compare.picture.value[:4] == b"\x89PNG"


def test_every_scene_and_image(lab):
    """Every image of every scene draws its own picture; the class starts at the prediction."""
    for scene in lab.scene.options:
        lab.select(scene=scene, index=0)
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


def test_random_image_button(lab, zoo):
    picks = []
    for _ in range(5):
        before = lab.index.value
        lab.random.click()
        assert lab.index.value != before
        picks.append(lab.index.value)
    other = widgets.Lab(models={"gap": zoo["gap"]}, n_images=3, seed=0)
    again = []
    for _ in range(5):
        other.random.click()
        again.append(other.index.value)
    assert picks == again  # the lab's own seeded generator


def test_every_model_and_method(lab):
    for name in lab.model.options:
        lab.select(model=name)
        offered = lab.method.options
        assert offered == widgets.methods_for(lab.net)
        pictures, maps = set(), []
        for method in offered:
            lab.method.value = method
            assert lab.layer.disabled == (not table.get(method).layer)
            pictures.add(lab.picture.value)
            maps.append(lab.view.amap)
            assert method in lab.info.value
        assert len(pictures) == len(offered)  # each method draws its own picture
        # on a GAP head (gap, gap_biased) dS/dA = w_k / Z at every position, so Grad-CAM,
        # XGrad-CAM and HiResCAM coincide at the last layer (chapter 11); every other pair
        # of maps differs (ACoL's heads put two convolutions after 'features.19')
        same = {"Grad-CAM", "XGrad-CAM", "HiResCAM"} if name in ("gap", "gap_biased") else set()
        for i in range(len(maps)):
            for j in range(i):
                equal = maps[i].shape == maps[j].shape and np.allclose(maps[i], maps[j], atol=1e-6)
                assert equal == ({offered[i], offered[j]} <= same), (name, offered[i], offered[j])


def test_switching_model_keeps_a_valid_method(lab):
    lab.select(model="acol", method="ACoL")
    lab.model.value = "flatten"
    assert lab.method.value == "Grad-CAM" and "CAM" not in lab.method.options
    lab.method.value = "Grad-CAM++"
    lab.model.value = "gap"
    assert lab.method.value == "Grad-CAM++"


def test_pair_map_follows_the_chosen_animal(lab):
    """In a pair scene Grad-CAM for each animal's class puts its heat on that animal."""
    lab.select(scene="pair", index=0)
    for index in range(lab.n_images):
        lab.index.value = index
        animals = lab.dataset.objects(index)
        for me, other in (animals, animals[::-1]):
            lab.cls.value = me.label
            s = lab.view.heat
            assert s[me.mask.numpy()].sum() > s[other.mask.numpy()].sum()
            assert lab.view.true_boxes == (me.box,)


def test_layers(lab):
    lab.select(method="Grad-CAM")
    sides = []
    for _, layer in lab.layer.options:
        lab.layer.value = layer
        sides.append(lab.view.amap.shape[-1])
    assert sides == [64, 32, 16]  # shallow, middle, last
    for method in ("CAM", "guided backprop"):
        lab.method.value = method
        assert lab.layer.disabled
        first = lab.view.amap
        lab.layer.value = lab.layer.options[0][1]
        assert np.array_equal(first, lab.view.amap)  # these methods ignore the layer
    lab.select(method="CAM")
    assert "layer 'features.19'" in lab.info.value  # CAM reads the layer before GAP


def test_threshold_sweep(lab):
    lab.select(scene="multi", index=0)
    fixed = {k: v for k, v in panels(lab).items() if k != "boxes"}
    boxes, drawn = [], set()
    for t in np.round(np.arange(0, 1.0001, 0.05), 2):
        lab.threshold.value = float(t)
        view = lab.view
        assert view.pred_box == widgets.box_at(view.heat, t)
        boxes.append(view.pred_box)
        p = panels(lab)
        for k, v in fixed.items():
            assert np.array_equal(p[k], v), k  # only the boxes panel depends on it
        drawn.add(p["boxes"].tobytes())
    areas = [(b[2] - b[0]) * (b[3] - b[1]) for b in boxes]
    assert areas[0] == SIZE * SIZE and areas[-1] < areas[0] / 4
    assert len(set(boxes)) >= 5 and len(drawn) == len(set(boxes))


def test_opacity_sweep(lab):
    base = panels(lab)
    diffs = []
    for a in np.round(np.arange(0, 1.0001, 0.05), 2):
        lab.opacity.value = float(a)
        p = panels(lab)
        for k in ("image", "map", "boxes"):
            assert np.array_equal(p[k], base[k]), k
        diffs.append(np.abs(p["overlay"].astype(int) - p["image"].astype(int)).mean())
        if a == 0:
            assert np.array_equal(p["overlay"], p["image"])  # opacity 0: the image itself
            assert np.array_equal(png_array(lab.picture.value), widgets.render(lab.view))
    assert all(b > a for a, b in zip(diffs, diffs[1:]))  # more opacity, more map


def test_labs_do_not_share_state(lab, zoo):
    other = widgets.Lab(models={"gap": zoo["gap"]}, n_images=3, seed=0)
    assert other._maps is not lab._maps
    picture = other.picture.value
    lab.cls.value = (lab.cls.value + 1) % 4
    lab.opacity.value = 0.9
    assert other.picture.value == picture and other.opacity.value == 0.6


def test_changes_redraw_from_the_cache(lab):
    lab.select(index=1)
    lab.method.value = "Grad-CAM++"
    lab.method.value = "Grad-CAM"
    before = dict(lab.stats)
    for c in range(4):
        lab.cls.value = c
    lab.threshold.value, lab.opacity.value = 0.5, 0.3
    lab.method.value = "Grad-CAM++"
    assert lab.stats == before  # nothing recomputed, only redrawn


# ---------------------------------------------------------------- the scene builder ----


def test_builder_composes_the_scene_the_controls_describe(lab):
    lab.select(source="scene builder")
    assert lab.testset.layout.display == "none" and lab.builder.widget.layout.display is None
    shown = [lab.explorer, *lab.explorer.children, *lab.ui.children[3:]]
    assert all(w.layout.display is None for w in shown)  # only the test-image row is hidden
    r = lab.builder.rows[0]
    r["cls"].value = 1
    (dog,) = lab.objects
    assert (dog.label, dog.ears, dog.center) == (1, 1, (32.0, 38.0))
    assert torch.equal(lab.image, data.compose(lab.builder.scene()).image)
    box = dog.box
    r["x"].value = 36  # the animal moves 4 px right: its box too
    assert lab.objects[0].box == (box[0] + 4, box[1], box[2] + 4, box[3])
    r["ears"].value = 0  # a dog with cat ears
    assert lab.objects[0].ears == 0 and "a dog with cat ears" in lab.info.value
    assert lab.probs.argmax() == 0  # the GAP network follows the ears


def test_builder_counts_cues_and_textures(lab):
    lab.select(source="scene builder")
    b = lab.builder
    for n in (3, 2, 1):
        b.count.value = n
        assert len(lab.objects) == n and b.message.value == ""
        assert [box.layout.display for box in b.row_boxes] == [None] * n + ["none"] * (3 - n)
    b.cue.value = 2
    x0, y0, x1, y1 = data._cue_box(SIZE)
    colour = lab.image[:, y0 + 2 : y1 - 2, x0 + 2 : x1 - 2].mean(dim=(1, 2))
    assert torch.allclose(colour, torch.from_numpy(data.CUE_COLOURS[2]), atol=0.08)
    pictures = {lab.picture.value}
    for texture in ("checks", "dots", "plain"):
        b.texture.value = texture
        pictures.add(lab.picture.value)
    assert len(pictures) == 4


def test_builder_refuses_a_scene_that_cannot_be_drawn_with_a_message(lab):
    lab.select(source="scene builder")
    b = lab.builder
    b.count.value = 2
    image, picture = lab.image, lab.picture.value
    b.rows[1]["x"].value = 20  # onto animal 1
    assert "Cannot draw this scene" in b.message.value and "animals 1" in b.message.value
    assert torch.equal(lab.image, image) and lab.picture.value == picture  # the last good scene
    b.rows[1]["x"].value = 48
    assert b.message.value == "" and len(lab.objects) == 2
    b.rows[0]["x"].value = 0  # off the image
    assert "Cannot draw this scene" in b.message.value


def test_builder_random_scenes_are_seeded(lab, zoo):
    lab.select(source="scene builder")
    lab.builder.count.value = 2
    scenes = []
    for _ in range(4):
        assert lab.builder.randomize()
        scenes.append(lab.builder.scene())
        assert len(lab.objects) == 2
    other = widgets.Lab(models={"gap": zoo["gap"]}, n_images=3, seed=0)
    other.select(source="scene builder")
    other.builder.count.value = 2
    for scene in scenes:
        other.builder.randomize()
        assert other.builder.scene() == scene


# ---------------------------------------------------------------- compare ----


def test_compare_every_method(lab):
    lab.select(scene="single", index=0, model="gap")
    c = lab.cls.value
    tiles = compare.compare_tiles(lab, "every method")
    assert [t.title[0] for t in tiles] == list(table.available(lab.net))
    mask = widgets.class_mask(lab.objects, c, SIZE)
    for t in tiles:
        assert t.title[1].startswith(f"gap · '{data.CLASSES[c]}'")
        s = widgets.heat(lab.maps(t.title[0])[c], SIZE)
        pixels = table.get(t.title[0]).output == "pixels"  # drawn at their 99th percentile
        assert np.allclose(t.heat, draw.sparse_visible(s) if pixels else s)
        hit, energy = widgets.on_animal(s, mask)
        assert t.title[2] == f"hit {'yes' if hit else 'no'} · energy {energy:.2f}"
    lab.tabs.selected_index = 1
    assert f"{len(tiles)} panels" in lab.compare.info.value


def test_compare_models_delta_and_the_shared_scale(lab):
    lab.select(method="Grad-CAM")
    lab.compare.mode.value = "every model"
    assert [t.title[1].split(" ·")[0] for t in lab.compare.tiles] == list(lab.model.options)
    shared = compare.compare_tiles(lab, "every model", shared=True)
    tops = [t.heat.max() for t in shared]
    assert max(tops) == pytest.approx(1.0) and all(0 <= m <= 1 for m in tops)
    assert min(tops) < 1  # a weaker map looks weaker on the shared scale
    delta = compare.compare_tiles(lab, "ACoL across delta")
    assert [t.title[1].split(" ·")[0] for t in delta] == [
        "acol_d0.4",
        "acol",
        "acol_d0.8",
        "acol_d1",
    ]
    pictures = set()
    for mode in compare.MODES:
        lab.compare.mode.value = mode
        pictures.add(lab.compare.picture.value)
    assert len(pictures) == 3


# ---------------------------------------------------------------- the brush ----


def test_brush_stroke_erases_what_was_painted(lab):
    lab.select(index=0)
    lab.tabs.selected_index = 2
    assert "Nothing painted yet" in lab.brush.info.value
    animal = lab.objects[0]
    cx, cy = animal.center
    points = [(cx - 10, cy - 12), (cx, cy - 14), (cx + 10, cy - 12)]  # over the ears
    lab.brush.paint(points)
    expected = np.zeros((SIZE, SIZE), bool)
    for x, y in points:
        expected |= compute.disc(SIZE, x, y, lab.brush.radius.value)
    assert np.array_equal(lab.brush.mask, expected)
    out = lab.brush.result
    assert torch.equal(out["edited"], widgets.erase(lab.image, expected, "mean colour"))
    c = lab.cls.value
    after = widgets.probabilities(lab.net, out["edited"][None])[0].numpy()
    assert np.allclose(out["after"], after) and out["after"][c] < out["before"][c]
    assert (
        f"p({data.CLASSES[c]}) {out['before'][c]:.2f} → {out['after'][c]:.2f}"
        in lab.brush.info.value
    )
    pictures = {lab.brush.picture.value}
    for fill in ("blur", "neighbours"):
        lab.brush.fill.value = fill
        assert torch.equal(lab.brush.result["edited"], widgets.erase(lab.image, expected, fill))
        pictures.add(lab.brush.picture.value)
    assert len(pictures) == 3
    lab.brush.clear()
    assert not lab.brush.mask.any() and "Nothing painted yet" in lab.brush.info.value


def test_brush_follows_mouse_events_and_a_new_image_clears_it(lab):
    lab.tabs.selected_index = 2
    s = lab.scale
    lab.brush.handle({"type": "mousemove", "dataX": 40, "dataY": 40})  # no button: no paint
    assert not lab.brush.mask.any()
    lab.brush.handle({"type": "mousedown", "dataX": 10 * s, "dataY": 12 * s})
    assert lab.brush.mask[12, 10] and lab.brush.painting
    lab.brush.handle({"type": "mouseleave"})  # leaving the image ends the stroke
    assert not lab.brush.painting and lab.brush.result is not None
    lab.index.value = 1
    assert not lab.brush.mask.any()


# ---------------------------------------------------------------- cascade and curves ----


def test_cascade_slider(lab):
    lab.select(index=0, method="Grad-CAM")
    lab.tabs.selected_index = 3
    nets = lab.cascade.nets()
    assert lab.cascade.depth.max == len(nets) - 1 == 7
    assert [m for m, _, _ in lab.cascade.rows] == [
        "Grad-CAM",
        "Grad-CAM++",
        "guided backprop",
        "Guided Grad-CAM",
    ]
    assert all(rho == pytest.approx(1.0) for _, _, rho in lab.cascade.rows)
    pictures = {lab.cascade.picture.value}
    for d in range(1, len(nets)):
        lab.cascade.depth.value = d
        pictures.add(lab.cascade.picture.value)
        for method, s, _rho in lab.cascade.rows:
            target = [lab.cls.value]
            amap = table.compute(method, nets[d][1], lab.image[None], lab.layer.value, target)[0]
            assert np.allclose(s, widgets.heat(amap, SIZE))
    assert len(pictures) == len(nets)
    lab.method.value = "CAM"  # the current method joins the cascade
    assert lab.cascade.rows[-1][0] == "CAM"


def test_curves_are_chapter_08s_metrics(lab):
    lab.select(index=2, method="Grad-CAM")
    lab.tabs.selected_index = 4
    c = lab.cls.value
    s = torch.from_numpy(widgets.heat(lab.maps()[c], SIZE))[None]
    ref = metrics.deletion_auc(lab.net, lab.image[None], s, [c], steps=16)
    assert lab.curves.deletion.auc == pytest.approx(ref.auc)
    assert lab.curves.deletion.curves[0, 0] == pytest.approx(lab.probs[c], abs=1e-6)
    assert f"Deletion AUC {ref.auc:.2f}" in lab.curves.info.value
    picture = lab.curves.picture.value
    lab.method.value = "guided backprop"  # the open tab follows the method
    assert lab.curves.picture.value != picture

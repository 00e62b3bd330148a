"""The lab: the shared state (models, the current image, a cache) and the explorer's controls.

    lab = Lab()            # owns its models, images and cache; nothing in module globals
    lab.ui                 # image source (test images or the scene builder), the common
                           # controls, and one tab per experiment
    lab.select(model="gap", method="Grad-CAM", cls=1)   # set several controls at once

Each experiment is its own small piece (builder, compare, brush, cascade, curves) that reads
the lab's state through `lab.image`, `lab.objects`, `lab.net`, `lab.maps(...)` and draws only
when its tab is shown or `refresh()` is called: a control change costs the explorer's redraw
and the open tab's, never every experiment's.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import torch

from .. import data, table
from .. import models as zoo
from . import compute, draw
from .brush import Brush
from .builder import SceneBuilder
from .cascade import Cascade
from .compare import Compare
from .curves import Curves

SCENES = ("single", "multi", "pair", "biased")
MODELS = ("gap", "gmp", "flatten", "acol", "gap_biased")
SOURCES = ("test images", "scene builder")


class LRU:
    """A small least-recently-used cache: get(key, make) computes make() only on a miss."""

    def __init__(self, size: int):
        self.size, self.items, self.misses = size, OrderedDict(), 0

    def get(self, key, make):
        if key in self.items:
            self.items.move_to_end(key)
            return self.items[key]
        self.misses += 1
        value = self.items[key] = make()
        if len(self.items) > self.size:
            self.items.popitem(last=False)
        return value


class Lab:
    """The widget lab. models: names of shipped models, or a dict name -> model in eval mode
    (None: the shipped one); models load on first use. Every observer reads the controls and
    this object's cache, nothing else, so cells run later cannot change what a control draws."""

    def __init__(
        self,
        models=MODELS,
        scenes=SCENES,
        n_images: int = 24,
        seed: int = 0,
        scale: int = 4,
        cache_size: int = 512,
    ):
        import ipywidgets as W

        if isinstance(models, dict):
            self._models = dict(models)
        else:
            shipped = set(zoo.available())
            names = [m for m in models if m in shipped]
            if not names:
                raise ValueError(
                    f"none of the models {list(models)} is shipped; train them with "
                    f"`python -m camlib.train` (make models)"
                )
            self._models = dict.fromkeys(names)
        self.n_images, self.scale, self.seed = int(n_images), int(scale), int(seed)
        self._data, self._maps, self._probs = {}, LRU(cache_size), LRU(cache_size)
        self._rng = np.random.default_rng(seed)
        self._quiet = 0
        self.view = None
        wide = dict(style={"description_width": "initial"})
        self.source = W.ToggleButtons(
            options=SOURCES,
            description="image from",
            style={"description_width": "initial", "button_width": "120px"},
        )
        self.scene = W.ToggleButtons(
            options=list(scenes),
            description="scene",
            style={"description_width": "initial", "button_width": "72px"},
        )
        self.index = W.IntSlider(0, 0, self.n_images - 1, description="image", **wide)
        self.random = W.Button(description="random image", icon="random")
        self.model = W.Dropdown(
            options=list(self._models),
            value=next(iter(self._models)),
            description="model",
            layout=W.Layout(width="190px"),
            **wide,
        )
        self.method = W.Dropdown(description="method", layout=W.Layout(width="250px"), **wide)
        self.cls = W.Dropdown(description="class", layout=W.Layout(width="300px"), **wide)
        self.layer = W.Dropdown(description="layer", layout=W.Layout(width="250px"), **wide)
        self.threshold = W.FloatSlider(
            0.2, min=0, max=1, step=0.05, description="box threshold", readout_format=".2f", **wide
        )
        self.opacity = W.FloatSlider(
            0.6,
            min=0,
            max=1,
            step=0.05,
            description="overlay opacity",
            readout_format=".2f",
            **wide,
        )
        self.info = W.HTML()
        self.picture = W.Image(format="png", layout=W.Layout(max_width="100%", height="auto"))
        for name in (
            "source",
            "scene",
            "index",
            "random",
            "model",
            "method",
            "cls",
            "layer",
            "threshold",
            "opacity",
            "picture",
            "info",
        ):
            getattr(self, name).add_class(f"cam-lab-{name}")

        def row():  # each box its own Layout: hiding one box must not hide the others
            return W.Layout(flex_flow="row wrap", align_items="center")

        self.size = self._dataset().size  # image side in pixels, as every source draws it
        self.testset = W.HBox([self.scene, self.index, self.random], layout=row())
        self.builder = SceneBuilder(self)
        self.explorer = W.VBox(
            [W.HBox([self.threshold, self.opacity], layout=row()), self.info, self.picture]
        )
        self.explorer.add_class("cam-lab-explorer")
        self.compare, self.brush = Compare(self), Brush(self)
        self.cascade, self.curves = Cascade(self), Curves(self)
        self.pieces = (self.compare, self.brush, self.cascade, self.curves)
        self.tabs = W.Tab([self.explorer, *(p.widget for p in self.pieces)])
        self.tabs.titles = ("explore", *(p.title for p in self.pieces))
        self.tabs.add_class("cam-lab-tabs")
        self.ui = W.VBox(
            [
                self.source,
                self.testset,
                self.builder.widget,
                W.HBox([self.model, self.method, self.cls, self.layer], layout=row()),
                self.tabs,
            ]
        )
        self.ui.add_class("cam-lab")
        self.builder.widget.layout.display = "none"
        self._model_options()
        self._load_test_image()
        for w, handler in (
            (self.source, self._new_source),
            (self.scene, self._load_test_image),
            (self.index, self._load_test_image),
            (self.model, self._new_model),
            (self.method, self._new_method),
            (self.layer, self.redraw),
            (self.cls, self.redraw),
            (self.threshold, self._redraw_explorer),
            (self.opacity, self._redraw_explorer),
            (self.tabs, self._refresh_open_tab),
        ):
            w.observe(self._handler(handler), names="selected_index" if w is self.tabs else "value")
        self.random.on_click(lambda _: self.pick_random())

    # -- state -------------------------------------------------------------

    def _handler(self, handler):
        def on_change(change):
            if not self._quiet:
                handler()

        return on_change

    def network(self, name: str):
        """A model of the lab by name (loaded on first use; ACoL's delta models too)."""
        if self._models.get(name) is None:
            self._models[name] = zoo.load(name)
        return self._models[name]

    @property
    def net(self):
        """The selected model."""
        return self.network(self.model.value)

    def _dataset(self, scene=None):
        scene = scene or self.scene.value
        if scene not in self._data:
            self._data[scene] = data.split("test", scene=scene, n=self.n_images)
        return self._data[scene]

    @property
    def dataset(self) -> data.ToyPets:
        """The test images of the current scene."""
        return self._dataset()

    def probs_of(self, name: str) -> np.ndarray:
        """Class probabilities of the current image under model `name` (cached)."""
        return self._probs.get(
            (name, self.key),
            lambda: compute.probabilities(self.network(name), self.image[None])[0].numpy(),
        )

    @property
    def probs(self) -> np.ndarray:
        """Class probabilities of the current image under the current model (cached)."""
        return self.probs_of(self.model.value)

    def maps(self, method: str | None = None, model: str | None = None) -> np.ndarray:
        """Raw maps (K, h, w) of every class for a method and model on the current image."""
        method, model = method or self.method.value, model or self.model.value
        net = self.network(model)
        layer = table.get(method).layer_for(net, self.layer.value)
        return self._maps.get(
            (model, self.key, method, layer),
            lambda: compute.class_maps(net, self.image, method, layer).numpy(),
        )

    @property
    def stats(self) -> dict:
        """Times the lab computed maps and probabilities (cache misses): what redraws cost."""
        return {"maps computed": self._maps.misses, "images scored": self._probs.misses}

    # -- the image -----------------------------------------------------------

    def set_image(self, image: torch.Tensor, objects, label: str):
        """Show a new image (3, H, W) with its animals; every piece follows."""
        self.image, self.objects, self.image_label = image, list(objects), label
        self.key = compute.image_key(image)
        self._quiet += 1
        try:
            p = self.probs
            pred = int(p.argmax())
            self.cls.options = [
                (f"{name} · p = {p[k]:.2f}" + (" (predicted)" if k == pred else ""), k)
                for k, name in enumerate(data.CLASSES)
            ]
            self.cls.value = pred
        finally:
            self._quiet -= 1
        self.redraw()

    def _load_test_image(self):
        ds, i = self._dataset(), self.index.value
        self.set_image(ds.images[i], ds.objects(i), f"{self.scene.value} test image {i}")

    def _new_source(self):
        builder = self.source.value == "scene builder"
        self.testset.layout.display = "none" if builder else None
        self.builder.widget.layout.display = None if builder else "none"
        if builder:
            self.builder.build()
        else:
            self._load_test_image()

    def pick_random(self):
        """Show a random image of the current scene (the lab's own seeded generator)."""
        choices = [i for i in range(self.n_images) if i != self.index.value] or [0]
        self.index.value = int(self._rng.choice(choices))

    # -- reactions -----------------------------------------------------------

    def _model_options(self):
        self._quiet += 1
        try:
            net = self.net
            offered = table.available(net)
            keep = self.method.value if self.method.value in offered else "Grad-CAM"
            self.method.options, self.method.value = offered, keep
            layers = list(net.layers.items())
            names = [v for _, v in layers]
            keep = self.layer.value if self.layer.value in names else names[-1]
            self.layer.options, self.layer.value = layers, keep
            self.layer.disabled = not table.get(self.method.value).layer
        finally:
            self._quiet -= 1

    def _new_model(self):
        self._model_options()
        self.set_image(self.image, self.objects, self.image_label)

    def _new_method(self):
        self.layer.disabled = not table.get(self.method.value).layer
        self.redraw()

    def select(self, **values):
        """Set several controls at once (source, scene, index, model, method, layer, cls, ...)."""
        self._quiet += 1
        try:
            for name in ("source", "scene", "index", "model"):
                if name in values:
                    getattr(self, name).value = values.pop(name)
            self._model_options()
            cls = values.pop("cls", None)
            for name, value in values.items():
                getattr(self, name).value = value
        finally:
            self._quiet -= 1
        self._new_source()
        if cls is not None and cls != self.cls.value:
            self.cls.value = cls

    # -- drawing -------------------------------------------------------------

    def current_view(self) -> draw.View:
        """The View of the current controls (no drawing)."""
        c = self.cls.value
        return draw.make_view(
            self.image,
            self.maps()[c],
            method=self.method.value,
            class_name=data.CLASSES[c],
            probability=float(self.probs[c]),
            alpha=self.opacity.value,
            threshold=self.threshold.value,
            boxes=compute.true_boxes(self.objects, c),
        )

    def _redraw_explorer(self):
        self.view = v = self.current_view()
        self.picture.value = draw.to_png(draw.render(v, self.scale))
        p, pred = self.probs, int(self.probs.argmax())
        animals = ", ".join(describe(o) for o in self.objects) or "no animal"
        layer = table.get(v.method).layer_for(self.net, self.layer.value)
        reads = (
            f"layer {layer!r}"
            if layer
            else "the input pixels"
            if table.get(v.method).output == "pixels"
            else "the classifiers' class maps"
        )
        self.info.value = (
            f"<b>{self.model.value}</b> predicts <b>{data.CLASSES[pred]}</b> (p = {p[pred]:.2f}) "
            f"on the {self.image_label}; in the image: {animals}. Showing <b>{v.method}</b> for "
            f"<b>{v.class_name}</b> (p = {v.probability:.2f}), read from {reads}."
        )

    def _refresh_open_tab(self):
        k = self.tabs.selected_index or 0
        if k > 0 and self.pieces[k - 1].stale:
            self.pieces[k - 1].refresh()

    def redraw(self):
        """Draw the explorer for the current controls, then the experiment whose tab is open."""
        self._redraw_explorer()
        for piece in self.pieces:
            piece.stale = True
        self._refresh_open_tab()

    def draw_all(self):
        """Draw every experiment once (what a static reader of the saved notebook sees)."""
        for piece in self.pieces:
            piece.refresh()


def describe(animal) -> str:
    """How the lab names an animal: its class, and its ears when they are not its own."""
    ears = getattr(animal, "ears", animal.label)
    if ears == animal.label:
        return animal.name
    return f"a {animal.name} " + ("without ears" if ears < 0 else f"with {data.CLASSES[ears]} ears")

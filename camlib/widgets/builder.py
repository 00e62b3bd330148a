"""The scene builder: one to three animals (class, position, size, fur, ears), the background
and the spurious cue, composed by `camlib.data.compose`; the lab follows every change.

A scene that cannot be drawn (animals that overlap or leave the image) is refused by
`data.check_scene`, whose message the builder shows in place of a traceback.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .. import data

FUR_NAMES = ("ginger", "brown", "grey", "cream", "white", "dark brown", "charcoal", "golden")
CUE_NAMES = ("red", "green", "blue", "magenta")
EARS = (
    ("its own", "shown"),
    ("none", "hidden"),
    *((f"{name} ears", k) for k, name in enumerate(data.CLASSES)),
)
TEXTURES = ("stripes", "checks", "dots", "plain")
START = (
    data.Pet(0, 32.0, 38.0, 13.0, 0),
    data.Pet(1, 48.0, 38.0, 9.5, 1),
    data.Pet(3, 32.0, 50.0, 7.5, 3),
)
# (x, y, size) of each animal when the count changes: every class fits, whatever the ears
LAYOUTS = {
    1: ((32, 38, 13.0),),
    2: ((16, 38, 9.5), (48, 38, 9.5)),
    3: ((14, 20, 7.5), (50, 20, 7.5), (32, 50, 7.5)),
}


class SceneBuilder:
    """Controls for `data.Scene`; `build()` composes it and hands the image to the lab."""

    def __init__(self, lab):
        import ipywidgets as W

        self.lab = lab
        wide = dict(style={"description_width": "initial"})
        small = dict(layout=W.Layout(width="150px"), style={"description_width": "initial"})
        self.count = W.ToggleButtons(
            options=(1, 2, 3),
            value=1,
            description="animals",
            style={"description_width": "initial", "button_width": "40px"},
        )
        self.rows = []
        for k, pet in enumerate(START):
            row = dict(
                cls=W.Dropdown(
                    options=[(n, c) for c, n in enumerate(data.CLASSES)],
                    value=pet.cls,
                    description=f"{k + 1}:",
                    **small,
                ),
                x=W.IntSlider(int(pet.x), 0, 64, description="x", **wide),
                y=W.IntSlider(int(pet.y), 0, 64, description="y", **wide),
                size=W.FloatSlider(
                    pet.size,
                    min=6.0,
                    max=16.0,
                    step=0.5,
                    description="size",
                    readout_format=".1f",
                    **wide,
                ),
                fur=W.Dropdown(
                    options=[(n, c) for c, n in enumerate(FUR_NAMES)],
                    value=pet.fur,
                    description="fur",
                    **small,
                ),
                ears=W.Dropdown(options=EARS, value="shown", description="ears", **small),
            )
            for name, w in row.items():
                w.add_class(f"cam-builder-{name}-{k + 1}")
            self.rows.append(row)
        self.row_boxes = [
            W.HBox(list(r.values()), layout=W.Layout(flex_flow="row wrap")) for r in self.rows
        ]
        self.background = W.IntSlider(0, 0, 99, description="background", **wide)
        self.texture = W.Dropdown(options=TEXTURES, description="texture", **small)
        self.cue = W.Dropdown(
            options=[("off", -1), *((n, c) for c, n in enumerate(CUE_NAMES))],
            description="cue square",
            **small,
        )
        self.random = W.Button(description="random scene", icon="random")
        self.message = W.HTML()
        for name in ("count", "background", "texture", "cue", "random", "message"):
            getattr(self, name).add_class(f"cam-builder-{name}")
        self.widget = W.VBox(
            [
                W.HBox(
                    [self.count, self.background, self.texture, self.cue, self.random],
                    layout=W.Layout(flex_flow="row wrap"),
                ),
                *self.row_boxes,
                self.message,
            ]
        )
        self.widget.add_class("cam-builder")
        self._rng = np.random.default_rng(lab.seed)
        self._quiet = 0
        self._show_rows()
        for w in (
            self.count,
            self.background,
            self.texture,
            self.cue,
            *(w for r in self.rows for w in r.values()),
        ):
            w.observe(self._changed, names="value")
        self.random.on_click(lambda _: self.randomize())

    def _changed(self, change):
        if self._quiet:
            return
        if change["owner"] is self.count:
            self._show_rows()
            self._quiet += 1
            try:  # a new count: lay the animals out so that they fit
                for r, (x, y, size) in zip(self.rows, LAYOUTS[self.count.value]):
                    r["x"].value, r["y"].value, r["size"].value = x, y, size
            finally:
                self._quiet -= 1
        self.build()

    def _show_rows(self):
        for k, box in enumerate(self.row_boxes):
            box.layout.display = None if k < self.count.value else "none"

    def scene(self) -> data.Scene:
        """The scene the controls describe."""
        pets = tuple(
            data.Pet(
                r["cls"].value,
                float(r["x"].value),
                float(r["y"].value),
                float(r["size"].value),
                r["fur"].value,
                r["ears"].value,
            )
            for r in self.rows[: self.count.value]
        )
        return data.Scene(
            pets,
            background=self.background.value,
            texture=self.texture.value,
            cue=None if self.cue.value < 0 else self.cue.value,
        )

    def build(self) -> bool:
        """Compose the scene and show it in the lab; on a scene that cannot be drawn, say why."""
        try:
            out = data.compose(self.scene())
        except ValueError as err:
            self.message.value = f"<span style='color:#b00020'>Cannot draw this scene: {err}</span>"
            return False
        self.message.value = ""
        self.lab.set_image(out.image, out.objects, "built scene")
        return True

    def set_scene(self, scene: data.Scene) -> bool:
        """Put a scene into the controls (one rebuild at the end)."""
        self._quiet += 1
        try:
            self.count.value = len(scene.pets)
            for r, pet in zip(self.rows, scene.pets):
                r["cls"].value, r["fur"].value, r["ears"].value = pet.cls, pet.fur, pet.ears
                r["size"].value = float(np.clip(round(pet.size * 2) / 2, 6.0, 16.0))
                r["x"].value, r["y"].value = int(round(pet.x)), int(round(pet.y))
            self.background.value, self.texture.value = scene.background, scene.texture
            self.cue.value = -1 if scene.cue is None else scene.cue
        finally:
            self._quiet -= 1
        self._show_rows()
        return self.build()

    def randomize(self) -> bool:
        """A random scene with as many animals as the control says (the builder's own rng)."""
        # the sliders hold whole pixels and half-pixel sizes: snap, and draw again if the
        # snapped scene no longer fits
        for _ in range(20):
            scene = data.random_scene(self._rng, n=self.count.value)
            scene = dataclasses.replace(scene, background=int(self._rng.integers(100)))
            if self.set_scene(scene):
                return True
        return False

"""Live deletion and insertion curves (Petsiuk et al., BMVC 2018; chapter 08) of the current
map, with their AUCs: pixels removed (or restored from a blur) most salient first."""

from __future__ import annotations

from .. import data
from . import compute, draw


class Curves:
    """The curves tab: follows the lab's model, method, image, class and layer."""

    title = "deletion / insertion"

    def __init__(self, lab):
        import ipywidgets as W

        self.lab, self.stale = lab, True
        self.steps = W.IntSlider(
            16, 4, 32, step=4, description="steps", style={"description_width": "initial"}
        )
        self.info = W.HTML()
        self.picture = W.Image(format="png", layout=W.Layout(max_width="100%", height="auto"))
        for name in ("steps", "picture", "info"):
            getattr(self, name).add_class(f"cam-curves-{name}")
        self.widget = W.VBox([self.steps, self.info, self.picture])
        self.steps.observe(lambda _: self.refresh(), names="value")

    def refresh(self):
        self.stale = False
        lab, c = self.lab, self.lab.cls.value
        s = compute.heat(lab.maps()[c], lab.image.shape[-1])
        self.deletion, self.insertion = compute.removal_curves(
            lab.net, lab.image, s, c, self.steps.value
        )
        title = f"{lab.method.value} on {lab.model.value}, class '{data.CLASSES[c]}'"
        self.picture.value = draw.to_png(
            draw.render_curves(
                self.deletion.fractions,
                self.deletion.curves[0],
                self.insertion.curves[0],
                (self.deletion.auc, self.insertion.auc),
                title,
            )
        )
        self.info.value = (
            f"Deletion AUC {self.deletion.auc:.2f} (lower is better: the map found "
            f"what the score needs), insertion AUC {self.insertion.auc:.2f} "
            f"(higher is better)."
        )

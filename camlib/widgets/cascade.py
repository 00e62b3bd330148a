"""The sanity cascade (Adebayo et al., NeurIPS 2018; chapter 05): a slider re-initializes the
model's layers from the top down, and each method's map at that depth is shown with its
Spearman rank correlation to the trained model's map.

    rows = cascade_rows(lab, depth)   # pure: (method, heat, rho) at that depth
"""

from __future__ import annotations

from .. import data, table
from . import compute, draw

# the methods the cascade shows, when the model offers them (plus the lab's current method)
SHOWN = ("Grad-CAM", "Grad-CAM++", "guided backprop", "Guided Grad-CAM")


def cascade_rows(lab, nets, depth: int) -> list[tuple[str, object, float]]:
    """(method, heat at `depth`, Spearman rho with the trained map) for the cascade's methods."""
    c, size = lab.cls.value, lab.image.shape[-1]
    offered = table.available(lab.net)
    shown = [m for m in SHOWN if m in offered]
    if lab.method.value not in shown:
        shown.append(lab.method.value)
    rows = []
    for method in shown:
        def heat_of(net, method=method):
            target = [c] if table.get(method).targeted else None
            amap = table.compute(method, net, lab.image[None], lab.layer.value, target)[0]
            return compute.heat(amap, size)

        key = (lab.model.value, lab.key, method, lab.layer.value, c)
        trained = lab._maps.get(("cascade", *key, 0), lambda: heat_of(nets[0][1]))
        now = lab._maps.get(("cascade", *key, depth), lambda: heat_of(nets[depth][1]))
        rows.append((method, now, compute.rank_correlation(trained, now)))
    return rows


class Cascade:
    """The cascade tab: the depth slider and a grid of maps with their rank correlations."""

    title = "sanity cascade"

    def __init__(self, lab):
        import ipywidgets as W

        self.lab, self.stale, self._nets = lab, True, {}
        self.depth = W.IntSlider(0, 0, 1, description="layers re-initialized, top down",
                                 style={"description_width": "initial"},
                                 layout=W.Layout(width="520px"))
        self.info = W.HTML()
        self.picture = W.Image(format="png", layout=W.Layout(max_width="100%", height="auto"))
        for name in ("depth", "picture", "info"):
            getattr(self, name).add_class(f"cam-cascade-{name}")
        self.widget = W.VBox([self.depth, self.info, self.picture])
        self.depth.observe(lambda _: self.refresh(), names="value")

    def nets(self):
        """The trained model and its randomized copies (built once per model)."""
        name = self.lab.model.value
        if name not in self._nets:
            self._nets[name] = compute.cascade(self.lab.net, seed=self.lab.seed)
        return self._nets[name]

    def refresh(self):
        self.stale = False
        nets = self.nets()
        if self.depth.max != len(nets) - 1:
            self.depth.max = len(nets) - 1
        d = min(self.depth.value, len(nets) - 1)
        self.rows = cascade_rows(self.lab, nets, d)
        img = draw.plot.to_numpy_image(self.lab.image)
        c = data.CLASSES[self.lab.cls.value]
        tiles = [draw.Tile(img, draw.sparse_visible(s) if table.get(m).output == "pixels"
                           else s, (m, f"rho = {rho:.2f}")) for m, s, rho in self.rows]
        done = [name for name, _ in nets[1:d + 1]]
        where = f"re-initialized: {', '.join(done)}" if done else "the trained model"
        self.picture.value = draw.to_png(draw.render_grid(
            tiles, heading=f"{self.lab.model.value}, '{c}': {where}"))
        self.info.value = (f"Depth {d} of {len(nets) - 1}. rho is the Spearman rank correlation "
                           f"of each map with the trained model's map: a method that explains "
                           f"the model should lose it as the model is destroyed.")

"""The widget lab: an experiment bench on ToyPets, built from small pieces.

    lab = camlib.widgets.Lab()     # owns its models, images and cache
    lab.ui                         # image source, common controls, one tab per experiment

- `compute`: what the lab computes (maps of every class through `camlib.table`, heat, boxes,
  fills, occlusion, the layer cascade, removal curves), pure functions;
- `draw`: what it draws, pure functions from arrays to a picture;
- `builder`, `compare`, `brush`, `cascade`, `curves`: one experiment each, a few controls and
  a `refresh()` that reads the lab's state;
- `lab`: the shared state, its cache and the explorer;
- `chapter`: the small single-idea widgets the chapters embed;
- `speed`: the lab's latency benchmark (`python -m camlib.widgets.speed`).
"""

from .compute import (
    FILLS,
    Erased,
    box_at,
    class_maps,
    class_mask,
    erase,
    erase_and_watch,
    heat,
    methods_for,
    on_animal,
    probabilities,
    true_boxes,
)
from .draw import (
    View,
    blend,
    colorize,
    figure,
    make_view,
    render,
    render_erased,
    render_grid,
    render_panels,
    to_png,
)
from .lab import MODELS, SCENES, Lab

__all__ = [
    "FILLS",
    "MODELS",
    "SCENES",
    "Erased",
    "Lab",
    "View",
    "blend",
    "box_at",
    "class_mask",
    "class_maps",
    "colorize",
    "erase",
    "erase_and_watch",
    "figure",
    "heat",
    "make_view",
    "methods_for",
    "on_animal",
    "probabilities",
    "render",
    "render_erased",
    "render_grid",
    "render_panels",
    "to_png",
    "true_boxes",
]

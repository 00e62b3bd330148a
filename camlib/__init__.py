"""camlib: class activation maps, one function per method, as the papers write them.

    maps = camlib.cam(model, images, layer, fc, target=None)        # Zhou et al. 2016
    maps = camlib.grad_cam(model, images, layer, target=None)       # Selvaraju et al. 2017
    maps = camlib.grad_cam_pp(model, images, layer, target=None)    # Chattopadhay et al. 2018
    maps = camlib.counterfactual(model, images, layer, target=None)
    sal  = camlib.guided_backprop(model, images, target=None)       # Springenberg et al. 2014
    sal  = camlib.deconvnet(model, images, target=None)
    sal  = camlib.guided_grad_cam(model, images, layer, target=None)
    maps = camlib.layer_cam(model, images, layer, target=None)      # Jiang et al. 2021
    maps = camlib.xgrad_cam(model, images, layer, target=None)      # Fu et al. 2020
    maps = camlib.hires_cam(model, images, layer, target=None)      # Draelos & Carin 2020
    maps = camlib.score_cam(model, images, layer, target=None, batch_size=32)  # Wang et al. 2020
    maps = camlib.ablation_cam(model, images, layer, target=None)   # Desai & Ramaswamy 2020
    maps = camlib.eigen_cam(model, images, layer)                   # Muhammad & Yeasin 2020
    up   = camlib.upsample(maps, size)
    norm = camlib.normalize(maps)

Every layer method takes `reshape=(h, w)` (or a callable) for a token layer (N, T, D).
"""

import importlib

_HOMES = {
    **dict.fromkeys(
        (
            "cam",
            "grad_cam",
            "grad_cam_pp",
            "counterfactual",
            "guided_backprop",
            "deconvnet",
            "guided_grad_cam",
            "upsample",
            "normalize",
        ),
        ".methods",
    ),
    **dict.fromkeys(
        ("layer_cam", "xgrad_cam", "hires_cam", "score_cam", "ablation_cam", "eigen_cam"), ".family"
    ),
}  # each method's module
_METHODS = tuple(_HOMES)
_SUBMODULES = (
    "acol",
    "data",
    "models",
    "metrics",
    "methods",
    "family",
    "hooks",
    "plot",
    "checks",
    "paths",
    "widgets",
    "bench",
    "train",
)

__all__ = [*_METHODS, *_SUBMODULES, "setup"]


def __getattr__(name):
    # Submodules load on first use, so `import camlib` stays light (no scipy, no matplotlib).
    if name in _METHODS:
        return getattr(importlib.import_module(_HOMES[name], __name__), name)
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'camlib' has no attribute {name!r}")


def setup(seed: int = 0, threads: int = 2) -> None:
    """Start a notebook reproducibly: seeds, a fixed number of CPU threads, the course's style.

    The environment variable CAMLIB_THREADS, when set, overrides `threads` (the course build
    runs two chapters at once with one thread each).
    """
    import os
    import random

    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    value = os.environ.get("CAMLIB_THREADS", "").strip()
    if value:
        if not value.isdigit() or int(value) < 1:
            raise ValueError(
                f"CAMLIB_THREADS={value!r} is not a positive whole number; set it to the number "
                f"of CPU threads to use, e.g. CAMLIB_THREADS=1, or unset it"
            )
        threads = int(value)
    torch.set_num_threads(threads)
    importlib.import_module(".plot", __name__).use_style()

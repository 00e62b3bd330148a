"""camlib: class activation maps, one function per method, as the papers write them.

    maps = camlib.cam(model, images, layer, fc, target=None)        # Zhou et al. 2016
    maps = camlib.grad_cam(model, images, layer, target=None)       # Selvaraju et al. 2017
    maps = camlib.grad_cam_pp(model, images, layer, target=None)    # Chattopadhay et al. 2018
    maps = camlib.counterfactual(model, images, layer, target=None)
    sal  = camlib.guided_backprop(model, images, target=None)       # Springenberg et al. 2014
    sal  = camlib.deconvnet(model, images, target=None)
    sal  = camlib.guided_grad_cam(model, images, layer, target=None)
    up   = camlib.upsample(maps, size)
    norm = camlib.normalize(maps)
"""

import importlib

_METHODS = ("cam", "grad_cam", "grad_cam_pp", "counterfactual", "guided_backprop", "deconvnet",
            "guided_grad_cam", "upsample", "normalize")
_SUBMODULES = ("acol", "data", "models", "metrics", "methods", "hooks", "plot", "checks", "paths",
               "widgets", "bench", "train")

__all__ = [*_METHODS, *_SUBMODULES, "setup"]


def __getattr__(name):
    # Submodules load on first use, so `import camlib` stays light (no scipy, no matplotlib).
    if name in _METHODS:
        return getattr(importlib.import_module(".methods", __name__), name)
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'camlib' has no attribute {name!r}")


def setup(seed: int = 0, threads: int = 2) -> None:
    """Start a notebook reproducibly: seeds, a fixed number of CPU threads, the course's style."""
    import random

    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    importlib.import_module(".plot", __name__).use_style()

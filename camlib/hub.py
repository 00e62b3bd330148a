"""torchvision's pretrained weights, only when they are there: the torch hub cache, read safely.

``cache_file(weights)`` says where torchvision keeps a set of weights once downloaded;
``imagenet_model(build, weights, allow_download)`` builds the model with them when the file is
cached (or may be downloaded), and returns None, with one printed line, when loading fails
(offline, or a broken file), so that a notebook goes on without them.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import torch

__all__ = ["cache_file", "imagenet_model"]


def cache_file(weights) -> Path:
    """Where torchvision keeps these weights once downloaded: <torch hub dir>/checkpoints/<file>.

    `weights` is a torchvision weights enum member (e.g. ``ResNet18_Weights.IMAGENET1K_V1``);
    the file name is the last part of its download address, as ``torch.hub`` names it.
    """
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(weights.url).path).name


def imagenet_model(build, weights, allow_download: bool = False):
    """``build(weights=weights)`` in eval mode if the file is cached (or may be downloaded), else
    None.

    Without the file and with ``allow_download=False`` nothing is attempted. Any error while
    building (no network, a truncated or foreign file) is reported in one line and gives None.
    """
    if not (cache_file(weights).is_file() or allow_download):
        return None
    try:
        return build(weights=weights).eval()
    except Exception as err:  # offline, or a broken file: go on without it
        name = cache_file(weights).name
        print(f"could not load {name} ({type(err).__name__}): going on without it")
        return None

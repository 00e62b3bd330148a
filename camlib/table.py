"""The one table of methods: how each is called, whether it reads a layer, what it returns.

Every consumer (the widget lab, the benchmark, the tests) goes through this table, so a new
method reaches all of them by one new entry in `METHODS`.

    entry = METHODS["Grad-CAM"]
    entry.fn                 # camlib.methods.grad_cam, the function that implements the paper
    entry.layer              # True: the learner picks the layer it reads
    entry.output             # "map": (N, h, w) at the layer; "pixels": (N, C, H, W) at the input
    maps = compute("Grad-CAM", model, images, layer, target)   # (N, T, h, w) per class asked

`compute` is the uniform call behind every consumer: T classes per image from one call (a (N, T)
target), pixel-space methods reduced over colour channels as max |R|, a class-agnostic method
(Eigen-CAM) repeated for each class asked, so every method returns the same kind of thing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from . import acol, family, methods


@dataclass(frozen=True)
class Method:
    """One row of the table."""

    label: str  # the name learners see: "Grad-CAM"
    fn: Callable  # the camlib function implementing the paper
    paper: str  # authors, venue, year
    layer: bool = True  # reads a layer the caller chooses (CAM reads the one before pooling)
    output: str = "map"  # "map": (N, h, w) at the layer; "pixels": (N, C, H, W) at the input
    signed: bool = False  # the raw map is signed (CAM's M_c); others are ReLU'd or non-negative
    targeted: bool = True  # takes a target; False: class-agnostic (the same map for every class)
    requires: str | None = None  # "fc": a per-channel linear classifier; "acol": ACoL's heads
    gradient_free: bool = False  # needs no gradient (CAM, ACoL, Score-/Ablation-/Eigen-CAM)

    def supports(self, model: nn.Module) -> bool:
        """Whether the model has what the method needs (CAM a classifier, ACoL its two heads)."""
        if self.requires == "fc":
            return getattr(model, "fc_layer", None) is not None
        if self.requires == "acol":
            return hasattr(model, "forward_maps")
        return True

    def layer_for(self, model: nn.Module, layer: str | None) -> str | None:
        """The layer the method reads: CAM the one feeding the pooling, pixel methods none."""
        if self.requires == "fc":
            return model.cam_layer
        return (layer or getattr(model, "cam_layer", None)) if self.layer else None

    def __call__(self, model: nn.Module, images: Tensor, layer=None, target=None) -> Tensor:
        """The method's own output for `target` (see `compute` for the uniform form)."""
        layer = self.layer_for(model, layer)
        if self.requires == "fc":
            return self.fn(model, images, layer, model.fc_layer, target)
        if self.requires == "acol":
            return _acol(model, images, target)
        if not self.targeted:
            return self.fn(model, images, layer)
        if self.layer:
            return self.fn(model, images, layer, target=target)
        return self.fn(model, images, target=target)


def _acol(model, images: Tensor, target) -> Tensor:
    """ACoL's fused map max(A, B) for each class asked; each class drives the erasing of its map."""
    n = len(images)
    idx = torch.as_tensor(target).view(n, -1) if target is not None else None
    if idx is None:
        return acol.class_maps(model, images)["fused"]
    T = idx.shape[1]
    fused = acol.class_maps(model, images.repeat_interleave(T, 0), idx.reshape(-1))["fused"]
    out = fused.view(n, T, *fused.shape[1:])
    return out if torch.as_tensor(target).dim() == 2 else out[:, 0]


METHODS: dict[str, Method] = {
    m.label: m
    for m in (
        Method(
            "CAM",
            methods.cam,
            "Zhou et al., CVPR 2016",
            layer=False,
            signed=True,
            requires="fc",
            gradient_free=True,
        ),
        Method("Grad-CAM", methods.grad_cam, "Selvaraju et al., ICCV 2017"),
        Method("Grad-CAM++", methods.grad_cam_pp, "Chattopadhay et al., WACV 2018"),
        Method("counterfactual", methods.counterfactual, "Selvaraju et al., IJCV 2020"),
        Method(
            "guided backprop",
            methods.guided_backprop,
            "Springenberg et al., ICLRW 2015",
            layer=False,
            output="pixels",
        ),
        Method(
            "Guided Grad-CAM",
            methods.guided_grad_cam,
            "Selvaraju et al., ICCV 2017",
            output="pixels",
        ),
        Method(
            "ACoL",
            acol.class_maps,
            "Zhang et al., CVPR 2018",
            layer=False,
            requires="acol",
            gradient_free=True,
        ),
        Method("LayerCAM", family.layer_cam, "Jiang et al., IEEE TIP 2021"),
        Method("XGrad-CAM", family.xgrad_cam, "Fu et al., BMVC 2020"),
        Method("HiResCAM", family.hires_cam, "Draelos & Carin, arXiv 2011.08891"),
        Method("Score-CAM", family.score_cam, "Wang et al., CVPRW 2020", gradient_free=True),
        Method(
            "Ablation-CAM", family.ablation_cam, "Desai & Ramaswamy, WACV 2020", gradient_free=True
        ),
        Method(
            "Eigen-CAM",
            family.eigen_cam,
            "Muhammad & Yeasin, IJCNN 2020",
            targeted=False,
            gradient_free=True,
        ),
    )
}


def available(model: nn.Module) -> tuple[str, ...]:
    """The labels of the methods this model supports, in table order."""
    return tuple(label for label, m in METHODS.items() if m.supports(model))


def get(label: str) -> Method:
    """The table's entry for a method label, or an error that lists the labels."""
    if label not in METHODS:
        raise ValueError(f"unknown method {label!r}; choose one of {', '.join(METHODS)}")
    return METHODS[label]


def compute(label: str, model: nn.Module, images: Tensor, layer=None, target=None) -> Tensor:
    """Maps (N, T, h, w) of T classes per image (target (N, T)), or (N, h, w) for one class each.

    Pixel-space methods come back as (…, H, W) reduced over colour channels by max |R|;
    a class-agnostic method's map is repeated for every class asked.
    """
    m = get(label)
    if not m.supports(model):
        raise ValueError(
            f"{label!r} is not available for this model; choose one of "
            f"{', '.join(available(model))}"
        )
    out = m(model, images, layer, target)
    if m.output == "pixels":
        out = out.abs().amax(dim=-3)
    if not m.targeted and target is not None and torch.as_tensor(target).dim() == 2:
        out = out[:, None].expand(-1, torch.as_tensor(target).shape[1], -1, -1)
    return out.detach().float()

"""The one hook mechanism behind every method in camlib.

- `resolve` finds a layer, given as a module of the model or a dotted name
  from `model.named_modules()`.
- `class_maps` runs one forward pass with a forward hook on the layer. The
  hook keeps the layer's output A; then dS/dA of each requested score S is
  taken with `torch.autograd.grad` on A only, one class at a time, and handed
  to the method's formula. No parameter's `.grad` is written and no gradient
  is computed for the input. The forward pass records no graph before the
  layer (nothing there is needed), so it also works when every parameter is
  frozen. `layer_activation` is the same pass without gradients (CAM).
- `input_gradients` takes dS/dx for the input x, optionally with the backward
  rule of every `nn.ReLU` swapped by `relu_rule` (guided backprop, deconvnet).
- `classes` and `scores` turn the `target` argument into class indices and
  into the scores S to differentiate, with errors that say how to fix them.

The model's mode (`model.train()` / `model.eval()`) is never changed: call
`model.eval()` yourself, as for any inference. In training mode BatchNorm
mixes the images of a batch and dropout is random, so the maps would not be
what the model computes at test time.
"""

from __future__ import annotations

import difflib
import numbers
from collections.abc import Callable, Sequence
from contextlib import contextmanager

import torch
from torch import Tensor, nn

__all__ = [
    "check_images",
    "class_maps",
    "classes",
    "finish",
    "input_gradients",
    "layer_activation",
    "layer_gradients",
    "relu_rule",
    "resolve",
    "scores",
]

Layer = str | nn.Module
Target = None | int | Sequence[int] | Tensor | Callable[[Tensor], Tensor]

# ---------------------------------------------------------------- layers ----


def resolve(model: nn.Module, layer: Layer, what: str = "layer") -> nn.Module:
    """Return the module `layer` of `model` (a module of the model, or its dotted name)."""
    if isinstance(layer, nn.Module):
        if any(m is layer for m in model.modules()):
            return layer
        raise ValueError(
            f"the {what} {type(layer).__name__} is not a module of this model; pass a "
            f"submodule of the model itself (e.g. model.layer4) or its dotted name"
        )
    if not isinstance(layer, str):
        raise TypeError(
            f"{what} must be a module of the model or its dotted name, got "
            f"{type(layer).__name__}; pass e.g. 'layer4' or model.layer4 "
            f"(list the names with dict(model.named_modules()).keys())"
        )
    modules = dict(model.named_modules())
    if layer and layer in modules:
        return modules[layer]
    names = [n for n in modules if n]
    close = difflib.get_close_matches(layer, names, n=5, cutoff=0.5) or names[-5:]
    raise ValueError(
        f"unknown {what} name {layer!r}: the model has no module by that name; use a dotted "
        f"name from model.named_modules(), for example one of the closest: "
        + ", ".join(repr(n) for n in close)
    )


def _name(model: nn.Module, module: nn.Module) -> str:
    return next((n for n, m in model.named_modules() if m is module), type(module).__name__)


@contextmanager
def _hooked(model: nn.Module, layer: Layer, grad: bool):
    """Register a forward hook on `layer` that stores its output A in a dict; always remove it.

    The layer's output is detached and stored as A (requiring grad when
    `grad`), and the rest of the network gets a copy of it, so an in-place
    operation after the layer (an `nn.ReLU(inplace=True)`) cannot change A.
    With `grad`, recording starts at this point of the forward pass: the
    graph holds exactly the path from A to the scores.
    """
    module = resolve(model, layer)
    name = _name(model, module)
    store: dict = {"name": name}

    def hook(mod, inputs, out):
        if "A" in store:
            raise ValueError(
                f"layer {name!r} runs more than once in one forward pass (the module is "
                f"reused), so its output is ambiguous; hook a module that runs once, such "
                f"as its parent block"
            )
        if not (torch.is_tensor(out) and out.dim() == 4):
            shape = tuple(out.shape) if torch.is_tensor(out) else type(out).__name__
            raise ValueError(
                f"layer {name!r} returned {shape}, not a 4-D feature map (N, C, h, w); pick a "
                f"convolutional layer before the pooling/flatten step, e.g. the last conv block "
                f"('layer4' in a torchvision ResNet, the last ReLU of 'features' in a VGG)"
            )
        A = out.detach()
        if grad:
            A.requires_grad_(True)
            torch.set_grad_enabled(True)  # record from here; the caller's no_grad restores it
        store["A"] = A
        return A.clone()

    handle = module.register_forward_hook(hook)
    try:
        yield store
    finally:
        handle.remove()


def _forward(model: nn.Module, images: Tensor, layer: Layer, grad: bool):
    check_images(model, images)
    with _hooked(model, layer, grad) as store, torch.no_grad():
        logits = model(images)
    if "A" not in store:
        raise ValueError(
            f"layer {store['name']!r} did not run in model(images); "
            f"pick a module that the forward pass calls (see print(model))"
        )
    return store["A"], logits, store["name"]


# ---------------------------------------------------------------- inputs ----


def check_images(model: nn.Module, images) -> None:
    """Raise a clear error unless `images` is a float tensor (N, C, H, W) on the model's device."""
    if not torch.is_tensor(images):
        raise TypeError(
            f"images must be a torch.Tensor (N, C, H, W), got {type(images).__name__}; "
            f"convert with torch.as_tensor(...) or stack a list with torch.stack(...)"
        )
    if images.dim() != 4:
        fix = "add the batch axis with images.unsqueeze(0)" if images.dim() == 3 else "reshape"
        raise ValueError(
            f"images must be a 4-D tensor (N, C, H, W), got shape {tuple(images.shape)}; {fix}"
        )
    if not images.is_floating_point():
        raise TypeError(
            f"images must be a float tensor, got dtype {images.dtype}; convert with "
            f"images.float() (scaled and normalized the way the model was trained)"
        )
    p = next(model.parameters(), None)
    if p is not None and p.device != images.device:
        raise ValueError(
            f"images are on {images.device} but the model is on {p.device}; "
            f"move one of them, e.g. images.to({str(p.device)!r})"
        )


def classes(target: Target, logits: Tensor) -> Tensor:
    """Class indices for `target`: LongTensor (N,) or (N, T), checked against the logits.

    None gives each image's predicted class (argmax of the logits), an int
    one class for all images, a sequence or LongTensor of N classes one class
    per image, a LongTensor (N, T) T classes per image.
    """
    _check_logits(logits)
    n, num_classes = logits.shape
    if target is None:
        return logits.detach().argmax(dim=1)
    if callable(target) and not torch.is_tensor(target):
        raise TypeError(
            "this method needs class indices, and a callable target defines a score, not a "
            "class; pass class indices, or use grad_cam / grad_cam_pp / counterfactual"
        )
    if isinstance(target, bool) or (torch.is_tensor(target) and target.dtype == torch.bool):
        raise TypeError("target must be class indices, got bools; pass ints or a LongTensor")
    if isinstance(target, numbers.Integral):
        idx = torch.full((n,), int(target), dtype=torch.long)
    else:
        try:
            idx = torch.as_tensor(target.detach() if torch.is_tensor(target) else target)
        except (TypeError, ValueError, RuntimeError) as err:
            raise TypeError(
                f"target {target!r} is not class indices ({err}); pass None, an int, N ints, "
                f"a LongTensor (N,) or (N, T), or a callable logits -> Tensor[N]"
            ) from None
        if idx.is_floating_point() or idx.is_complex():
            raise TypeError(
                f"target must hold integer class indices, got dtype {idx.dtype}; "
                f"convert with target.long()"
            )
        if idx.dim() == 0:
            idx = idx.expand(n)
        elif idx.dim() > 2 or idx.shape[0] != n:
            raise ValueError(
                f"target has shape {tuple(idx.shape)} for {n} images; pass one class per image "
                f"(length {n}), an int for all images, or a LongTensor ({n}, T) for T classes "
                f"per image"
            )
    idx = idx.to(device=logits.device, dtype=torch.long)
    bad = (idx < 0) | (idx >= num_classes)
    if bad.any():
        raise ValueError(
            f"target class {int(idx[bad][0])} is outside [0, {num_classes}): the model has "
            f"{num_classes} classes; pass class indices from 0 to {num_classes - 1}"
        )
    return idx


def _check_logits(logits) -> None:
    if not (torch.is_tensor(logits) and logits.dim() == 2):
        shape = tuple(logits.shape) if torch.is_tensor(logits) else type(logits).__name__
        raise ValueError(
            f"the model returned {shape}, not logits (N, num_classes); wrap the model so that "
            f"it returns the class scores, or pass a callable target that picks the score"
        )


def scores(logits, target: Target) -> tuple[Tensor, bool]:
    """The scores S (N, T) to explain, and whether the caller asked for T classes per image.

    A callable target is any differentiable score `logits -> Tensor[N]`;
    every other target picks raw class scores (logits, before softmax).
    """
    if callable(target) and not torch.is_tensor(target):
        s = target(logits)
        n = len(logits) if torch.is_tensor(logits) else "N"
        if not torch.is_tensor(s):
            raise TypeError(
                f"the callable target returned {type(s).__name__}, not a Tensor; return one "
                f"score per image, a tensor of shape (N,), e.g. lambda logits: logits[:, 3]"
            )
        if s.dim() != 1 or (torch.is_tensor(logits) and s.shape[0] != n):
            raise ValueError(
                f"the callable target returned shape {tuple(s.shape)}, expected ({n},), one "
                f"score per image; do not sum or keep extra axes, e.g. "
                f"lambda logits: logits[:, 3] - logits[:, 5]"
            )
        return s[:, None], False
    idx = classes(target, logits)
    return logits.gather(1, idx.view(len(logits), -1)), idx.dim() == 2


# ------------------------------------------------------------- gradients ----


def layer_activation(model: nn.Module, images: Tensor, layer: Layer) -> tuple[Tensor, Tensor]:
    """One forward pass without any graph: the layer's output A (N, K, h, w), the model's output."""
    with torch.inference_mode(False):
        A, logits, _ = _forward(model, images, layer, grad=False)
    return A, logits


def _grads(S: Tensor, x: Tensor, what: str):
    """Yield dS_t/dx for each column t of S (N, T), one backward pass each.

    Summing S_t over the batch gives every image its own gradient, as long
    as the images do not interact (eval mode). The graph is kept until the last.
    """
    message = f"the score does not depend on {what}; pick a layer on the path to the logits"
    if not S.requires_grad:
        raise ValueError(message)
    T = S.shape[1]
    for t in range(T):
        (g,) = torch.autograd.grad(S[:, t].sum(), x, retain_graph=t < T - 1, allow_unused=True)
        if g is None:
            raise ValueError(message)
        yield g


def _layer_scores(model, images, layer, target):
    """A with the graph from A to the scores S, from one forward pass: (A, S, per_class, grads)."""
    A, logits, name = _forward(model, images, layer, grad=True)
    with torch.enable_grad():
        S, per_class = scores(logits, target)
    return A, S, per_class, _grads(S, A, f"the output of layer {name!r}")


def class_maps(L: Callable, model: nn.Module, images: Tensor, layer: Layer, target: Target):
    """L(A, dS/dA) for each class the target asks for, all from one forward pass.

    L gets the layer's output A and the gradient dS/dA of one class score per
    image, both (N, K, h, w), and returns maps (N, h, w); one class at a time
    keeps every intermediate the size of A. Returns (N, h, w), or
    (N, T, h, w) for a target of T classes per image.
    """
    with torch.inference_mode(False):
        A, _, per_class, grads = _layer_scores(model, images, layer, target)
        maps = [L(A.detach(), dS_dA) for dS_dA in grads]
    return finish(torch.stack(maps, dim=1), per_class)


def layer_gradients(model: nn.Module, images: Tensor, layer: Layer, target: Target):
    """The layer's output A (N, K, h, w) and dS/dA (N, T, K, h, w) of T scores, one forward pass."""
    with torch.inference_mode(False):
        A, _, _, grads = _layer_scores(model, images, layer, target)
        return A.detach(), torch.stack(list(grads), dim=1)


def input_gradients(model: nn.Module, images: Tensor, target: Target, rule: str | None = None):
    """dS/dx for the input x (a detached copy of images): (N, C, H, W), or (N, T, C, H, W).

    `rule` None is plain backprop; "guided" and "deconvnet" swap the ReLU
    backward rule for the duration of the call (see `relu_rule`).
    """
    check_images(model, images)
    with torch.inference_mode(False):
        x = images.detach().clone().requires_grad_(True)
        with relu_rule(model, rule), torch.enable_grad():
            S, per_class = scores(model(x), target)
            dS_dx = torch.stack(list(_grads(S, x, "the input")), dim=1)
    return finish(dS_dx, per_class)


def finish(maps: Tensor, per_class: bool) -> Tensor:
    """Maps as the user gets them: detached float32, without the class axis for one class."""
    maps = maps.detach().float()
    return maps if per_class else maps.squeeze(1)


# --------------------------------------------------- ReLU backward rules ----


class _GuidedReLU(torch.autograd.Function):
    """Guided backprop (Springenberg et al. 2014): R^l = 1[f^l > 0] 1[R^{l+1} > 0] R^{l+1}."""

    @staticmethod
    def forward(ctx, f):
        out = f.clamp(min=0)
        ctx.save_for_backward(out)  # out > 0 exactly where f > 0
        return out

    @staticmethod
    def backward(ctx, R):
        (out,) = ctx.saved_tensors
        return torch.where(out > 0, R, 0.0).clamp_(min=0)


class _DeconvReLU(torch.autograd.Function):
    """Deconvnet (Zeiler & Fergus 2014): R^l = 1[R^{l+1} > 0] R^{l+1}."""

    @staticmethod
    def forward(ctx, f):
        return f.clamp(min=0)

    @staticmethod
    def backward(ctx, R):
        return R.clamp(min=0)


_RULES = {"guided": _GuidedReLU, "deconvnet": _DeconvReLU}
_NO_FORWARD = object()


@contextmanager
def relu_rule(model: nn.Module, rule: str | None):
    """Within the block, every nn.ReLU of `model` computes max(f, 0) with the backward `rule`.

    Each ReLU's `forward` is replaced by an autograd.Function that never
    writes in place, so in-place ReLUs work; the modules, their `inplace`
    flags and the model's hooks are untouched, and every `forward` is
    restored on exit, also after an error. F.relu calls inside a model's
    forward are not modules and keep their ordinary gradient.
    """
    if rule is None:
        yield
        return
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    if not relus:
        raise ValueError(
            f"the model has no nn.ReLU module, so there is no ReLU backward rule to change for "
            f"{rule!r}; build it with nn.ReLU modules instead of F.relu / torch.relu calls"
        )
    saved = [(m, m.__dict__.get("forward", _NO_FORWARD)) for m in relus]
    try:
        for m in relus:
            m.forward = _RULES[rule].apply
        yield
    finally:
        for m, forward in saved:
            if forward is _NO_FORWARD:
                del m.forward
            else:
                m.forward = forward

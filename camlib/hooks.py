"""The one hook mechanism behind every method in camlib.

- `resolve` finds a layer, given as a module of the model or a dotted name
  from `model.named_modules()`.
- `class_maps` runs one forward pass with a forward hook on the layer (in
  eval mode `CHUNK` images at a time, see `batches`: the same outputs, faster). The
  hook keeps the layer's output A; then dS/dA of each requested score S is
  taken with `torch.autograd.grad` on A only, one class at a time, and handed
  to the method's formula. No parameter's `.grad` is written and no gradient
  is computed for the input. The forward pass records no graph before the
  layer (nothing there is needed), so it also works when every parameter is
  frozen. `layer_activation` is the same pass without gradients (CAM).
- `split_at` is the same pass without gradients, returning also a function
  that runs only the part of the network after the layer on edited maps
  (Ablation-CAM): the layer's output is replaced by the edited batch, and
  everything before the layer runs on an empty batch.
- Token layers: a layer output (N, T, D) of a vision transformer is read as
  maps (N, D, h, w) through `reshape` (see `Grid`); the rest of the network
  gets the tokens back with the maps in place of the patch tokens.
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
import functools
import numbers
from collections.abc import Callable, Sequence
from contextlib import contextmanager

import torch
from torch import Tensor, nn

__all__ = [
    "Grid",
    "batches",
    "check_images",
    "class_maps",
    "classes",
    "finish",
    "input_gradients",
    "layer_activation",
    "layer_gradients",
    "outputs",
    "relu_rule",
    "resolve",
    "score_fn",
    "scores",
    "split_at",
]

Layer = str | nn.Module
Target = None | int | Sequence[int] | Tensor | Callable[[Tensor], Tensor]
Reshape = None | tuple[int, int] | Callable[[Tensor], Tensor]

MAX_EXTRA_TOKENS = 16  # leading class/register tokens a `reshape=(h, w)` drops, at most
CHUNK = 32  # images per forward pass of a model in eval mode (see `batches`)

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


class Grid:
    """How a layer's output becomes the maps A (N, K, h, w), and how maps go back in its place.

    `reshape` None: the output must be a feature map (N, C, h, w) and is A itself.
    `reshape=(h, w)`: the output is tokens (N, T, D) whose last h*w tokens are the patches in
    row-major order; the leading T - h*w (class, register) tokens, fewer than the patches and at
    most MAX_EXTRA_TOKENS, are dropped from A and handed unchanged to the rest of the network.
    `reshape` callable: `tokens -> (N, D, h, w)` that only picks and rearranges elements (like
    pytorch-grad-cam's reshape_transform); maps go back through its transpose (its vector-Jacobian
    product), so the gradient at A is the callable applied to the gradient at the tokens.
    """

    def __init__(self, name: str, reshape: Reshape = None):
        if reshape is not None and not callable(reshape):
            ok = isinstance(reshape, Sequence) and len(reshape) == 2
            if not ok or not all(isinstance(v, numbers.Integral) and v > 0 for v in reshape):
                raise TypeError(
                    f"reshape must be None, the patch grid (h, w) as two positive ints, or a "
                    f"callable tokens -> (N, D, h, w), got {reshape!r}; e.g. reshape=(14, 14) "
                    f"for a ViT-B/16 at 224x224"
                )
            reshape = (int(reshape[0]), int(reshape[1]))
        self.name, self.reshape = name, reshape

    def to_map(self, out) -> Tensor:
        """The maps A (N, K, h, w) in the layer's output `out`, with a clear error otherwise."""
        name, reshape = self.name, self.reshape
        shape = tuple(out.shape) if torch.is_tensor(out) else type(out).__name__
        if reshape is None:
            if torch.is_tensor(out) and out.dim() == 4:
                return out
            if torch.is_tensor(out) and out.dim() == 3:
                raise ValueError(
                    f"layer {name!r} returned {shape}, tokens (N, T, D), not a 4-D feature map "
                    f"(N, C, h, w); pass reshape=(h, w), the patch grid of its last h*w tokens "
                    f"(row-major, leading class/register tokens are dropped), or "
                    f"reshape=callable tokens -> (N, D, h, w)"
                )
            raise ValueError(
                f"layer {name!r} returned {shape}, not a 4-D feature map (N, C, h, w); pick a "
                f"convolutional layer before the pooling/flatten step, e.g. the last conv block "
                f"('layer4' in a torchvision ResNet, the last ReLU of 'features' in a VGG)"
            )
        if callable(reshape):
            if not torch.is_tensor(out):
                raise ValueError(f"layer {name!r} returned {shape}, not a tensor; hook another one")
            A = reshape(out)
            if not (torch.is_tensor(A) and A.dim() == 4 and len(A) == len(out)):
                got = tuple(A.shape) if torch.is_tensor(A) else type(A).__name__
                raise ValueError(
                    f"reshape returned {got} for the output {shape} of layer {name!r}, not maps "
                    f"(N, D, h, w) with N = {len(out)}; return e.g. "
                    f"tokens[:, 1:].reshape(N, h, w, D).permute(0, 3, 1, 2)"
                )
            return A
        h, w = reshape
        if not (torch.is_tensor(out) and out.dim() == 3):
            raise ValueError(
                f"reshape=({h}, {w}) is for token outputs (N, T, D), but layer {name!r} returned "
                f"{shape}; drop reshape for a feature map (N, C, h, w), or pass a callable "
                f"that turns this output into (N, D, h, w)"
            )
        T = out.shape[1]
        extra = T - h * w
        if not 0 <= extra <= min(MAX_EXTRA_TOKENS, h * w - 1):
            raise ValueError(
                f"reshape=({h}, {w}) asks for {h * w} patch tokens, but layer {name!r} returned "
                f"{T} tokens {shape}: a grid must cover the last h*w tokens, leaving fewer "
                f"leading class/register tokens than patches and at most {MAX_EXTRA_TOKENS} "
                f"(here {extra}); pass the model's patch grid (image size / patch size per side)"
            )
        return out[:, extra:].transpose(1, 2).reshape(len(out), out.shape[2], h, w)

    def to_output(self, A: Tensor, out: Tensor) -> Tensor:
        """A new layer output: `out` (same batch as A) with the maps A in place of its own.

        Always a fresh tensor, so an in-place operation after the layer cannot change A.
        """
        if self.reshape is None:
            return A.clone()
        if callable(self.reshape):  # out + R^T(A - R(out)): exact for a pick-and-rearrange R
            delta = A - self.reshape(out.detach())
            with torch.enable_grad():
                u = out.detach().requires_grad_(True)
                (back,) = torch.autograd.grad(
                    self.reshape(u), u, delta, create_graph=delta.requires_grad
                )
            return out.detach() + back
        extra = out.shape[1] - A.shape[2] * A.shape[3]
        return torch.cat([out[:, :extra].detach(), A.flatten(2).transpose(1, 2)], dim=1)


@contextmanager
def _hooked(model: nn.Module, layer: Layer, grad: bool, reshape: Reshape = None, replace=None):
    """Register a forward hook on `layer` that stores its maps A in a dict; always remove it.

    The layer's output is read as maps A (see `Grid`), detached and stored
    (requiring grad when `grad`), and the rest of the network gets a fresh
    copy, so an in-place operation after the layer (an `nn.ReLU(inplace=True)`)
    cannot change A. With `grad`, recording starts at this point of the
    forward pass: the graph holds exactly the path from A to the scores.
    With `replace`, the rest of the network gets `replace(out)` instead (the
    output checked as maps first): the one way camlib edits a layer's output.
    """
    module = resolve(model, layer)
    name = _name(model, module)
    grid = Grid(name, reshape)
    store: dict = {"name": name, "grid": grid}

    def hook(mod, inputs, out):
        if "A" in store:
            raise ValueError(
                f"layer {name!r} runs more than once in one forward pass (the module is "
                f"reused), so its output is ambiguous; hook a module that runs once, such "
                f"as its parent block"
            )
        A = grid.to_map(out.detach() if torch.is_tensor(out) else out).detach()
        if replace is not None:
            store["A"] = A
            return replace(out.detach())
        if grad:
            A.requires_grad_(True)
            torch.set_grad_enabled(True)  # record from here; the caller's no_grad restores it
        store["A"], store["out"] = A, out.detach()
        return grid.to_output(A, out.detach())

    handle = module.register_forward_hook(hook)
    try:
        yield store
    finally:
        handle.remove()


def batches(model: nn.Module, n: int) -> list[slice]:
    """The slices of a batch of n images that go through the model one after another.

    In eval mode the images of a batch do not interact, so running `CHUNK` of them at a time
    gives each image the outputs of one big batch (bit for bit on the course's CPU kernels) and
    is faster: the activations stay in the CPU's cache (2x for the course's networks on
    ToyPets). A model with any module in training mode gets the whole batch at once, because
    there BatchNorm's statistics depend on which images share the batch.
    """
    if any(m.training for m in model.modules()):
        return [slice(0, n)]
    return [slice(i, min(i + CHUNK, n)) for i in range(0, n, CHUNK)]


@torch.no_grad()
def outputs(model: nn.Module, images: Tensor) -> Tensor:
    """model(images) without a graph, the batch run in `batches`: the outputs joined."""
    return torch.cat([model(images[part]) for part in batches(model, len(images))])


def _forward(model: nn.Module, images: Tensor, layer: Layer, grad: bool, reshape: Reshape = None):
    """The layer's maps A, the logits and the hook's store, the batch run in `batches`.

    With `grad`, store["leaves"] holds each slice's A (the tensors the graph starts from) and
    the logits are joined with their graph, so a score of the whole batch has dS/dA by slice.
    """
    check_images(model, images)
    parts, logits = [], []
    for part in batches(model, len(images)):
        with _hooked(model, layer, grad, reshape) as store, torch.no_grad():
            logits.append(model(images[part]))
        if "A" not in store:
            raise ValueError(
                f"layer {store['name']!r} did not run in model(images); "
                f"pick a module that the forward pass calls (see print(model))"
            )
        parts.append(store)
    if len(parts) == 1:
        store["leaves"] = [store["A"]]
        return store["A"], logits[0], store
    with torch.set_grad_enabled(grad):
        logits = torch.cat(logits)
    store["leaves"] = [p["A"] for p in parts]
    store["out"] = torch.cat([p["out"] for p in parts])
    A = torch.cat([a.detach() for a in store["leaves"]])
    return A, logits, store


# ---------------------------------------------------------------- inputs ----


def check_images(model: nn.Module, images) -> None:
    """Raise a clear error unless `images` is a finite float tensor (N, C, H, W), N > 0, on the
    model's device."""
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
    if len(images) == 0:
        raise ValueError(
            f"images is an empty batch, shape {tuple(images.shape)}; pass at least one image "
            f"(check the slice or the data loader that produced it)"
        )
    finite = torch.isfinite(images)
    if not bool(finite.all()):
        bad = int((~finite).sum())
        raise ValueError(
            f"images hold NaN or infinity ({bad} of {images.numel()} values), so every map "
            f"would be NaN; fix the preprocessing (a division by a zero std?) or replace them, "
            f"e.g. torch.nan_to_num(images)"
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


def score_fn(target: Target, logits: Tensor) -> tuple[Callable[[Tensor], Tensor], bool]:
    """(f, per_class): f(z) the scores (N, T) that `target` picks from logits z (N, classes).

    For methods that score edited copies of the N images (Score-CAM, Ablation-CAM): class
    indices (None: the classes predicted in `logits`) are resolved once, on the model's own
    logits; a callable target is applied to each block z of N rows, in the images' order.
    """
    if callable(target) and not torch.is_tensor(target):
        scores(logits, target)  # check the callable once, on the real logits
        return (lambda z: scores(z, target)[0]), False
    idx = classes(target, logits)
    per_class = idx.dim() == 2
    idx = idx.view(len(logits), -1)
    return (lambda z: z.gather(1, idx)), per_class


# ------------------------------------------------------------- gradients ----


def layer_activation(model: nn.Module, images: Tensor, layer: Layer, reshape: Reshape = None):
    """One forward pass without any graph: the layer's maps A (N, K, h, w), the model's output."""
    with torch.inference_mode(False):
        A, logits, _ = _forward(model, images, layer, grad=False, reshape=reshape)
    return A, logits


def split_at(model: nn.Module, images: Tensor, layer: Layer, reshape: Reshape = None):
    """One forward pass without any graph: (A, logits, after), A the layer's maps (N, K, h, w).

    `after(maps)` runs only the network after the layer, on maps (B*N, K, h, w) holding B
    edited copies of A (copy b of image n at b*N + n), and returns their logits (B*N, classes).
    The hook replaces the layer's output by the edited batch while the model runs on an empty
    batch, so nothing before the layer runs again. A model where that fails (a skip connection
    around the layer needs the layer's input at full batch) is run on B copies of the images
    instead: slower, the same logits. `maps` is handed to the network as it is (an in-place
    operation after the layer may change it): pass a tensor that is not needed again.
    """
    with torch.inference_mode(False):
        A, logits, store = _forward(model, images, layer, grad=False, reshape=reshape)
    grid, out, n = store["grid"], store["out"], len(images)
    path = {"fast": True, "proven": False}

    def edited(maps: Tensor, fresh: bool) -> Tensor:
        """The layer output for `maps`; a feature map is handed over as it is unless `fresh`."""
        if grid.reshape is None:
            return maps.clone() if fresh else maps
        return grid.to_output(maps, out.repeat(len(maps) // n, *[1] * (out.dim() - 1)))

    def after(maps: Tensor) -> Tensor:
        with torch.inference_mode(False), torch.no_grad():
            if path["fast"]:
                # Until the shortcut has worked once, it gets a copy: a failed try may have
                # changed its input in place before raising.
                output = edited(maps, fresh=not path["proven"])
                try:
                    with _hooked(model, layer, False, reshape, lambda _: output):
                        z = model(images[:0])
                    if torch.is_tensor(z) and z.shape == (len(maps), logits.shape[1]):
                        path["proven"] = True
                        return z
                except (RuntimeError, IndexError, ValueError):
                    pass  # the network uses its input's batch past the layer (ACoL's erasing)
                path["fast"] = False
            output = edited(maps, fresh=True)
            with _hooked(model, layer, False, reshape, lambda _: output):
                return model(images.repeat(len(maps) // n, 1, 1, 1))

    return A, logits, after


def _grads(S: Tensor, leaves: list[Tensor], what: str):
    """Yield dS_t/dx for each column t of S (N, T), one backward pass each.

    x is the batch's leaves joined (one per slice of `batches`). Summing S_t over the batch
    gives every image its own gradient, as long as the images do not interact (eval mode).
    The graph is kept until the last.
    """
    message = f"the score does not depend on {what}; pick a layer on the path to the logits"
    if not S.requires_grad:
        raise ValueError(message)
    T = S.shape[1]
    for t in range(T):
        gs = torch.autograd.grad(S[:, t].sum(), leaves, retain_graph=t < T - 1, allow_unused=True)
        if all(g is None for g in gs):
            raise ValueError(message)
        gs = [torch.zeros_like(x) if g is None else g for g, x in zip(gs, leaves)]
        yield gs[0] if len(gs) == 1 else torch.cat(gs)


def _layer_scores(model, images, layer, target, reshape=None):
    """A with the graph from A to the scores S, from one forward pass: (A, S, per_class, grads)."""
    A, logits, store = _forward(model, images, layer, grad=True, reshape=reshape)
    with torch.enable_grad():
        S, per_class = scores(logits, target)
    return A, S, per_class, _grads(S, store["leaves"], f"the output of layer {store['name']!r}")


def class_maps(
    L: Callable,
    model: nn.Module,
    images: Tensor,
    layer: Layer,
    target: Target,
    reshape: Reshape = None,
):
    """L(A, dS/dA) for each class the target asks for, all from one forward pass.

    L gets the layer's output A and the gradient dS/dA of one class score per
    image, both (N, K, h, w), and returns maps (N, h, w); one class at a time
    keeps every intermediate the size of A. Returns (N, h, w), or
    (N, T, h, w) for a target of T classes per image.
    """
    with torch.inference_mode(False):
        A, _, per_class, grads = _layer_scores(model, images, layer, target, reshape)
        maps = [L(A.detach(), dS_dA) for dS_dA in grads]
    return finish(torch.stack(maps, dim=1), per_class)


def layer_gradients(
    model: nn.Module, images: Tensor, layer: Layer, target: Target, reshape: Reshape = None
):
    """The layer's output A (N, K, h, w) and dS/dA (N, T, K, h, w) of T scores, one forward pass."""
    with torch.inference_mode(False):
        A, _, _, grads = _layer_scores(model, images, layer, target, reshape)
        return A.detach(), torch.stack(list(grads), dim=1)


def input_gradients(model: nn.Module, images: Tensor, target: Target, rule: str | None = None):
    """dS/dx for the input x (a detached copy of images): (N, C, H, W), or (N, T, C, H, W).

    `rule` None is plain backprop; "guided" and "deconvnet" swap the ReLU
    backward rule for the duration of the call (see `relu_rule`).
    """
    check_images(model, images)
    with torch.inference_mode(False):
        xs = [
            images[part].detach().clone().requires_grad_(True)
            for part in batches(model, len(images))
        ]
        with relu_rule(model, rule), torch.enable_grad():
            logits = [model(x) for x in xs]
            S, per_class = scores(logits[0] if len(xs) == 1 else torch.cat(logits), target)
            grads = list(_grads(S, xs, "the input"))
            dS_dx = grads[0][:, None] if len(grads) == 1 else torch.stack(grads, dim=1)
    return finish(dS_dx, per_class)


def finish(maps: Tensor, per_class: bool) -> Tensor:
    """Maps as the user gets them: detached float32, without the class axis for one class."""
    maps = maps.detach().float()
    return maps if per_class else maps.squeeze(1)


# --------------------------------------------------- ReLU backward rules ----


class _GuidedReLU(torch.autograd.Function):
    """Guided backprop (Springenberg et al. 2014): R^l = 1[f^l > 0] 1[R^{l+1} > 0] R^{l+1}.

    The forward writes in place exactly when the module would (`inplace`), and saves only its
    output (out > 0 exactly where f > 0); the backward is ReLU's own masked copy of R (one new
    tensor) clamped in place: the same memory traffic as a plain ReLU, plus one pass.
    """

    @staticmethod
    def forward(ctx, f, inplace=False):
        if inplace:
            out = f.clamp_(min=0)
            ctx.mark_dirty(f)
        else:
            out = f.clamp(min=0)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, R):
        (out,) = ctx.saved_tensors
        return torch.ops.aten.threshold_backward(R, out, 0).clamp_(min=0), None


class _DeconvReLU(torch.autograd.Function):
    """Deconvnet (Zeiler & Fergus 2014): R^l = 1[R^{l+1} > 0] R^{l+1}."""

    @staticmethod
    def forward(ctx, f, inplace=False):
        if inplace:
            ctx.mark_dirty(f)
            return f.clamp_(min=0)
        return f.clamp(min=0)

    @staticmethod
    def backward(ctx, R):
        return R.clamp(min=0), None


_RULES = {"guided": _GuidedReLU, "deconvnet": _DeconvReLU}
_NO_FORWARD = object()


@contextmanager
def relu_rule(model: nn.Module, rule: str | None):
    """Within the block, every nn.ReLU of `model` computes max(f, 0) with the backward `rule`.

    Each ReLU's `forward` is replaced by an autograd.Function that writes in
    place exactly when the module's `inplace` flag says so (as the model
    itself would); the modules, their `inplace` flags and the model's hooks
    are untouched, and every `forward` is restored on exit, also after an
    error. F.relu calls inside a model's forward are not modules and keep
    their ordinary gradient.
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
            m.forward = functools.partial(_RULES[rule].apply, inplace=bool(m.inplace))
        yield
    finally:
        for m, forward in saved:
            if forward is _NO_FORWARD:
                del m.forward
            else:
                m.forward = forward

"""ACoL helpers: class maps of an `ACoLNet` for chosen classes, and the delta-sweep models.

    out = acol.class_maps(model, images, target)   # dict of (N, h, w) maps: "a", "b", "fused"
    model = acol.load_delta(0.4)                    # the shipped ACoL trained with delta = 0.4

The network itself is `camlib.models.ACoLNet`. Its maps come straight out of the forward pass
(`forward_maps`); these helpers only pick one class per image and batch the work.
"""

from __future__ import annotations

import torch

from . import hooks, models

# delta values of the shipped sweep: 0.6 is the recipe "acol", the others "acol_d<delta>";
# at 1.0 only the peak of A's map is erased, so B sees almost the same features as A
SWEEP = (0.4, 0.6, 0.8, 1.0)


def sweep_name(delta: float) -> str:
    """Model name for the ACoL trained with erasing threshold `delta` ("acol" for the recipe's)."""
    if delta == models.RECIPES["acol"]["delta"]:
        return "acol"
    return f"acol_d{delta:g}"


def train_delta(delta: float, **kwargs):
    """Train the ACoL recipe with another erasing threshold: `models.train("acol", delta=...)`."""
    return models.train("acol", delta=delta, **kwargs)


def load_delta(delta: float, device: str | torch.device = "cpu") -> models.ACoLNet:
    """The shipped ACoL trained with erasing threshold `delta` (eval mode, checksum verified)."""
    name = sweep_name(delta)
    if name not in models.available():
        raise ValueError(
            f"no shipped model {name!r}: train it with "
            f"`model, result = camlib.acol.train_delta({delta})` and keep it with "
            f"`camlib.models.save({name!r}, model, result)`"
        )
    return models.load(name, device)  # builds ACoLNet with the manifest's delta, checks sha256


@torch.no_grad()
def class_maps(
    model: models.ACoLNet, images: torch.Tensor, target=None, batch: int = hooks.CHUNK
) -> dict:
    """A's, B's and the fused class maps (N, h, w) for one class per image, from the forward pass.

    `target`: None (A's prediction drives the erasing, as at test time without labels) or N
    class indices, which then drive the erasing too (the authors' evaluation passes the
    ground-truth label). "a" and "b" are the raw 1x1-conv outputs (bias included), "fused" the
    element-wise max of their min-max normalised versions. Also returns "erased" (N, h, w),
    "target" (N,), "logits_a" and "logits_b" (N, C); A's logits never depend on `target`.
    """
    model.eval()
    parts = []
    for i in range(0, len(images), batch):
        y = None if target is None else torch.as_tensor(target)[i : i + batch].to(images.device)
        out = model.forward_maps(images[i : i + batch], y)
        rows = torch.arange(len(out["target"]), device=images.device)
        c = out["target"]
        parts.append(
            dict(
                a=out["maps_a"][rows, c],
                b=out["maps_b"][rows, c],
                fused=out["fused"][rows, c],
                erased=out["erased"],
                target=c,
                logits_a=out["logits_a"],
                logits_b=out["logits_b"],
            )
        )
    return {k: torch.cat([p[k] for p in parts]) for k in parts[0]}


@torch.no_grad()
def accuracies(
    model: models.ACoLNet, images: torch.Tensor, labels: torch.Tensor, batch: int = hooks.CHUNK
) -> dict:
    """Test-time accuracy of classifier A, of B (erasing driven by A's prediction) and of A + B.

    No labels enter the forward pass: this is what the network does on an unlabelled image.
    `model(images)` returns logits_A + logits_B, so "A + B" is `models.accuracy(model, ...)`.
    """
    model.eval()
    hits = {"A": 0, "B": 0, "A + B": 0}
    for i in range(0, len(images), batch):
        out, y = model.forward_maps(images[i : i + batch]), labels[i : i + batch]
        for key, logits in (
            ("A", out["logits_a"]),
            ("B", out["logits_b"]),
            ("A + B", out["logits_a"] + out["logits_b"]),
        ):
            hits[key] += (logits.argmax(1) == y).sum().item()
    return {k: v / len(images) for k, v in hits.items()}

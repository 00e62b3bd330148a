"""The course's model zoo: small CNNs on ToyPets, one shared backbone, different heads.

    gap       backbone -> global average pooling -> fc            (CAM works)
    gmp       backbone -> global max pooling -> fc                (Zhou et al.'s GMP baseline)
    flatten   backbone -> maxpool -> flatten -> fc -> ReLU -> fc  (VGG-style: CAM cannot be applied)
    acol      backbone -> classifiers A and B, each ending in a 1x1 conv (Zhang et al., CVPR 2018)
    gap_biased  the gap network trained on the "biased" ToyPets scenes
    acol_a    backbone -> ACoL's classifier A alone (no erasing, no B): CAM with ACoL's head
    vit       gap's frozen backbone -> 8x8 grid of tokens -> class token -> 4 transformer blocks
              -> fc on the class token (camlib.vit: a hybrid ViT)

`build(name)` makes an untrained network, `load(name)` the shipped one (checksum verified),
`train(name)` trains one with the exact recipe that produced the shipped weights.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from . import hooks, paths
from .methods import normalize
from .vit import ViT

WIDTHS = (32, 64, 128)


def backbone(widths=WIDTHS) -> nn.Sequential:
    """Six 3x3 conv-BN-ReLU blocks, two 2x2 max-pools: 64x64 input -> 128 maps of 16x16."""
    layers, c_in = [], 3
    for i, c_out in enumerate(widths):
        for _ in range(2):
            layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU()]
            c_in = c_out
        if i < len(widths) - 1:
            layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


class GapNet(nn.Module):
    """conv backbone -> GAP -> one linear layer: the architecture CAM needs.

    `cam_layer` names the activation that feeds the pooling (the last ReLU), `fc_layer` the
    linear classifier; `layers` names one shallow, one middle and the last conv activation.
    """

    cam_layer = "features.19"
    fc_layer = "fc"
    layers = {
        "shallow (64x64)": "features.5",
        "middle (32x32)": "features.12",
        "last (16x16)": "features.19",
    }

    def __init__(self, num_classes: int = 4):
        super().__init__()
        self.features = backbone()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(WIDTHS[-1], num_classes)

    def forward(self, x):
        return self.fc(self.pool(self.features(x)).flatten(1))


class GmpNet(GapNet):
    """The same network with global max pooling in place of average pooling."""

    def __init__(self, num_classes: int = 4):
        super().__init__(num_classes)
        self.pool = nn.AdaptiveMaxPool2d(1)


class FlattenNet(nn.Module):
    """The same backbone with a VGG-style head: maxpool, flatten, two fully connected layers.

    The class score depends on *where* each activation is (one weight per position), so there
    is no single weight per channel and CAM cannot be written down; Grad-CAM still works.
    """

    cam_layer = "features.19"
    fc_layer = None
    layers = GapNet.layers

    def __init__(self, num_classes: int = 4, hidden: int = 64):
        super().__init__()
        self.features = backbone()
        self.classifier = nn.Sequential(
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(WIDTHS[-1] * 8 * 8, hidden),
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x):
        return self.classifier(self.features(x))


def acol_head(c_in: int, num_classes: int, width: int = 96) -> nn.Sequential:
    """conv3x3 -> ReLU -> conv3x3 -> ReLU -> conv1x1 with one output channel per class."""
    return nn.Sequential(
        nn.Conv2d(c_in, width, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(width, width, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(width, num_classes, 1),
    )


class ACoLNet(nn.Module):
    """Adversarial Complementary Learning (Zhang et al., CVPR 2018).

    A shared backbone feeds classifier A; A's class map for the target class (the label in
    training, A's prediction otherwise), min-max normalised, erases the backbone features where
    it is >= delta; the erased features feed classifier B. Each classifier ends in a 1x1 conv
    with one channel per class, so its class maps come straight out of the forward pass, and
    its logits are their spatial means (GAP). Loss = CE(A) + CE(B); the localization map is the
    element-wise max of the two normalised maps. `forward` returns logits_A + logits_B.
    """

    cam_layer = "head_a.3"  # the activation that feeds A's 1x1 conv
    fc_layer = "head_a.4"  # A's 1x1 conv (its weights act like CAM's fc weights)
    layers = GapNet.layers

    def __init__(self, num_classes: int = 4, delta: float = 0.6):
        super().__init__()
        self.delta = delta
        self.features = backbone()
        self.head_a = acol_head(WIDTHS[-1], num_classes)
        self.head_b = acol_head(WIDTHS[-1], num_classes)

    def forward_maps(self, x, labels=None) -> dict:
        """All that ACoL computes: logits and class maps of A and B, the erase mask, fused maps."""
        feats = self.features(x)
        maps_a = self.head_a(feats)  # (N, C, h, w)
        logits_a = maps_a.mean(dim=(2, 3))
        target = logits_a.argmax(1) if labels is None else labels
        rows = torch.arange(x.shape[0], device=x.device)
        norm_a = normalize(maps_a[rows, target].detach())  # (N, h, w)
        keep = (norm_a < self.delta).to(feats.dtype)  # erase where A is confident
        maps_b = self.head_b(feats * keep[:, None])
        logits_b = maps_b.mean(dim=(2, 3))
        fused = torch.maximum(normalize(maps_a), normalize(maps_b))  # (N, C, h, w)
        return dict(
            logits_a=logits_a,
            logits_b=logits_b,
            maps_a=maps_a,
            maps_b=maps_b,
            erased=1 - keep,
            fused=fused,
            target=target,
        )

    def forward(self, x, labels=None):
        out = self.forward_maps(x, labels)
        return out["logits_a"] + out["logits_b"]

    def loss(self, x, labels):
        out = self.forward_maps(x, labels)
        return F.cross_entropy(out["logits_a"], labels) + F.cross_entropy(out["logits_b"], labels)


class HeadNet(nn.Module):
    """ACoL's classifier A alone: the backbone, A's head (conv3x3 -> ReLU -> conv3x3 -> ReLU ->
    1x1 conv with one channel per class), GAP of its class maps as logits. No erasing, no B.

    Built after the backbone in the same order as `ACoLNet`, so under one seed it starts from
    the same weights as ACoL's backbone and classifier A: trained with ACoL's recipe it is ACoL
    with B's loss removed, the like-for-like CAM baseline for ACoL's erasing.
    """

    cam_layer = "head_a.3"  # the activation that feeds the 1x1 conv
    fc_layer = "head_a.4"  # the 1x1 conv (its weights act like CAM's fc weights)
    layers = GapNet.layers

    def __init__(self, num_classes: int = 4):
        super().__init__()
        self.features = backbone()
        self.head_a = acol_head(WIDTHS[-1], num_classes)

    def forward(self, x):
        return self.head_a(self.features(x)).mean(dim=(2, 3))


ARCHS = {
    "gap": GapNet,
    "gmp": GmpNet,
    "flatten": FlattenNet,
    "acol": ACoLNet,
    "head": HeadNet,
    "vit": ViT,
}

# One recipe per shipped model: everything `train` needs to reproduce the weights.
RECIPES = {
    "gap": dict(arch="gap", scene="single", epochs=6, lr=2e-3, batch=64, n_train=2000, seed=0),
    "gmp": dict(arch="gmp", scene="single", epochs=6, lr=2e-3, batch=64, n_train=2000, seed=0),
    "flatten": dict(
        arch="flatten", scene="single", epochs=6, lr=2e-3, batch=64, n_train=2000, seed=0
    ),
    "acol": dict(
        arch="acol", scene="single", epochs=6, lr=2e-3, batch=64, n_train=2000, seed=0, delta=0.6
    ),
    "gap_biased": dict(
        arch="gap", scene="biased", epochs=4, lr=2e-3, batch=64, n_train=2000, seed=0
    ),
    # ACoL's recipe without B and its erasing: the like-for-like baseline of chapter 07
    "acol_a": dict(arch="head", scene="single", epochs=6, lr=2e-3, batch=64, n_train=2000, seed=0),
    # chapter 13's hybrid vision transformer (camlib.vit): gap's frozen backbone as patch embedding
    "vit": dict(
        arch="vit",
        stem="gap",
        backbone="gap",
        scene="single",
        epochs=2,
        lr=1e-3,
        batch=64,
        n_train=2000,
        seed=0,
    ),
}


def available() -> list[str]:
    """Names of the shipped models (those in the manifest)."""
    return sorted(_manifest().get("models", {}))


def recipe(name: str) -> dict:
    """The recipe of a model: from RECIPES, or the one the manifest records for a shipped model.

    So every shipped model, the ACoL delta sweep ("acol_d0.4", ...) included, can be rebuilt and
    retrained (`python -m camlib.train acol_d0.4`)."""
    found = RECIPES.get(name) or _manifest().get("models", {}).get(name, {}).get("recipe")
    if found is None:
        raise ValueError(
            f"unknown model {name!r}: choose one of {sorted(set(RECIPES) | set(available()))}"
        )
    return dict(found)


def build(name: str) -> nn.Module:
    """A new, untrained network for a recipe or shipped-model name ("gap", "acol_d0.4", ...)."""
    spec = recipe(name)
    kwargs = {"delta": spec["delta"]} if spec["arch"] == "acol" and "delta" in spec else {}
    if spec["arch"] == "vit" and "stem" in spec:
        kwargs = {"stem": spec["stem"]}
    return ARCHS[spec["arch"]](**kwargs)


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _manifest() -> dict:
    if not paths.MANIFEST.exists():
        return {}
    return json.loads(paths.MANIFEST.read_text())


def info(name: str) -> dict:
    """The manifest entry of a shipped model: file, sha256, recipe, metrics."""
    models = _manifest().get("models", {})
    if name not in models:
        raise ValueError(
            f"no shipped model {name!r}: available are {available()}; "
            f"train it with `python -m camlib.train {name}`"
        )
    return models[name]


def load(name: str, device: str | torch.device = "cpu") -> nn.Module:
    """The shipped model in eval mode, its weights checked against the manifest's sha256.

    The convolution weights come in channels-last memory layout (`torch.channels_last`): the
    CPU's convolution kernels then run 1.3-1.7x faster on these networks, and the outputs
    differ from the default layout's only by float rounding (about 1e-6 of their size).
    """
    entry = info(name)
    path = paths.DATA / entry["file"]
    if not path.exists():
        raise FileNotFoundError(
            f"{path} is missing: restore it with `git checkout -- {path}` "
            f"or retrain with `python -m camlib.train {name}`"
        )
    digest = sha256(path)
    if digest != entry["sha256"]:
        raise ValueError(
            f"checksum mismatch for {path}: manifest says {entry['sha256'][:12]}..., "
            f"file has {digest[:12]}...; the file is corrupt or was changed. Restore "
            f"it with `git checkout -- {path}` or retrain with "
            f"`python -m camlib.train {name}`"
        )
    model = build(name)
    model.load_state_dict(torch.load(path, map_location=device, weights_only=True))
    return model.to(device, memory_format=torch.channels_last).eval()


@torch.no_grad()
def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Share of images whose argmax logit is the label (model put in eval mode)."""
    model.eval()
    return (hooks.outputs(model, images).argmax(1) == labels).sum().item() / len(images)


def train(
    name: str,
    epochs: int | None = None,
    n_train: int | None = None,
    progress: bool = True,
    history: list | None = None,
    **overrides,
) -> tuple[nn.Module, dict]:
    """Train one model with its recipe (optionally shortened); returns (eval model, metrics).

    Deterministic given the recipe's seed: same data, same initial weights, same batch order.
    `history`: a list to which each step's training loss is appended (the loss curve).
    """
    from tqdm.auto import tqdm

    from . import data

    spec = dict(recipe(name), **overrides)
    spec["epochs"] = epochs or spec["epochs"]
    spec["n_train"] = n_train or spec["n_train"]
    torch.manual_seed(spec["seed"])
    train_set = data.split("train", scene=spec["scene"], n=spec["n_train"])
    model = build(name)
    if spec.get("backbone"):  # a frozen backbone taken from a shipped model (the hybrid vit)
        model.features.load_state_dict(load(spec["backbone"]).features.state_dict())
    if "delta" in spec and hasattr(model, "delta"):
        model.delta = spec["delta"]
    opt = torch.optim.Adam(model.parameters(), lr=spec["lr"])
    steps = spec["epochs"] * -(-len(train_set) // spec["batch"])
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=spec["lr"], total_steps=steps)
    gen = torch.Generator().manual_seed(spec["seed"])
    images, labels = train_set.images, train_set.labels
    start = time.time()
    bar = tqdm(total=steps, desc=f"train {name}", disable=not progress)
    for _ in range(spec["epochs"]):
        model.train()
        order = torch.randperm(len(images), generator=gen)
        for i in range(0, len(order), spec["batch"]):
            idx = order[i : i + spec["batch"]]
            x, y = images[idx], labels[idx]
            flip = torch.rand(len(idx), generator=gen) < 0.5  # ears are symmetric
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
            if isinstance(model, ACoLNet):
                loss = model.loss(x, y)
            else:
                loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}")
            if history is not None:
                history.append(loss.item())
    bar.close()
    model.eval()
    metrics = evaluate(model, spec["scene"])
    metrics["train_acc"] = round(accuracy(model, images, labels), 4)
    metrics["train_seconds"] = round(time.time() - start, 1)
    return model, dict(recipe=spec, metrics=metrics)


def evaluate(model: nn.Module, scene: str = "single") -> dict:
    """Test accuracy on the fixed test split (and on bias-conflicting images for biased data)."""
    from . import data

    test = data.split("test", scene="single")
    out = {"test_acc": round(accuracy(model, test.images, test.labels), 4)}
    if scene == "biased":
        agree = data.split("test", scene="biased", cue_agree=1.0)
        conflict = data.split("test", scene="biased", cue_agree=0.0)
        out["test_acc_cue_agrees"] = round(accuracy(model, agree.images, agree.labels), 4)
        out["test_acc_cue_conflicts"] = round(accuracy(model, conflict.images, conflict.labels), 4)
    return out


def save(name: str, model: nn.Module, result: dict) -> dict:
    """Write data/models/<name>.pt and its manifest entry (sha256, recipe, metrics, size)."""
    paths.MODELS.mkdir(parents=True, exist_ok=True)
    path = paths.MODELS / f"{name}.pt"
    torch.save(model.state_dict(), path)
    manifest = _manifest()
    entry = dict(
        file=str(path.relative_to(paths.DATA)),
        sha256=sha256(path),
        bytes=path.stat().st_size,
        params=sum(p.numel() for p in model.parameters()),
        **result,
    )
    manifest.setdefault("models", {})[name] = entry
    paths.MANIFEST.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return entry

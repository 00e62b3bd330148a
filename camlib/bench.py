"""How much each method costs, as a ratio to a plain forward pass timed in the same run.

    python -m camlib.bench               # about two minutes on an idle 2-core laptop
    python -m camlib.bench --quick       # 3 pairs per figure instead of 5
    python -m camlib.bench --threads 1   # force the thread count

Models: torchvision ResNet-18 (no weights) at batch 8, 224x224, layer
"layer4", fc "fc"; the course's GAP network at batch 64, 64x64, its
`cam_layer` and `fc_layer`. The rows are the methods of
`camlib.table.METHODS` that the model supports (Guided Grad-CAM is left out:
it is guided backprop times Grad-CAM, two rows already). Each figure is the
median over interleaved (method, baseline) pairs, so drift on a shared
machine cancels. The baseline of the CAM family is `model(images)` under
`torch.no_grad()`; that of guided backprop a forward pass plus a backward
pass to the input; that of Score-CAM its own N*K masked images through the
model 64 at a time (one 112x112 image on ResNet-18, 512 masked images; two
images on the GAP network), so its row measures the cost of everything else.
Targets (issues 3 and 16): the gradient methods and CAM/Eigen-CAM at most
1.15x for one class per image and 1.3x for the top-5 classes of every image
(a target of shape (N, 5); the course's networks have 4 classes, so all 4
there); Ablation-CAM 3x a forward pass; Score-CAM 1.05x its masked forward
passes; guided backprop 1.05x.

Threads: every core this process may use, or one when the machine is already
busy (1-minute load average >= cores): a parallel region on a busy machine waits
for every thread to get a time slice, and the timings become noise.

From a notebook: `rows = camlib.bench.run(quick=True)`, `print(camlib.bench.table(rows))`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
import torchvision

LIMITS = {"one class": 1.15, "top-k": 1.3, "guided": 1.05, "ablation": 3.0, "score": 1.05}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def ratio(method, baseline, pairs: int, device: torch.device) -> tuple[float, float, float]:
    """Median of t(method) / t(baseline) over interleaved pairs, and the median times in ms."""
    method(), baseline()  # warm up
    ratios, t_method, t_base = [], [], []
    for i in range(pairs):
        order = [("m", method), ("b", baseline)]
        times = {}
        for name, fn in order if i % 2 == 0 else order[::-1]:
            _sync(device)
            start = time.perf_counter()
            fn()
            _sync(device)
            times[name] = time.perf_counter() - start
        ratios.append(times["m"] / times["b"])
        t_method.append(1000 * times["m"])
        t_base.append(1000 * times["b"])
    return statistics.median(ratios), statistics.median(t_method), statistics.median(t_base)


def _calls(model, layer: str, fc: str):
    """(entry, call(images, target)) for every method of camlib.table.METHODS this model can run."""
    from camlib import table

    for entry in table.METHODS.values():
        if entry.requires == "fc":  # CAM: the benchmark names the fc of torchvision's ResNet
            yield entry, lambda x, t, e=entry: e.fn(model, x, layer, fc, t)
        elif entry.supports(model):
            yield entry, lambda x, t, e=entry: e(model, x, layer, t)


def _limit(entry, kind: str) -> tuple[str, float]:
    """The baseline and the limit of a method's row (issue 3 and issue 16)."""
    if entry.output == "pixels":
        return "forward+backward", LIMITS["guided"]
    if entry.fn.__name__ == "ablation_cam":
        return "forward", LIMITS["ablation"]
    if entry.fn.__name__ == "score_cam":
        return "masked forwards", LIMITS["score"]
    return "forward", LIMITS[kind]


def baseline_passes(model, images):
    """The two baselines a ratio is taken against: a forward pass under no_grad, and a forward
    pass plus a backward pass to the input for the predicted class (guided backprop's)."""

    def forward():
        with torch.no_grad():
            return model(images)

    def forward_backward():
        x = images.detach().requires_grad_(True)
        logits = model(x)
        return torch.autograd.grad(logits.gather(1, logits.argmax(1, keepdim=True)).sum(), x)

    return forward, forward_backward


def bench_model(
    name: str, model, images, layer: str, fc: str, pairs: int, score_images=None
) -> list[dict]:
    """One row per (method of camlib.table.METHODS, target form) on one model.

    Score-CAM runs on `score_images` (default: the first image) against its own baseline: the
    N*K masked images through the model, 64 at a time, without building the masks.
    """
    device = images.device
    forward, forward_backward = baseline_passes(model, images)
    logits = forward()
    k = min(5, logits.shape[1])
    targets = {"one class": None, f"top-{k} (N, {k})": logits.topk(k, dim=1).indices}
    score_images = images[:1] if score_images is None else score_images
    baselines = {
        "forward": forward,
        "forward+backward": forward_backward,
        "masked forwards": _masked_forwards(model, images, layer, score_images),
    }
    rows = []
    for target_name, target in targets.items():
        kind = "one class" if target is None else "top-k"
        for entry, call in _calls(model, layer, fc):
            method = entry.fn.__name__
            if entry.output == "pixels" and (entry.layer or target is not None):
                continue  # Guided Grad-CAM is guided backprop times Grad-CAM: both have rows
            if target is not None and (not entry.targeted or method == "score_cam"):
                continue  # one map for all classes; Score-CAM's cost does not depend on T
            x = score_images if method == "score_cam" else images
            base_name, limit = _limit(entry, kind)
            r, ms, base = ratio(
                lambda c=call, x=x, t=target: c(x, t), baselines[base_name], pairs, device
            )
            rows.append(_row(name, len(x), method, target_name, r, ms, base_name, base, limit))
    return rows


def _masked_forwards(model, images, layer, score_images, batch_size: int | None = None):
    """Score-CAM's masked forward passes alone: N*K images through the model, batch_size at once
    (score_cam's default, hooks.CHUNK)."""
    from camlib import hooks

    batch_size = batch_size or hooks.CHUNK
    K = hooks.layer_activation(model, score_images, layer)[0].shape[1]
    batch = score_images[:1].expand(batch_size, *score_images.shape[1:]).contiguous()
    total = len(score_images) * K

    def run():
        with torch.no_grad():
            for start in range(0, total, batch_size):
                model(batch[: min(batch_size, total - start)])

    return run


def _row(model, batch, method, target, r, ms, baseline, base_ms, limit) -> dict:
    return {
        "model": model,
        "batch": batch,
        "method": method,
        "target": target,
        "ms": ms,
        "baseline": baseline,
        "baseline_ms": base_ms,
        "ratio": r,
        "limit": limit,
        "ok": r <= limit,
    }


def default_threads() -> int:
    """Every usable core, or 1 when other jobs already keep them busy."""
    cores = len(os.sched_getaffinity(0))
    return 1 if os.getloadavg()[0] >= cores else cores


def run(quick: bool = False, device: str = "cpu", threads: int | None = None) -> list[dict]:
    """Benchmark ResNet-18 (batch 8, 224x224) and the course's GAP network (batch 64, 64x64).

    Returns one dict per row (model, batch, method, target, ms, baseline,
    baseline_ms, ratio, limit, ok). `threads` defaults to `default_threads()`;
    the thread count is restored afterwards.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(threads or default_threads())
    pairs = 3 if quick else 5
    dev = torch.device(device)
    g = torch.Generator().manual_seed(0)
    try:
        torch.manual_seed(0)
        resnet = torchvision.models.resnet18(weights=None).eval().to(dev)
        x = torch.randn(8, 3, 224, 224, generator=g).to(dev)
        one = torch.randn(1, 3, 112, 112, generator=g).to(dev)  # Score-CAM: 512 masked images
        rows = bench_model("resnet18", resnet, x, "layer4", "fc", pairs, one)
        gap = _gap_network().eval().to(dev)
        x = torch.randn(64, 3, 64, 64, generator=g).to(dev)
        rows += bench_model("gap", gap, x, gap.cam_layer, gap.fc_layer, pairs, x[:2])
    finally:
        torch.set_num_threads(before)
    return rows


def _gap_network():
    from camlib import models

    torch.manual_seed(0)
    return models.build("gap")


def table(rows: list[dict]) -> str:
    """The rows as a fixed-width text table."""
    head = ("model", "batch", "method", "target", "ms", "baseline", "ms", "ratio", "limit", "ok")
    form = "{:9} {:>5}  {:16} {:13} {:>8}  {:16} {:>8}  {:>6} {:>6}  {}"
    lines = [form.format(*head)]
    for r in rows:
        lines.append(
            form.format(
                r["model"],
                r["batch"],
                r["method"],
                r["target"],
                f"{r['ms']:.1f}",
                r["baseline"],
                f"{r['baseline_ms']:.1f}",
                f"{r['ratio']:.2f}",
                f"{r['limit']:.2f}",
                "yes" if r["ok"] else "NO",
            )
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 pairs per figure instead of 5")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--threads", type=int, default=None, help="default: default_threads()")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    threads = args.threads or default_threads()
    rows = run(quick=args.quick, device=args.device, threads=threads)
    print(table(rows))
    seconds = time.perf_counter() - start
    print(f"{threads} thread(s), torch {torch.__version__}, {args.device}, {seconds:.0f} s")
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())

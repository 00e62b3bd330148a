"""How much each method costs, as a ratio to a plain forward pass timed in the same run.

    python -m camlib.bench            # about a minute on a 2-core laptop
    python -m camlib.bench --quick    # fewer repeats

Models: torchvision ResNet-18 (no weights) at batch 8, 224x224, layer
"layer4", fc "fc"; the course's GAP network at batch 64, 64x64. Each figure
is the median over interleaved (method, baseline) pairs, so drift on a shared
machine cancels. The baseline of the CAM family is `model(images)` under
`torch.no_grad()`; that of guided backprop a forward plus a backward pass to
the input. Targets (issue 3): CAM family <= 1.15x for one class per image,
<= 1.3x for the top-5 classes (target of shape (N, 5); the course's networks
have 4 classes, so all 4 there); guided backprop <= 1.25x.

From a notebook: `rows = camlib.bench.run(quick=True)`, then `print(camlib.bench.table(rows))`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
import torchvision

from camlib import methods as cm

LIMITS = {"one class": 1.15, "top-5": 1.3, "guided": 1.25}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def ratio(method, baseline, pairs: int, device: torch.device) -> tuple[float, float, float]:
    """Median of t(method) / t(baseline) over interleaved pairs, and the median times in ms."""
    method(), baseline()  # warm up
    ratios, t_method, t_base = [], [], []
    for i in range(pairs):
        times = {}
        for name, fn in (("m", method), ("b", baseline)) if i % 2 == 0 else (("b", baseline), ("m", method)):
            _sync(device)
            start = time.perf_counter()
            fn()
            _sync(device)
            times[name] = time.perf_counter() - start
        ratios.append(times["m"] / times["b"])
        t_method.append(1000 * times["m"])
        t_base.append(1000 * times["b"])
    return statistics.median(ratios), statistics.median(t_method), statistics.median(t_base)


def bench_model(name: str, model, images, layer: str, fc: str, pairs: int) -> list[dict]:
    """One row per (method, target form) on one model."""
    device = images.device

    def forward():
        with torch.no_grad():
            return model(images)

    def forward_backward():
        x = images.detach().requires_grad_(True)
        logits = model(x)
        return torch.autograd.grad(logits.gather(1, logits.argmax(1, keepdim=True)).sum(), x)

    logits = forward()
    k = min(5, logits.shape[1])  # the course's networks have 4 classes: all of them
    topk = logits.topk(k, dim=1).indices
    calls = {
        "cam": lambda t: cm.cam(model, images, layer, fc, t),
        "grad_cam": lambda t: cm.grad_cam(model, images, layer, t),
        "grad_cam_pp": lambda t: cm.grad_cam_pp(model, images, layer, t),
        "counterfactual": lambda t: cm.counterfactual(model, images, layer, t),
    }
    rows = []
    for target_name, target in (("one class", None), (f"top-{k} (N, {k})", topk)):
        for method, call in calls.items():
            r, ms, base = ratio(lambda: call(target), forward, pairs, device)
            limit = LIMITS["one class"] if target is None else LIMITS["top-5"]
            rows.append(_row(name, len(images), method, target_name, r, ms, "forward", base, limit))
    r, ms, base = ratio(lambda: cm.guided_backprop(model, images), forward_backward, pairs, device)
    rows.append(_row(name, len(images), "guided_backprop", "one class", r, ms, "forward+backward", base, LIMITS["guided"]))
    return rows


def _row(model, batch, method, target, r, ms, baseline, base_ms, limit) -> dict:
    return dict(model=model, batch=batch, method=method, target=target, ms=ms, baseline=baseline,
                baseline_ms=base_ms, ratio=r, limit=limit, ok=r <= limit)


def run(quick: bool = False, device: str = "cpu", threads: int | None = None) -> list[dict]:
    """Benchmark ResNet-18 (batch 8, 224x224) and the course's GAP network (batch 64, 64x64); a list of rows."""
    torch.set_num_threads(threads or len(os.sched_getaffinity(0)))
    pairs = 3 if quick else 7
    dev = torch.device(device)
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    resnet = torchvision.models.resnet18(weights=None).eval().to(dev)
    rows = bench_model("resnet18", resnet, torch.randn(8, 3, 224, 224, generator=g).to(dev), "layer4", "fc", pairs)
    gap = _gap_network().eval().to(dev)
    rows += bench_model("gap", gap, torch.randn(64, 3, 64, 64, generator=g).to(dev), gap.cam_layer, gap.fc_layer, pairs)
    return rows


def _gap_network():
    from camlib import models

    return models.build("gap")


def table(rows: list[dict]) -> str:
    """The rows as a fixed-width text table."""
    lines = [f"{'model':9} {'batch':>5}  {'method':16} {'target':13} {'ms':>8}  {'baseline':17} {'ms':>8}  "
             f"{'ratio':>6} {'limit':>6}  ok"]
    for r in rows:
        lines.append(f"{r['model']:9} {r['batch']:>5}  {r['method']:16} {r['target']:13} {r['ms']:8.1f}  "
                     f"{r['baseline']:17} {r['baseline_ms']:8.1f}  {r['ratio']:6.2f} {r['limit']:6.2f}  "
                     f"{'yes' if r['ok'] else 'NO'}")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 pairs per figure instead of 7")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores available)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    rows = run(quick=args.quick, device=args.device, threads=args.threads)
    print(table(rows))
    print(f"threads {torch.get_num_threads()}, torch {torch.__version__}, {time.perf_counter() - start:.0f} s")
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())

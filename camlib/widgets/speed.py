"""How long the lab makes a learner wait: medians of the four latencies the course promises.

    python -m camlib.widgets.speed            # about a minute on an idle 2-core laptop
    python -m camlib.widgets.speed --repeats 3

- redraw: a control moves (class, threshold, opacity, layer, method) and the explorer's new
  picture is set; maps already computed come from the cache, new ones are computed (a layer or
  method seen for the first time on this image is part of the figure);
- compare grid: every method of the table for one image, nothing cached;
- brush stroke: a stroke ends, to the new probabilities, map and picture;
- scene rebuild: a scene-builder slider moves, to the composed image, its probabilities, the
  current map and the explorer's picture.

Targets (COURSE.md section 9): redraw <= 100 ms, compare <= 600 ms, stroke <= 150 ms,
rebuild <= 150 ms. A benchmark, not a test: a busy machine gives other numbers.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

TARGETS = {"redraw": 100, "compare grid": 600, "brush stroke": 150, "scene rebuild": 150}


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return 1000 * (time.perf_counter() - start)


def run(repeats: int = 5, threads: int | None = None) -> list[dict]:
    """One row per latency: median and max ms over the repeats, and the target."""
    from . import Lab

    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        lab = Lab(models=("gap",), n_images=max(repeats, 2) + 1)
        lab.select(source="test images", index=0, method="Grad-CAM")
        times = {k: [] for k in TARGETS}
        for i in range(repeats):
            lab.index.value = i + 1  # a new image: the first layer and method changes compute
            for w, values in (
                (lab.cls, [1, 2, 0]),
                (lab.threshold, [0.3, 0.5]),
                (lab.opacity, [0.3, 0.7]),
                (lab.layer, ["features.12"]),
                (lab.method, ["Grad-CAM++", "CAM"]),
            ):
                for v in values:
                    times["redraw"].append(_timed(lambda w=w, v=v: setattr(w, "value", v)))
            lab._maps.items.clear()
            times["compare grid"].append(_timed(lab.compare.refresh))
            lab.tabs.selected_index = 2  # the brush: its occlusion reference is drawn on opening
            lab.brush.clear()
            points = [(16 + 2 * k + i, 24 + k) for k in range(6)]
            lab.brush.paint(points[:1])  # warm: the first stroke on an image
            times["brush stroke"].append(_timed(lambda p=points: lab.brush.paint(p)))
            lab.tabs.selected_index = 0
        lab.select(source="scene builder", method="Grad-CAM")
        x = lab.builder.rows[0]["x"]
        for i in range(repeats):
            times["scene rebuild"].append(_timed(lambda i=i: setattr(x, "value", 30 + i % 5)))
    finally:
        torch.set_num_threads(before)
    return [
        {
            "latency": k,
            "n": len(v),
            "median ms": statistics.median(v),
            "max ms": max(v),
            "target ms": TARGETS[k],
            "ok": statistics.median(v) <= TARGETS[k],
        }
        for k, v in times.items()
    ]


def table(rows: list[dict]) -> str:
    """The rows as a fixed-width text table."""
    lines = [f"{'latency':14} {'n':>3} {'median ms':>10} {'max ms':>8} {'target':>7}  ok"]
    for r in rows:
        lines.append(
            f"{r['latency']:14} {r['n']:>3} {r['median ms']:>10.1f} {r['max ms']:>8.1f} "
            f"{r['target ms']:>7}  {'yes' if r['ok'] else 'NO'}"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="default: torch's")
    args = parser.parse_args(argv)
    rows = run(args.repeats, args.threads)
    print(table(rows))
    print(f"{torch.get_num_threads()} thread(s), torch {torch.__version__}")
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())

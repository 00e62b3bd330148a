"""camlib's costliest methods against the libraries a learner meets next, timed in one run.

    pip install --target build/peers --no-deps grad-cam==1.5.7 ttach==0.0.3 captum==0.9.0 \
        opencv-python-headless==5.1.0.95 scikit-learn==1.9.1 \
        joblib==1.6.0 threadpoolctl==3.8.0 cloudpickle==3.1.3 narwhals==2.29.0
    PYTHONPATH=build/peers .venv/bin/python tools/bench_peers.py [--threads 2] [--pairs 3]

The peers are not dependencies of the course: install them into a folder of their own (above) so
the course's environment stays as pinned. Setting (issue 16): torchvision ResNet-18 without
weights, eval mode, layer4, 2 threads. Each figure is `camlib.bench.ratio`: the median of
t(method) / t(baseline) over interleaved pairs, so both sides of a ratio see the same machine.

- Ablation-CAM, batch 8, 224x224, per forward pass of the batch: camlib.ablation_cam (only the
  part after layer4 runs again, 64 channels at a time) and pytorch-grad-cam's AblationCAM (its
  default batch_size 32; the whole network runs again for each ablated channel). The peer's row
  runs one pair, at about 500 forward passes per call.
- Score-CAM, one 112x112 image, per its 512 masked forward passes run 64 at a time (the baseline
  of camlib.bench): camlib.score_cam(batch_size=64) and pytorch-grad-cam's ScoreCAM with
  batch_size 64.
- Guided backprop, batch 8, 224x224, per forward pass plus a backward pass to the input:
  camlib.guided_backprop and captum's GuidedBackprop, both for the predicted class.
"""

from __future__ import annotations

import argparse
import time

import torch
import torchvision

from camlib import bench, methods
from camlib.family import ablation_cam, score_cam


def peers():
    """The peer classes, or a message naming what to install."""
    try:
        from captum.attr import GuidedBackprop
        from pytorch_grad_cam import AblationCAM, ScoreCAM
        from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
    except ImportError as error:
        raise SystemExit(
            f"{error}: install the peers first, as this file's docstring shows "
            f"(pip install --target build/peers --no-deps grad-cam==1.5.7 ...), and run with "
            f"PYTHONPATH=build/peers"
        ) from None
    return AblationCAM, ScoreCAM, ClassifierOutputTarget, GuidedBackprop


def run(threads: int, pairs: int) -> list[dict]:
    AblationCAM, ScoreCAM, Target, GuidedBackprop = peers()
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    model = torchvision.models.resnet18(weights=None).eval()
    x = torch.randn(8, 3, 224, 224, generator=g)
    one = torch.randn(1, 3, 112, 112, generator=g)
    cpu = torch.device("cpu")
    with torch.no_grad():
        pred = model(x).argmax(1)
        pred_one = model(one).argmax(1)

    forward, forward_backward = bench.baseline_passes(model, x)
    masked = bench._masked_forwards(model, x, "layer4", one)
    pgc_ablation = AblationCAM(model=model, target_layers=[model.layer4])
    pgc_score = ScoreCAM(model=model, target_layers=[model.layer4])
    pgc_score.batch_size = 64
    captum_guided = GuidedBackprop(model)
    targets = [Target(int(c)) for c in pred]
    rows = []

    def row(method, who, fn, baseline, base_name, n_pairs):
        r, ms, base_ms = bench.ratio(fn, baseline, n_pairs, cpu)
        rows.append(
            {
                "method": method,
                "library": who,
                "ms": ms,
                "baseline": base_name,
                "baseline_ms": base_ms,
                "ratio": r,
            }
        )
        print(f"  {method:15} {who:16} {r:8.2f} x {base_name}", flush=True)

    row(
        "Ablation-CAM",
        "camlib",
        lambda: ablation_cam(model, x, "layer4", pred),
        forward,
        "forward",
        pairs,
    )
    row(
        "Ablation-CAM",
        "pytorch-grad-cam",
        lambda: pgc_ablation(input_tensor=x, targets=targets),
        forward,
        "forward",
        1,
    )
    row(
        "Score-CAM",
        "camlib",
        lambda: score_cam(model, one, "layer4", pred_one, batch_size=64),
        masked,
        "masked forwards",
        pairs,
    )
    row(
        "Score-CAM",
        "pytorch-grad-cam",
        lambda: pgc_score(input_tensor=one, targets=[Target(int(pred_one))]),
        masked,
        "masked forwards",
        pairs,
    )
    row(
        "guided backprop",
        "camlib",
        lambda: methods.guided_backprop(model, x, pred),
        forward_backward,
        "forward+backward",
        pairs,
    )
    row(
        "guided backprop",
        "captum",
        lambda: captum_guided.attribute(x, target=pred),
        forward_backward,
        "forward+backward",
        pairs,
    )
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--pairs", type=int, default=5, help="pairs per camlib row (peer: 1)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    rows = run(args.threads, args.pairs)
    print(f"\n{'method':15} {'library':16} {'ms':>9}  {'baseline':16} {'ms':>8}  {'ratio':>7}")
    for r in rows:
        print(
            f"{r['method']:15} {r['library']:16} {r['ms']:9.1f}  {r['baseline']:16} "
            f"{r['baseline_ms']:8.1f}  {r['ratio']:7.2f}"
        )
    seconds = time.perf_counter() - start
    print(f"{args.threads} thread(s), torch {torch.__version__}, {seconds:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

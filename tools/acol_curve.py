"""The training curve of the shipped ACoL: `python tools/acol_curve.py` writes data/acol_curve.json.

Reruns `camlib.models.train("acol")` (same recipe, same seed) with `history=` to record every
step's loss, and records whether every tensor of the rerun's weights equals the shipped one
(then the curve is the shipped run's) and the largest difference otherwise. Chapter 07 plots it.
"""

import json

import torch

from camlib import models, paths

OUT = paths.DATA / "acol_curve.json"


def main() -> None:
    torch.set_num_threads(2)  # as `python -m camlib.train`
    losses: list[float] = []
    model, result = models.train("acol", history=losses)
    shipped = models.load("acol").state_dict()
    diff = max(
        (v.float() - shipped[k].float()).abs().max().item() for k, v in model.state_dict().items()
    )
    record = dict(
        recipe=result["recipe"],
        steps_per_epoch=len(losses) // result["recipe"]["epochs"],
        loss=[round(v, 4) for v in losses],
        test_acc=result["metrics"]["test_acc"],
        same_weights_as_shipped=diff == 0,
        max_weight_difference=diff,
    )
    OUT.write_text(json.dumps(record, indent=1) + "\n")
    print(
        f"wrote {OUT}: {len(losses)} steps, "
        f"largest weight difference to the shipped run: {diff:.3g}"
    )


if __name__ == "__main__":
    main()

"""Printed claims that nbval holds: every equation a chapter teaches is checked in numbers.

    check("Grad-CAM * Z == ReLU(CAM)", diff < 1e-6, f"max|diff| = {diff:.1e} < 1e-6")
    -> check: Grad-CAM * Z == ReLU(CAM)  max|diff| < 1e-6  OK

Print only rounded or thresholded values, so the line reproduces on every run. A claim that
does not hold prints FAILED and raises, so neither papermill nor nbval can pass over it.
"""

from __future__ import annotations

import torch


def check(claim: str, ok: bool, detail: str = "") -> None:
    """Print one stable line for a claim; raise AssertionError when it fails."""
    ok = bool(ok)
    print(f"check: {claim}  {detail}  {'OK' if ok else 'FAILED'}".replace("  " * 2, "  "))
    if not ok:
        raise AssertionError(f"claim failed: {claim} ({detail})")


def close(claim: str, a, b, tol: float = 1e-6) -> float:
    """Check max|a - b| < tol and print it as a bound (the exact difference varies by platform)."""
    a, b = (torch.as_tensor(v, dtype=torch.float64) for v in (a, b))  # exact for Python floats
    diff = (a - b).abs().max().item()
    check(claim, diff < tol, f"max|diff| < {tol:.0e}")
    return diff


def table(rows: list[dict], digits: int = 3, title: str | None = None) -> None:
    """Print rows of dicts as an aligned text table, floats rounded to `digits`."""
    if title:
        print(title)
    cols = list(rows[0])
    cells = [[_fmt(r[c], digits) for c in cols] for r in rows]
    widths = [max(len(str(c)), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    print("  ".join(str(c).ljust(w) for c, w in zip(cols, widths)).rstrip())
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip())


def _fmt(v, digits):
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)

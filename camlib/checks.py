"""Printed claims that nbval holds: every equation a chapter teaches is checked in numbers.

    check("Grad-CAM * Z == ReLU(CAM)", diff < 1e-6, f"max|diff| = {diff:.1e} < 1e-6")
    -> check: Grad-CAM * Z == ReLU(CAM)  max|diff| < 1e-6  OK

Print only rounded or thresholded values, so the line reproduces on every run and platform
(another CPU's kernels sum in another order: a float printed to its last digits changes).
A claim that does not hold prints FAILED and raises, so neither papermill nor nbval can pass
over it. Three kinds of line never claim more than was tested:

- a claim that a SMOKE run cannot test prints ``skipped (SMOKE)`` (``check(..., skip=SMOKE)``
  or ``skipped(claim)``), never a bare OK;
- a claim about the shipped training run (``shipped(..., retrain=RETRAIN)``) prints
  ``differs from the shipped run`` instead of raising when the chapter retrained its models;
- ``close`` prints a bound, not the difference, and returns None so that a cell ending in it
  displays nothing (the exact difference is platform noise).
"""

from __future__ import annotations

import torch


def _line(claim: str, detail: str, verdict: str) -> None:
    print(f"check: {claim}  {detail}  {verdict}".replace("  " * 2, "  "))


def check(claim: str, ok, detail: str = "", skip: bool | str = False) -> None:
    """Print one stable line for a claim; raise AssertionError when it fails.

    skip: when true (pass ``skip=SMOKE``), ``ok`` is not evaluated as a verdict and the line
    says ``skipped (SMOKE)`` (or ``skipped (<skip>)`` when skip is a string) instead of OK.
    """
    if skip:
        skipped(claim, skip if isinstance(skip, str) else "SMOKE")
        return
    ok = bool(ok)
    _line(claim, detail, "OK" if ok else "FAILED")
    if not ok:
        raise AssertionError(f"claim failed: {claim} ({detail})")


def skipped(claim: str, why: str = "SMOKE") -> None:
    """Print ``check: <claim>  skipped (<why>)``: the claim was not tested in this run."""
    _line(claim, "", f"skipped ({why})")


def shipped(
    claim: str, ok, detail: str = "", retrain: bool = False, skip: bool | str = False
) -> None:
    """A claim about one training run, the shipped weights (``data/manifest.json``).

    With the shipped weights it is a plain ``check`` (raises when it fails). When the chapter
    retrained its models (``retrain=RETRAIN``), a failure is not an error, since another run
    may land elsewhere: the line says ``differs from the shipped run`` and nothing raises.
    skip: as in ``check`` (pass ``skip=SMOKE``).
    """
    if skip or bool(ok) or not retrain:
        check(claim, ok, detail, skip=skip)
    else:
        _line(claim, detail, "differs from the shipped run")


def close(claim: str, a, b, tol: float = 1e-6, rel: bool = False) -> None:
    """Check max|a - b| < tol and print it as a bound (the exact difference varies by platform).

    rel=True compares max|a - b| / max|b| instead (printed "relative max|diff|"): the
    tolerance for maps or scores that are not normalized, whose float32 rounding error grows
    with their scale.
    Returns None, so a cell ending in ``close(...)`` displays nothing platform-dependent.
    """
    a, b = (torch.as_tensor(v, dtype=torch.float64) for v in (a, b))  # exact for Python floats
    diff = (a - b).abs().max().item()
    if rel:
        scale = b.abs().max().item()
        check(claim, diff <= tol * scale, f"relative max|diff| < {tol:.0e}")
    else:
        check(claim, diff < tol, f"max|diff| < {tol:.0e}")


def table(rows: list[dict], digits: int = 3, title: str | None = None) -> None:
    """Print rows of dicts as an aligned text table, floats rounded to `digits`.

    Keep `digits` to what reproduces across platforms: 3 for ratios of counts over 1000 or
    fewer items (exact), 2 for means of model outputs (their last digit is rounding noise).
    """
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

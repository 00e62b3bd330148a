"""Every test of the course, in order, and one line at the end that says what passed.

    python tools/run_tests.py

1. ruff: lint and format check of camlib, tests and tools;
2. pytest tests: unit, widget, browser and site tests;
3. strict nbval on the stored notebooks (two workers, one notebook per worker at a time).

Each step's own output streams as it runs; the script exits non-zero if any step failed.
"""

import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CODE = ["camlib", "tests", "tools"]
NBVAL = [
    "--nbval",
    "--nbval-current-env",
    "--nbval-sanitize-with",
    "notebooks/nbval_sanitize.cfg",
    "--nbval-cell-timeout=600",
    "-p",
    "no:cacheprovider",
]
STEPS = [
    (
        "ruff",
        [[str(BIN / "ruff"), "check", *CODE], [str(BIN / "ruff"), "format", "--check", *CODE]],
    ),
    ("tests", [[sys.executable, "-m", "pytest", "tests", "-q"]]),
    (
        "nbval",
        [
            [
                sys.executable,
                "-m",
                "pytest",
                "notebooks",
                *NBVAL,
                "-q",
                "-n",
                "2",
                "--dist",
                "loadscope",
            ]
        ],
    ),
]
SUMMARY = re.compile(r"=+ (.*\d+ (passed|failed|error).*) in [\d.]+s")


def run(command) -> tuple[int, str]:
    """Run one command, echoing its output, and return its exit code and pytest's summary."""
    proc = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    summary = ""
    for line in proc.stdout:
        sys.stdout.write(line)
        sys.stdout.flush()
        text = line.strip()
        m = SUMMARY.search(text) or re.match(r"^(\d+ (passed|failed|error).*) in [\d.]+s", text)
        if m:
            summary = m.group(1)
    return proc.wait(), summary


def main() -> int:
    said, failed = [], []
    for name, commands in STEPS:
        start = time.time()
        codes, summaries = [], []
        for command in commands:
            code, summary = run(command)
            codes.append(code)
            summaries.append(summary)
        took = time.time() - start
        ok = not any(codes)
        what = (
            "clean" if name == "ruff" and ok else "; ".join(s for s in summaries if s) or "FAILED"
        )
        said.append(f"{name}: {what} ({took:.0f} s)")
        if not ok:
            failed.append(name)
    print(
        "\n"
        + ("PASSED" if not failed else "FAILED in " + ", ".join(failed))
        + ": "
        + " | ".join(said)
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

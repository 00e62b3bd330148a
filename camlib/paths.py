"""Where the course's files live, resolved from the package (never from the kernel's cwd)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
MODELS = DATA / "models"
MANIFEST = DATA / "manifest.json"
NOTEBOOKS = ROOT / "notebooks"

"""Train the model zoo: `python -m camlib.train [NAME ...]` (default: every recipe).

Each model is trained with its recipe in camlib.models.RECIPES (fixed seed, fixed data), saved
to data/models/<name>.pt, and recorded in data/manifest.json with its sha256, recipe and test
accuracy. The manifest also pins the checksum of the test split, so a change in the data
generator cannot go unnoticed.
"""

import argparse
import json

import torch

from . import data, models, paths


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "names",
        nargs="*",
        default=list(models.RECIPES),
        help=f"models to train (default: all of {list(models.RECIPES)})",
    )
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    for name in args.names:
        model, result = models.train(name)
        entry = models.save(name, model, result)
        print(f"{name}: {json.dumps(entry['metrics'])}  ({entry['bytes'] / 1e6:.2f} MB)")
    manifest = json.loads(paths.MANIFEST.read_text())
    manifest["data"] = {"test_single_sha256": data.checksum(data.split("test", scene="single"))}
    paths.MANIFEST.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()

"""Copy a finished training run's weights into the package, with a manifest entry.

Usage:
    python scripts/package_weights.py --run runs/diffusion-128-si --name diffusion-vq-128b-si

Reads ``<run>/result.json`` (written by ``csifb train``) and the weights it names (the final,
for entropy-coded models frozen, weights; ``checkpoint.weights.h5`` for older runs), copies
them to ``sionna_csifb/weights/<name>.weights.h5`` and records the model config, scenario,
datasets, steps, test metrics and sha256 in ``manifest.json``
(:func:`sionna_csifb.weights.registry.package_run`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sionna_csifb.weights.registry import package_run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--run", type=Path, required=True)
    ap.add_argument("--name", required=True)
    args = ap.parse_args()
    dst = package_run(args.run, args.name)
    print(f"packaged {args.name}: {dst} ({dst.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()

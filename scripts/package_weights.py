"""Copy a finished training run's weights into the package, with a manifest entry.

Usage:
    python scripts/package_weights.py --run runs/diffusion-128-si --name diffusion-vq-128b-si
    python scripts/package_weights.py --to-float16 all     # re-store shipped float32 files

Reads ``<run>/result.json`` (written by ``csifb train``) and the weights it names (the final,
for entropy-coded models frozen, weights; ``checkpoint.weights.h5`` for older runs), writes them
to ``sionna_csifb/weights/<name>.weights.h5`` with the large arrays in float16 (``--float32``:
as they are) and records the model config, scenario, datasets, steps, test metrics, storage and
sha256 in ``manifest.json`` (:func:`sionna_csifb.weights.registry.package_run`).
``--to-float16 NAME...`` (or ``all``) re-stores entries packaged in float32
(:func:`sionna_csifb.weights.registry.restore_float16`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sionna_csifb.weights.registry import WEIGHTS_DIR, list_bundled, manifest_entry, package_run, restore_float16


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--run", type=Path)
    ap.add_argument("--name")
    ap.add_argument("--float32", action="store_true", help="store the weights as trained (float32)")
    ap.add_argument("--to-float16", nargs="+", metavar="NAME", help="shipped entries to re-store in float16, or all")
    args = ap.parse_args()
    if args.to_float16:
        names = list_bundled() if args.to_float16 == ["all"] else args.to_float16
        for name in names:
            before = (WEIGHTS_DIR / manifest_entry(name)["file"]).stat().st_size
            rec = restore_float16(name)
            after = (WEIGHTS_DIR / manifest_entry(name)["file"]).stat().st_size
            print(f"{name:28s} {before / 1e6:6.2f} -> {after / 1e6:6.2f} MB  ({rec['float16_arrays']} arrays "
                  f"in float16, {rec['kept_arrays']} kept, max rel. error {rec['max_relative_error']:.1e})")
        return
    if not (args.run and args.name):
        ap.error("--run and --name (or --to-float16)")
    dst = package_run(args.run, args.name, float16=not args.float32)
    print(f"packaged {args.name}: {dst} ({dst.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()

"""Copy a finished training run's weights into the package, with a manifest entry.

Usage:
    python scripts/package_weights.py --run runs/diffusion-128-si --name diffusion-vq-128b-si

Reads ``<run>/result.json`` (written by ``csifb train``) and the weights it names (the final,
for entropy-coded models frozen, weights; ``checkpoint.weights.h5`` for older runs),
copies the weights to ``sionna_csifb/weights/<name>.weights.h5`` and records the model
config, scenario, datasets, steps, test metrics and sha256 in ``manifest.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from sionna_csifb.weights.registry import WEIGHTS_DIR, sha256_of


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--run", type=Path, required=True)
    ap.add_argument("--name", required=True)
    args = ap.parse_args()
    res = json.loads((args.run / "result.json").read_text())
    if res["steps"] != res["training_config"]["steps"]:
        raise SystemExit(f"{args.run} is not finished ({res['steps']} of {res['training_config']['steps']} steps).")
    dst = WEIGHTS_DIR / f"{args.name}.weights.h5"
    shutil.copyfile(args.run / res.get("weights", "checkpoint.weights.h5"), dst)
    manifest_path = WEIGHTS_DIR / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest[args.name] = {
        "file": dst.name, "sha256": sha256_of(dst), "model": res["model"], "size": res["size"],
        "model_config": res["model_config"], "task": res["training_config"]["task"], "scenario": res["scenario"],
        "train_data": {k: res["train_data"][k] for k in ("seed", "num_samples")},
        "test_data": {k: res["test_data"][k] for k in ("seed", "num_samples")},
        "training": {"steps": res["steps"], "batch_size": res["training_config"]["batch_size"],
                     "learning_rate": res["training_config"]["learning_rate"], "seed": res["training_config"]["seed"],
                     "cpu_seconds": round(res["train_seconds"], 1)},
        "test_metrics": res["test_metrics"],
    }
    manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    print(f"packaged {args.name}: {dst} ({dst.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()

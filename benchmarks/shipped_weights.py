"""Re-evaluate every shipped model on the test set its manifest names (scenario, seed, size).

Regenerates that test set (deterministic from the seed), decodes through the real bits with the
current code (``compress`` -> ``decompress``) and compares with the manifest's test NMSE: a check
that a code change left the shipped weights' behaviour as documented.

Usage:
    python benchmarks/shipped_weights.py --out benchmarks/results/shipped_weights.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/shipped_weights.json"))
    ap.add_argument("--data-dir", type=Path, default=Path("data"), help="where test sets are (re)generated")
    args = ap.parse_args(argv)

    import sionna_csifb  # noqa: F401  (selects the Keras backend)
    from sionna_csifb.csi.scenario import Scenario
    from sionna_csifb.data.hdf5 import CSIDataset, generate_dataset
    from sionna_csifb.training import evaluate_model
    from sionna_csifb.weights.registry import list_bundled, load_model

    rows = []
    for name in list_bundled():
        model, entry = load_model(name)
        scen = Scenario.from_dict(entry["scenario"])
        td = entry["test_data"]
        path = args.data_dir / f"{scen.name}_test_seed{td['seed']}_n{td['num_samples']}.h5"
        ds = CSIDataset(generate_dataset(path, scen, td["num_samples"], seed=td["seed"], progress=False))
        m = evaluate_model(model, ds, task=entry["task"])
        rows.append({"weights": name, "scenario": scen.name, "test_seed": td["seed"], "num_samples": m["num_samples"],
                     "manifest_nmse_ad_db": entry["test_metrics"]["nmse_ad_db"], "nmse_ad_db": m["nmse_ad_db"],
                     "nmse_sf_db": m["nmse_sf_db"]})
        print(f"{name:22s} manifest {rows[-1]['manifest_nmse_ad_db']:7.2f} dB  now {m['nmse_ad_db']:7.2f} dB", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

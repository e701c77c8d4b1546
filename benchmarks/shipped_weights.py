"""Re-evaluate every shipped model on the test set its manifest names (scenario, seed, size),
and, with ``--reference``, the same model with its float32 weights beside the shipped ones.

Regenerates that test set (deterministic from the seed), decodes through the real bits with the
current code (``compress`` -> ``decompress``, ``training.evaluate_model``, seeded) and compares
with the manifest's test metrics (measured at the end of training, with the float32 weights): a
check that a code change, or storing the weights in float16 (``registry.store_float16``), left
the shipped weights' behaviour as documented.

Usage:
    python benchmarks/shipped_weights.py --out benchmarks/results/shipped_weights.json
    # the float32 files the shipped ones were made from (their sha256 is each entry's
    # storage.source_sha256), e.g. from the commit before the float16 re-store:
    git archive 4743f9b sionna_csifb/weights | tar -x -C /tmp/w32
    python benchmarks/shipped_weights.py --reference /tmp/w32/sionna_csifb/weights --data-dir data
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

_METRICS = ("nmse_ad_db", "nmse_sf_db", "sgcs", "payload_bits", "share_finest_level")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/shipped_weights.json"))
    ap.add_argument("--data-dir", type=Path, default=Path("data"), help="where test sets are (re)generated")
    ap.add_argument("--reference", type=Path, default=None,
                    help="a weights folder (manifest.json + files) with the float32 originals")
    ap.add_argument("--only", nargs="*", default=None,
                    help="these manifest names only; their rows replace those of an existing --out file")
    ap.add_argument("--update-manifest", action="store_true",
                    help="write the re-measured test metrics into each model's manifest entry (after a change "
                         "of the code that decodes them, e.g. of the report format), with the command and commit")
    args = ap.parse_args(argv)

    import sionna_csifb  # noqa: F401  (selects the Keras backend)
    from _common import environment
    from sionna_csifb.csi.scenario import Scenario
    from sionna_csifb.data.hdf5 import CSIDataset, generate_dataset
    from sionna_csifb.training import evaluate_model
    from sionna_csifb.weights.registry import WEIGHTS_DIR, list_bundled, load_model, sha256_of

    full = {}  # each re-measured model's evaluate_model output (the shipped weights')

    def metrics(m):
        return {k: m[k] for k in _METRICS if m.get(k) is not None}

    rows = []
    for name in args.only or list_bundled():
        model, entry = load_model(name)
        scen = Scenario.from_dict(entry["scenario"])
        td = entry["test_data"]
        path = args.data_dir / f"{scen.name}_test_seed{td['seed']}_n{td['num_samples']}.h5"
        ds = CSIDataset(generate_dataset(path, scen, td["num_samples"], seed=td["seed"], progress=False))
        storage = entry.get("storage", {"dtype": "float32"})
        full[name] = evaluate_model(model, ds, task=entry["task"])
        row = {"weights": name, "scenario": scen.name, "test_seed": td["seed"], "num_samples": td["num_samples"],
               "storage": storage["dtype"], "file_mb": (WEIGHTS_DIR / entry["file"]).stat().st_size / 1e6,
               "manifest": {k: entry["test_metrics"][k] for k in _METRICS if entry["test_metrics"].get(k) is not None},
               "shipped": metrics(full[name])}
        if args.reference is not None:
            ref, _ = load_model(name, directory=args.reference)
            ref_file = args.reference / entry["file"]
            if storage["dtype"] == "float16" and sha256_of(ref_file) != storage["source_sha256"]:
                raise SystemExit(f"{ref_file} is not the float32 file {name!r} was made from (sha256).")
            row["float32"] = metrics(evaluate_model(ref, ds, task=entry["task"]))
            row["float32_file_mb"] = ref_file.stat().st_size / 1e6
            row["shipped_minus_float32"] = {k: row["shipped"][k] - row["float32"][k] for k in row["shipped"]}
        rows.append(row)
        d = row.get("shipped_minus_float32", {})
        print(f"{name:26s} {row['storage']:7s} {row['file_mb']:6.2f} MB  NMSE {row['shipped']['nmse_ad_db']:7.2f} dB"
              + (f"  SGCS {row['shipped']['sgcs']:.4f}" if "sgcs" in row["shipped"] else "")
              + (f"  vs float32: {', '.join(f'{k} {v:+.4f}' for k, v in d.items())}" if d else ""), flush=True)
    if args.only and args.out.exists():  # update those rows of the full table
        old = json.loads(args.out.read_text())
        fresh = {r["weights"]: r for r in rows}
        kept = [r for r in old["rows"] if r["weights"] not in fresh and r["weights"] in list_bundled()]
        rows = sorted(kept + rows, key=lambda r: r["weights"])
        commands = [*old.get("commands", []), "python " + " ".join(sys.argv)]
    else:
        commands = ["python " + " ".join(sys.argv)]
    diffs = [r["shipped_minus_float32"] for r in rows if "shipped_minus_float32" in r]
    summary = {"total_mb": sum(r["file_mb"] for r in rows)}
    if diffs:
        summary.update(float32_compared=sum("float32_file_mb" in r for r in rows),
                       float32_total_mb=sum(r["float32_file_mb"] for r in rows if "float32_file_mb" in r),
                       **{f"max_abs_{k}_change": max(abs(d[k]) for d in diffs if k in d)
                          for k in _METRICS if any(k in d for d in diffs)})
    if args.update_manifest:
        env = environment()
        mpath = WEIGHTS_DIR / "manifest.json"
        manifest = json.loads(mpath.read_text())
        for name, m in full.items():
            tm = manifest[name]["test_metrics"]
            tm.update({k: v for k, v in m.items()  # (speed is not what a code change re-measures)
                       if (k in tm or k == "share_finest_level") and k not in ("decode_samples_per_s", "device")})
            tm["remeasured"] = {"command": "python " + " ".join(sys.argv), "git_commit": env["git_commit"],
                                "date": env["date"]}
        mpath.write_text(json.dumps(manifest, indent=2) + "\n")
        print(f"updated the test metrics of {args.only or 'every model'} in {mpath}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"environment": environment(), "commands": commands,
                                    "summary": summary, "rows": rows}, indent=2))
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

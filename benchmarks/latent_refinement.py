"""UE-side latent refinement of shipped entropy-coded models, held to eType II's payloads: the
rate scale calibrated on training drops, SGCS and report lengths measured on the test drops.

For each ``name:target_bits`` pair the script

1. draws calibration drops from the model's *training* distribution and seed (the manifest's
   ``train_data`` seed and scenario; never the test set) and finds the refinement's
   ``rate_scale`` at which the refined reports' mean estimated length is ``target_bits``
   (:func:`sionna_csifb.models.refinement.calibrate_rate_scale`);
2. evaluates the model without and with that refinement on the plan's test drops through the
   real payload (``compress`` -> ``decompress``, ``_common.eval_codec``), beside eType II on the
   same drops;
3. with ``--update-manifest``, writes the calibrated setting and its test metrics into the
   manifest entry (``ue_refinement``), which registers the scheme ``<name>-refined``.

Usage::

    python benchmarks/latent_refinement.py --data /tmp/data --samples 2000 \\
        --out benchmarks/results/latent_refinement_uma.json --update-manifest
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import csi_metrics, environment, eval_codec  # noqa: E402
from learned_feedback import _test_csi  # noqa: E402
from train_runs import generate, test_set  # noqa: E402

DEFAULT = ["eigen-ent-65b-uma:65", "eigen-ent-bc-118b-uma:118", "eigen-ent-lin-bc-286b-uma:286"]
ETYPE2 = {65: "etype2-pc1", 118: "etype2-pc3", 286: "etype2-pc6"}


def test_drops(preset: str, data: Path, samples: int):
    """The plan's test drops ``<data>/<preset>_test.h5`` (generated if missing): (dataset, x, y)."""
    n, seed = test_set(preset)
    path = data / f"{preset}_test.h5"
    if not path.exists():
        data.mkdir(parents=True, exist_ok=True)
        generate(path, preset, max(n, samples), seed)
    ds, x, y, _ = _test_csi(path, samples)
    return ds, x, y


def etype2_rows(x) -> list[dict]:
    """eType II pc1, pc3 and pc6 on the drops ``x``: name, payload and metrics."""
    import torch

    from sionna_csifb.schemes.base import get_scheme, scheme_overrides

    rows = []
    for name in ETYPE2.values():
        s = get_scheme(name, **scheme_overrides(name, x.shape[1]))
        with torch.no_grad():
            rows.append({"name": name, "mean_bits": float(s.nominal_payload_bits), **csi_metrics(x, s.decode(s.encode(x)))})
        print(f"{name}: SGCS {rows[-1]['sgcs']:.4f} at {rows[-1]['mean_bits']:.0f} b", flush=True)
    return rows


def model_for(name: str, ds):
    """Shipped weights ``name`` and their manifest entry, refused unless trained on ``ds``'s scenario."""
    from sionna_csifb.weights.registry import load_model

    model, entry = load_model(name)
    if entry["scenario"]["name"] != ds.scenario.name:
        raise ValueError(f"{name!r} was trained on {entry['scenario']['name']!r}, the test set is "
                         f"{ds.scenario.name!r}: calibrate and test on the scenario it was trained for.")
    return model, entry


def calibration_drops(entry: dict, data: Path, samples: int):
    """``samples`` drops of the model's *training* scenario and seed (never the test set): (x, seed)."""
    tr = entry["train_data"]
    path = data / f"{entry['scenario']['name']}_calib_seed{tr['seed']}_{samples}.h5"
    if not path.exists():
        generate(path, entry["scenario"]["name"], samples, tr["seed"])
    return _test_csi(path, samples)[1], tr["seed"]


def common_args(ap: argparse.ArgumentParser, what: str) -> None:
    """The test-set, calibration and output options both refinement benchmarks take."""
    ap.add_argument("--preset", default="uma", help="the test set <data>/<preset>_test.h5")
    ap.add_argument("--data", type=Path, default=Path("data"))
    ap.add_argument("--samples", type=int, default=2000)
    ap.add_argument("--calibration-samples", type=int, default=400)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--update-manifest", action="store_true",
                    help=f"write each {what} and its test metrics into the package manifest")


def write_refinement_blocks(blocks: dict, merge: bool) -> None:
    """Each model's ``ue_refinement`` block into the package manifest: replaced, or with ``merge``
    its keys updated (the rest of the block kept)."""
    from sionna_csifb.weights.registry import WEIGHTS_DIR

    mpath = WEIGHTS_DIR / "manifest.json"
    manifest = json.loads(mpath.read_text())
    for name, block in blocks.items():
        if merge:
            manifest[name]["ue_refinement"].update(block)
        else:
            manifest[name]["ue_refinement"] = block
    mpath.write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"updated {mpath}: ue_refinement of {sorted(blocks)}")


def _markdown(result: dict) -> str:
    refs = {r["name"]: r for r in result["rows"] if "weights" not in r}
    sweeps = result.get("search_sweeps", 0)
    lines = [f"UE-side latent refinement ({result['steps']} Adam steps, step {result['learning_rate']:g}"
             + (f", then {sweeps} sweeps of the coordinate search on the symbols" if sweeps else "") + ") of the "
             f"shipped entropy-coded models, rate scale calibrated on {result['calibration_samples']} training "
             f"drops to hold eType II's payload; test set `{result['preset']}` ({result['samples']} drops, seed "
             f"{result['test_seed']}), SGCS per subcarrier through the real payload. Command: "
             f"`{result['command']}`.", "",
             "| eType II | its bits | its SGCS | model | UE refinement (rate scale) | mean bits: calibration "
             "estimate / test | SGCS | vs eType II | >= +5% within 10 b |", "|---|---|---|---|---|---|---|---|---|"]
    for r in (r for r in result["rows"] if "weights" in r):
        ref, cal = refs[r["etype2_ref"]], r.get("calibration")
        ok = r["sgcs_vs_etype2"] >= 0.05 and abs(r["mean_bits"] - ref["mean_bits"]) <= 10
        lines.append(f"| {ref['name']} | {ref['mean_bits']:.0f} | {ref['sgcs']:.3f} | `{r['weights']}` | "
                     + (f"yes ({r['refinement']['rate_scale']:.3g})" if r["refinement"] else "no") + " | "
                     + (f"{cal['mean_estimated_bits']:.1f}" if cal else "-") + f" / {r['mean_bits']:.1f} | "
                     f"{r['sgcs']:.3f} | {r['sgcs_vs_etype2']:+.1%} | {'yes' if ok else 'no'} |")
    lines += ["", "The BS decodes refined and unrefined reports with the same decoder; only the UE spends "
              "compute (one decoder pass forward and back per step and report"
              + (", two forward passes per latent and sweep" if sweeps else "") + "). Encode rates on this CPU "
              "(reports/s): " + ", ".join(f"`{r['weights']}`{' refined' if r['refinement'] else ''} "
                                          f"{r['encode_reports_per_s']:.0f}"
                                          for r in result["rows"] if "weights" in r) + "."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", nargs="+", default=DEFAULT, help="name:target_bits pairs")
    common_args(ap, "calibrated setting")
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--learning-rate", type=float, default=0.05)
    ap.add_argument("--search-sweeps", type=int, default=0,
                    help="sweeps of the coordinate search on the symbols after the Adam steps (0: none)")
    args = ap.parse_args(argv)

    import sionna_csifb  # noqa: F401
    from sionna_csifb.models.refinement import LatentRefinement, calibrate_rate_scale

    ds, x, y = test_drops(args.preset, args.data, args.samples)
    result = {"preset": args.preset, "test_seed": ds.seed, "samples": len(x), "steps": args.steps,
              "learning_rate": args.learning_rate, "search_sweeps": args.search_sweeps, "calibration_samples": args.calibration_samples,
              "command": "python " + " ".join(sys.argv), "rows": [], "environment": environment()}
    rows = result["rows"]
    rows += etype2_rows(x)
    blocks = {}
    for pair in args.weights:
        name, target = pair.rsplit(":", 1)
        target = float(target)
        ref = min((r for r in rows if r.get("name") in ETYPE2.values()), key=lambda r: abs(r["mean_bits"] - target))
        model, entry = model_for(name, ds)
        xc, cal_seed = calibration_drops(entry, args.data, args.calibration_samples)
        base = LatentRefinement(args.steps, args.learning_rate, search_sweeps=args.search_sweeps)
        t0 = time.perf_counter()
        scale, cal_bits = calibrate_rate_scale(model, xc, target, base)
        cal = {"preset": entry["scenario"]["name"], "seed": cal_seed, "num_samples": len(xc),
               "target_bits": target, "mean_estimated_bits": cal_bits, "seconds": time.perf_counter() - t0}
        print(f"{name}: rate scale {scale:.3f} -> {cal_bits:.1f} b estimated on the calibration drops", flush=True)
        for r in (None, LatentRefinement(args.steps, args.learning_rate, scale, args.search_sweeps)):
            model.latent_refinement = r
            t0 = time.perf_counter()
            row = eval_codec(model, x, side_info=y)
            rows.append({"weights": name, "refinement": r.to_dict() if r else None,
                         **({"calibration": cal} if r else {}), "seconds": time.perf_counter() - t0, **row,
                         "etype2_ref": ref["name"], "sgcs_vs_etype2": row["sgcs"] / ref["sgcs"] - 1})
            print(f"{name} {'refined' if r else 'as trained'}: SGCS {row['sgcs']:.4f} at {row['mean_bits']:.1f} b "
                  f"({rows[-1]['sgcs_vs_etype2']:+.1%} vs {ref['name']})", flush=True)
            if r is not None:
                blocks[name] = {**r.to_dict(), "target_bits": target, "calibration": cal,
                                "test_metrics": {"payload_bits": row["mean_bits"], "payload_bits_p95": row["p95_bits"],
                                                 "payload_bits_max": row["max_bits"], "sgcs": row["sgcs"],
                                                 "nmse_sf_db": row["nmse_db"], "num_samples": len(x),
                                                 "seed": ds.seed, "etype2_ref": ref["name"],
                                                 "sgcs_vs_etype2": rows[-1]["sgcs_vs_etype2"]}}
        model.latent_refinement = None
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    args.out.with_suffix(".md").write_text(_markdown(result))
    print(_markdown(result))
    if args.update_manifest:
        write_refinement_blocks(blocks, merge=False)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

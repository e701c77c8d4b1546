"""The ladder of rate scales for refined reports held to eType II's payload in every report:
chosen on training drops, measured on the test drops.

Held to a budget (``compress(h, max_bits=N)`` with a ``latent_refinement``), the UE refines each
report at every rung of ``LatentRefinement.budget_scales`` (factors on the calibrated
``rate_scale``) under a hinge on the bits over the budget, and sends the best-decoding candidate
whose report fits (:func:`sionna_csifb.models.refinement.budget_candidates`). For each shipped
refined model the script

1. draws calibration drops from the model's *training* distribution and seed (the manifest's
   ``train_data``; never the test set), codes them held to ``target_bits`` once per single rung
   of ``--scales`` and scores every ladder (subset of ``--scales`` of at most ``--max-rungs``
   rungs) from those runs: per report, the best-decoding report that fits among its rungs' (the
   highest rung's coarsened report where none fits), SGCS per subcarrier through the real payload;
2. picks the ladder with the best calibration SGCS, at most ``--max-rungs`` rungs (each rung is
   one refinement of the report: the UE's compute);
3. measures the chosen ladder (and, unless ``--no-baseline``, the current one) on the test drops through the real payload
   (``compress(max_bits=...)`` -> ``decompress(rate_adaptive=True)``), beside eType II (skipped with
   ``--calibration-only``, which studies ladders on the training drops alone);
4. with ``--update-manifest``, writes the chosen ``budget_scales``, its calibration and its test
   metrics (``held_test_metrics``) into the manifest's ``ue_refinement`` block, which the
   ``<name>-refined-held`` schemes then use.

Beside the ladders it records, on the same calibration drops, how long the mean-payload refined
reports (no budget, the calibrated rate scale) are: their spread is what a budget in every report
has to absorb, since a short report cannot use the bits a long one needs (``length_spread``).

Usage::

    python benchmarks/budget_ladder.py --data /tmp/data --samples 2000 \\
        --out benchmarks/results/budget_ladder_uma.json --update-manifest
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import csi_metrics, environment  # noqa: E402
from latent_refinement import (DEFAULT, calibration_drops, common_args, etype2_rows, model_for,  # noqa: E402
                               test_drops, write_refinement_blocks)


def _held(model, x, budget: int, batch: int = 500) -> dict:
    """Reports held to ``budget``: per-report SGCS, bits, level and sent candidate."""
    import torch

    from sionna_csifb.evaluation.metrics import sgcs

    parts = {"h_hat": [], "bits": [], "level": [], "sent": []}
    with torch.no_grad():
        for lo in range(0, len(x), batch):
            p = model.compress(x[lo:lo + batch], max_bits=budget, first_report=lo)
            parts["h_hat"].append(torch.as_tensor(model.decompress(p, rate_adaptive=True, first_report=lo)))
            parts["bits"].append(np.asarray(p.num_bits))
            parts["level"].append(np.asarray(model.last_levels))
            parts["sent"].append(np.asarray(model.last_candidates))
    out = {k: torch.cat(v) if k == "h_hat" else np.concatenate(v) for k, v in parts.items()}
    out["sgcs"] = sgcs(x, out["h_hat"].to(x.dtype)).double().mean(1).cpu().numpy()
    return out


def _ladder_score(runs: dict, ladder: tuple) -> dict:
    """A ladder scored from its rungs' single-rung runs: per report, the best report that fits at
    the finest level among its rungs' (each run's is the better of the encoder's and its rung's),
    else the highest rung's coarsened one."""
    fits = np.stack([runs[s]["level"] == 0 for s in ladder])
    vals = np.stack([runs[s]["sgcs"] for s in ladder])
    bits = np.stack([runs[s]["bits"] for s in ladder])
    best = np.where(fits, vals, -np.inf).argmax(0)
    cols = np.arange(vals.shape[1])
    pick = np.where(fits.any(0), best, len(ladder) - 1)
    return {"budget_scales": list(ladder), "sgcs": float(vals[pick, cols].mean()),
            "mean_bits": float(bits[pick, cols].mean()), "share_level0": float(fits.any(0).mean())}


def _length_spread(model, x, budget: int, batch: int = 500) -> dict:
    """Lengths of the mean-payload refined reports of ``x`` (no budget): mean, std, percentiles, and
    the share over ``budget`` with the mean bits those reports are over by."""
    import torch

    with torch.no_grad():
        bits = np.concatenate([np.asarray(model.compress(x[lo:lo + batch], first_report=lo).num_bits)
                               for lo in range(0, len(x), batch)]).astype(float)
    over = bits > budget
    pct = np.percentile(bits, [5, 25, 50, 75, 95])
    return {"mean_bits": float(bits.mean()), "std_bits": float(bits.std()),
            **{f"p{q}_bits": float(v) for q, v in zip((5, 25, 50, 75, 95), pct)},
            "share_over_budget": float(over.mean()),
            "mean_bits_over_budget": float((bits[over] - budget).mean()) if over.any() else 0.0}


def _markdown(result: dict) -> str:
    tested = any(m["test"] for m in result["models"])
    lines = [f"Rate-scale ladders for refined reports held to eType II's payload in every report, chosen on "
             f"{result['calibration_samples']} training drops; "
             + (f"test set `{result['preset']}` ({result['samples']} drops, seed {result['test_seed']})" if tested
                else "no test run (`--calibration-only`)")
             + f", SGCS per subcarrier through the real payload. Command: `{result['command']}`.", ""]
    if tested:
        lines += ["| model | budget | eType II SGCS | ladder | calibration SGCS | test mean bits | test SGCS | "
                  "vs eType II | UE encode (reports/s) |", "|---|---|---|---|---|---|---|---|---|"]
    for m in result["models"]:
        for t in m["test"]:
            cal = next(c for c in m["ladders"] if c["budget_scales"] == t["budget_scales"])
            lines.append(f"| `{m['weights']}` | {m['budget_bits']} | {m['etype2_sgcs']:.3f} | "
                         f"{', '.join(f'{s:g}' for s in t['budget_scales'])}"
                         f"{' (chosen)' if t['chosen'] else ' (was)'} | {cal['sgcs']:.4f} | {t['mean_bits']:.1f} | "
                         f"{t['sgcs']:.4f} | {t['sgcs_vs_etype2']:+.1%} | {t['reports_per_s']:.1f} |")
    if tested:
        lines.append("")
    lines += [f"On the {result['calibration_samples']} calibration drops: the best ladders, and the lengths of the "
              "mean-payload refined reports (no budget) that a budget in every report has to absorb.", "",
              "| model | budget | best ladders (calibration SGCS, mean bits) | unheld mean / std bits | "
              "5-25-50-75-95th percentile bits | share over budget (mean excess) |", "|---|---|---|---|---|---|"]
    for m in result["models"]:
        best = sorted(m["ladders"], key=lambda c: -c["sgcs"])[:3]
        lad = "; ".join(f"{', '.join(f'{s:g}' for s in c['budget_scales'])}: {c['sgcs']:.4f} at {c['mean_bits']:.1f}"
                        for c in best)
        sp = m["length_spread"]
        spread = (f"| {sp['mean_bits']:.1f} / {sp['std_bits']:.1f} | "
                  f"{'-'.join(f'{sp[k]:.0f}' for k in ('p5_bits', 'p25_bits', 'p50_bits', 'p75_bits', 'p95_bits'))} | "
                  f"{sp['share_over_budget']:.0%} (+{sp['mean_bits_over_budget']:.1f} b) |")
        lines.append(f"| `{m['weights']}` | {m['budget_bits']} | {lad} {spread}")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", nargs="+", default=DEFAULT, help="name:budget_bits pairs")
    common_args(ap, "chosen ladder")
    ap.add_argument("--scales", type=float, nargs="+", default=[0.05, 0.15, 0.5],
                    help="the single rungs (factors on the calibrated rate scale) ladders are built from")
    ap.add_argument("--max-rungs", type=int, default=2, help="most rungs in a ladder (the UE's compute)")
    ap.add_argument("--no-baseline", action="store_true",
                    help="test the chosen ladder only, not the manifest's current one beside it")
    ap.add_argument("--calibration-only", action="store_true",
                    help="score ladders and report lengths on the calibration drops only (no test, no manifest)")
    args = ap.parse_args(argv)
    if args.calibration_only and args.update_manifest:
        ap.error("--calibration-only measures no test metrics to write: drop --update-manifest")

    import sionna_csifb  # noqa: F401
    from sionna_csifb.models.refinement import LatentRefinement

    ds, x, _ = test_drops(args.preset, args.data, args.samples)
    result = {"preset": args.preset, "test_seed": ds.seed, "samples": len(x), "scales": args.scales,
              "max_rungs": args.max_rungs, "calibration_samples": args.calibration_samples,
              "command": "python " + " ".join(sys.argv), "models": [], "environment": environment()}
    refs = {int(r["mean_bits"]): r for r in etype2_rows(x)}
    blocks = {}
    for pair in args.weights:
        name, budget = pair.rsplit(":", 1)
        budget = int(budget)
        model, entry = model_for(name, ds)
        if budget not in refs:
            raise ValueError(f"budget {budget} is no eType II payload here ({sorted(refs)}).")
        block = entry.get("ue_refinement")
        if block is None:
            raise ValueError(f"{name!r} has no calibrated `ue_refinement` (benchmarks/latent_refinement.py).")
        base = LatentRefinement.from_manifest(block)
        xc, cal_seed = calibration_drops(entry, args.data, args.calibration_samples)
        runs = {}
        for s in sorted(set(args.scales) | set(base.budget_scales)):
            model.latent_refinement = replace(base, budget_scales=(s,))
            t0 = time.perf_counter()
            runs[s] = _held(model, xc, budget)
            print(f"{name} <= {budget} b, rung {s:g}: calibration SGCS {runs[s]['sgcs'].mean():.4f} at "
                  f"{runs[s]['bits'].mean():.1f} b ({time.perf_counter() - t0:.0f} s)", flush=True)
        ladders = [_ladder_score(runs, lad) for k in range(1, args.max_rungs + 1)
                   for lad in itertools.combinations(sorted(args.scales), k)]
        was = _ladder_score(runs, tuple(sorted(base.budget_scales)))
        chosen = max(ladders, key=lambda c: c["sgcs"])
        for c in sorted(ladders, key=lambda c: -c["sgcs"])[:5]:
            print(f"  ladder {c['budget_scales']}: calibration SGCS {c['sgcs']:.4f} at {c['mean_bits']:.1f} b", flush=True)
        ref = refs[budget]
        model.latent_refinement = base
        spread = _length_spread(model, xc, budget)
        print(f"  mean-payload refined reports: {spread['mean_bits']:.1f} +- {spread['std_bits']:.1f} b, "
              f"{spread['share_over_budget']:.0%} over {budget}", flush=True)
        row = {"weights": name, "budget_bits": budget, "etype2": ref["name"], "etype2_sgcs": ref["sgcs"],
               "base_refinement": base.to_dict(), "ladders": ladders + ([was] if was not in ladders else []),
               "length_spread": spread, "test": []}
        tests = [] if args.calibration_only else [chosen["budget_scales"]]  # the chosen ladder, then the current one
        if tests and not args.no_baseline and list(base.budget_scales) != chosen["budget_scales"]:
            tests.append(list(base.budget_scales))
        for scales in tests:
            model.latent_refinement = replace(base, budget_scales=tuple(scales))
            t0 = time.perf_counter()
            h = _held(model, x, budget)
            sec = time.perf_counter() - t0
            met = csi_metrics(x, h["h_hat"])
            row["test"].append({"budget_scales": list(scales), "chosen": scales == chosen["budget_scales"],
                                **met, "mean_bits": float(h["bits"].mean()), "max_bits": int(h["bits"].max()),
                                "share_level0": float((h["level"] == 0).mean()),
                                "share_encoder_sent": float((h["sent"] == 0).mean()),
                                "sgcs_vs_etype2": met["sgcs"] / ref["sgcs"] - 1, "seconds": sec,
                                "reports_per_s": len(x) / sec})
            t = row["test"][-1]
            print(f"{name} ladder {scales}: test SGCS {t['sgcs']:.4f} at {t['mean_bits']:.1f} b (max {t['max_bits']}), "
                  f"{t['sgcs_vs_etype2']:+.1%} vs {ref['name']} ({sec:.0f} s)", flush=True)
        if row["test"]:  # the chosen ladder's test metrics, for the manifest
            t = row["test"][0]
            blocks[name] = {"budget_scales": chosen["budget_scales"],
                            "budget_calibration": {"preset": entry["scenario"]["name"], "seed": cal_seed,
                                                   "num_samples": len(xc), "budget_bits": budget,
                                                   "scales_tried": sorted(args.scales), "max_rungs": args.max_rungs,
                                                   "sgcs": chosen["sgcs"]},
                            "held_test_metrics": {"budget_bits": budget, "payload_bits": t["mean_bits"],
                                                  "payload_bits_max": t["max_bits"], "sgcs": t["sgcs"],
                                                  "nmse_sf_db": t["nmse_db"], "num_samples": len(x), "seed": ds.seed,
                                                  "etype2_ref": ref["name"], "sgcs_vs_etype2": t["sgcs_vs_etype2"]}}
        result["models"].append(row)
        model.latent_refinement = None
        args.out.parent.mkdir(parents=True, exist_ok=True)  # written as it goes
        args.out.write_text(json.dumps(result, indent=1))
    args.out.with_suffix(".md").write_text(_markdown(result))
    print(_markdown(result))
    if args.update_manifest:
        write_refinement_blocks(blocks, merge=True)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""RD-JSCC over the fading uplink: NMSE vs UL SNR, steps, ablations, baselines, early exit, speed.

On the test set of a plan of ``benchmarks/train_runs.py`` (default ``uma``: reconstruction of
the measured DL CSI, k = 64 complex symbols over each sample's own 38.901 UL channel, MRC over
the 32 BS antennas), for the JSCC runs of the plan that exist:

* NMSE (angular-delay crop, and spatial-frequency against the full channel) vs the per-antenna
  UL SNR from -10 to 20 dB: RD-JSCC with 1, 2 and 20 refinement steps and its stage 1 alone
  (the coarse estimate), GD-JSCC (the same U-Net, diffusion from noise) at 1, 2 and 20 steps,
  the supervised U-Net JSCC, ADJSCC and DJSCC-CsiNet+. Every model sees the same samples and the
  same channel noise at each SNR.
* The issue's targets: 2 vs 20 steps (<= 0.3 dB), RD-JSCC (2 steps) vs ADJSCC at 10 dB
  (>= 3 dB), RD- vs GD-JSCC at equal steps.
* Early exit: for each threshold, which SNRs the stored policy refines (its gain table was
  measured on training samples by ``csifb train``), and the resulting mean NMSE and decode time
  per report over the SNR grid.
* Samples/s of the encoder, the coarse decoder and the 2- and 20-step refinement at batch 1000.

Usage:
    python benchmarks/train_runs.py --plan uma --only rdjscc-64,gdjscc-64,supjscc-64,adjscc-64,csinetplus-64
    python benchmarks/jscc.py --plan uma          # -> benchmarks/results/jscc_uma.{json,md}, docs/results/jscc_uma.png
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

SNRS = [-10.0, -5.0, 0.0, 5.0, 10.0, 15.0, 20.0]
ROOT = Path(__file__).resolve().parents[1]

# label: (run, inference steps: 0 = coarse only, None = the model's single pass)
VARIANTS = {
    "RD-JSCC, 20 steps": ("rdjscc-64", 20),
    "RD-JSCC, 2 steps": ("rdjscc-64", 2),
    "RD-JSCC, 1 step": ("rdjscc-64", 1),
    "RD-JSCC stage 1 (coarse)": ("rdjscc-64", 0),
    "GD-JSCC, 20 steps": ("gdjscc-64", 20),
    "GD-JSCC, 2 steps": ("gdjscc-64", 2),
    "GD-JSCC, 1 step": ("gdjscc-64", 1),
    "U-Net JSCC (supervised)": ("supjscc-64", None),
    "ADJSCC": ("adjscc-64", None),
    "DJSCC-CsiNet+": ("csinetplus-64", None),
}


def _load(run: Path):
    from sionna_csifb.models.sizes import build_model

    res = json.loads((run / "result.json").read_text())
    model = build_model(res["model"], res["model_config"])
    model.load_weights(run / res["weights"])
    model.eval()
    return model, res


def _throughput(model, ds, batch: int = 1000) -> dict:
    import torch

    from _common import best_time
    from sionna_csifb.training import batch_to_csi

    b = next(ds.batches(min(batch, len(ds)), shuffle=False, real=False))
    x, _ = model.pack(batch_to_csi(b, ds.scenario)["x"])
    n = len(x)
    snr = model._snr(10.0, n)
    out = {"batch": n}
    with torch.no_grad():
        sym = model.encode_symbols(x, snr)
        t, _ = best_time(lambda: model.encode_symbols(x, snr))
        out["encoder"] = n / t
        coarse = model.decode_coarse(sym, snr)
        t, _ = best_time(lambda: model.decode_coarse(sym, snr))
        out["coarse_decoder"] = n / t
        if model.unet is not None:
            for steps, rep in ((2, 3), (20, 1)):
                t, _ = best_time(lambda s=steps: model.refine(coarse, s), repeats=rep)
                out[f"refinement_{steps}_steps"] = n / t
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--plan", default="uma")
    ap.add_argument("--runs", type=Path, default=ROOT / "runs")
    ap.add_argument("--data", type=Path, default=Path("/tmp/data"))
    ap.add_argument("--samples", type=int, default=512, help="test samples per SNR")
    ap.add_argument("--quick", action="store_true", help="64 samples, SNRs -10/10/20, no throughput")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = ap.parse_args(argv)

    import torch

    from _common import environment
    from sionna_csifb.data.hdf5 import CSIDataset
    from sionna_csifb.training import evaluate_model

    snrs = [-10.0, 10.0, 20.0] if args.quick else SNRS
    n = 64 if args.quick else args.samples
    test = CSIDataset(args.data / f"{args.plan}_test.h5")
    models, missing = {}, []
    for run in sorted({r for r, _ in VARIANTS.values()}):
        p = args.runs / args.plan / run
        if (p / "result.json").exists():
            models[run] = _load(p)
        else:
            missing.append(run)
    if "rdjscc-64" not in models:
        print(f"no RD-JSCC run under {args.runs / args.plan}; train it first (see the usage)", file=sys.stderr)
        return 2
    results = {}
    for label, (run, steps) in VARIANTS.items():
        if run not in models:
            continue
        model, _ = models[run]
        rows = []
        for snr in snrs:
            t0 = time.time()
            r = evaluate_model(model, test, task="reconstruction", num_inference_steps=steps, max_samples=n,
                               ul_snr_db=snr, batch_size=min(256, n), seed=int(snr) + 1000)
            rows.append({"ul_snr_db": snr, "nmse_ad_db": r["nmse_ad_db"], "nmse_sf_db": r["nmse_sf_db"],
                         "num_samples": r["num_samples"], "decode_s_per_sample": 1 / r["decode_samples_per_s"]})
            print(f"{label:28s} UL {snr:+5.1f} dB: NMSE {r['nmse_ad_db']:7.2f} dB (AD) {r['nmse_sf_db']:7.2f} dB (SF) "
                  f"[{time.time() - t0:.1f} s]", flush=True)
        results[label] = rows

    def at(label, snr, key="nmse_ad_db"):
        rows = results.get(label)
        return None if rows is None else next(r[key] for r in rows if r["ul_snr_db"] == snr)

    targets = {
        "rd2_minus_rd20_db": {str(s): at("RD-JSCC, 2 steps", s) - at("RD-JSCC, 20 steps", s) for s in snrs},
        "rd2_vs_adjscc_at_10db": None if "ADJSCC" not in results or 10.0 not in snrs else
        at("ADJSCC", 10.0) - at("RD-JSCC, 2 steps", 10.0),
        "rd_vs_gd_equal_steps_db": {f"{k} steps": {str(s): at(f"GD-JSCC, {k} step{'s' if k > 1 else ''}", s)
                                                   - at(f"RD-JSCC, {k} step{'s' if k > 1 else ''}", s)
                                                   for s in snrs}
                                    for k in (1, 2, 20) if "GD-JSCC, 2 steps" in results},
        "refinement_gain_db": {str(s): at("RD-JSCC stage 1 (coarse)", s) - at("RD-JSCC, 2 steps", s) for s in snrs},
    }
    targets["rd2_within_0p3db_of_rd20"] = all(abs(v) <= 0.3 for v in targets["rd2_minus_rd20_db"].values())
    if targets["rd2_vs_adjscc_at_10db"] is not None:
        targets["rd2_3db_better_than_adjscc_at_10db"] = targets["rd2_vs_adjscc_at_10db"] >= 3.0

    # early exit: the stored policy (gains measured on training samples) at each threshold
    rd, _ = models["rdjscc-64"]
    stored = [float(g) for g in rd.refine_gain_db.numpy()]
    early = []
    for thr in (None, -0.5, 0.0, 0.25, 0.5, 1.0, math.inf):
        rd.exit_threshold_db = thr
        refined = [bool(rd.refine_mask(np.array([s]))[0]) for s in snrs]
        lin = [10 ** ((at("RD-JSCC, 2 steps", s) if f else at("RD-JSCC stage 1 (coarse)", s)) / 10)
               for s, f in zip(snrs, refined, strict=True)]
        t = [at("RD-JSCC, 2 steps" if f else "RD-JSCC stage 1 (coarse)", s, "decode_s_per_sample")
             for s, f in zip(snrs, refined, strict=True)]
        early.append({"threshold_db": None if thr is None else thr if math.isfinite(thr) else "never refine",
                      "refined_at_ul_snr_db": [s for s, f in zip(snrs, refined, strict=True) if f],
                      "mean_nmse_ad_db": 10 * math.log10(float(np.mean(lin))),
                      "mean_decode_ms_per_report": 1e3 * float(np.mean(t))})
    rd.exit_threshold_db = None

    speed = {}
    if not args.quick:
        torch.manual_seed(0)
        for run, (model, _) in models.items():
            speed[run] = _throughput(model, test)
    out = {"plan": args.plan, "num_samples_per_snr": n, "ul_snr_db": snrs, "environment": environment(),
           "num_symbols": rd.num_symbols, "num_bs_ant": test.scenario.num_bs_ant,
           "runs": {run: {"model_config": res["model_config"], "training_config": res["training_config"],
                          "train_seconds": res["train_seconds"], "parameters": int(sum(p.numel() for p in m.parameters()))}
                    for run, (m, res) in models.items()},
           "missing_runs": missing, "nmse_vs_ul_snr": results, "targets": targets,
           "early_exit": {"stored_gain_db_at": dict(zip(map(str, rd_grid()), stored, strict=True)), "thresholds": early},
           "samples_per_s": speed, "gpu": "none in this session: GPU throughput not measured"}
    tag = f"jscc_{args.plan}" + ("_quick" if args.quick else "")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{tag}.json").write_text(json.dumps(out, indent=2))
    (args.out / f"{tag}.md").write_text(markdown(out))
    fig = plot(out, ROOT / "docs" / "results" / f"{tag}.png" if not args.quick else args.out / f"{tag}.png")
    print(markdown(out))
    print(f"wrote {args.out / (tag + '.json')}, {fig}")
    return 0


def rd_grid():
    from sionna_csifb.models.jscc import EXIT_SNR_GRID_DB

    return EXIT_SNR_GRID_DB


def markdown(out: dict) -> str:
    snrs = out["ul_snr_db"]
    lines = [f"{out['num_samples_per_snr']} test samples of `{out['plan']}` per UL SNR, reconstruction, "
             f"k = {out['num_symbols']} complex symbols over each sample's fading UL channel "
             f"(MRC, {out['num_bs_ant']} BS antennas); "
             f"NMSE in dB, angular-delay crop. Device: {out['environment']['device_name']} "
             f"({out['environment']['torch_threads']} threads).", "",
             "| scheme | " + " | ".join(f"{s:+g} dB" for s in snrs) + " |", "|---" * (len(snrs) + 1) + "|"]
    for label, rows in out["nmse_vs_ul_snr"].items():
        lines.append(f"| {label} | " + " | ".join(f"{r['nmse_ad_db']:.2f}" for r in rows) + " |")
    t = out["targets"]
    lines += ["", "Targets:", "",
              "- 2 vs 20 steps (RD-JSCC, dB, positive = 2 steps worse): "
              + ", ".join(f"{k} dB: {v:+.2f}" for k, v in t["rd2_minus_rd20_db"].items())
              + f" -> within 0.3 dB everywhere: {t['rd2_within_0p3db_of_rd20']}"]
    if t.get("rd2_vs_adjscc_at_10db") is not None:
        lines.append(f"- RD-JSCC (2 steps) vs ADJSCC at 10 dB UL SNR: {t['rd2_vs_adjscc_at_10db']:+.2f} dB better "
                     f"(target >= 3 dB: {t['rd2_3db_better_than_adjscc_at_10db']})")
    for k, v in t["rd_vs_gd_equal_steps_db"].items():
        lines.append(f"- RD- vs GD-JSCC at {k} (dB, positive = RD better): "
                     + ", ".join(f"{s}: {d:+.2f}" for s, d in v.items()))
    lines.append("- refinement gain (stage 1 minus 2 steps, dB): "
                 + ", ".join(f"{s}: {d:+.2f}" for s, d in t["refinement_gain_db"].items()))
    lines += ["", "Early exit (stored gain table, measured on training samples; mean over the SNR grid):", "",
              "| threshold (dB) | refined at UL SNR (dB) | mean NMSE (dB) | decode ms/report |", "|---|---|---|---|"]
    for e in out["early_exit"]["thresholds"]:
        thr = "always refine" if e["threshold_db"] is None else e["threshold_db"]
        lines.append(f"| {thr} | {', '.join(f'{s:g}' for s in e['refined_at_ul_snr_db']) or '-'} | "
                     f"{e['mean_nmse_ad_db']:.2f} | {e['mean_decode_ms_per_report']:.2f} |")
    if out["samples_per_s"]:
        lines += ["", "Samples/s at batch 1000 (CPU):", "",
                  "| run | parameters | encoder | coarse decoder | refinement 2 steps | refinement 20 steps |",
                  "|---|---|---|---|---|---|"]
        for run, s in out["samples_per_s"].items():
            f = lambda k: f"{s[k]:.3g}" if k in s else "-"  # noqa: E731
            lines.append(f"| {run} | {out['runs'][run]['parameters']:,} | {f('encoder')} | {f('coarse_decoder')} | "
                         f"{f('refinement_2_steps')} | {f('refinement_20_steps')} |")
    if out["missing_runs"]:
        lines += ["", f"Not trained (absent from this table): {', '.join(out['missing_runs'])}."]
    return "\n".join(lines) + "\n"


def plot(out: dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for label, rows in out["nmse_vs_ul_snr"].items():
        ls = "-" if label.startswith("RD") else "--" if label.startswith("GD") else ":"
        ax.plot([r["ul_snr_db"] for r in rows], [r["nmse_ad_db"] for r in rows], marker="o", ls=ls, label=label)
    ax.set(xlabel="per-antenna UL SNR [dB]", ylabel="NMSE [dB] (angular-delay)",
           title=f"JSCC over the fading uplink, {out['plan']}, k = {out['num_symbols']}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return path


if __name__ == "__main__":
    sys.exit(main())

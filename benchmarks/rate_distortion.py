"""Rate-distortion of the learned schemes on the prediction task of a preset's test set.

Reads finished runs of ``csifb train`` (their ``result.json``: test NMSE in the
angular-delay and spatial-frequency domains, measured through the real bits) from one or
more folders, keeps those of the test set's scenario, adds for each diffusion run whose
weights are at hand the NMSE of the sampler at 1, 2 and 4 steps, the CPU decoding throughput
and the VQ codebook use, and compares with the targets of the issue and the paper's
reference points (Kim et al., from the authors' plot data). Two references without any
feedback model are added: the outdated DL CSI X and the UL CSI Y used as the estimate of Z.
Writes ``<out>/rate_distortion_<preset>.json``, a Markdown table (``.md``) and a plot
(``docs/results/rate_distortion_<preset>.png``).

Runs trained on the lent GPU are kept as their ``result.json`` alone (their metrics were
measured there on the same, CPU-generated test set) in ``benchmarks/results/runs_gpu/``.

Usage:
    python benchmarks/rate_distortion.py --test data/paper-cdl-c_test.h5 \
        --runs runs --runs runs/paper-cdl-c --runs benchmarks/results/runs_gpu/paper-cdl-c
    python benchmarks/rate_distortion.py --test data/realistic-cdl-c_test.h5 --runs runs/realistic-cdl-c
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import codebook_usage as _codebook_usage  # noqa: E402
from _common import environment  # noqa: E402

OUT = Path(__file__).parent / "results"
PAPER = {"diffusion (Kim et al.)": {64: -5.98, 128: -9.02, 256: -10.26}}


def codebook_usage(model, test, n: int) -> dict:
    """:func:`_common.codebook_usage` on the first ``n`` test samples."""
    import numpy as np

    from sionna_csifb.training import packed_batch

    b = test.arrays(np.arange(min(n, len(test))))
    return _codebook_usage(model, packed_batch(model, b, test.scenario)["x"])


def denoiser_nmse(model, test, n: int, task: str, seed: int = 0) -> dict:
    """NMSE of the U-Net's clean estimate given the true noisy target z_t, per step t (1 = least noisy).

    At t = T the input is (almost) pure noise, so that step decodes the codeword (and the side
    information) alone; the sampler starts there. A small MSE at t < T and a large one at t = T
    says the denoiser knows the channels but the codeword carries little of the sample.
    """
    import numpy as np
    import torch

    from sionna_csifb.training import packed_batch

    b = test.arrays(np.arange(min(n, len(test))))
    pb = packed_batch(model, b, test.scenario)
    x = pb["x"]
    target = pb["z"] if task == "prediction" else x
    y = pb["y"] if model.side_info else None
    gen = torch.Generator(device=target.device).manual_seed(seed)
    out = {}
    with torch.no_grad():
        cond = model.condition(model.vq(model.encode_latent(x))["z_hat"])
        for t in range(1, model.num_steps + 1):
            ab = float(model.schedule.alphas_bar[t])
            noise = torch.randn(target.shape, generator=gen, device=target.device)
            z_t = ab ** 0.5 * target + (1 - ab) ** 0.5 * noise
            z0 = model.denoise(z_t, torch.full((len(x),), float(t), device=x.device), cond, y)
            out[t] = float(((z0 - target) ** 2).mean() / (target ** 2).mean())
    return out


def _row(res_file: Path, r: dict) -> dict:
    cfg = r["model_config"]
    return {"run": str(res_file.parent), "model": r["model"], "size": r["size"],
            "side_info": cfg.get("side_info", False), "bits": r["test_metrics"]["payload_bits"],
            "steps": r["steps"], "batch_size": r["training_config"]["batch_size"],
            "train_seconds": r["train_seconds"], "trained_on": r["test_metrics"].get("device", "cpu"),
            "codebook_weight": cfg.get("codebook_weight", 4.5e-4) if r["model"] == "diffusion" else None,
            # absent from a config = the DiffusionCodec default of the time, 0.1
            "min_loss_weight": cfg.get("min_loss_weight", 0.1) if r["model"] == "diffusion" else None,
            "weights": (res_file.parent / "checkpoint.weights.h5").exists(),
            **{k: r["test_metrics"][k] for k in ("nmse_ad_db", "nmse_sf_db")}}


def _family(r: dict) -> str:
    size = " paper size" if r["size"] == "paper" else ""
    return f"{r['model']}{size}{' + UL SI' if r['side_info'] else ', no SI'}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=Path, action="append", required=True,
                    help="a folder of run folders (repeatable)")
    ap.add_argument("--test", type=Path, required=True, help="test dataset (another seed than training)")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--figures", type=Path, default=Path(__file__).parents[1] / "docs" / "results",
                    help="folder of the plot (the docs include it from there)")
    ap.add_argument("--sampler-samples", type=int, default=512,
                    help="test samples for the sampler-steps study (the main NMSE uses the whole test set)")
    args = ap.parse_args()

    import numpy as np
    import torch

    from sionna_csifb.data.hdf5 import CSIDataset
    from sionna_csifb.evaluation.metrics import nmse, to_db
    from sionna_csifb.models.sizes import build_model
    from sionna_csifb.training import evaluate_model

    test = CSIDataset(args.test)
    preset = test.scenario.name
    a = test.arrays(np.arange(len(test)), device="cpu")
    references = {"outdated DL CSI (X as the estimate of Z)": to_db(nmse(a["z"], a["x"])),
                  "UL CSI (Y as the estimate of Z)": to_db(nmse(a["z"], a["y"]))}
    rows = []
    for folder in args.runs:
        for res_file in sorted(folder.glob("*/result.json")):
            r = json.loads(res_file.read_text())
            if r["scenario"] != test.scenario.to_dict() or r["test_data"]["seed"] != test.seed:
                print(f"skip {res_file.parent}: another scenario or test set", flush=True)
                continue
            row = _row(res_file, r)
            if r["model"] == "diffusion" and row["weights"]:
                m = build_model("diffusion", r["model_config"], test.scenario)
                m.load_weights(res_file.parent / "checkpoint.weights.h5")
                m.eval()
                row["codebook"] = codebook_usage(m, test, args.sampler_samples)
                row["denoiser_nmse_given_true_z_t"] = denoiser_nmse(m, test, args.sampler_samples,
                                                                   r["training_config"]["task"])
                row["sampler_steps"] = {}
                for n in (1, 2, 4):
                    t0 = time.perf_counter()
                    e = evaluate_model(m, test, task=r["training_config"]["task"], num_inference_steps=n,
                                       batch_size=128, max_samples=args.sampler_samples)
                    row["sampler_steps"][n] = {"num_samples": e["num_samples"], "nmse_ad_db": e["nmse_ad_db"],
                                               "nmse_sf_db": e["nmse_sf_db"],
                                               "decode_samples_per_s": e["decode_samples_per_s"],
                                               "seconds": time.perf_counter() - t0}
            rows.append(row)
            print(row["run"], f"{row['nmse_ad_db']:.2f} dB", flush=True)

    def best(model, bits, side, size="small"):
        c = [r for r in rows if r["model"] == model and bits - 8 < r["bits"] <= bits and r["side_info"] == side
             and r["size"] == size]
        return min(c, key=lambda r: r["nmse_ad_db"]) if c else None

    targets = {}
    d128, d128n = best("diffusion", 128, True), best("diffusion", 128, False)
    for base in ("csinet", "crnet"):
        b = best(base, 128, True)
        if d128 and b:
            gain = b["nmse_ad_db"] - d128["nmse_ad_db"]
            targets[f"diffusion_vs_{base}_128b_db"] = {"gain_db": gain, "target_db": 2.0, "met": gain >= 2.0,
                                                      "runs": [d128["run"], b["run"]]}
    if d128 and d128n:
        gain = d128n["nmse_ad_db"] - d128["nmse_ad_db"]
        targets["side_info_gain_128b_db"] = {"gain_db": gain, "target_db": 1.0, "met": gain >= 1.0,
                                             "runs": [d128["run"], d128n["run"]]}
    for bits, ref in PAPER["diffusion (Kim et al.)"].items():
        for size in ("small", "paper"):
            d = best("diffusion", bits, True, size)
            if d:
                targets[f"vs_paper_{bits}b_{size}_db"] = {"ours_db": d["nmse_ad_db"], "paper_db": ref,
                                                          "difference_db": d["nmse_ad_db"] - ref, "run": d["run"],
                                                          "met": d["nmse_ad_db"] - ref <= -1.0}
    out = {"environment": environment(), "test_data": {"path": str(args.test), "seed": test.seed,
                                                       "num_samples": len(test)},
           "scenario": test.scenario.to_dict(), "references_nmse_ad_db": references, "rows": rows,
           "targets": targets, "paper_reference": PAPER}
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"rate_distortion_{preset}"
    stem.with_suffix(".json").write_text(json.dumps(out, indent=2))

    md = [f"Test set: {len(test)} samples of `{preset}` (seed {test.seed}); prediction task (target: DL CSI "
          f"{test.scenario.horizon * 1e3:g} ms ahead). NMSE through the real bits. `trained on` says where the run "
          "was trained; GPU runs are kept as their `result.json` (no weights), so they have no sampler study.", "",
          "| run | model | size | UL side info | bits | steps x batch | eq. (7) floor | trained on | NMSE AD (dB) "
          "| NMSE SF (dB) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: (r["model"], r["size"], not r["side_info"], r["bits"], r["nmse_ad_db"])):
        floor = f"{r['min_loss_weight']:g}" if r["min_loss_weight"] is not None else "-"
        md.append(f"| `{r['run']}` | {r['model']} | {r['size']} | {'yes' if r['side_info'] else 'no'} | "
                  f"{r['bits']} | {r['steps']} x {r['batch_size']} | {floor} | {r['trained_on']} | "
                  f"{r['nmse_ad_db']:.2f} | {r['nmse_sf_db']:.2f} |")
    md += ["", "No feedback model at all (NMSE AD of a channel the BS could use as it is):", ""]
    md += [f"- {k}: {v:.2f} dB" for k, v in references.items()]
    samp = [r for r in rows if "sampler_steps" in r]
    if samp:
        md += ["", f"Diffusion sampler steps on the first {args.sampler_samples} test samples (NMSE AD; CPU "
               f"decoding throughput, batch 128, {torch.get_num_threads()} threads):", "",
               "| run | 1 step | 2 steps | 4 steps |", "|---|---|---|---|"]
        for r in samp:
            cells = [f"{v['nmse_ad_db']:.2f} dB, {v['decode_samples_per_s']:.0f}/s"
                     for v in r["sampler_steps"].values()]
            md.append(f"| `{r['run']}` | " + " | ".join(cells) + " |")
        md += ["", "VQ codebook use (index entropy of the test latents against the bits sent per index; RMS of the "
               "encoder's latents against the codewords):", "",
               "| run | codebook weight eta | entropy / bits per index | latent RMS | codeword RMS |",
               "|---|---|---|---|---|"]
        for r in samp:
            c = r["codebook"]
            md.append(f"| `{r['run']}` | {r['codebook_weight']:g} | {c['index_entropy_bits']:.2f} / "
                      f"{c['bits_per_index']} | {c['latent_rms']:.1f} | {c['codeword_rms']:.2f} |")
        md += ["", "Denoiser NMSE (dB) given the *true* noisy target z_t, per diffusion step (t = 4: pure noise, "
               "so the codeword and side information alone; the sampler starts there from z_T = 0):", "",
               "| run | t = 1 | t = 2 | t = 3 | t = 4 |", "|---|---|---|---|---|"]
        for r in samp:
            cells = [f"{10 * np.log10(v):.1f}" for v in r["denoiser_nmse_given_true_z_t"].values()]
            md.append(f"| `{r['run']}` | " + " | ".join(cells) + " |")
    md += ["", "Targets (best run of each kind):", "", "| target | measured | goal | met |", "|---|---|---|---|"]
    for k, v in targets.items():
        if "gain_db" in v:
            md.append(f"| {k} | {v['gain_db']:+.2f} dB | >= {v['target_db']} dB | {'yes' if v['met'] else 'no'} |")
        else:
            md.append(f"| {k} | ours {v['ours_db']:.2f} dB vs paper {v['paper_db']:.2f} dB | 1 dB better than "
                      f"the paper | {v['difference_db']:+.2f} dB, {'yes' if v['met'] else 'no'} |")
    stem.with_suffix(".md").write_text("\n".join(md) + "\n")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4.2))
    for fam in sorted({_family(r) for r in rows}):
        pts = {}
        for r in rows:
            if _family(r) == fam and (r["bits"] not in pts or r["nmse_ad_db"] < pts[r["bits"]]):
                pts[r["bits"]] = r["nmse_ad_db"]
        ax.plot(sorted(pts), [pts[b] for b in sorted(pts)], marker="o", label=f"{fam} (ours, best run)")
    if preset == "paper-cdl-c":
        ref = PAPER["diffusion (Kim et al.)"]
        ax.plot(list(ref), list(ref.values()), "k--", marker="x", label="Kim et al. (paper)")
    for (k, v), ls in zip(references.items(), (":", "-."), strict=True):
        ax.axhline(v, color="gray", ls=ls, lw=1, label=k)
    ax.set(xlabel="payload [bits]", ylabel="NMSE, angular-delay [dB]",
           title=f"{preset}, prediction {test.scenario.horizon * 1e3:g} ms ahead")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    args.figures.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.figures / f"{stem.name}.png", dpi=120)
    print("\n".join(md))


if __name__ == "__main__":
    main()

"""Rate-distortion of the learned schemes on the prediction task of ``paper-cdl-c``.

Reads the finished runs of ``csifb train`` (their ``result.json``: test NMSE in the
angular-delay and spatial-frequency domains, measured through the real bits), adds for each
diffusion run the NMSE of the sampler at 1, 2 and 4 steps and the CPU decoding throughput,
and compares with the targets of the issue and the paper's reference points (Kim et al.,
from the authors' plot data). Writes ``benchmarks/results/rate_distortion.json``, a Markdown
table (``.md``) and a plot (``.png``).

Usage:
    python benchmarks/rate_distortion.py --runs runs --test data/paper-cdl-c_test.h5
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import environment  # noqa: E402

OUT = Path(__file__).parent / "results"
PAPER = {"diffusion (Kim et al.)": {64: -5.98, 128: -9.02, 256: -10.26}}


def codebook_usage(model, test, n: int) -> dict:
    """How much of the VQ capacity the encoder uses: index entropy vs log2(Nv), latent vs codeword RMS."""
    import keras
    import numpy as np
    import torch

    from sionna_csifb.training import to_model

    b = test.arrays(np.arange(min(n, len(test))))
    with torch.no_grad():
        lat = model.encode_latent(to_model(b["x"], test.scenario))
        idx = keras.ops.convert_to_numpy(model.vq.nearest(lat)).ravel()
    p = np.bincount(idx, minlength=model.vq.num_codewords) / idx.size
    ent = float(-(p[p > 0] * np.log2(p[p > 0])).sum())
    cb = keras.ops.convert_to_numpy(model.vq.codebook)
    return {"usage": p.tolist(), "index_entropy_bits": ent, "bits_per_index": model.bits_per_index,
            "latent_rms": float(lat.pow(2).mean().sqrt()), "codeword_rms": float(np.sqrt((cb ** 2).mean()))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=Path, default=Path("runs"))
    ap.add_argument("--test", type=Path, required=True, help="test dataset (another seed than training)")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--sampler-samples", type=int, default=512,
                    help="test samples for the sampler-steps study (the main NMSE uses the whole test set)")
    args = ap.parse_args()


    import torch

    from sionna_csifb.data.hdf5 import CSIDataset
    from sionna_csifb.models.sizes import build_model
    from sionna_csifb.training import evaluate_model

    test = CSIDataset(args.test)
    rows = []
    for res_file in sorted(args.runs.glob("*/result.json")):
        r = json.loads(res_file.read_text())
        row = {"run": res_file.parent.name, "model": r["model"], "size": r["size"],
               "side_info": r["model_config"].get("side_info", False), "bits": r["test_metrics"]["payload_bits"],
               "steps": r["steps"], "train_seconds": r["train_seconds"],
               "codebook_weight": r["model_config"].get("codebook_weight", 4.5e-4), **{k: r["test_metrics"][k] for k in
                                                                          ("nmse_ad_db", "nmse_sf_db")}}
        if r["model"] == "diffusion":
            m = build_model("diffusion", r["model_config"])
            m.load_weights(res_file.parent / "checkpoint.weights.h5")
            m.eval()
            row["codebook"] = codebook_usage(m, test, args.sampler_samples)
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

    def best(model, bits, side):
        c = [r for r in rows if r["model"] == model and r["bits"] <= bits and r["bits"] > bits - 8
             and r["side_info"] == side]
        return min(c, key=lambda r: r["nmse_ad_db"]) if c else None

    targets = {}
    d128, d128n = best("diffusion", 128, True), best("diffusion", 128, False)
    for base in ("csinet", "crnet"):
        b = best(base, 128, True)
        if d128 and b:
            gain = b["nmse_ad_db"] - d128["nmse_ad_db"]
            targets[f"diffusion_vs_{base}_128b_db"] = {"gain_db": gain, "target_db": 2.0, "met": gain >= 2.0}
    if d128 and d128n:
        gain = d128n["nmse_ad_db"] - d128["nmse_ad_db"]
        targets["side_info_gain_128b_db"] = {"gain_db": gain, "target_db": 1.0, "met": gain >= 1.0}
    for bits, ref in PAPER["diffusion (Kim et al.)"].items():
        d = best("diffusion", bits, True)
        if d:
            targets[f"vs_paper_{bits}b_db"] = {"ours_db": d["nmse_ad_db"], "paper_db": ref,
                                               "difference_db": d["nmse_ad_db"] - ref}
    out = {"environment": environment(), "test_data": {"path": str(args.test), "seed": test.seed,
                                                       "num_samples": len(test)},
           "scenario": test.scenario.to_dict(), "rows": rows, "targets": targets, "paper_reference": PAPER}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "rate_distortion.json").write_text(json.dumps(out, indent=2))

    md = [f"Test set: {len(test)} samples of `{test.scenario.name}` (seed {test.seed}); prediction task "
          "(target: DL CSI 5 ms ahead). NMSE through the real bits; `small` models trained on CPU.", "",
          "| run | model | UL side info | bits | training steps | NMSE AD (dB) | NMSE SF (dB) |",
          "|---|---|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: (r["model"], r["bits"], not r["side_info"])):
        md.append(f"| `{r['run']}` | {r['model']} | {'yes' if r['side_info'] else 'no'} | {r['bits']} | "
                  f"{r['steps']} | {r['nmse_ad_db']:.2f} | {r['nmse_sf_db']:.2f} |")
    samp = [r for r in rows if "sampler_steps" in r]
    if samp:
        md += ["", f"Diffusion sampler steps on the first {args.sampler_samples} test samples (NMSE AD; CPU "
               f"decoding throughput, batch 128, {torch.get_num_threads()} threads):", "",
               "| run | 1 step | 2 steps | 4 steps |", "|---|---|---|---|"]
        for r in samp:
            cells = [f"{v['nmse_ad_db']:.2f} dB, {v['decode_samples_per_s']:.0f}/s"
                     for v in r["sampler_steps"].values()]
            md.append(f"| `{r['run']}` | " + " | ".join(cells) + " |")
    if samp:
        md += ["", "VQ codebook use (index entropy of the test latents against the bits sent per index; RMS of the "
               "encoder's latents against the codewords):", "",
               "| run | codebook weight eta | entropy / bits per index | latent RMS | codeword RMS |",
               "|---|---|---|---|---|"]
        for r in samp:
            c = r["codebook"]
            md.append(f"| `{r['run']}` | {r['codebook_weight']:g} | {c['index_entropy_bits']:.2f} / "
                      f"{c['bits_per_index']} | {c['latent_rms']:.1f} | {c['codeword_rms']:.2f} |")
    md += ["", "Targets:", "", "| target | measured | goal | met |", "|---|---|---|---|"]
    for k, v in targets.items():
        if "gain_db" in v:
            md.append(f"| {k} | {v['gain_db']:+.2f} dB | >= {v['target_db']} dB | {'yes' if v['met'] else 'no'} |")
        else:
            md.append(f"| {k} | ours {v['ours_db']:.2f} dB vs paper {v['paper_db']:.2f} dB | paper model "
                      f"(`paper` size) to beat it by 1 dB | {v['difference_db']:+.2f} dB |")
    (args.out / "rate_distortion.md").write_text("\n".join(md) + "\n")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for (model, side), mk in ((("diffusion", True), "o"), (("diffusion", False), "s"), (("csinet", True), "^"),
                              (("crnet", True), "v")):
        pts = sorted((r["bits"], r["nmse_ad_db"]) for r in rows if r["model"] == model and r["side_info"] == side)
        if pts:
            ax.plot(*zip(*pts, strict=True), marker=mk, label=f"{model}{' + UL SI' if side else ''} (ours, small)")
    ref = PAPER["diffusion (Kim et al.)"]
    ax.plot(list(ref), list(ref.values()), "k--", marker="x", label="Kim et al. (paper)")
    ax.set(xlabel="payload [bits]", ylabel="NMSE, angular-delay [dB]", title="paper-cdl-c, prediction 5 ms ahead")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out / "rate_distortion.png", dpi=120)
    print("\n".join(md))


if __name__ == "__main__":
    main()

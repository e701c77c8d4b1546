"""Decoding throughput (samples/s) of trained diffusion codecs on this machine's device.

Times ``decode_bits`` (codebook lookup, conditioning network, the sampler's U-Net passes)
on real bits of test samples with their UL side information, for 1, 2 and 4 sampler steps and
a few batch sizes; best of 3 after a warm-up, synchronised on a GPU. Writes JSON and a
Markdown table beside it (``--render FILE.json`` rewrites the table of an existing file).

Usage:
    python benchmarks/decode_throughput.py --runs runs/paper-cdl-c --test data/paper-cdl-c_test.h5 \
        --out benchmarks/results/decode_throughput_cpu.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import best_time, environment  # noqa: E402


def to_markdown(out: dict) -> str:
    env = out["environment"]
    md = [f"Decoding throughput on {env['device_name']} (`{env['device']}`, torch {env['torch']}, "
          f"{env['torch_threads']} threads), samples/s, best of 3:", "",
          "| run | parameters | batch | 1 step | 2 steps | 4 steps |", "|---|---|---|---|---|---|"]
    keys = sorted({(r["run"], r["parameters"], r["batch_size"]) for r in out["rows"]}, key=lambda k: (k[0], k[2]))
    for run, params, bs in keys:
        cells = [f"{r['samples_per_s']:.0f}" for r in sorted(out["rows"], key=lambda r: r["sampler_steps"])
                 if (r["run"], r["batch_size"]) == (run, bs)]
        md.append(f"| `{run}` | {params / 1e6:.1f} M | {bs} | " + " | ".join(cells) + " |")
    return "\n".join(md) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=Path, help="folder of csifb train runs")
    ap.add_argument("--test", type=Path)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--render", type=Path, help="only rewrite the Markdown table of this JSON file")
    ap.add_argument("--batch-sizes", default="1,128,1024")
    ap.add_argument("--only", default=None, help="comma-separated run names")
    args = ap.parse_args()
    if args.render:
        args.render.with_suffix(".md").write_text(to_markdown(json.loads(args.render.read_text())))
        return
    if not (args.runs and args.test and args.out):
        ap.error("--runs, --test and --out are required (or --render)")

    import numpy as np
    import torch

    import sionna_csifb  # noqa: F401  (selects the Keras backend)
    from sionna_csifb.data.hdf5 import CSIDataset
    from sionna_csifb.models.sizes import build_model
    from sionna_csifb.training import packed_batch

    test = CSIDataset(args.test)
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    rows = []
    for res in sorted(args.runs.glob("*/result.json")):
        r = json.loads(res.read_text())
        if r["model"] != "diffusion" or (args.only and res.parent.name not in args.only.split(",")):
            continue
        m = build_model("diffusion", r["model_config"], test.scenario)
        m.load_weights(res.parent / "checkpoint.weights.h5")
        m.eval()
        params = int(sum(p.numel() for p in m.parameters()))
        for bs in batch_sizes:
            b = test.arrays(np.arange(bs) % len(test))
            with torch.no_grad():
                pb = packed_batch(m, b, test.scenario)
                y = pb["y"] if m.side_info else None
                bits = m.encode_bits(pb["x"])
                for steps in (1, 2, 4):
                    t, _ = best_time(lambda: m.decode_bits(bits, y, num_inference_steps=steps))  # noqa: B023
                    rows.append({"run": res.parent.name, "size": r["size"], "parameters": params, "batch_size": bs,
                                 "sampler_steps": steps, "seconds": t, "samples_per_s": bs / t})
                    print(f"{res.parent.name} ({params / 1e6:.1f} M) batch {bs} steps {steps}: {bs / t:.0f} samples/s",
                          flush=True)
    out = {"environment": environment(), "test_data": str(args.test), "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2))
    args.out.with_suffix(".md").write_text(to_markdown(out))
    print(to_markdown(out))


if __name__ == "__main__":
    main()

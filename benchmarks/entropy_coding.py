"""Entropy-coded feedback: rate-distortion against actual bits, the coder's own numbers.

On the test set of a plan of ``benchmarks/train_runs.py`` (default ``uma``: reconstruction of
the measured DL CSI, no side information), for every trained run and for the codebooks:

* NMSE (spatial-frequency, against the cropped channel the models see) and SGCS (per
  subcarrier) against the **actual** mean report length: entropy-coded models (bits of the
  real range-coded reports), the same CsiNet network with fixed 6-bit uniform quantisation,
  Type I and eType II at their payloads. NMSE gain over the uniform-6-bit curve at equal bits
  (interpolated in bits; within 2% beyond an end point, that end point).
* Estimated (the float entropy model) vs ideal (frozen integer tables) vs actual bits, and
  the termination cost (actual - ideal).
* Coder speed (reports/s, CPU, range coding alone and the whole compress/decompress).
* Rate-adaptive mode: bit budgets, the share of reports that meet them, NMSE.
* Cross-process agreement: ``--crosscheck`` reports encoded in one process, decoded in
  another (``sionna_csifb.entropy.crosscheck``), mismatches counted.
* Fuzzing: ``--fuzz`` corrupted / truncated / random stored-report files and as many raw
  bitstreams into the decoder: each must be a clear error or a valid finite decode.

Usage:
    python benchmarks/train_runs.py --plan uma --jobs 2          # the runs (2 CPU cores: ~1.5 h)
    python benchmarks/entropy_coding.py --plan uma               # -> benchmarks/results/entropy_coding_uma.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import csi_metrics, eval_codec, load_run, rate_adaptive  # noqa: E402


def _coder_speed(model, x, n: int = 500) -> dict:
    """Range coding alone: symbols -> bits -> symbols, reports/s."""
    from sionna_csifb.entropy.coding import VariableLengthBits

    xp, _ = model.pack(x[:n])
    p = model.compress_packed(xp)  # warm
    t0 = time.perf_counter()
    p = model.compress_packed(xp)
    t_all = time.perf_counter() - t0
    idx, z = model._symbols(xp)
    t0 = time.perf_counter()
    model._symbols(xp)
    t_net = time.perf_counter() - t0
    t0 = time.perf_counter()
    model.decode_symbols(VariableLengthBits(p.bits, p.num_bits))
    t_dec = time.perf_counter() - t0
    return {"reports": n, "range_encode_reports_per_s": n / max(t_all - t_net, 1e-9),
            "range_decode_reports_per_s": n / t_dec}


def _crosscheck(res: dict, weights: Path, data: Path, num_reports: int) -> dict:
    """``num_reports`` CSI samples of ``data`` (X, Z, Y fields) encoded in one process, decoded in another."""
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        (d / "config.json").write_text(json.dumps(res["model_config"]))
        shutil.copy(weights, d / "model.weights.h5")
        env = {**os.environ, "KERAS_BACKEND": "torch"}
        out = {}
        for mode in ("encode", "decode"):
            t0 = time.time()
            cmd = [sys.executable, "-m", "sionna_csifb.entropy.crosscheck", mode, "--model-dir", str(d), "--work-dir",
                   str(d / "w"), "--device", "cpu"]
            if mode == "encode":
                cmd += ["--data", str(data), "--num-reports", str(num_reports)]
            r = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
            out[mode] = {**json.loads(r.stdout.strip().splitlines()[-1]), "seconds": time.time() - t0}
        return {"reports": out["decode"]["reports"], "mismatches": out["decode"]["mismatches"],
                "mean_bits": out["encode"]["mean_bits"], "encode_process_s": out["encode"]["seconds"],
                "decode_process_s": out["decode"]["seconds"], "processes": "two CPU processes",
                "source": f"{data} (X, Z and Y fields)"}


def _fuzz(model, x, tries: int, seed: int = 0) -> dict:
    """Stored-report files and raw bitstreams, corrupted: count outcomes."""
    from sionna_csifb.entropy.coding import CodingError, VariableLengthBits
    from sionna_csifb.entropy.report_file import ReportFormatError, pack_reports, unpack_reports

    rng = np.random.default_rng(seed)
    p = model.compress(x[:16])
    fp = model.fingerprint()
    blob = pack_reports(p, fp)
    out = {"file": {"error": 0, "decoded": 0, "crash": 0, "nan": 0},
           "bitstream": {"error": 0, "decoded": 0, "crash": 0, "nan": 0}}
    slowest = 0.0
    for i in range(tries):
        b = bytearray(blob)
        kind = i % 4
        if kind == 0:
            pos = int(rng.integers(0, 8 * len(b)))
            b[pos // 8] ^= 1 << (pos % 8)
        elif kind == 1:
            b = b[: int(rng.integers(0, len(b)))]
        elif kind == 2:
            b = bytearray(rng.integers(0, 256, int(rng.integers(0, 200))).astype(np.uint8).tobytes())
        else:
            for _ in range(int(rng.integers(1, 6))):
                pos = int(rng.integers(0, 8 * len(b)))
                b[pos // 8] ^= 1 << (pos % 8)
        # the file path
        t0 = time.perf_counter()
        try:
            q, _ = unpack_reports(bytes(b), fp)
            est = np.asarray(model.decompress(q))
            out["file"]["nan" if not np.isfinite(est.view("float32")).all() else "decoded"] += 1
        except (ReportFormatError, CodingError):
            out["file"]["error"] += 1
        except Exception as e:  # noqa: BLE001  (counted: a crash is a failure of the target)
            out["file"]["crash"] += 1
            out.setdefault("first_crash", repr(e))
        # the raw bitstream path (over the air: no checksum before the decoder)
        j = int(rng.integers(0, len(p.num_bits)))
        r = p.report(j).copy()
        if kind in (0, 3) and len(r):
            for _ in range(kind // 3 * 4 + 1):
                k = int(rng.integers(0, len(r)))
                r[k] ^= 1
        elif kind == 1:
            r = r[: int(rng.integers(0, len(r) + 1))]
        else:
            r = rng.integers(0, 2, int(rng.integers(0, 400))).astype(np.uint8)
        try:
            est = np.asarray(model.decompress(VariableLengthBits.from_list([r]) if len(r) else
                                              VariableLengthBits(np.zeros((1, 0), np.uint8), np.zeros(1, "int64"))))
            out["bitstream"]["nan" if not np.isfinite(est.view("float32")).all() else "decoded"] += 1
        except CodingError:
            out["bitstream"]["error"] += 1
        except Exception as e:  # noqa: BLE001
            out["bitstream"]["crash"] += 1
            out.setdefault("first_crash", repr(e))
        slowest = max(slowest, time.perf_counter() - t0)
    return {"tries": tries, **out, "slowest_try_s": slowest}


def _interp_db(bits: float, curve: list[tuple[float, float]], slack: float = 0.02) -> float | None:
    """The curve's value at ``bits``, interpolated linearly in bits; up to ``slack`` (relative)
    beyond an end point, that end point's value; None further out."""
    pts = sorted(curve)
    if len(pts) < 2 or not pts[0][0] * (1 - slack) <= bits <= pts[-1][0] * (1 + slack):
        return None
    return float(np.interp(bits, [b for b, _ in pts], [v for _, v in pts]))


def _plot(rows: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    groups = {}
    for r in rows:
        groups.setdefault(r["family"], []).append(r)
    style = {"entropy-coded (hyperprior)": "o-", "uniform 6-bit (same CsiNet)": "s--", "eType II": "^-",
             "Type I": "v", "entropy-coded (variants)": "x"}
    for fam, rs in groups.items():
        rs = sorted(rs, key=lambda r: r["mean_bits"])
        b = [r["mean_bits"] for r in rs]
        axes[0].plot(b, [r["nmse_db"] for r in rs], style.get(fam, "o"), label=fam)
        axes[1].plot(b, [r["sgcs"] for r in rs], style.get(fam, "o"), label=fam)
    axes[0].set_ylabel("NMSE (dB)")
    axes[1].set_ylabel("SGCS")
    for ax in axes:
        ax.set_xlabel("mean report length (bits, actual)")
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def _markdown(result: dict) -> str:
    """The tables the docs include (generated, never edited by hand)."""
    env = result["environment"]
    lines = [f"{result['test_data']['num_samples']} test samples of `{result['plan']}` (seed "
             f"{result['test_data']['seed']}), {result['task']}; {env['device_name']}, commit {env['git_commit']}.",
             "", "| scheme | family | mean bits (actual) | p95 bits | NMSE (dB) | SGCS | vs uniform 6-bit at equal bits |",
             "|---|---|---|---|---|---|---|"]
    for r in sorted(result["rows"], key=lambda r: (r["family"], r["mean_bits"])):
        gain = r.get("gain_over_uniform6_db")
        p95 = f"{r['p95_bits']:.0f}" if "p95_bits" in r else "-"
        vs = "-" if gain is None else f"{gain:+.2f} dB"
        lines.append(f"| `{r['name']}` | {r['family']} | {r['mean_bits']:.1f} | {p95} | {r['nmse_db']:.2f} | "
                     f"{r['sgcs']:.3f} | {vs} |")
    ent = [r for r in result["rows"] if "estimated_bits" in r]
    if ent:
        lines += ["", "| entropy-coded run | estimated bits | ideal bits (integer tables) | actual bits | "
                      "actual / estimated | termination (actual - ideal) | encode reports/s | decode reports/s |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in ent:
            lines.append(f"| `{r['name']}` | {r['estimated_bits']:.1f} | {r['ideal_bits']:.1f} | {r['mean_bits']:.1f} | "
                         f"{r['actual_over_estimated']:.3f} | {r['termination_bits']:+.2f} | "
                         f"{r['encode_reports_per_s']:.0f} | {r['decode_reports_per_s']:.0f} |")
    if "rate_adaptive" in result:
        lines += ["", f"Rate-adaptive mode (`{result['reference_run']}`):", "",
                  "| budget (bits) | mean bits | p95 bits | within budget | at level 0 (all fine) | NMSE (dB) | SGCS |",
                  "|---|---|---|---|---|---|---|"]
        for r in result["rate_adaptive"]:
            lines.append(f"| {r['budget_bits']} | {r['mean_bits']:.1f} | {r['p95_bits']:.0f} | "
                         f"{100 * r['share_within_budget']:.1f}% | {100 * r['share_level0']:.1f}% | "
                         f"{r['nmse_db']:.2f} | {r['sgcs']:.3f} |")
    if "coder_speed" in result:
        c = result["coder_speed"]
        lines += ["", f"Range coder alone (CPU, one thread of Python per report): "
                      f"{c['range_encode_reports_per_s']:.0f} reports/s encoding (with bit-granular termination), "
                      f"{c['range_decode_reports_per_s']:.0f} reports/s decoding."]
    if "crosscheck" in result:
        c = result["crosscheck"]
        lines += ["", f"Encoded in one process, decoded in another ({c['processes']}): {c['reports']} reports, "
                      f"**{c['mismatches']} mismatches**."]
    if "fuzz" in result:
        f = result["fuzz"]
        lines += ["", f"Fuzzing ({f['tries']} tries each): stored-report files {f['file']}; raw bitstreams "
                      f"{f['bitstream']}; slowest try {f['slowest_try_s'] * 1e3:.0f} ms."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--plan", default="uma")
    ap.add_argument("--runs", type=Path, default=Path("runs"))
    ap.add_argument("--data", type=Path, default=Path("data"))
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--plot", type=Path, default=None)
    ap.add_argument("--samples", type=int, default=2000, help="test samples")
    ap.add_argument("--crosscheck", type=int, default=100000, help="reports for the two-process check (0: skip)")
    ap.add_argument("--fuzz", type=int, default=10000, help="fuzzing tries (0: skip)")
    ap.add_argument("--reference", default="entropy-118", help="the run for the coder checks")
    args = ap.parse_args(argv)
    out = args.out or Path(f"benchmarks/results/entropy_coding_{args.plan}.json")
    plot = args.plot or Path(f"docs/results/entropy_coding_{args.plan}.png")

    import torch

    import sionna_csifb  # noqa: F401
    from _common import environment
    from sionna_csifb.data.hdf5 import CSIDataset
    from sionna_csifb.schemes.base import get_scheme, scheme_overrides
    from sionna_csifb.training import batch_to_csi

    sys.path.insert(0, str(Path(__file__).parent))
    from train_runs import data_paths

    train_path, test_path = data_paths(args.data, args.plan)
    ds = CSIDataset(test_path)
    scen = ds.scenario
    xs = [batch_to_csi(b, scen)["x"] for b in ds.batches(500, shuffle=False, real=False)]
    x = torch.cat(xs)[: args.samples]
    x = x / x.abs().pow(2).mean(dim=(1, 2), keepdim=True).sqrt()  # unit mean power per entry
    result = {"environment": environment(), "plan": args.plan, "scenario": scen.to_dict(),
              "test_data": {"path": str(test_path), "seed": ds.seed, "num_samples": len(x)},
              "task": "reconstruction of the measured DL CSI (cropped delay window), no side information",
              "rows": []}
    rows = result["rows"]
    runs = sorted(p for p in (args.runs / args.plan).glob("*") if (p / "result.json").exists())
    loaded = {}
    for run in runs:
        model, res, weights = load_run(run, scen)
        if res["model"] not in ("entropy", "csinet") or res["training_config"]["task"] != "reconstruction":
            continue
        loaded[run.name] = (model, res, weights)
        cfg = res["model_config"]
        if res["model"] == "entropy":
            main_family = cfg.get("entropy_model", "hyperprior") == "hyperprior" and cfg.get("encoder") == "cnn" \
                and cfg.get("companding", "uniform") == "uniform"
            fam = "entropy-coded (hyperprior)" if main_family else "entropy-coded (variants)"
        else:
            fam = "uniform 6-bit (same CsiNet)"
        row = {"name": run.name, "family": fam, "model": res["model"], "model_config": cfg,
               "steps": res["steps"], "train_samples": res["train_data"]["num_samples"], **eval_codec(model, x)}
        rows.append(row)
        print(f"{run.name:28s} {row['mean_bits']:7.1f} b  NMSE {row['nmse_db']:6.2f} dB  SGCS {row['sgcs']:.3f}",
              flush=True)
    for name in ("type1-wb", "etype2-pc1", "etype2-pc3", "etype2-pc6"):
        s = get_scheme(name, **scheme_overrides(name, x.shape[1]))
        with torch.no_grad():
            h_hat = s.decode(s.encode(x))
        row = {"name": name, "family": "eType II" if "etype2" in name else "Type I",
               "mean_bits": float(s.nominal_payload_bits), **csi_metrics(x, h_hat)}
        rows.append(row)
        print(f"{name:28s} {row['mean_bits']:7.1f} b  NMSE {row['nmse_db']:6.2f} dB  SGCS {row['sgcs']:.3f}",
              flush=True)
    # targets
    uni = [(r["mean_bits"], r["nmse_db"]) for r in rows if r["family"].startswith("uniform")]
    for r in rows:
        if r["family"].startswith("entropy"):
            ref = _interp_db(r["mean_bits"], uni)
            r["uniform6_nmse_db_at_same_bits"] = ref
            r["gain_over_uniform6_db"] = None if ref is None else ref - r["nmse_db"]
    pc3 = next(r for r in rows if r["name"] == "etype2-pc3")
    ref_run = next((r for r in rows if r["name"] == args.reference), None)
    if ref_run is not None:
        model = loaded[args.reference][0]
        result["reference_run"] = args.reference
        result["sgcs_over_etype2_pc3"] = ref_run["sgcs"] / pc3["sgcs"] - 1
        result["coder_speed"] = _coder_speed(model, x)
        result["rate_adaptive"] = rate_adaptive(model, x, [int(ref_run["mean_bits"] * f) for f in (0.6, 0.8, 1.0)])
        if args.fuzz:
            result["fuzz"] = _fuzz(model, x, args.fuzz)
            print("fuzz:", json.dumps(result["fuzz"]), flush=True)
        if args.crosscheck:
            result["crosscheck"] = _crosscheck(*loaded[args.reference][1:], train_path, args.crosscheck)
            print("crosscheck:", json.dumps(result["crosscheck"]), flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    out.with_suffix(".md").write_text(_markdown(result))
    _plot(rows, plot, f"{scen.name}: reconstruction, {len(x)} test samples (benchmarks/entropy_coding.py)")
    print(f"wrote {out} and {plot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Statistics of the paired FDD CSI data, per scenario preset, and generation speed.

For each preset: the fraction of channel energy the angular-delay crop keeps (first
``num_taps`` taps, and the circular window starting at tap -4), the resulting
spatial-frequency NMSE floor with perfect feedback, how fast the DL ages over the
horizon, and how much the UL CSI says about the future DL CSI of the same sample
compared with the UL CSI of another sample. Then generation speed in samples/s.

Writes ``benchmarks/results/data_stats.json`` and a Markdown table
``benchmarks/results/data_stats.md`` that the docs include.

Usage::

    python benchmarks/data_stats.py            # ~3 min on 2 CPU cores
    python benchmarks/data_stats.py --quick    # fewer samples, a smoke test
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from _common import best_time, environment  # noqa: E402

import sionna_csifb  # noqa: E402
from sionna_csifb.csi.generator import CSIGenerator  # noqa: E402
from sionna_csifb.csi.scenario import get_scenario, list_presets  # noqa: E402
from sionna_csifb.csi.transforms import to_angular_delay  # noqa: E402
from sionna_csifb.data.hdf5 import generate_dataset  # noqa: E402
from sionna_csifb.evaluation.metrics import correlation, to_db  # noqa: E402

OUT = Path(__file__).parent / "results"


def corr(x: torch.Tensor, y: torch.Tensor) -> float:
    return correlation(x, y).mean().item()


def preset_stats(name: str, n: int, seed: int, **overrides) -> dict:
    s = get_scenario(name, **overrides)
    gen = CSIGenerator(s)
    parts = [gen(min(64, n - lo), seed + lo) for lo in range(0, n, 64)]
    x, y, z = (torch.cat([getattr(p, k) for p in parts]) for k in "xyz")
    total = z.abs().pow(2).sum((1, 2))
    out = {"scenario": s.to_dict(), "num_samples": n}
    for start in (0, -4):
        kept = to_angular_delay(z, s.num_taps, start).abs().pow(2).sum((1, 2)) / total
        out[f"window_{start}"] = {
            "taps": f"{start}..{start + s.num_taps - 1}",
            "energy_kept_mean": kept.mean().item(), "energy_kept_min": kept.min().item(),
            "energy_kept_p05": kept.quantile(0.05).item(),
            "nmse_floor_sf_db": to_db(1 - kept),  # SF NMSE of a perfect AD reconstruction
        }
    ad = lambda h: to_angular_delay(h, s.num_taps).abs()  # noqa: E731
    out["rho_now_future_dl"] = corr(x, z)
    out["rho_future_dl_ul"] = corr(z, y)
    out["rho_future_dl_ul_other_sample"] = corr(z, y.roll(1, 0))
    out["rho_abs_ad_future_dl_ul"] = corr(ad(z), ad(y))
    out["rho_abs_ad_future_dl_ul_other_sample"] = corr(ad(z), ad(y).roll(1, 0))
    out["rho_abs_ad_between_samples"] = corr(ad(z), ad(z).roll(1, 0))
    return out


def speed(name: str, batch: int, n_file: int) -> dict:
    gen = CSIGenerator(get_scenario(name))
    t, times = best_time(lambda: gen(batch, 1), repeats=3)
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        generate_dataset(Path(d) / "s.h5", get_scenario(name), n_file, progress=False)
        t_file = time.perf_counter() - t0
    return {"preset": name, "batch_size": batch, "generator_samples_per_s": batch / t,
            "generator_times_s": times, "dataset_samples": n_file,
            "dataset_samples_per_s": n_file / t_file,
            "minutes_for_1e5_samples": 1e5 / (n_file / t_file) / 60}


def markdown(res: dict) -> str:
    rows = ["| preset | energy kept, taps 0..31 (min) | SF NMSE floor | taps -4..27 | floor | "
            "rho(X, Z) | rho(Z, Y) same / other sample | rho(abs AD) same / other |",
            "|---|---|---|---|---|---|---|---|"]
    for name, r in res["presets"].items():
        w0, w4 = r["window_0"], r["window_-4"]
        rows.append(
            f"| `{name}` | {w0['energy_kept_mean']:.3f} ({w0['energy_kept_min']:.3f}) | "
            f"{w0['nmse_floor_sf_db']:.1f} dB | {w4['energy_kept_mean']:.3f} | {w4['nmse_floor_sf_db']:.1f} dB | "
            f"{r['rho_now_future_dl']:.3f} | {r['rho_future_dl_ul']:.3f} / {r['rho_future_dl_ul_other_sample']:.3f} | "
            f"{r['rho_abs_ad_future_dl_ul']:.3f} / {r['rho_abs_ad_future_dl_ul_other_sample']:.3f} |")
    rows += ["", "How the UL per-ray phase option changes what Y says about Z:", "",
             "| preset / ul_phases | rho(Z, Y) same / other sample | rho(abs AD) same / other |", "|---|---|---|"]
    for key, r in res["ul_phase_options"].items():
        rows.append(f"| `{key}` | {r['rho_future_dl_ul']:.3f} / {r['rho_future_dl_ul_other_sample']:.3f} | "
                    f"{r['rho_abs_ad_future_dl_ul']:.3f} / {r['rho_abs_ad_future_dl_ul_other_sample']:.3f} |")
    e = res["environment"]
    rows += ["", f"Generation speed on {e['device_name']} ({e['device']}, {e['torch_threads']} threads), "
             f"{res['num_samples']} samples per preset, seed {res['seed']}:", "",
             "| preset | generator (batch) | dataset file incl. crop + HDF5 | 1e5 samples |", "|---|---|---|---|"]
    for sp in res["speed"]:
        rows.append(f"| `{sp['preset']}` | {sp['generator_samples_per_s']:.0f} samples/s ({sp['batch_size']}) | "
                    f"{sp['dataset_samples_per_s']:.0f} samples/s | {sp['minutes_for_1e5_samples']:.1f} min |")
    return "\n".join(rows) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="64 samples per preset, short speed test")
    ap.add_argument("--n", type=int, default=512, help="samples per preset")
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    n = 64 if args.quick else args.n
    sionna_csifb.config.seed = args.seed
    presets = [p for p in list_presets() if p != "cpu-small"]
    res = {"environment": environment(), "seed": args.seed, "num_samples": n, "presets": {}, "speed": []}
    for name in presets:
        t0 = time.perf_counter()
        res["presets"][name] = preset_stats(name, n, args.seed)
        w0 = res["presets"][name]["window_0"]
        print(f"{name:16s} energy kept {w0['energy_kept_mean']:.4f}, floor {w0['nmse_floor_sf_db']:.1f} dB "
              f"[{time.perf_counter() - t0:.1f} s]", flush=True)
    res["ul_phase_options"] = {}
    for name in ("paper-cdl-c", "realistic-cdl-c"):
        for ph in ("shared", "shared-offset", "independent"):
            r = preset_stats(name, n, args.seed, ul_phases=ph)
            res["ul_phase_options"][f"{name} / {ph}"] = {k: v for k, v in r.items() if k.startswith("rho_")}
    for name in ("paper-cdl-c", "realistic-cdl-c", "uma"):
        res["speed"].append(speed(name, 64, 256 if args.quick else 1024))
        print(f"speed {name}: {res['speed'][-1]['dataset_samples_per_s']:.0f} samples/s", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    suffix = "_quick" if args.quick else ""
    (args.out / f"data_stats{suffix}.json").write_text(json.dumps(res, indent=2))
    (args.out / f"data_stats{suffix}.md").write_text(markdown(res))
    print(markdown(res))


if __name__ == "__main__":
    main()

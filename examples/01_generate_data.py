"""Paired FDD CSI data from Sionna, and the metrics every scheme is judged by.

Description:
    Generates (or resumes) a paired FDD CSI dataset for a scenario preset with Sionna's
    3GPP channel models, loads it back, and scores the two estimates of the future DL CSI
    Z that need no feedback model at all: the outdated CSI X (what the UE measured 5 ms
    earlier) and the BS's own UL CSI Y. Every learned or codebook scheme must beat these.

Expected runtime: `--quick` about 30 s on 2 CPU cores; the default (20000 samples)
about 2 minutes per 20000 samples for generation.

Usage:
    python examples/01_generate_data.py --quick
    python examples/01_generate_data.py --preset realistic-cdl-c --n 20000 --out data/realistic.h5
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import sionna_csifb  # noqa: F401  (selects the torch backend for Keras)
from sionna_csifb.csi.scenario import get_scenario, list_presets
from sionna_csifb.csi.transforms import from_angular_delay
from sionna_csifb.data.hdf5 import CSIDataset, generate_dataset
from sionna_csifb.evaluation.metrics import nmse, nmse_sf_from_ad, rho, sgcs, to_db


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preset", default="paper-cdl-c", choices=list_presets())
    ap.add_argument("--n", type=int, default=20000, help="number of samples")
    ap.add_argument("--out", type=Path, default=None, help="HDF5 file (default data/<preset>_<n>.h5)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="512 samples")
    ap.add_argument("--json", type=Path, default=None, help="write the table as JSON here")
    args = ap.parse_args()
    n = 512 if args.quick else args.n
    out = args.out or Path("data") / f"{args.preset}_{n}.h5"
    scenario = get_scenario(args.preset)

    # --- 1. Generate (resumes if interrupted; a finished file is reused) --------------
    generate_dataset(out, scenario, n, seed=args.seed)
    ds = CSIDataset(out, scenario=scenario)
    a = ds.arrays()
    print(f"\n{out}: {len(ds)} samples of {scenario.name}; x, y, z angular-delay {tuple(a['z'].shape[1:])}")

    # --- 2. Score the no-feedback estimates of Z --------------------------------------
    # Scale-free metrics: the UL estimate is rescaled to the energy of X (known at the UE).
    z, energy_z = a["z"], a["energy"][:, 2]
    nsc = scenario.num_subcarriers
    h_z = from_angular_delay(z, nsc, scenario.window_start)  # cropped true channel, for SGCS/rho
    y_rescaled = a["y"] * (z.flatten(1).norm(dim=1) / a["y"].flatten(1).norm(dim=1))[:, None, None]
    rows = []
    for name, est in (("perfect (cropped Z)", z), ("outdated CSI X", a["x"]), ("UL CSI Y, rescaled", y_rescaled)):
        h_hat = from_angular_delay(est, nsc, scenario.window_start)
        rows.append({
            "estimate": name,
            "nmse_ad_db": None if est is z else to_db(nmse(z, est)),
            "nmse_sf_db": to_db(nmse_sf_from_ad(z, est, energy_z)),
            "sgcs": sgcs(h_z, h_hat).mean().item(),
            "rho": rho(h_z, h_hat).mean().item(),
        })
    print(f"\n{'estimate of Z':24s} {'NMSE AD':>9s} {'NMSE SF':>9s} {'SGCS':>7s} {'rho':>7s}")
    for r in rows:
        ad = "-" if r["nmse_ad_db"] is None else f"{r['nmse_ad_db']:.2f}"
        print(f"{r['estimate']:24s} {ad:>8s}  {r['nmse_sf_db']:8.2f}  {r['sgcs']:7.4f} {r['rho']:7.4f}")
    print("(NMSE in dB: linear mean over samples, then dB; SF includes the delay-crop loss)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"scenario": scenario.to_dict(), "num_samples": n, "seed": args.seed,
                                         "rows": rows}, indent=2))


if __name__ == "__main__":
    main()

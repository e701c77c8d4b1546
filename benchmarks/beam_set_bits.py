"""What the kept beams of a report cost: combinatorial index against range-coded sets.

For each shipped model with ``beam_coding='entropy'``, the mean information content of its
kept-beam sets under its stored integer tables (the bits the range coder spends, within a bit or
two per report), on the test set of each preset, next to the fixed index length
``ceil(log2 C(N - 1, L - 1))`` the same beams cost as an index.

Usage::

    python benchmarks/beam_set_bits.py --data data --out benchmarks/results/beam_set_bits.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

import sionna_csifb  # noqa: E402,F401  (sets the Keras backend first)

sys.path.insert(0, str(Path(__file__).parent))
from _common import environment  # noqa: E402

PRESETS = ("uma", "umi", "realistic-cdl-c", "tr38843-uma")


def beam_bits(name: str, path: Path, n: int) -> dict:
    from keras import ops

    from sionna_csifb.data.hdf5 import CSIDataset
    from sionna_csifb.training import batch_to_csi
    from sionna_csifb.weights.registry import load_model

    model = load_model(name)[0]
    ds, bits = CSIDataset(path), []
    for b in ds.batches(500, shuffle=False, real=False):
        kept = model.kept_beams_of(model.pack(batch_to_csi(b, ds.scenario)["x"])[0])
        bits.append(ops.convert_to_numpy(model.beam_model.bits(ops.convert_to_tensor(kept.astype("int32")),
                                                               model.tables["beam_tables"].value)))
        if sum(len(x) for x in bits) >= n:
            break
    bits = np.concatenate(bits)[:n]
    return {"weights": name, "test_set": ds.scenario.name, "num_samples": len(bits),
            "mean_bits": float(bits.mean()), "p95_bits": float(np.percentile(bits, 95)),
            "index_bits": model.selection.index_bits}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="data", help="holds <preset>_test.h5")
    ap.add_argument("--weights", nargs="+", default=["eigen-ent-bc-118b-uma", "eigen-ent-lin-bc-286b-uma"])
    ap.add_argument("--presets", nargs="+", default=list(PRESETS))
    ap.add_argument("--samples", type=int, default=2000)
    ap.add_argument("--out", default="benchmarks/results/beam_set_bits.json")
    a = ap.parse_args()
    rows = []
    for name in a.weights:
        for preset in a.presets:
            path = Path(a.data) / f"{preset}_test.h5"
            if not path.exists():
                print(f"skip {preset}: {path} missing", file=sys.stderr)
                continue
            rows.append(beam_bits(name, path, a.samples))
            r = rows[-1]
            print(f"{name:28s} {preset:16s} {r['mean_bits']:5.1f} b mean (p95 {r['p95_bits']:.1f}), "
                  f"index {r['index_bits']} b")
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps({"environment": environment(), "command": " ".join(sys.argv),
                                       "rows": rows}, indent=2))
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

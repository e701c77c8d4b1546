"""Why the eigen MLP models stall on UMa, measured: their fit gap, and a linear transform coder.

Two diagnostics behind the ``--linear-path`` option of the entropy-coded eigen model:

* **Fit gap.** Each shipped model's SGCS on the first ``--samples`` of its own training drops
  against its SGCS on the test set. Equal values mean the model underfits (more data would not
  help; a better transform might).
* **Linear transform coding.** The kept beams' phase-aligned coefficients of each shipped model
  (its own centring and beam selection; header bits counted) coded by a Karhunen-Loeve transform
  learned on ``--fit`` training drops, uniform scalar quantisation with one step for all
  components, and per-component empirical entropy (symbol frequencies of the training drops,
  add-half smoothing: an ideal static entropy coder, not a bitstream). SGCS per subcarrier against
  the measured DL CSI of the test set, at a sweep of steps, and interpolated at eType II's pc1,
  pc3 and pc6 payloads.

Usage::

    python benchmarks/transform_coding_bound.py --data data \\
        --out benchmarks/results/transform_coding_bound_uma.json   # (+ .md)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import environment  # noqa: E402
from train_runs import DATA_FILES, generate, test_set  # noqa: E402

STEPS = (6.0, 4.0, 2.8, 2.0, 1.4, 1.0)
ETYPE2 = {"etype2-pc1": 65, "etype2-pc3": 118, "etype2-pc6": 286}


def _batches(model, path: Path, n: int):
    """(packed x, CSI) of the first n drops of a dataset, 500 at a time."""
    from sionna_csifb.data.hdf5 import CSIDataset
    from sionna_csifb.training import batch_to_csi

    ds, seen = CSIDataset(path), 0
    for b in ds.batches(500, shuffle=False, real=False):
        c = batch_to_csi(b, ds.scenario)
        x, _ = model.pack(c["x"])
        yield x, c["x"]
        seen += len(x)
        if seen >= n:
            return


def fit_gap(name: str, train: Path, test: Path, n: int) -> dict:
    from sionna_csifb.data.hdf5 import CSIDataset
    from sionna_csifb.training import evaluate_model
    from sionna_csifb.weights.registry import load_model

    model = load_model(name)[0]
    out = {}
    for key, path in (("train", train), ("test", test)):
        r = evaluate_model(model, CSIDataset(path), task="reconstruction", max_samples=n)
        out[key] = {"sgcs": r["sgcs"], "mean_bits": r["payload_bits"], "num_samples": r["num_samples"]}
    return {"weights": name, **out, "gap": out["train"]["sgcs"] - out["test"]["sgcs"]}


def linear_coder(name: str, train: Path, test: Path, n_fit: int, n_test: int) -> dict:
    """KLT + uniform scalar quantisation + ideal per-component entropy on a shipped model's
    eigen representation."""
    import torch

    from sionna_csifb.evaluation.metrics import sgcs
    from sionna_csifb.weights.registry import load_model

    model = load_model(name)[0]
    fit = np.concatenate([model.linear_path_features(x) for x, _ in _batches(model, train, n_fit)])[:n_fit]
    mean = fit.mean(0)
    var, vec = np.linalg.eigh(np.cov(fit - mean, rowvar=False))
    vec = vec[:, np.argsort(var)[::-1]]
    z_fit = (fit - mean) @ vec
    test_parts = []
    for x, h in _batches(model, test, n_test):
        d, beam = model.eigen(x)
        d, kept = model.selection(d)
        test_parts.append((d.detach().cpu().numpy().reshape(len(d), -1).astype("float64"), tuple(d.shape), beam, kept, h))
    rows = []
    for step in STEPS:
        q_fit = np.round(z_fit / step).astype(np.int64)
        tables = []
        for k in range(q_fit.shape[1]):
            vals, cnt = np.unique(q_fit[:, k], return_counts=True)
            tables.append((dict(zip(vals.tolist(), cnt.tolist())), cnt.sum() + 0.5 * (len(cnt) + 1)))
        bits, scores = [], []
        for f, shape, beam, kept, h in test_parts:
            q = np.round(((f - mean) @ vec) / step).astype(np.int64)
            b = np.zeros(len(q))
            for k, (table, total) in enumerate(tables):
                b -= np.log2(np.array([table.get(v, 0) + 0.5 for v in q[:, k].tolist()]) / total)
            bits.append(b + model.header_bits)
            d_hat = torch.as_tensor((q * step) @ vec.T + mean, dtype=torch.float32).reshape(shape)
            est = model.to_csi(model.eigen.uncentre(model.selection.scatter(d_hat, kept), beam))
            scores.append(sgcs(h, est).mean(-1).numpy())
        rows.append({"step": step, "mean_bits": float(np.concatenate(bits).mean()),
                     "sgcs": float(np.concatenate(scores).mean())})
    rows.sort(key=lambda r: r["mean_bits"])
    at = {}
    for cb, payload in ETYPE2.items():
        xs, ys = [r["mean_bits"] for r in rows], [r["sgcs"] for r in rows]
        at[cb] = float(np.interp(payload, xs, ys)) if xs[0] <= payload <= xs[-1] else None
    return {"weights": name, "kept_beams": model.kept_beams, "header_bits": model.header_bits,
            "coefficients": int(fit.shape[1]), "fit_samples": int(len(fit)), "sweep": rows,
            "sgcs_at_etype2_payload": at}


def _markdown(res: dict) -> str:
    lines = [f"UMa, {res['test_samples']} test drops of `{res['test']}`; KLT fitted on {res['fit_samples']} training "
             f"drops of `{res['train']}`. Command: `{res['command']}`; {res['environment']['device_name']}, "
             f"commit {res['environment']['git_commit']}.", "",
             "### Fit gap of the shipped models (SGCS on their own training drops vs the test set)", "",
             "| weights | SGCS train | SGCS test | gap | mean bits (test) |", "|---|---|---|---|---|"]
    for g in res["fit_gap"]:
        lines.append(f"| `{g['weights']}` | {g['train']['sgcs']:.3f} | {g['test']['sgcs']:.3f} | {g['gap']:+.3f} | "
                     f"{g['test']['mean_bits']:.1f} |")
    lines += ["", "### Linear transform coding of the same representation (KLT, uniform steps, ideal entropy)", ""]
    for c in res["linear_coder"]:
        lines += [f"Representation of `{c['weights']}` ({c['kept_beams']} kept beams, {c['coefficients']} "
                  f"coefficients, header {c['header_bits']} bits):", "",
                  "| step | mean bits | SGCS |", "|---|---|---|"]
        lines += [f"| {r['step']} | {r['mean_bits']:.1f} | {r['sgcs']:.3f} |" for r in c["sweep"]]
        lines += ["", "| at payload | SGCS (interpolated) |", "|---|---|"]
        lines += [f"| {cb} ({ETYPE2[cb]} b) | {'-' if v is None else f'{v:.3f}'} |"
                  for cb, v in c["sgcs_at_etype2_payload"].items()]
        lines.append("")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("data"))
    ap.add_argument("--weights", nargs="+", default=["eigen-ent-118b-uma", "eigen-ent-286b-uma"])
    ap.add_argument("--samples", type=int, default=2000, help="drops of the fit gap and of the coder's test")
    ap.add_argument("--fit", type=int, default=20000, help="training drops the KLT and the entropy tables see")
    ap.add_argument("--train", type=Path, default=None,
                    help="training drops (default <data>/uma_train100k.h5, generated if missing: the shipped models' own)")
    ap.add_argument("--test", type=Path, default=None, help="test drops (default <data>/uma_test.h5, generated if missing)")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/transform_coding_bound_uma.json"))
    args = ap.parse_args(argv)
    import sionna_csifb  # noqa: F401  (torch backend before keras)

    train, test = args.train, args.test
    if train is None:
        train = args.data / "uma_train100k.h5"
        generate(train, *DATA_FILES["uma_train100k.h5"])
    if test is None:
        test = args.data / "uma_test.h5"
        generate(test, "uma", *test_set("uma"))
    res = {"command": "python benchmarks/transform_coding_bound.py " + " ".join(argv if argv is not None else sys.argv[1:]),
           "environment": environment(), "train": train.name, "test": test.name, "test_samples": args.samples, "fit_samples": args.fit,
           "fit_gap": [fit_gap(w, train, test, args.samples) for w in args.weights],
           "linear_coder": [linear_coder(w, train, test, args.fit, args.samples) for w in args.weights]}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2))
    md = _markdown(res)
    args.out.with_suffix(".md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())

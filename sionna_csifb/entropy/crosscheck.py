"""Encode in one process, decode in another: the UE/BS agreement check of the entropy coder.

``python -m sionna_csifb.entropy.crosscheck encode --model-dir D --csi C.npy --work-dir W``
(or ``--data F.h5 --num-reports N``: the X, Z and Y fields of a dataset, streamed) loads the
model (``D/config.json`` + ``D/model.weights.h5``), compresses the CSI batch by batch and
writes the reports as a stored-report file plus the symbols it coded; ``decode`` loads the model in a
fresh process (any device: ``--device``), reads the file (fingerprint checked), decodes and
counts the reports whose symbols differ. Used by the tests (two CPU processes) and by
``benchmarks/entropy_coding.py`` (1e5 reports; GPU against CPU when a GPU is there).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

__all__ = ["load_codec", "encode_to_files", "decode_and_compare"]


def load_codec(model_dir: str | Path):
    """An :class:`~sionna_csifb.models.entropy_codec.EntropyCodec` from ``config.json`` and
    ``model.weights.h5`` (Keras' HDF5 weights: no code is executed)."""
    from ..models.entropy_codec import EntropyCodec

    d = Path(model_dir)
    m = EntropyCodec(**json.loads((d / "config.json").read_text()))
    m.load_weights(d / "model.weights.h5")
    return m


def _csi_batches(source, batch: int, num_reports: int | None):
    """Complex CSI batches from a .npy array or from an HDF5 dataset's X, Z, Y fields (streamed)."""
    source = Path(source)
    done = 0
    if source.suffix == ".npy":
        csi = np.load(source, mmap_mode="r")
        for lo in range(0, len(csi) if num_reports is None else min(len(csi), num_reports), batch):
            yield np.asarray(csi[lo:lo + batch])
        return
    from ..data.hdf5 import CSIDataset
    from ..training import batch_to_csi

    ds = CSIDataset(source)
    for b in ds.batches(batch, shuffle=False, real=False):
        c = batch_to_csi(b, ds.scenario)
        for k in ("x", "z", "y"):
            h = c[k].numpy()
            if num_reports is not None:
                h = h[: num_reports - done]
            if len(h):
                yield h
            done += len(h)
            if num_reports is not None and done >= num_reports:
                return


def encode_to_files(model_dir, source, out_dir, batch: int = 1000, num_reports: int | None = None) -> dict:
    """Compress the CSI of ``source`` (complex `[n, N, F]` .npy, or an HDF5 dataset: its X, Z and
    Y fields, ``num_reports`` of them); write ``reports.bin`` and ``symbols.npy``."""
    import keras

    from .coding import VariableLengthBits
    from .report_file import save_reports

    m = load_codec(model_dir)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    reports, symbols = [], []
    for h in _csi_batches(source, batch, num_reports):
        x, _ = m.pack(keras.ops.convert_to_tensor(h))
        idx, z = m._symbols(x)
        symbols.append(idx if z is None else np.concatenate([idx, z], 1))
        p = m.compress_packed(x)
        reports += [p.report(i) for i in range(len(p.num_bits))]
    payload = VariableLengthBits.from_list(reports)
    save_reports(out / "reports.bin", payload, m.fingerprint())
    np.save(out / "symbols.npy", np.concatenate(symbols))
    return {"reports": len(reports), "mean_bits": float(payload.num_bits.mean())}


def decode_and_compare(model_dir, work_dir, batch: int = 1000) -> dict:
    """Decode ``reports.bin`` with a freshly loaded model; compare with ``symbols.npy``."""
    from .coding import VariableLengthBits
    from .report_file import load_reports

    m = load_codec(model_dir)
    w = Path(work_dir)
    payload, _ = load_reports(w / "reports.bin", m.fingerprint())
    want = np.load(w / "symbols.npy")[:, : m.num_latents] - m.amplitude
    mismatches = 0
    for lo in range(0, len(payload.num_bits), batch):
        n = payload.num_bits[lo:lo + batch]
        part = VariableLengthBits(payload.bits[lo:lo + batch, : int(n.max())], n)
        got = m.decode_symbols(part)
        mismatches += int((got != want[lo:lo + batch]).any(axis=1).sum())
    return {"reports": int(len(payload.num_bits)), "mismatches": mismatches}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sionna_csifb.entropy.crosscheck", description=__doc__)
    ap.add_argument("mode", choices=["encode", "decode"])
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--work-dir", required=True, help="where the reports and symbols go")
    ap.add_argument("--csi", help="encode: complex CSI [n, N, F] as .npy")
    ap.add_argument("--data", help="encode: an HDF5 dataset (its X, Z and Y fields, streamed)")
    ap.add_argument("--num-reports", type=int, default=None, help="encode: at most this many reports")
    ap.add_argument("--device", default=None, help="torch device (default: sionna_csifb.config.device)")
    args = ap.parse_args(argv)
    if args.device:
        from ..config import config

        config.device = args.device
    if args.mode == "encode":
        if (args.csi is None) == (args.data is None):
            ap.error("encode needs exactly one of --csi and --data")
        res = encode_to_files(args.model_dir, args.csi or args.data, args.work_dir, num_reports=args.num_reports)
    else:
        res = decode_and_compare(args.model_dir, args.work_dir)
    print(json.dumps(res))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

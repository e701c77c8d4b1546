"""COST2100 CSI files in the layout CsiNet (Wen et al., 2018) distributed.

The files (``DATA_Htrainin.mat``, ``DATA_Htestout.mat``, ...) hold a real matrix ``HT``
of shape `[N, 2048]`: per sample the real part then the imaginary part of the
32 (angle) x 32 (delay) angular-delay matrix, row-major (the delay index fastest), each
shifted by +0.5 into [0, 1]: CsiNet's and CRNet's code reshape a row to (2, 32, 32) and take
the FFT along the last (delay) axis. The ``DATA_HtestFin_all.mat`` files hold ``HF_all``,
complex `[N, 32 * 125]`: 32 antennas x 125 subcarriers, row-major (the subcarrier fastest);
it is the FFT of the zero-padded delay axis (257 points) of the same samples, first 125
subcarriers. Nothing is downloaded: pass files you have.

The loader returns this package's layout, complex `[N, num_ant, num_taps]` (angle first)
for ``HT`` and `[N, num_ant, num_subcarriers]` for ``HF_all``, with the 0.5 offset removed:
both are the files' own order, so ``np.fft.fft(ht, 257, axis=-1)[..., :125]`` equals
``hf`` for matching samples.
MATLAB v5 files are read with SciPy, v7.3 (HDF5) files with h5py.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

__all__ = ["load_cost2100"]

_SIDE = 32


def _read_mat(path: Path) -> dict[str, np.ndarray]:
    import h5py
    import scipy.io

    if h5py.is_hdf5(path):  # MATLAB v7.3 = HDF5, arrays stored transposed
        out = {}
        with h5py.File(path, "r") as f:
            for k, v in f.items():
                if isinstance(v, h5py.Dataset):
                    a = v[()]
                    if a.dtype.names and {"real", "imag"} <= set(a.dtype.names):
                        a = a["real"] + 1j * a["imag"]
                    out[k] = np.asarray(a).T
        return out
    try:
        return {k: v for k, v in scipy.io.loadmat(path).items() if not k.startswith("__")}
    except Exception as exc:  # scipy raises ValueError, IndexError, ... on damaged files
        raise ValueError(f"`path` {path} is not a readable MATLAB file ({type(exc).__name__}: {exc}).") from exc


def load_cost2100(path: str | os.PathLike, key: str | None = None) -> torch.Tensor:
    """Load a CsiNet-layout COST2100 ``.mat`` file as complex CSI.

    Args:
        path: str or PathLike. A ``.mat`` file (v5 or v7.3).
        key: str or None. Variable to read: ``"HT"`` (angular-delay) or ``"HF_all"``
            (spatial-frequency). Defaults to whichever of the two the file holds.

    Returns:
        `[N, 32, 32]` complex64 for ``HT`` (antenna/angle x delay), or
        `[N, 32, 125]` complex64 for ``HF_all`` (antenna x subcarrier).

    Raises:
        FileNotFoundError: if the file does not exist.
        ValueError: if the key is missing (the message lists the file's variables), the
            width is not 2048 (``HT``) or a multiple of 32 (``HF_all``), or values are NaN/Inf.

    Examples:
        >>> import tempfile, os, numpy as np, scipy.io
        >>> p = os.path.join(tempfile.mkdtemp(), "DATA_Htestin.mat")
        >>> scipy.io.savemat(p, {"HT": np.full((3, 2048), 0.5, dtype=np.float32)})
        >>> h = load_cost2100(p)
        >>> tuple(h.shape), h.dtype, float(h.abs().max())
        ((3, 32, 32), torch.complex64, 0.0)
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"COST2100 file {path} does not exist.")
    data = _read_mat(path)
    if key is None:
        key = next((k for k in ("HT", "HF_all") if k in data), None)
        if key is None:
            raise ValueError(f"{path} holds neither 'HT' nor 'HF_all'; variables found: {sorted(data)}.")
    if key not in data:
        raise ValueError(f"`key` {key!r} not in {path}; variables found: {sorted(data)}.")
    a = np.asarray(data[key])
    if a.ndim != 2:
        raise ValueError(f"{path}:{key} must be 2-D [N, width], got shape {a.shape}.")
    if not np.isfinite(a).all():
        raise ValueError(f"{path}:{key} contains NaN or Inf values.")
    n = a.shape[0]
    if key == "HF_all":
        if a.shape[1] % _SIDE:
            raise ValueError(f"{path}:HF_all width must be a multiple of {_SIDE}, got {a.shape[1]}.")
        h = a.astype(np.complex64).reshape(n, _SIDE, a.shape[1] // _SIDE)  # [N, antenna, subcarrier]
    else:
        if np.iscomplexobj(a) or a.shape[1] != 2 * _SIDE * _SIDE:
            raise ValueError(f"{path}:{key} must be real [N, {2 * _SIDE * _SIDE}], got {a.dtype} {a.shape}.")
        a = a.astype(np.float32).reshape(n, 2, _SIDE, _SIDE) - 0.5  # [N, re/im, angle, delay]
        h = (a[:, 0] + 1j * a[:, 1]).astype(np.complex64)
    return torch.from_numpy(np.ascontiguousarray(h))

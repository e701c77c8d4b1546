"""Private argument checks that raise uniform, actionable errors.

Every message names the argument, then says what was expected and what was received.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
try:  # the codec layers use only the pure-Python checks, so they import without torch
    import torch
except ModuleNotFoundError:  # pragma: no cover - exercised by the TensorFlow-backend CI step
    torch = None

TensorLike = (torch.Tensor | np.ndarray) if torch is not None else np.ndarray
"""A torch tensor or a NumPy array."""

_COMPLEX = (torch.complex64, torch.complex128) if torch is not None else ()
_REAL = (torch.float32, torch.float64) if torch is not None else ()


def as_tensor(x, name: str) -> torch.Tensor:
    """Turn a NumPy array or tensor into a tensor (no copy for tensors)."""
    if isinstance(x, torch.Tensor):
        return x
    if isinstance(x, np.ndarray):
        return torch.from_numpy(x)
    raise ValueError(f"`{name}` must be a torch.Tensor or numpy.ndarray, got {type(x).__name__}.")


def check_positive_int(value, name: str) -> int:
    """Return ``value`` as int if it is a positive integer, else raise ValueError."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"`{name}` must be a positive int, got {value!r}.")
    return int(value)


def check_nonneg_float(value, name: str) -> float:
    """Return ``value`` as float if it is finite and >= 0, else raise ValueError."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise ValueError(f"`{name}` must be a non-negative number, got {value!r}.")
    value = float(value)
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"`{name}` must be a finite non-negative number, got {value!r}.")
    return value


def check_finite_scalar(value, name: str) -> float:
    """Return ``value`` as float if it is a finite real number (e.g. an SNR in dB)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise ValueError(f"`{name}` must be a finite real number, got {value!r}.")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"`{name}` must be a finite real number, got {value!r}.")
    return value


def check_choice(value, name: str, choices: Sequence[str]) -> str:
    """Return ``value`` if it is one of ``choices``, else raise ValueError listing them."""
    if value not in choices:
        raise ValueError(f"`{name}` must be one of {list(choices)}, got {value!r}.")
    return value


def check_tensor(
    x,
    name: str,
    *,
    kind: str = "complex",
    ndim: int | tuple[int, ...] | None = None,
    shape: Sequence[int | None] | None = None,
    finite: bool = True,
    nonzero: bool = False,
) -> torch.Tensor:
    """Validate a CSI-like tensor and return it as a torch tensor.

    Args:
        x: torch.Tensor or numpy.ndarray.
        name: str. Argument name used in the error message.
        kind: "complex", "real" or "any". Expected dtype family.
        ndim: int or tuple of int. Accepted numbers of dimensions.
        shape: trailing shape, ``None`` entries match any size.
        finite: bool. Refuse NaN and Inf.
        nonzero: bool. Refuse samples (index 0 of the first axis) that are all zero.

    Raises:
        ValueError: naming ``name`` and what was expected.
    """
    x = as_tensor(x, name)
    if kind == "complex" and x.dtype not in _COMPLEX:
        raise ValueError(f"`{name}` must be complex64 or complex128, got dtype {x.dtype}.")
    if kind == "real" and x.dtype not in _REAL:
        raise ValueError(f"`{name}` must be float32 or float64, got dtype {x.dtype}.")
    if kind == "any" and x.dtype not in _COMPLEX + _REAL:
        raise ValueError(f"`{name}` must be a float or complex tensor, got dtype {x.dtype}.")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if x.ndim not in allowed:
            want = " or ".join(str(a) for a in allowed)
            raise ValueError(f"`{name}` must have {want} dimensions, got shape {tuple(x.shape)}.")
    if shape is not None:
        tail = tuple(x.shape[-len(shape):]) if x.ndim >= len(shape) else None
        ok = tail is not None and all(s is None or s == t for s, t in zip(shape, tail, strict=True))
        if not ok:
            want = "[..., " + ", ".join("*" if s is None else str(s) for s in shape) + "]"
            raise ValueError(f"`{name}` must have shape {want}, got {tuple(x.shape)}.")
    if finite and x.numel() and not bool(torch.isfinite(x).all()):
        raise ValueError(f"`{name}` contains NaN or Inf values.")
    if nonzero and x.numel():
        flat = x.reshape(x.shape[0], -1) if x.ndim > 1 else x.reshape(1, -1)
        zero = (flat.abs().amax(dim=1) == 0).nonzero()
        if len(zero):
            raise ValueError(
                f"`{name}` has an all-zero channel at sample index {int(zero[0])}: "
                "a channel must carry energy."
            )
    return x


def check_same_shape(a: torch.Tensor, b: torch.Tensor, name_a: str, name_b: str) -> None:
    """Raise ValueError if two tensors differ in shape."""
    if tuple(a.shape) != tuple(b.shape):
        raise ValueError(
            f"`{name_b}` must have the same shape as `{name_a}` {tuple(a.shape)}, got {tuple(b.shape)}."
        )

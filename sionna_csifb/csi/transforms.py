r"""Spatial-frequency <-> angular-delay transforms, packing, and power normalisation.

The angular-delay (AD) representation of a CSI matrix
$\mathbf{H} \in \mathbb{C}^{N_t \times N_c}$ (BS antennas x subcarriers) is its unitary
2-D inverse DFT, $\mathbf{G} = \mathbf{F}_{N_t}^{H} \mathbf{H} \mathbf{F}_{N_c}^{*}$ with
``norm="ortho"``, so $\|\mathbf{G}\|_F = \|\mathbf{H}\|_F$ (Parseval). Only
``num_taps`` delay taps are kept, starting at tap ``window_start`` (0 keeps the first
taps as the paper does; a negative start such as -4 keeps the taps that sinc leakage of
off-grid paths puts at negative delays, circularly wrapped to the end of the axis).

The inverse zero-pads the kept taps back to ``num_subcarriers`` and applies the 2-D DFT.
It is exact for the *cropped* channel: ``to_angular_delay(from_angular_delay(g)) == g``.
"""

from __future__ import annotations

import functools
import math

import torch

from .._validation import TensorLike, check_positive_int, check_tensor

__all__ = [
    "to_angular_delay",
    "from_angular_delay",
    "complex_to_real",
    "real_to_complex",
    "normalize_power",
    "rms",
    "tap_indices",
]


def tap_indices(num_subcarriers: int, num_taps: int, window_start: int = 0) -> torch.Tensor:
    """Delay-tap indices kept by the crop (circular, so negative starts wrap around).

    Args:
        num_subcarriers: int. Length of the full delay axis.
        num_taps: int. Number of kept taps.
        window_start: int. First kept tap; -4 keeps taps -4..num_taps-5.

    Returns:
        `[num_taps]`, int64.

    Examples:
        >>> tap_indices(8, 4, -1).tolist()
        [7, 0, 1, 2]
    """
    check_positive_int(num_subcarriers, "num_subcarriers")
    check_positive_int(num_taps, "num_taps")
    if num_taps > num_subcarriers:
        raise ValueError(f"`num_taps` must be <= num_subcarriers ({num_subcarriers}), got {num_taps}.")
    if not isinstance(window_start, int) or abs(window_start) >= num_subcarriers:
        raise ValueError(
            f"`window_start` must be an int with |window_start| < {num_subcarriers}, got {window_start!r}."
        )
    return (torch.arange(num_taps) + window_start) % num_subcarriers


def to_angular_delay(h: TensorLike, num_taps: int = 32, window_start: int = 0) -> torch.Tensor:
    """Spatial-frequency CSI to cropped angular-delay CSI.

    Args:
        h: `[..., num_ant, num_subcarriers]`, complex. Spatial-frequency CSI.
        num_taps: int. Number of delay taps kept. Defaults to 32.
        window_start: int. First kept tap (may be negative). Defaults to 0.

    Returns:
        `[..., num_ant, num_taps]`, complex, same dtype as ``h``.

    Raises:
        ValueError: if ``h`` is not complex, has fewer than 2 dimensions, or holds NaN/Inf.

    Examples:
        >>> h = torch.randn(2, 4, 16, dtype=torch.complex64)
        >>> tuple(to_angular_delay(h, num_taps=8).shape)
        (2, 4, 8)
    """
    h = check_tensor(h, "h", kind="complex", ndim=tuple(range(2, 9)))
    tap_indices(h.shape[-1], num_taps, window_start)  # validates the window
    # Antenna axis: unitary IDFT. Delay axis: only num_taps outputs are needed, so a
    # [num_subcarriers, num_taps] IDFT matrix is cheaper than a full FFT of odd length.
    w = _idft_columns(h.shape[-1], num_taps, window_start, str(h.device), h.dtype)
    return torch.fft.ifft(h @ w, dim=-2, norm="ortho")


@functools.lru_cache(maxsize=16)
def _idft_columns(n: int, num_taps: int, window_start: int, device: str, dtype: torch.dtype) -> torch.Tensor:
    """Columns ``idx`` of the unitary n-point IDFT matrix, `[n, num_taps]` (float64 maths)."""
    idx = tap_indices(n, num_taps, window_start).double()
    ang = 2 * math.pi * torch.outer(torch.arange(n, dtype=torch.float64), idx) / n
    return (torch.polar(torch.ones_like(ang), ang) / math.sqrt(n)).to(device=device, dtype=dtype)


def from_angular_delay(g: TensorLike, num_subcarriers: int, window_start: int = 0) -> torch.Tensor:
    """Cropped angular-delay CSI back to the spatial-frequency domain.

    Args:
        g: `[..., num_ant, num_taps]`, complex. Cropped angular-delay CSI.
        num_subcarriers: int. Full delay/subcarrier axis length.
        window_start: int. First kept tap, as used by :func:`to_angular_delay`.

    Returns:
        `[..., num_ant, num_subcarriers]`, complex, same dtype as ``g``.

    Examples:
        >>> h = torch.randn(2, 4, 16, dtype=torch.complex64)
        >>> g = to_angular_delay(h, 8, window_start=-2)
        >>> torch.allclose(to_angular_delay(from_angular_delay(g, 16, -2), 8, -2), g, atol=1e-6)
        True
    """
    g = check_tensor(g, "g", kind="complex", ndim=tuple(range(2, 9)))
    idx = tap_indices(num_subcarriers, g.shape[-1], window_start).to(g.device)
    full = torch.zeros(*g.shape[:-1], num_subcarriers, dtype=g.dtype, device=g.device)
    full.index_copy_(-1, idx, g)
    return torch.fft.fft2(full, dim=(-2, -1), norm="ortho")


def complex_to_real(g: TensorLike) -> torch.Tensor:
    """Complex tensor to real with a trailing axis of 2 (real, imag), channels-last.

    Examples:
        >>> complex_to_real(torch.tensor([1 + 2j])).tolist()
        [[1.0, 2.0]]
    """
    g = check_tensor(g, "g", kind="complex", finite=False)
    return torch.view_as_real(g.resolve_conj()).clone()


def real_to_complex(x: TensorLike) -> torch.Tensor:
    """Inverse of :func:`complex_to_real`: trailing axis of 2 (real, imag) to complex.

    Examples:
        >>> real_to_complex(torch.tensor([[1.0, 2.0]])).tolist()
        [(1+2j)]
    """
    x = check_tensor(x, "x", kind="real", shape=(2,), finite=False)
    return torch.complex(x[..., 0], x[..., 1])


def rms(h: torch.Tensor) -> torch.Tensor:
    """Per-sample root-mean-square of a complex `[batch, ...]` tensor, `[batch]` real (no checks).

    Examples:
        >>> rms(torch.full((2, 3), 2 + 0j)).tolist()
        [2.0, 2.0]
    """
    return torch.view_as_real(h).square().flatten(1).mean(1).mul(2).sqrt()


def normalize_power(h: TensorLike, reference: TensorLike | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Scale each sample to unit mean power per entry.

    The scale $s = \sqrt{\tfrac{1}{N}\|\mathbf{H}_\mathrm{ref}\|_F^2}$ is taken from
    ``reference`` (defaults to ``h`` itself), so ``h / s`` has unit mean power per entry
    when the reference is ``h``. Inverse: ``h_normalized * s``.

    Args:
        h: `[batch, ...]`, complex.
        reference: `[batch, ...]`, complex or None. Tensor whose power sets the scale.

    Returns:
        tuple: ``h / s`` (same shape and dtype as ``h``) and ``s`` `[batch]` (real).

    Raises:
        ValueError: if a reference sample is all zero.

    Examples:
        >>> h = 3 * torch.ones(2, 4, dtype=torch.complex64)
        >>> hn, s = normalize_power(h)
        >>> s.tolist(), hn.abs().pow(2).mean().item()
        ([3.0, 3.0], 1.0)
    """
    h = check_tensor(h, "h", kind="complex", ndim=tuple(range(1, 9)))
    ref = h if reference is None else check_tensor(reference, "reference", kind="complex")
    ref = check_tensor(ref, "reference", kind="complex", nonzero=True)
    s = rms(ref)
    return h / s.reshape(-1, *([1] * (h.ndim - 1))).to(h.dtype), s

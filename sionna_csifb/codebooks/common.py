"""Building blocks shared by the codebooks: DFT beams, subbands, eigenvectors, bit fields."""

from __future__ import annotations

import math

import torch

from ..layers.subband_eigen import subband_edges  # the one definition (keras.ops side, no torch)

__all__ = [
    "dft_beams", "subband_edges", "subband_of_subcarrier", "subband_eigvecs", "expand_subbands",
    "BitWriter", "BitReader", "comb_index", "comb_unindex", "comb_bits",
]


def dft_beams(num_ant: int, oversampling: int, dtype=torch.complex64, device=None) -> torch.Tensor:
    r"""Oversampled DFT beams $a_m[k] = e^{j 2\pi m k / (O N)} / \sqrt{N}$, `[O N, N]`.

    The set is closed under m -> -m, so it does not depend on the sign convention of the
    array response (see ``shared/codebook-baselines.md`` §1).

    Examples:
        >>> a = dft_beams(4, 2)
        >>> tuple(a.shape), round(float(a[3].norm()), 6)
        ((8, 4), 1.0)
    """
    m = torch.arange(num_ant * oversampling, dtype=torch.float64)[:, None]
    k = torch.arange(num_ant, dtype=torch.float64)[None, :]
    ang = 2 * math.pi * m * k / (oversampling * num_ant)
    return (torch.polar(torch.ones_like(ang), ang) / math.sqrt(num_ant)).to(dtype=dtype, device=device)


def subband_of_subcarrier(num_subcarriers: int, num_subbands: int, device=None) -> torch.Tensor:
    """Subband index of every subcarrier, `[num_subcarriers]` int64."""
    e = subband_edges(num_subcarriers, num_subbands)
    return torch.cat([torch.full((e[i + 1] - e[i],), i, dtype=torch.int64) for i in range(num_subbands)]).to(device)


def subband_eigvecs(h: torch.Tensor, num_subbands: int) -> torch.Tensor:
    r"""Per-subband MRT directions: principal eigenvector of $\sum_k h_k^* h_k^T$.

    Args:
        h: `[batch, N, F]` complex channel (``y = h^T w x``).
        num_subbands: int.

    Returns:
        `[batch, num_subbands, N]` complex, unit norm. Maximises $\sum_k |h_k^T w|^2$.
    """
    e = subband_edges(h.shape[-1], num_subbands)
    g = h.conj()
    out = []
    for i in range(num_subbands):
        gs = g[..., e[i]:e[i + 1]]
        _, v = torch.linalg.eigh(gs @ gs.conj().transpose(-2, -1))
        out.append(v[..., -1])
    return torch.stack(out, 1)


def expand_subbands(w: torch.Tensor, num_subcarriers: int) -> torch.Tensor:
    """Per-subband precoders `[batch, T, N]` -> CSI estimate `[batch, N, F]`.

    The estimate is ``sqrt(N) * conj(w_t)`` on every subcarrier of subband t: unit mean
    power per entry, and MRT on it gives back ``w_t``.
    """
    idx = subband_of_subcarrier(num_subcarriers, w.shape[1], device=w.device)
    w = w / w.norm(dim=-1, keepdim=True).clamp_min(1e-30)
    return (math.sqrt(w.shape[-1]) * w.conj()).index_select(1, idx).transpose(1, 2).contiguous()


def comb_bits(n: int, k: int) -> int:
    """Bits of a combinatorial index of k out of n: ceil(log2 C(n, k))."""
    c = math.comb(n, k)
    return 0 if c <= 1 else (c - 1).bit_length()


def comb_index(subset, n: int) -> int:
    """Combinadic rank of a sorted k-subset of range(n) (a bijection onto [0, C(n, k)))."""
    s = sorted(int(x) for x in subset)
    if len(set(s)) != len(s) or (s and (s[0] < 0 or s[-1] >= n)):
        raise ValueError(f"`subset` must hold distinct indices in [0, {n}), got {s}.")
    return sum(math.comb(x, i + 1) for i, x in enumerate(s))


def comb_unindex(index: int, n: int, k: int) -> list[int]:
    """Inverse of :func:`comb_index`.

    Examples:
        >>> comb_unindex(comb_index([1, 4, 6], 8), 8, 3)
        [1, 4, 6]
    """
    if not 0 <= index < math.comb(n, k):
        raise ValueError(f"combinatorial index {index} out of range for C({n}, {k}).")
    out = []
    for i in range(k, 0, -1):
        x = i - 1
        while math.comb(x + 1, i) <= index:
            x += 1
        out.append(x)
        index -= math.comb(x, i)
    return sorted(out)


class BitWriter:
    """Appends unsigned integer fields, MSB first."""

    def __init__(self) -> None:
        self.bits: list[int] = []

    def write(self, value: int, width: int) -> None:
        value = int(value)
        if width < 0 or value < 0 or (width < 64 and value >= (1 << width)):
            raise ValueError(f"value {value} does not fit in {width} bits.")
        self.bits.extend((value >> (width - 1 - i)) & 1 for i in range(width))


class BitReader:
    """Reads unsigned integer fields written by :class:`BitWriter`."""

    def __init__(self, bits) -> None:
        self.bits = [int(b) for b in bits]
        self.pos = 0

    def read(self, width: int) -> int:
        if self.pos + width > len(self.bits):
            raise ValueError(f"bitstream truncated: need {width} bits at position {self.pos} of {len(self.bits)}.")
        v = 0
        for b in self.bits[self.pos:self.pos + width]:
            v = (v << 1) | (b & 1)
        self.pos += width
        return v

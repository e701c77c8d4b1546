"""3GPP Type I single-panel codebook, native DFT form for a single-polarised 1 x N ULA.

The TS 38.214 §5.2.2.2.1 tables assume two polarisations; for a single-polarised ULA we use
the native adaptation of ``shared/codebook-baselines.md`` §2.4(A): oversampled DFT beams
(O = 4, so 4N beams).

* **Wideband**: one beam for the band, ``ceil(log2(4N))`` bits (7 for N = 32).
* **Subband** ("mode-2-like"): ``i1`` picks a group of 4 adjacent beams {2 i1 + g}
  (``ceil(log2(2N))`` bits), and per subband ``i2`` in {0..3} picks one (2 bits):
  6 + 2 x 13 = 32 bits for N = 32 and 13 subbands.

PMI selection maximises the received power $\\sum_k |h_k^T w|^2$ (exhaustive search).
"""

from __future__ import annotations

import math

import torch

from .common import dft_beams, subband_edges

__all__ = ["OVERSAMPLING", "type1_payload_bits", "type1_select", "type1_precoders"]

OVERSAMPLING = 4


def type1_payload_bits(num_ant: int, num_subbands: int, subband: bool) -> int:
    """Exact PMI payload in bits.

    Examples:
        >>> type1_payload_bits(32, 13, subband=False), type1_payload_bits(32, 13, subband=True)
        (7, 32)
    """
    nb = num_ant * OVERSAMPLING
    if not subband:
        return math.ceil(math.log2(nb))
    return math.ceil(math.log2(nb // 2)) + 2 * num_subbands


def _subband_power(h: torch.Tensor, beams: torch.Tensor, num_subbands: int) -> torch.Tensor:
    """Received power per subband and beam: `[batch, T, num_beams]`."""
    y = torch.einsum("mn,bnf->bmf", beams, h).abs().pow(2)  # |a_m^T h_k|^2
    e = subband_edges(h.shape[-1], num_subbands)
    return torch.stack([y[..., e[t]:e[t + 1]].sum(-1) for t in range(num_subbands)], 1)


def type1_select(h: torch.Tensor, num_subbands: int, subband: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """PMI search.

    Args:
        h: `[batch, N, F]` complex channel.
        num_subbands: int.
        subband: bool. Subband (i1 + per-subband i2) or wideband PMI.

    Returns:
        ``(i1, i2)``: `[batch]` int64 and `[batch, num_subbands]` int64 (zeros if wideband).
    """
    n = h.shape[1]
    beams = dft_beams(n, OVERSAMPLING, dtype=h.dtype, device=h.device)
    p = _subband_power(h, beams, num_subbands)  # [B, T, 4N]
    if not subband:
        i1 = p.sum(1).argmax(-1)
        return i1, torch.zeros(h.shape[0], num_subbands, dtype=torch.int64, device=h.device)
    nb = n * OVERSAMPLING
    groups = (2 * torch.arange(nb // 2, device=h.device)[:, None] + torch.arange(4, device=h.device)) % nb  # [G, 4]
    pg = p[..., groups]  # [B, T, G, 4]
    best, arg = pg.max(-1)  # [B, T, G]
    i1 = best.sum(1).argmax(-1)  # [B]
    i2 = arg.gather(2, i1[:, None, None].expand(-1, num_subbands, 1))[..., 0]
    return i1, i2


def type1_precoders(i1: torch.Tensor, i2: torch.Tensor, num_ant: int, subband: bool,
                    dtype=torch.complex64) -> torch.Tensor:
    """Per-subband precoders `[batch, T, N]` (unit norm) from the PMI."""
    beams = dft_beams(num_ant, OVERSAMPLING, dtype=dtype, device=i1.device)
    nb = num_ant * OVERSAMPLING
    m = i1[:, None].expand_as(i2) if not subband else (2 * i1[:, None] + i2) % nb
    return beams[m]

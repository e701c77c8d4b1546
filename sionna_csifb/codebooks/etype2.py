r"""Rel-16 enhanced Type II codebook (TS 38.214 §5.2.2.2.5), native single-polarised form.

For a single-polarised 1 x N ULA (``shared/codebook-baselines.md`` §4.5): $L' = 2L$ beams
from the N orthogonal DFT beams of one rotation $q \in \{0..3\}$, $M = \lceil p N_3 \rceil$
frequency-domain (FD) DFT bases, at most $K_0 = \lceil \beta L' M \rceil$ non-zero
coefficients, each with a 3-bit amplitude (relative to the strongest) and a 4-bit (16-PSK)
phase; the strongest coefficient is 1 and not reported. There is no reference-amplitude
field (one polarisation).

Per-subband precoder: $w_t \propto \sum_{i<L'} a_{m_i} \sum_{f<M} \tilde c_{i,f}\,
e^{j 2\pi t n_f / N_3}$.

PMI fields (rank 1, $N_3 \le 19$): rotation 2 bits; beams $\lceil\log_2 \binom{N}{L'}\rceil$;
FD indices $\lceil\log_2 \binom{N_3-1}{M-1}\rceil$; bitmap $L'M$; strongest-coefficient
index $\lceil\log_2 K_0\rceil$; $7(K_0 - 1)$ for amplitudes and phases. For N = 32 and
$N_3 = 13$: 65, 94, 118, 175, 232, 286, 252, 337 bits for parameter combinations 1-8.

UE encoder (not standardised; §5.3 of the notes): per-subband eigenvectors, **phase
alignment across subbands** (without it the FD compression breaks), rotation and beams by
projected energy, FD DFT, strongest M bases, strongest K0 coefficients, quantisation
(amplitude nearest in the log domain).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .common import BitReader, BitWriter, comb_bits, comb_index, comb_unindex, dft_beams

__all__ = ["PARAM_COMBINATIONS", "EType2Config", "etype2_encode", "etype2_decode", "etype2_project"]

OVERSAMPLING = 4
# pc: (L, p_v for rank 1-2, beta)  (TS 38.214 Table 5.2.2.2.5-1)
PARAM_COMBINATIONS = {1: (2, 1 / 4, 1 / 4), 2: (2, 1 / 4, 1 / 2), 3: (4, 1 / 4, 1 / 4), 4: (4, 1 / 4, 1 / 2),
                      5: (4, 1 / 4, 3 / 4), 6: (4, 1 / 2, 1 / 2), 7: (6, 1 / 4, 1 / 2), 8: (6, 1 / 4, 3 / 4)}
AMPLITUDES = [2 ** (-(7 - k) / 2) for k in range(8)]  # 3-bit differential amplitude table
NUM_PHASES = 16


@dataclass(frozen=True)
class EType2Config:
    """Derived sizes of one eType II configuration.

    Examples:
        >>> c = EType2Config.from_param_combination(3, num_ant=32, num_subbands=13)
        >>> c.num_beams, c.num_fd, c.k0, c.payload_bits
        (8, 4, 8, 118)
    """

    num_ant: int
    num_subbands: int
    num_beams: int  # L' = 2L
    num_fd: int  # M
    k0: int

    @classmethod
    def from_param_combination(cls, pc: int, num_ant: int, num_subbands: int) -> "EType2Config":
        if pc not in PARAM_COMBINATIONS:
            raise ValueError(f"`param_combination` must be one of {list(PARAM_COMBINATIONS)}, got {pc!r}.")
        if num_subbands > 19:
            raise ValueError(f"`num_subbands` must be <= 19 (no FD window implemented), got {num_subbands}.")
        big_l, p, beta = PARAM_COMBINATIONS[pc]
        nb = min(2 * big_l, num_ant)
        m = math.ceil(p * num_subbands)
        return cls(num_ant, num_subbands, nb, m, math.ceil(beta * nb * m))

    @property
    def field_bits(self) -> dict[str, int]:
        """Width of every PMI field (rank 1)."""
        return {
            "i11_rotation": math.ceil(math.log2(OVERSAMPLING)),
            "i12_beams": comb_bits(self.num_ant, self.num_beams),
            "i16_fd_indices": comb_bits(self.num_subbands - 1, self.num_fd - 1),
            "i17_bitmap": self.num_beams * self.num_fd,
            "i18_strongest": 0 if self.k0 <= 1 else (self.k0 - 1).bit_length(),
            "i24_i25_coefficients": 7 * (self.k0 - 1),
        }

    @property
    def payload_bits(self) -> int:
        return sum(self.field_bits.values())


def _align_phases(v: torch.Tensor) -> torch.Tensor:
    """Rotate each subband eigenvector so that v_{t-1}^H v_t is real and positive."""
    out = [v[:, 0]]
    for t in range(1, v.shape[1]):
        c = (out[-1].conj() * v[:, t]).sum(-1)
        out.append(v[:, t] * torch.polar(torch.ones_like(c.real), -c.angle())[:, None])
    return torch.stack(out, 1)


def etype2_project(v: torch.Tensor, num_beams: int, num_fd: int) -> tuple:
    """Spatial and FD compression of phase-aligned subband eigenvectors (no quantisation).

    Args:
        v: `[B, T, N]` unit-norm per-subband precoders.
        num_beams: int. L'.
        num_fd: int. M.

    Returns:
        tuple: ``(q, beams, fd, coef)`` with the rotation `[B]`, the beam indices
            `[B, L']` (sorted), the FD indices `[B, M]` (sorted, cyclically shifted so the
            strongest coefficient's index is 0) and the coefficients `[B, L', M]`.
    """
    bsz, t3, n = v.shape
    v = _align_phases(v)
    beams_all = dft_beams(n, OVERSAMPLING, dtype=v.dtype, device=v.device)  # [4N, N]
    grid = torch.arange(n, device=v.device) * OVERSAMPLING
    c_all = torch.stack([torch.einsum("mn,btn->bmt", beams_all[grid + q].conj(), v) for q in range(OVERSAMPLING)], 1)
    energy = c_all.abs().pow(2).sum(-1)  # [B, 4, N]
    top = energy.topk(num_beams, dim=-1)
    q = top.values.sum(-1).argmax(-1)  # [B]
    beams = top.indices.gather(1, q[:, None, None].expand(-1, 1, num_beams))[:, 0].sort(-1).values  # [B, L']
    c = c_all[torch.arange(bsz), q]  # [B, N, T]
    c = c.gather(1, beams[..., None].expand(-1, -1, t3))  # [B, L', T]
    ct = torch.fft.fft(c, dim=-1) / t3  # c[t] = sum_f ct[f] exp(+j 2 pi t f / T)
    fd = ct.abs().pow(2).sum(1).topk(num_fd, dim=-1).indices.sort(-1).values  # [B, M]
    coef = ct.gather(2, fd[:, None, :].expand(-1, num_beams, -1))  # [B, L', M]
    flat = coef.abs().flatten(1).argmax(-1)
    i_s, f_s = flat // num_fd, flat % num_fd
    strongest = coef[torch.arange(bsz), i_s, f_s]
    coef = coef / strongest[:, None, None]
    fd = (fd - fd[torch.arange(bsz), f_s][:, None]) % t3  # strongest FD basis -> index 0
    order = fd.argsort(-1)
    return q, beams, fd.gather(1, order), coef.gather(2, order[:, None, :].expand(-1, num_beams, -1))


def _precoders(q, beams, fd, coef, num_ant: int, num_subbands: int) -> torch.Tensor:
    """Per-subband precoders `[B, T, N]` (unit norm) from the (quantised) parameters."""
    a = dft_beams(num_ant, OVERSAMPLING, dtype=coef.dtype, device=coef.device)
    a_sel = a[beams * OVERSAMPLING + q[:, None]]  # [B, L', N]
    t = torch.arange(num_subbands, device=coef.device, dtype=torch.float64)
    ang = 2 * math.pi * t[None, :, None] * fd[:, None, :].double() / num_subbands  # [B, T, M]
    y = torch.polar(torch.ones_like(ang), ang).to(coef.dtype)
    c_t = torch.einsum("bim,btm->bit", coef, y)  # [B, L', T]
    w = torch.einsum("bin,bit->btn", a_sel, c_t)
    return w / w.norm(dim=-1, keepdim=True).clamp_min(1e-30)


def etype2_encode(v: torch.Tensor, cfg: EType2Config) -> torch.Tensor:
    """UE side: per-subband precoders `[B, T, N]` -> PMI bits `[B, payload_bits]` uint8."""
    q, beams, fd, coef = etype2_project(v, cfg.num_beams, cfg.num_fd)
    bsz = v.shape[0]
    mag = coef.abs().flatten(1)
    keep = torch.zeros_like(mag, dtype=torch.bool)
    keep.scatter_(1, mag.topk(cfg.k0, dim=-1).indices, True)  # bitmap: the K0 strongest
    amp_tab = torch.tensor(AMPLITUDES, dtype=torch.float64, device=v.device)
    log_amp = torch.log(mag.double().clamp_min(1e-12))
    amp_idx = (log_amp[..., None] - amp_tab.log()).abs().argmin(-1)  # nearest in the log domain
    ph_idx = torch.round(coef.flatten(1).angle() / (2 * math.pi / NUM_PHASES)).long() % NUM_PHASES
    fb = cfg.field_bits
    rows = []
    for b in range(bsz):
        w = BitWriter()
        w.write(int(q[b]), fb["i11_rotation"])
        w.write(comb_index(beams[b].tolist(), cfg.num_ant), fb["i12_beams"])
        w.write(comb_index([f - 1 for f in fd[b].tolist()[1:]], cfg.num_subbands - 1), fb["i16_fd_indices"])
        for k in keep[b].tolist():
            w.write(int(k), 1)
        nz = keep[b].nonzero()[:, 0].tolist()
        strongest = int(mag[b].argmax())
        w.write(nz.index(strongest), fb["i18_strongest"])
        for j in nz:
            if j != strongest:
                w.write(int(amp_idx[b, j]), 3)
                w.write(int(ph_idx[b, j]), 4)
        rows.append(w.bits)
    return torch.tensor(rows, dtype=torch.uint8, device=v.device).reshape(bsz, cfg.payload_bits)


def etype2_decode(bits: torch.Tensor, cfg: EType2Config, dtype=torch.complex64) -> torch.Tensor:
    """BS side: PMI bits `[B, payload_bits]` -> per-subband precoders `[B, T, N]`.

    Raises:
        ValueError: if the bitstream is truncated or a field is out of range.
    """
    if bits.ndim != 2 or bits.shape[1] < cfg.payload_bits:
        raise ValueError(f"`bits` must be [batch, {cfg.payload_bits}], got {tuple(bits.shape)}.")
    fb = cfg.field_bits
    bsz, nbm, m = bits.shape[0], cfg.num_beams, cfg.num_fd
    q = torch.zeros(bsz, dtype=torch.int64)
    beams = torch.zeros(bsz, nbm, dtype=torch.int64)
    fd = torch.zeros(bsz, m, dtype=torch.int64)
    coef = torch.zeros(bsz, nbm * m, dtype=torch.complex128)
    for b in range(bsz):
        r = BitReader(bits[b].tolist())
        q[b] = r.read(fb["i11_rotation"])
        beams[b] = torch.tensor(comb_unindex(r.read(fb["i12_beams"]), cfg.num_ant, nbm))
        fd[b] = torch.tensor([0] + [f + 1 for f in comb_unindex(r.read(fb["i16_fd_indices"]),
                                                               cfg.num_subbands - 1, m - 1)])
        keep = [r.read(1) for _ in range(nbm * m)]
        nz = [j for j, k in enumerate(keep) if k]
        if len(nz) != cfg.k0:
            raise ValueError(f"corrupted PMI: bitmap has {len(nz)} non-zero coefficients, expected {cfg.k0}.")
        s = r.read(fb["i18_strongest"])
        if s >= len(nz):
            raise ValueError("corrupted PMI: strongest-coefficient index out of range.")
        for j in nz:
            if j == nz[s]:
                coef[b, j] = 1.0
            else:
                a, p = r.read(3), r.read(4)
                coef[b, j] = AMPLITUDES[a] * complex(math.cos(2 * math.pi * p / NUM_PHASES),
                                                      math.sin(2 * math.pi * p / NUM_PHASES))
    dev = bits.device
    return _precoders(q.to(dev), beams.to(dev), fd.to(dev), coef.reshape(bsz, nbm, m).to(dtype).to(dev),
                      cfg.num_ant, cfg.num_subbands)


def etype2_unquantized(v: torch.Tensor, num_beams: int, num_fd: int) -> torch.Tensor:
    """Reconstruction with the spatial/FD compression only (no sparsification or quantisation)."""
    q, beams, fd, coef = etype2_project(v, num_beams, num_fd)
    return _precoders(q, beams, fd, coef, v.shape[-1], v.shape[1])

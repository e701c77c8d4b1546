r"""Downlink throughput: the achievable-rate bound, Sionna's PHY abstraction, and a coded link.

One slot has 14 OFDM symbols, of which ``num_data_symbols`` (12: two are DMRS) carry data,
on every subcarrier; its duration is 1 ms x 15 kHz / subcarrier spacing. The channel is
static within the slot (the future DL CSI Z). Each function returns the throughput summed
over the K co-scheduled UEs and averaged over the batch, in Mbit/s.

* :func:`rate_bound`: $\sum_u \sum_k S \log_2(1 + \mathrm{SINR}_{u,k}) / T_\mathrm{slot}$,
  Gaussian signalling, interference treated as noise.
* :func:`abstraction_throughput`: Sionna's :class:`sionna.sys.PHYAbstraction` (EESM
  effective SINR -> TBLER tables of the 5G LDPC code -> decoded bits) for every MCS of the
  5G PDSCH MCS table, keeping the MCS with the highest mean throughput ("best MCS of the
  table at this SNR"). Fast: use it for sweeps. Sionna's BLER tables stop at a code block
  size of 2000 and are clamped above it.
* :func:`coded_link`: bits -> 5G LDPC -> QAM -> precoded resource grid ->
  :class:`sionna.phy.channel.ApplyOFDMChannel` with the true channels and AWGN -> per-UE
  LMMSE equalisation (Sionna's ``lmmse_equalizer``; the UE knows its effective channel and
  the interference channels, i.e. ideal DMRS-based estimation) -> soft demapping -> LDPC
  decoding; BLER is measured per code word and throughput counts the correctly decoded
  information bits. :func:`coded_link_best_mcs` searches the MCS table. Slow on CPU (LDPC
  decoding): use it to validate the abstraction at a few points.
"""

from __future__ import annotations

import math

import torch

from .._validation import check_tensor

__all__ = ["slot_duration", "rate_bound", "abstraction_throughput", "coded_link", "coded_link_best_mcs",
           "MIN_CODED_MCS"]

MIN_CODED_MCS = 3  # table 1 MCS 0-2 have code rates < 1/5, below what LDPC5GEncoder accepts


def slot_duration(subcarrier_spacing: float) -> float:
    """Slot duration in seconds (14 OFDM symbols).

    Examples:
        >>> slot_duration(15e3), slot_duration(30e3)
        (0.001, 0.0005)
    """
    return 1e-3 * 15e3 / subcarrier_spacing


def rate_bound(sinr: torch.Tensor, num_data_symbols: int = 12, subcarrier_spacing: float = 15e3) -> float:
    """Achievable-rate bound in Mbit/s (sum over UEs, mean over the batch).

    Args:
        sinr: `[batch, K, num_subcarriers]` float.

    Examples:
        >>> rate_bound(torch.ones(1, 1, 100))   # log2(2) = 1 bit per RE
        1.2
    """
    sinr = check_tensor(sinr, "sinr", kind="real", ndim=3)
    bits = num_data_symbols * torch.log2(1 + sinr).sum((1, 2))
    return float(bits.mean()) / slot_duration(subcarrier_spacing) / 1e6


_PHY_ABS = {}


def _phy_abstraction():
    from sionna.phy import config as sn_config
    from sionna.sys import EESM, PHYAbstraction

    key = (sn_config.device, sn_config.precision)
    if key not in _PHY_ABS:
        _PHY_ABS[key] = (PHYAbstraction(), EESM())
    return _PHY_ABS[key]


def abstraction_throughput(
    sinr: torch.Tensor, num_data_symbols: int = 12, subcarrier_spacing: float = 15e3,
    mcs_table_index: int = 1, mcs_index: int | None = None,
) -> dict:
    """Throughput from Sionna's PHY abstraction with the best MCS of the table.

    Args:
        sinr: `[batch, K, num_subcarriers]` float. Post-precoding SINR per UE and subcarrier.
        num_data_symbols: int. Data OFDM symbols per slot.
        subcarrier_spacing: float. Hz.
        mcs_table_index: int. 5G PDSCH MCS table (1: up to 64-QAM).
        mcs_index: int or None. A fixed MCS instead of the best one.

    Returns:
        dict: ``throughput_mbps`` (sum over UEs, mean over batch), ``mcs``, ``tbler``
        (mean transport-block error rate at that MCS), ``path`` = "phy-abstraction".
    """
    sinr = check_tensor(sinr, "sinr", kind="real", ndim=3)
    phy, eesm = _phy_abstraction()
    b, k, f = sinr.shape
    mcs_list = list(range(28)) if mcs_index is None else [int(mcs_index)]
    # The channel is static within the slot, so the effective SINR of one OFDM symbol equals
    # that of the slot: compute EESM on one symbol and give the PHY abstraction the slot's RE count.
    s = sinr.permute(0, 2, 1)[:, None, :, :, None].repeat(len(mcs_list), 1, 1, 1, 1)  # [M*B, 1, F, K, 1]
    mcs = torch.tensor(mcs_list, device=sinr.device).repeat_interleave(b)[:, None].expand(-1, k)
    mcs_cat = torch.ones_like(mcs)
    sinr_eff = eesm(s.clamp_min(1e-10), mcs, mcs_table_index=mcs_table_index, mcs_category=mcs_cat)
    n_re = torch.full_like(mcs, num_data_symbols * f, dtype=torch.int32)
    bits, _, _, tbler, _ = phy(mcs, sinr_eff=sinr_eff, num_allocated_re=n_re, mcs_table_index=mcs_table_index,
                               mcs_category=1)
    # Expected rather than sampled decoded bits: the transport block size depends only on the
    # MCS and the RE count (the same for every sample), so E[bits] = TBS * (1 - TBLER).
    tbler = tbler.reshape(len(mcs_list), b, k).float()
    tbs = torch.stack([_tb_size(int(m), num_data_symbols * f, mcs_table_index) for m in mcs_list]).to(tbler)
    per_mcs = tbs * (1 - tbler).sum(-1).mean(-1)  # [num_mcs]
    best = int(per_mcs.argmax())
    return {"throughput_mbps": float(per_mcs[best]) / slot_duration(subcarrier_spacing) / 1e6,
            "mcs": mcs_list[best], "tbler": float(tbler[best].mean()), "path": "phy-abstraction"}


def _tb_size(mcs_index: int, num_re: int, mcs_table_index: int) -> torch.Tensor:
    """Transport block size in bits of one PDSCH slot (Sionna's NR TB-size computation)."""
    from sionna.phy.nr.utils import calculate_tb_size, decode_mcs_index

    m, r = decode_mcs_index(mcs_index, mcs_table_index, is_pusch=False)
    out = calculate_tb_size(modulation_order=m, target_coderate=r, num_coded_bits=int(m) * num_re)
    return torch.as_tensor(out[0] if isinstance(out, tuple) else out).reshape(())


def _to_grid(x: torch.Tensor, num_symbols: int, num_sc: int, mapper, num_bits_per_symbol: int) -> torch.Tensor:
    """Fill `[B, K, num_re]` symbols into `[B, K, S, F]`, padding with random QAM symbols."""
    from sionna.phy.mapping import BinarySource

    b, k, n = x.shape
    pad = num_symbols * num_sc - n
    if pad:
        x = torch.cat([x, mapper(BinarySource()([b, k, pad * num_bits_per_symbol]))], -1)
    return x.reshape(b, k, num_symbols, num_sc)


def coded_link(
    h: torch.Tensor, w: torch.Tensor, no: float, mcs_index: int, *, num_data_symbols: int = 12,
    subcarrier_spacing: float = 15e3, mcs_table_index: int = 1, num_iter: int = 20,
) -> dict:
    """Link-level simulation of one slot per sample (see module docstring).

    Args:
        h: `[batch, K, num_bs_ant, num_subcarriers]` complex. True channels.
        w: `[batch, num_subcarriers, num_bs_ant, K]` complex. Precoders.
        no: float. Noise variance.
        mcs_index: int. 5G PDSCH MCS index (>= 3 for table 1).

    Returns:
        dict: ``throughput_mbps``, ``bler`` (code-word error rate), ``num_codewords``,
        ``mcs``, ``path`` = "coded-link".
    """
    from sionna.phy.channel import ApplyOFDMChannel
    from sionna.phy.fec.ldpc import LDPC5GDecoder, LDPC5GEncoder
    from sionna.phy.mapping import BinarySource, Demapper, Mapper
    from sionna.phy.mimo import lmmse_equalizer
    from sionna.phy.nr.utils import decode_mcs_index

    h = check_tensor(h, "h", kind="complex", ndim=4)
    bsz, k_ue, n_ant, f = h.shape
    if not isinstance(mcs_index, int) or mcs_index < MIN_CODED_MCS or mcs_index > 27:
        raise ValueError(f"`mcs_index` must be an int in [{MIN_CODED_MCS}, 27], got {mcs_index!r}.")
    m, r = decode_mcs_index(mcs_index, mcs_table_index, is_pusch=False)
    m, r = int(m), float(r)
    s = num_data_symbols
    n_total = f * s * m
    num_cw = max(1, math.ceil(n_total / 8000))
    n = (n_total // num_cw // m) * m
    k = int(round(r * n))
    enc = LDPC5GEncoder(k, n, num_bits_per_symbol=m)
    dec = LDPC5GDecoder(enc, hard_out=True, num_iter=num_iter)
    mapper, demapper = Mapper("qam", m), Demapper("app", "qam", m)
    b = BinarySource()([bsz, k_ue, num_cw, k])
    x = mapper(enc(b).reshape(bsz, k_ue, num_cw * n))  # [B, K, num_re_used]
    n_re = x.shape[-1]
    xg = _to_grid(x, s, f, mapper, m)  # [B, K, S, F]
    xp = torch.einsum("bfnu,busf->bnsf", w.to(xg.dtype), xg)[:, None]  # [B, 1 tx, N, S, F]
    hs = h[:, :, None, None, :, None, :].expand(bsz, k_ue, 1, 1, n_ant, s, f)
    y = ApplyOFDMChannel()(xp, hs, no)[:, :, 0]  # [B, K rx, S, F]
    g = torch.einsum("bunf,bfnj->bufj", h, w.to(h.dtype))  # effective channels [B, K rx, F, K streams]
    g = g[:, :, None].expand(bsz, k_ue, s, f, k_ue)
    cov = torch.full((bsz, k_ue, s, f, 1, 1), no, dtype=y.dtype, device=y.device)
    x_hat, no_eff = lmmse_equalizer(y[..., None], g[..., None, :], cov)  # [B, K, S, F, K]
    x_hat = torch.diagonal(x_hat, dim1=1, dim2=-1)  # stream u at UE u: [B, S, F, K]
    no_eff = torch.diagonal(no_eff, dim1=1, dim2=-1)  # [B, S, F, K]
    x_hat = x_hat.permute(0, 3, 1, 2).reshape(bsz, k_ue, s * f)[..., :n_re]
    no_eff = no_eff.permute(0, 3, 1, 2).reshape(bsz, k_ue, s * f)[..., :n_re]
    llr = demapper(x_hat, no_eff).reshape(bsz, k_ue, num_cw, n)
    b_hat = dec(llr)
    ok = (b_hat == b).all(-1)  # [B, K, C]
    bits = ok.float().sum((1, 2)) * k
    return {"throughput_mbps": float(bits.mean()) / slot_duration(subcarrier_spacing) / 1e6,
            "bler": float(1 - ok.float().mean()), "num_codewords": int(ok.numel()), "mcs": mcs_index,
            "path": "coded-link"}


def coded_link_best_mcs(h: torch.Tensor, w: torch.Tensor, no: float, mcs_candidates=None, **kwargs) -> dict:
    """:func:`coded_link` for each MCS candidate; the one with the highest throughput."""
    cands = list(range(MIN_CODED_MCS, 28)) if mcs_candidates is None else list(mcs_candidates)
    results = [coded_link(h, w, no, int(c), **kwargs) for c in cands]
    return max(results, key=lambda d: d["throughput_mbps"])

r"""Downlink precoding from fed-back CSI, and what it achieves on the true channel.

Model per subcarrier $k$ with $K$ co-scheduled single-antenna UEs: UE $u$ receives
$y_u = \mathbf{h}_u^T \sum_j \mathbf{w}_j x_j + n_u$ with $E|x_j|^2 = 1$, total transmit
power 1 ($\sum_j \|\mathbf{w}_j\|^2 = 1$) and noise variance ``no``; the per-UE SNR is
$1/\mathrm{no}$ before beamforming gain. The precoder is computed from the CSI estimates
$\hat{\mathbf{h}}_u$ only; the SINR uses the true channels:

$$\mathrm{SINR}_u = \frac{|\mathbf{h}_u^T\mathbf{w}_u|^2}{\sum_{j\ne u}|\mathbf{h}_u^T\mathbf{w}_j|^2 + \mathrm{no}}.$$

Precoders: ``"mrt"`` ($\mathbf{w}_u \propto \hat{\mathbf{h}}_u^*$), ``"zf"`` and ``"rzf"``
(Sionna's :func:`sionna.phy.mimo.rzf_precoding_matrix`, regularisation $\alpha = K\,\mathrm{no}$
for RZF; for ZF $10^{-6}$ of the mean channel gain, which only matters when reports are
co-linear), with equal power $1/K$ per stream.
"""

from __future__ import annotations

import math

import torch

from .._validation import check_choice, check_finite_scalar, check_tensor

__all__ = ["precoding_matrix", "post_precoding_sinr", "bf_gain_db", "snr_db_to_no"]


def snr_db_to_no(snr_db: float) -> float:
    """Noise variance for a per-UE SNR in dB (unit transmit power).

    Examples:
        >>> snr_db_to_no(10.0)
        0.1
    """
    return 10 ** (-check_finite_scalar(snr_db, "snr_db") / 10)


def _check_multiuser(h: torch.Tensor, name: str) -> torch.Tensor:
    return check_tensor(h, name, kind="complex", ndim=4)


def precoding_matrix(h_hat: torch.Tensor, method: str = "mrt", snr_db: float | None = None) -> torch.Tensor:
    """Precoders from CSI estimates.

    Args:
        h_hat: `[batch, K, num_bs_ant, num_subcarriers]` complex. CSI estimate of each UE.
        method: "mrt", "zf" or "rzf". MRT needs K = 1.
        snr_db: float. Per-UE SNR, needed by RZF.

    Returns:
        `[batch, num_subcarriers, num_bs_ant, K]` complex, total power 1 per subcarrier.

    Examples:
        >>> w = precoding_matrix(torch.randn(2, 3, 8, 5, dtype=torch.complex64), "zf")
        >>> tuple(w.shape), round(float(w[0, 0].norm()), 5)
        ((2, 5, 8, 3), 1.0)
    """
    from sionna.phy.mimo import rzf_precoding_matrix

    h_hat = _check_multiuser(h_hat, "h_hat")
    check_choice(method, "method", ("mrt", "zf", "rzf"))
    k = h_hat.shape[1]
    hk = h_hat.permute(0, 3, 1, 2)  # [B, F, K, N]: rows h_u^T
    if method == "mrt":
        if k != 1:
            raise ValueError(f"`method` 'mrt' is single-user; got K={k} UEs (use 'zf' or 'rzf').")
        w = hk.conj().transpose(-2, -1)
        return w / w.norm(dim=-2, keepdim=True).clamp_min(1e-30)
    if method == "rzf" and snr_db is None:
        raise ValueError("`snr_db` is required for method 'rzf'.")
    if method == "zf":
        # 1e-6 of the mean channel gain keeps ZF finite when reports are co-linear (e.g. two
        # UEs reporting the same codebook beam); negligible otherwise.
        alpha = 1e-6 * hk.abs().pow(2).sum(-1).mean((-1,), keepdim=False)[..., None, None].real
        alpha = alpha.expand(*hk.shape[:-2], 1, 1)[..., 0, 0]
    else:
        alpha = k * snr_db_to_no(snr_db)
    g = rzf_precoding_matrix(hk, alpha=alpha)  # unit-norm columns, [B, F, N, K]
    return g / math.sqrt(k)


def post_precoding_sinr(h: torch.Tensor, w: torch.Tensor, no: float) -> torch.Tensor:
    """SINR of every UE on every subcarrier (true channel, interference as noise).

    Args:
        h: `[batch, K, num_bs_ant, num_subcarriers]` complex. True channels.
        w: `[batch, num_subcarriers, num_bs_ant, K]` complex. Precoders.
        no: float. Noise variance.

    Returns:
        `[batch, K, num_subcarriers]` float.
    """
    h = _check_multiuser(h, "h")
    g = torch.einsum("bunf,bfnj->bfuj", h, w.to(h.dtype)).abs().pow(2)  # |h_u^T w_j|^2, [B, F, K, K]
    sig = torch.diagonal(g, dim1=-2, dim2=-1)
    return (sig / (g.sum(-1) - sig + no)).permute(0, 2, 1)


def bf_gain_db(h: torch.Tensor, h_hat: torch.Tensor) -> float:
    r"""Mean single-user MRT beamforming gain $|\mathbf{h}^T\mathbf{w}|^2/(\|\mathbf{h}\|^2/N)$ in dB.

    With perfect CSI this is $10\log_{10} N$ (15.05 dB for 32 antennas).

    Args:
        h: `[batch, num_bs_ant, num_subcarriers]` complex. True channel.
        h_hat: same shape. CSI estimate the MRT precoder is computed from.

    Examples:
        >>> h = torch.randn(4, 32, 6, dtype=torch.complex64)
        >>> round(bf_gain_db(h, h), 2)
        15.05
    """
    h = check_tensor(h, "h", kind="complex", ndim=3)
    h_hat = check_tensor(h_hat, "h_hat", kind="complex", ndim=3)
    w = h_hat.conj() / h_hat.norm(dim=1, keepdim=True).clamp_min(1e-30)
    gain = (h * w).sum(1).abs().pow(2) / (h.abs().pow(2).sum(1) / h.shape[1])
    return 10 * math.log10(float(gain.double().mean()))

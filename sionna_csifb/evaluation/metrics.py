r"""Distortion metrics every feedback scheme is judged by.

Notation: $\mathbf{H} \in \mathbb{C}^{N_t \times N_c}$ is the true spatial-frequency CSI
of one sample (BS antennas x subcarriers), $\mathbf{h}_n$ its column for subcarrier $n$,
$\mathbf{G}$ the cropped angular-delay CSI, hats are estimates; $B$ samples per batch.

* **NMSE** (per sample, any domain): $\mathrm{NMSE}_b = \|\mathbf{H}_b - \hat{\mathbf{H}}_b\|_F^2 /
  \|\mathbf{H}_b\|_F^2$. The reported figure is the **linear mean over samples, then dB**:
  $10 \log_{10} \frac{1}{B}\sum_b \mathrm{NMSE}_b$ (not a mean of dB values), as in the papers.
* **Spatial-frequency NMSE from angular-delay estimates**: with $E_b$ the energy of the full,
  uncropped channel, $\mathrm{NMSE}^{\mathrm{SF}}_b = (\|\mathbf{G}_b - \hat{\mathbf{G}}_b\|_F^2 +
  E_b - \|\mathbf{G}_b\|_F^2) / E_b$; Parseval makes this exactly the NMSE of
  $\hat{\mathbf{H}} = \mathrm{from\_angular\_delay}(\hat{\mathbf{G}})$ against the full channel,
  truncation loss included.
* **SGCS** (squared generalised cosine similarity), per subcarrier:
  $\mathrm{SGCS}_{b,n} = |\mathbf{h}_n^H \hat{\mathbf{h}}_n|^2 / (\|\mathbf{h}_n\|^2
  \|\hat{\mathbf{h}}_n\|^2)$; per subband $s$ of ``subband_size`` subcarriers, with
  $\mathbf{v}_s$ the principal eigenvector of $\sum_{n \in s} \mathbf{h}_n \mathbf{h}_n^H$:
  $|\mathbf{v}_s^H \hat{\mathbf{v}}_s|^2$. Averaged over subcarriers/subbands and samples.
* **rho** (CsiNet's cosine correlation): $\rho_b = \frac{1}{N_c}\sum_n
  |\hat{\mathbf{h}}_n^H \mathbf{h}_n| / (\|\hat{\mathbf{h}}_n\| \|\mathbf{h}_n\|)$.
"""

from __future__ import annotations

import math

import torch

from .._validation import TensorLike, check_positive_int, check_same_shape, check_tensor

__all__ = ["nmse", "nmse_db", "nmse_sf_from_ad", "sgcs", "rho", "correlation", "to_db"]

_EPS = 1e-30


def _pair(h: TensorLike, h_hat: TensorLike, min_ndim: int = 2):
    h = check_tensor(h, "h", kind="complex", ndim=tuple(range(min_ndim, 9)), nonzero=True)
    h_hat = check_tensor(h_hat, "h_hat", kind="complex", ndim=h.ndim)
    check_same_shape(h, h_hat, "h", "h_hat")
    return h, h_hat.to(h.dtype)


def to_db(values: TensorLike) -> float:
    """10 log10 of the linear mean of ``values`` (a tensor of per-sample ratios).

    Examples:
        >>> round(to_db(torch.tensor([0.1, 0.1])), 6)
        -10.0
    """
    m = float(torch.as_tensor(values).double().mean())
    return 10 * math.log10(m) if m > 0 else float("-inf")


def nmse(h: TensorLike, h_hat: TensorLike) -> torch.Tensor:
    """Per-sample NMSE, linear.

    Args:
        h: `[batch, ...]`, complex. True CSI (any domain); no sample may be all zero.
        h_hat: same shape as ``h``, complex. Estimate.

    Returns:
        `[batch]`, real.

    Raises:
        ValueError: on shape/dtype mismatch, NaN/Inf, or an all-zero true channel.

    Examples:
        >>> h = torch.ones(2, 4, 4, dtype=torch.complex64)
        >>> [round(v, 6) for v in nmse(h, 0.9 * h).tolist()]
        [0.01, 0.01]
    """
    h, h_hat = _pair(h, h_hat)
    d = (h - h_hat).abs().pow(2).flatten(1).sum(1)
    return d / h.abs().pow(2).flatten(1).sum(1)


def nmse_db(h: TensorLike, h_hat: TensorLike) -> float:
    """NMSE in dB: linear mean over samples, then dB (see module docstring).

    Examples:
        >>> h = torch.ones(2, 4, 4, dtype=torch.complex64)
        >>> round(nmse_db(h, 0.9 * h), 3)
        -20.0
    """
    return to_db(nmse(h, h_hat))


def nmse_sf_from_ad(g: TensorLike, g_hat: TensorLike, energy: TensorLike) -> torch.Tensor:
    """Per-sample spatial-frequency NMSE of an angular-delay estimate, truncation included.

    Args:
        g: `[batch, num_ant, num_taps]`, complex. True cropped angular-delay CSI.
        g_hat: same shape, complex. Estimate.
        energy: `[batch]`, real. Energy of the full (uncropped) true channel, e.g. column
            2 (``z``) of a dataset's ``energy``.

    Returns:
        `[batch]`, real.

    Examples:
        >>> g = torch.ones(1, 2, 2, dtype=torch.complex64)
        >>> round(nmse_sf_from_ad(g, g, torch.tensor([5.0])).item(), 6)   # 1 of 5 units cropped
        0.2
    """
    g, g_hat = _pair(g, g_hat)
    energy = check_tensor(energy, "energy", kind="real", ndim=1).to(g.device)
    if energy.shape[0] != g.shape[0]:
        raise ValueError(f"`energy` must have shape [{g.shape[0]}], got {tuple(energy.shape)}.")
    kept = g.abs().pow(2).flatten(1).sum(1)
    if bool((energy < kept * (1 - 1e-4)).any()):
        raise ValueError("`energy` must be at least the energy of `g` (the energy of the uncropped channel).")
    d = (g - g_hat).abs().pow(2).flatten(1).sum(1)
    return (d + (energy.to(d.dtype) - kept).clamp_min(0)) / energy.to(d.dtype)


def _principal(h: torch.Tensor) -> torch.Tensor:
    """Principal eigenvector of sum_n h_n h_n^H: h `[..., N, n]` -> `[..., N]`."""
    r = h @ h.conj().transpose(-2, -1)
    _, v = torch.linalg.eigh(r)
    return v[..., -1]


def sgcs(h: TensorLike, h_hat: TensorLike, subband_size: int = 1) -> torch.Tensor:
    """Squared generalised cosine similarity per subcarrier or per subband.

    Args:
        h: `[batch, num_ant, num_subcarriers]`, complex. True spatial-frequency CSI.
        h_hat: same shape, complex. Estimate.
        subband_size: int. 1 compares per subcarrier; k > 1 compares the principal
            eigenvectors of consecutive groups of k subcarriers (the last may be smaller).

    Returns:
        `[batch, num_subbands]`, real, in [0, 1]. Average it for the scalar figure.

    Examples:
        >>> h = torch.randn(2, 4, 6, dtype=torch.complex64)
        >>> sgcs(h, 2j * h).mean().item() > 0.999, tuple(sgcs(h, h, 4).shape)
        (True, (2, 2))
    """
    h, h_hat = _pair(h, h_hat, min_ndim=3)
    if h.ndim != 3:
        raise ValueError(f"`h` must be [batch, num_ant, num_subcarriers], got shape {tuple(h.shape)}.")
    subband_size = check_positive_int(subband_size, "subband_size")
    if subband_size == 1:
        num = (h.conj() * h_hat).sum(1).abs().pow(2)
        den = h.abs().pow(2).sum(1) * h_hat.abs().pow(2).sum(1)
        return num / den.clamp_min(_EPS)
    out = []
    for lo in range(0, h.shape[-1], subband_size):
        v, v_hat = _principal(h[..., lo:lo + subband_size]), _principal(h_hat[..., lo:lo + subband_size])
        out.append((v.conj() * v_hat).sum(-1).abs().pow(2))
    return torch.stack(out, -1)


def rho(h: TensorLike, h_hat: TensorLike) -> torch.Tensor:
    """CsiNet's cosine correlation, averaged over subcarriers, per sample.

    Args:
        h: `[batch, num_ant, num_subcarriers]`, complex.
        h_hat: same shape, complex.

    Returns:
        `[batch]`, real, in [0, 1].

    Examples:
        >>> h = torch.randn(3, 4, 6, dtype=torch.complex64)
        >>> bool((rho(h, h) > 0.9999).all())
        True
    """
    h, h_hat = _pair(h, h_hat, min_ndim=3)
    if h.ndim != 3:
        raise ValueError(f"`h` must be [batch, num_ant, num_subcarriers], got shape {tuple(h.shape)}.")
    num = (h_hat.conj() * h).sum(1).abs()
    den = h.abs().pow(2).sum(1).sqrt() * h_hat.abs().pow(2).sum(1).sqrt()
    return (num / den.clamp_min(_EPS)).mean(-1)


def correlation(x: TensorLike, y: TensorLike) -> torch.Tensor:
    r"""Per-sample correlation coefficient $|\langle x, y\rangle| / (\|x\| \|y\|)$ over all entries.

    Used to compare channels (e.g. DL now vs +5 ms, DL vs UL); works on complex or real tensors.

    Examples:
        >>> h = torch.randn(2, 3, 4, dtype=torch.complex64)
        >>> [round(v, 5) for v in correlation(h, 1j * h).tolist()]
        [1.0, 1.0]
    """
    x = check_tensor(x, "x", kind="any", ndim=tuple(range(2, 9)))
    y = check_tensor(y, "y", kind="any", ndim=x.ndim)
    check_same_shape(x, y, "x", "y")
    x, y = x.flatten(1), y.flatten(1)
    return (x.conj() * y).sum(1).abs() / (x.norm(dim=1) * y.norm(dim=1)).clamp_min(_EPS)

r"""The feedback link: how the message crosses the uplink.

* :class:`IdealUplink`: error free, for pure compression studies.
* :class:`CodedUplink`: payload + CRC-24A -> 5G LDPC (rate ``code_rate``) -> QAM -> the REs
  of an OFDM uplink over the scenario's UL channel (1 UE antenna -> ``num_bs_ant`` BS
  antennas, per-antenna SNR ``snr_db``) -> LMMSE combining (Sionna's ``lmmse_equalizer``,
  perfect UL CSI at the BS as in Kim et al.) -> demapping -> LDPC decoding -> CRC check.
  A failed CRC is a lost report; the chain then falls back to the UL CSI (see
  :mod:`.chain`).
* :class:`AnalogUplink`: the complex JSCC symbols on ``k`` subcarriers of the same fading
  uplink, MRC at the BS (:func:`fading_mrc`; :class:`FadingUplinkChannel` is the same
  channel as a differentiable codec hook for training).

Every ``transmit`` returns the received message and a dict with ``lost`` (`[batch]` bool)
and ``uplink_res`` (resource elements used per report).
"""

from __future__ import annotations

import math

import torch

from .._validation import check_choice, check_finite_scalar, check_positive_int, check_tensor
from ..schemes.base import FeedbackMessage

__all__ = ["IdealUplink", "CodedUplink", "AnalogUplink", "FadingUplinkChannel", "fading_mrc", "get_uplink"]


def _check_channel(h_ul: torch.Tensor, batch: int) -> torch.Tensor:
    h_ul = check_tensor(h_ul, "h_ul", kind="complex", ndim=3, nonzero=True)
    if h_ul.shape[0] != batch:
        raise ValueError(f"`h_ul` must have {batch} samples (the message's batch), got shape {tuple(h_ul.shape)}.")
    return h_ul


def _ul_grid_channel(h_ul: torch.Tensor, num_symbols: int) -> torch.Tensor:
    """[B, N, F] -> Sionna UL layout [B, 1 rx (BS), N, 1 tx (UE), 1, S, F]."""
    b, n, f = h_ul.shape
    return h_ul[:, None, :, None, None, None, :].expand(b, 1, n, 1, 1, num_symbols, f)


def _combine(y: torch.Tensor, h: torch.Tensor, no: float) -> tuple[torch.Tensor, torch.Tensor]:
    """LMMSE combining of one stream over the BS antennas: y [B, N, S, F], h [B, N, F]."""
    from sionna.phy.mimo import lmmse_equalizer

    b, n, s, f = y.shape
    yy = y.permute(0, 2, 3, 1)[..., None]  # [B, S, F, N, 1]
    hh = h.permute(0, 2, 1)[:, None, :, :, None].expand(b, s, f, n, 1)
    cov = (no * torch.eye(n, dtype=y.dtype, device=y.device)).expand(b, s, f, n, n)
    x_hat, no_eff = lmmse_equalizer(yy[..., 0], hh, cov)
    return x_hat[..., 0].reshape(b, s * f), no_eff[..., 0].reshape(b, s * f)


class IdealUplink:
    """Error-free feedback link.

    Examples:
        >>> msg = FeedbackMessage.from_bits(torch.ones(2, 5, dtype=torch.uint8))
        >>> out, info = IdealUplink().transmit(msg)
        >>> torch.equal(out.bits, msg.bits), info["lost"].tolist()
        (True, [False, False])
    """

    name = "ideal"

    def transmit(self, message: FeedbackMessage, h_ul: torch.Tensor | None = None, snr_db: float | None = None):
        b = message.num_bits.shape[0]
        return message, {"lost": torch.zeros(b, dtype=torch.bool), "uplink_res": None}


class CodedUplink:
    """Digital feedback over a coded OFDM uplink through the scenario's UL fading channel.

    Args:
        code_rate: float. LDPC code rate in [1/5, 1) (CRC bits included in k).
        num_bits_per_symbol: int. 2 (QPSK), 4 or 6.

    Examples:
        >>> ul = CodedUplink()
        >>> ul.num_res(118)   # (118 + 24) bits at rate 1/3 with QPSK
        213
    """

    name = "coded"
    crc_bits = 24

    def __init__(self, code_rate: float = 1 / 3, num_bits_per_symbol: int = 2) -> None:
        if not 0.2 <= float(code_rate) < 1:
            raise ValueError(f"`code_rate` must be in [0.2, 1), got {code_rate!r}.")
        check_choice(num_bits_per_symbol, "num_bits_per_symbol", (2, 4, 6))
        self.code_rate = float(code_rate)
        self.num_bits_per_symbol = num_bits_per_symbol

    def _sizes(self, num_bits: int) -> tuple[int, int]:
        k = num_bits + self.crc_bits
        m = self.num_bits_per_symbol
        n = math.ceil(k / self.code_rate / m) * m
        return k, n

    def num_res(self, num_bits: int) -> int:
        """Uplink resource elements one report of ``num_bits`` bits occupies."""
        return 0 if num_bits == 0 else self._sizes(num_bits)[1] // self.num_bits_per_symbol

    MAX_CODE_RATE = 0.93

    @classmethod
    def for_res(cls, num_bits: int, num_res: int) -> "CodedUplink":
        """The coded uplink that sends a ``num_bits`` report (+ CRC) in exactly ``num_res``
        resource elements: the lowest QAM order (QPSK, 16-, 64-QAM) whose code rate
        (num_bits + 24) / (num_res x bits per symbol) lies in [0.2, 0.93]; how a digital
        scheme is compared with an analog one at equal REs.

        Examples:
            >>> ul = CodedUplink.for_res(65, 64)   # (65 + 24) / (64 x 2) = 0.695 with QPSK
            >>> ul.num_bits_per_symbol, round(ul.code_rate, 3), ul.num_res(65)
            (2, 0.695, 64)
        """
        k = check_positive_int(num_bits, "num_bits") + cls.crc_bits
        for m in (2, 4, 6):
            rate = k / (check_positive_int(num_res, "num_res") * m)
            if rate <= cls.MAX_CODE_RATE:
                if rate < 0.2:
                    break
                return cls(code_rate=rate * (1 + 1e-12), num_bits_per_symbol=m)
        raise ValueError(f"{num_bits} bits (+ {cls.crc_bits} CRC) do not fit {num_res} REs at a code rate in "
                         f"[0.2, {cls.MAX_CODE_RATE}] with QPSK, 16- or 64-QAM.")

    def transmit(self, message: FeedbackMessage, h_ul: torch.Tensor, snr_db: float):
        """Send every report; variable-length reports (``message.num_bits`` differ) go in
        transport blocks of their own length (reports of equal length share one LDPC code).

        Returns:
            tuple: the received message, and ``lost`` `[batch]` and ``uplink_res`` (REs per
            report: an int, or the mean for variable-length reports, with
            ``uplink_res_per_report`` `[batch]`).
        """
        if message.bits is None:
            raise ValueError("CodedUplink carries digital messages; this message has no bits (analog scheme?).")
        bsz = message.bits.shape[0]
        h_ul = _check_channel(h_ul, bsz) if message.nominal_bits else h_ul
        no = 10 ** (-check_finite_scalar(snr_db, "snr_db") / 10)
        lengths = message.num_bits.to(torch.int64).cpu()
        if bool((lengths < 0).any()) or bool((lengths > message.nominal_bits).any()):
            raise ValueError("message.num_bits must lie in [0, bits.shape[1]].")
        b_hat = message.bits.clone()
        lost = torch.zeros(bsz, dtype=torch.bool)
        res = torch.zeros(bsz, dtype=torch.int64)
        for nb in torch.unique(lengths).tolist():
            idx = torch.nonzero(lengths == nb).flatten()
            if nb == 0:
                continue
            sel = idx.to(message.bits.device)
            rx, lost_i = self._send(message.bits[sel, :nb], h_ul[sel], no)
            b_hat[sel, :nb] = rx.to(b_hat.dtype)
            lost[idx] = lost_i
            res[idx] = self.num_res(nb)
        fixed = bool((lengths == lengths[0]).all()) if bsz else True
        info = {"lost": lost, "uplink_res": int(res[0]) if fixed and bsz else float(res.double().mean())}
        if not fixed:
            info["uplink_res_per_report"] = res
        return message.replace_bits(b_hat), info

    def _send(self, bits: torch.Tensor, h_ul: torch.Tensor, no: float) -> tuple[torch.Tensor, torch.Tensor]:
        """Fixed-length reports `[b, nb]` through CRC, LDPC, QAM, the OFDM uplink and back."""
        from sionna.phy.channel import ApplyOFDMChannel
        from sionna.phy.fec.crc import CRCDecoder, CRCEncoder
        from sionna.phy.fec.ldpc import LDPC5GDecoder, LDPC5GEncoder
        from sionna.phy.mapping import BinarySource, Demapper, Mapper

        bsz, nb = bits.shape
        m = self.num_bits_per_symbol
        k, n = self._sizes(nb)
        crc_enc = CRCEncoder("CRC24A")
        crc_dec = CRCDecoder(crc_enc)
        enc = LDPC5GEncoder(k, n, num_bits_per_symbol=m)
        dec = LDPC5GDecoder(enc, hard_out=True, num_iter=20)
        mapper, demapper = Mapper("qam", m), Demapper("app", "qam", m)
        f = h_ul.shape[-1]
        n_re = n // m
        s = math.ceil(n_re / f)
        x = mapper(enc(crc_enc(bits.float())))  # [B, n_re]
        if s * f > n_re:
            x = torch.cat([x, mapper(BinarySource()([bsz, (s * f - n_re) * m]))], -1)
        xg = x.reshape(bsz, 1, 1, s, f)  # [B, 1 tx, 1 ant, S, F]
        y = ApplyOFDMChannel()(xg, _ul_grid_channel(h_ul, s), no)[:, 0]  # [B, N, S, F]
        x_hat, no_eff = _combine(y, h_ul, no)
        llr = demapper(x_hat[:, :n_re], no_eff[:, :n_re])
        b_hat, crc_ok = crc_dec(dec(llr))
        return b_hat.round(), ~crc_ok.reshape(bsz).bool().cpu()


def fading_mrc(z: torch.Tensor, h_ul: torch.Tensor, snr_db) -> torch.Tensor:
    """Complex symbols through the fading OFDM uplink and MRC at the BS (differentiable).

    Symbol ``i`` goes on subcarrier ``i mod F`` of OFDM symbol ``i // F`` of the sample's UL
    channel (Sionna's ``ApplyOFDMChannel``, noise of variance ``10^(-snr_db/10)`` per antenna);
    the BS combines its antennas by MRC, ``h^H y / h^H h`` (perfect UL CSI at the BS, as for
    the coded uplink), an unbiased estimate of each symbol.

    Args:
        z: `[batch, k]` complex. Symbols (unit mean power).
        h_ul: `[batch, num_bs_ant, F]` complex. UL channel (unit mean power per entry).
        snr_db: float or `[batch]`. Per-antenna uplink SNR.

    Returns:
        `[batch, k]` complex. The combined symbols.
    """
    from sionna.phy.channel import ApplyOFDMChannel

    bsz, k = z.shape
    f = h_ul.shape[-1]
    s = math.ceil(k / f)
    snr = torch.as_tensor(snr_db, dtype=torch.float32, device=z.device)
    no = (10 ** (-snr / 10)).expand(bsz).reshape(bsz, 1, 1, 1, 1)
    zz = torch.cat([z, torch.zeros(bsz, s * f - k, dtype=z.dtype, device=z.device)], -1) if s * f > k else z
    if s == 1:  # only the k used subcarriers matter
        zz, h_ul, f = zz[:, :k], h_ul[..., :k], k
    y = ApplyOFDMChannel()(zz.reshape(bsz, 1, 1, s, f), _ul_grid_channel(h_ul, s), no)[:, 0]  # [B, N, S, F]
    hh = h_ul[:, :, None, :]
    est = (hh.conj() * y).sum(1) / hh.abs().pow(2).sum(1).clamp_min(1e-12)
    return est.reshape(bsz, s * f)[:, :k]


class FadingUplinkChannel:
    """The analog uplink as a codec ``channel`` hook for training: real symbol pairs
    `[batch, k, 2]` -> :func:`fading_mrc` -> `[batch, k, 2]`, gradients flowing through Sionna.

    Args:
        h_ul: `[batch, num_bs_ant, F]` complex. The samples' UL channels.
        snr_db: float or `[batch]`. Per-antenna uplink SNR.

    Examples:
        >>> h = torch.ones(2, 4, 8, dtype=torch.complex64)
        >>> ch = FadingUplinkChannel(h, 60.0)
        >>> s = torch.randn(2, 3, 2, requires_grad=True)
        >>> r = ch(s); r.sum().backward()
        >>> tuple(r.shape), bool(torch.allclose(r, s, atol=1e-2)), s.grad is not None
        ((2, 3, 2), True, True)
    """

    def __init__(self, h_ul: torch.Tensor, snr_db) -> None:
        self.h_ul, self.snr_db = h_ul, snr_db

    def __call__(self, s: torch.Tensor) -> torch.Tensor:
        z = torch.view_as_complex(s.float().contiguous())
        return torch.view_as_real(fading_mrc(z, self.h_ul, self.snr_db)).to(s.dtype)


class AnalogUplink:
    """Analog (JSCC) symbols over the fading uplink, MRC at the BS (:func:`fading_mrc`).

    The scheme normalises its symbols (average power 1 per channel use); ``uplink_res`` is
    the number of symbols k (one resource element each).
    """

    name = "analog"

    def transmit(self, message: FeedbackMessage, h_ul: torch.Tensor, snr_db: float):
        if message.symbols is None:
            raise ValueError("AnalogUplink carries analog messages; this message has no symbols.")
        z = check_tensor(message.symbols, "message.symbols", kind="complex", ndim=2)
        bsz, k = z.shape
        h_ul = _check_channel(h_ul, bsz)
        check_finite_scalar(snr_db, "snr_db")
        out = FeedbackMessage(bits=None, num_bits=message.num_bits, symbols=fading_mrc(z, h_ul, snr_db),
                              meta=message.meta)
        return out, {"lost": torch.zeros(bsz, dtype=torch.bool), "uplink_res": k}


def get_uplink(name: str, **kwargs):
    """An uplink by name: "ideal", "coded" or "analog"."""
    check_choice(name, "uplink", ("ideal", "coded", "analog"))
    return {"ideal": IdealUplink, "coded": CodedUplink, "analog": AnalogUplink}[name](**kwargs)

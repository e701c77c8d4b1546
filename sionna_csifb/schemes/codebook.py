"""3GPP codebook feedback schemes: Type I (wideband, subband) and Rel-16 eType II.

The UE selects a PMI from the CSI it measured; the BS rebuilds one precoder per subband
and turns it into a CSI estimate ``sqrt(N) conj(w_t)`` on every subcarrier of the subband
(unit mean power per entry; a codebook carries no gain, so NMSE is not meaningful for it:
compare codebooks by SGCS and throughput). Payloads are the exact spec bit counts.
"""

from __future__ import annotations

import torch

from .._validation import check_positive_int
from ..codebooks.common import expand_subbands, subband_eigvecs
from ..codebooks.etype2 import PARAM_COMBINATIONS, EType2Config, etype2_decode, etype2_encode
from ..codebooks.type1 import OVERSAMPLING, type1_payload_bits, type1_precoders, type1_select
from .base import FeedbackMessage, FeedbackScheme, SideInfo, register_scheme

__all__ = ["Type1Scheme", "EType2Scheme"]


def _check_message(message: FeedbackMessage, nbits: int, name: str) -> torch.Tensor:
    if message.bits is None or message.bits.shape[1] < nbits:
        got = None if message.bits is None else tuple(message.bits.shape)
        raise ValueError(f"Scheme {name!r} expects a digital message of {nbits} bits per sample, got {got}.")
    return message.bits[:, :nbits]


@register_scheme("type1-sb", subband=True)
@register_scheme("type1-wb", subband=False)
class Type1Scheme(FeedbackScheme):
    """Type I single-panel codebook for a 1 x N ULA (native DFT form, O = 4).

    Args:
        subband: bool. Per-subband beam refinement (32 bits for N = 32) or one wideband
            beam (7 bits).
        num_ant: int. BS antennas N.
        num_subbands: int. PMI subbands (13 for 10 MHz).

    Examples:
        >>> s = Type1Scheme(subband=True, num_ant=8, num_subbands=4)
        >>> h = torch.randn(2, 8, 16, dtype=torch.complex64)
        >>> msg = s.encode(h)
        >>> msg.bits.shape[1] == s.nominal_payload_bits == 12, tuple(s.decode(msg).shape)
        (True, (2, 8, 16))
    """

    kind = "digital"

    def __init__(self, subband: bool = False, num_ant: int = 32, num_subbands: int = 13) -> None:
        self.subband = bool(subband)
        self.num_ant = check_positive_int(num_ant, "num_ant")
        self.num_subbands = check_positive_int(num_subbands, "num_subbands")
        self.description = (f"3GPP Type I, {'subband' if subband else 'wideband'} PMI, "
                            f"DFT O={OVERSAMPLING}, {self.nominal_payload_bits} bits")

    @property
    def nominal_payload_bits(self) -> int:
        return type1_payload_bits(self.num_ant, self.num_subbands, self.subband)

    def get_config(self) -> dict:
        return {"subband": self.subband, "num_ant": self.num_ant, "num_subbands": self.num_subbands}

    def _bit_widths(self) -> tuple[int, int]:
        nb = self.num_ant * OVERSAMPLING
        w1 = (nb // 2 - 1).bit_length() if self.subband else (nb - 1).bit_length()
        return w1, 2 if self.subband else 0

    @torch.no_grad()
    def encode(self, h: torch.Tensor, *, snr_db: float | None = None) -> FeedbackMessage:
        h = self.check_csi(h)
        if h.shape[1] != self.num_ant:
            raise ValueError(f"`h` must have {self.num_ant} BS antennas (axis 1), got shape {tuple(h.shape)}.")
        i1, i2 = type1_select(h, self.num_subbands, self.subband)
        w1, w2 = self._bit_widths()
        shifts1 = torch.arange(w1 - 1, -1, -1, device=h.device)
        bits = [(i1[:, None] >> shifts1) & 1]
        if self.subband:
            bits.append(((i2[..., None] >> torch.arange(w2 - 1, -1, -1, device=h.device)) & 1).flatten(1))
        return FeedbackMessage.from_bits(torch.cat(bits, 1), meta={"num_subcarriers": h.shape[-1]})

    @torch.no_grad()
    def decode(self, message: FeedbackMessage, *, side_info: SideInfo | None = None) -> torch.Tensor:
        bits = _check_message(message, self.nominal_payload_bits, self.name).long()
        w1, w2 = self._bit_widths()
        i1 = (bits[:, :w1] << torch.arange(w1 - 1, -1, -1, device=bits.device)).sum(1)
        if self.subband:
            b2 = bits[:, w1:].reshape(-1, self.num_subbands, w2)
            i2 = (b2 << torch.arange(w2 - 1, -1, -1, device=bits.device)).sum(-1)
        else:
            i2 = torch.zeros(bits.shape[0], self.num_subbands, dtype=torch.int64, device=bits.device)
        w = type1_precoders(i1, i2, self.num_ant, self.subband)
        return expand_subbands(w, message.meta["num_subcarriers"])


def _etype2_factory():
    for pc in PARAM_COMBINATIONS:
        register_scheme(f"etype2-pc{pc}", param_combination=pc)(EType2Scheme)


class EType2Scheme(FeedbackScheme):
    """Rel-16 enhanced Type II, native single-polarised form (see :mod:`..codebooks.etype2`).

    Args:
        param_combination: int. ``paramCombination-r16`` 1..8.
        num_ant: int. BS antennas N.
        num_subbands: int. PMI subbands N3 (<= 19).

    Examples:
        >>> s = EType2Scheme(param_combination=1, num_ant=8, num_subbands=6)
        >>> h = torch.randn(2, 8, 24, dtype=torch.complex64)
        >>> msg = s.encode(h)
        >>> int(msg.num_bits[0]) == s.nominal_payload_bits, tuple(s.decode(msg).shape)
        (True, (2, 8, 24))
    """

    kind = "digital"

    def __init__(self, param_combination: int = 1, num_ant: int = 32, num_subbands: int = 13) -> None:
        self.param_combination = param_combination
        self.num_ant = check_positive_int(num_ant, "num_ant")
        self.num_subbands = check_positive_int(num_subbands, "num_subbands")
        self.cfg = EType2Config.from_param_combination(param_combination, self.num_ant, self.num_subbands)
        self.description = (f"3GPP Rel-16 eType II pc{param_combination}: L'={self.cfg.num_beams} beams, "
                            f"M={self.cfg.num_fd}, K0={self.cfg.k0}, {self.cfg.payload_bits} bits")

    @property
    def nominal_payload_bits(self) -> int:
        return self.cfg.payload_bits

    def get_config(self) -> dict:
        return {"param_combination": self.param_combination, "num_ant": self.num_ant,
                "num_subbands": self.num_subbands}

    @torch.no_grad()
    def encode(self, h: torch.Tensor, *, snr_db: float | None = None) -> FeedbackMessage:
        h = self.check_csi(h)
        if h.shape[1] != self.num_ant:
            raise ValueError(f"`h` must have {self.num_ant} BS antennas (axis 1), got shape {tuple(h.shape)}.")
        v = subband_eigvecs(h, self.num_subbands)
        return FeedbackMessage.from_bits(etype2_encode(v, self.cfg), meta={"num_subcarriers": h.shape[-1]})

    @torch.no_grad()
    def decode(self, message: FeedbackMessage, *, side_info: SideInfo | None = None) -> torch.Tensor:
        bits = _check_message(message, self.nominal_payload_bits, self.name)
        return expand_subbands(etype2_decode(bits, self.cfg), message.meta["num_subcarriers"])


_etype2_factory()

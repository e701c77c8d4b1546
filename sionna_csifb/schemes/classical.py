"""Reference schemes that need no codebook: the upper bounds and the reciprocity baseline."""

from __future__ import annotations

import torch

from .base import FeedbackMessage, FeedbackScheme, SideInfo, register_scheme

__all__ = ["PerfectCSI", "PerfectFeedback", "ULReuse"]


class _NoFeedback(FeedbackScheme):
    """Sends nothing; the BS uses one field of its side information as the estimate."""

    kind = "none"
    side_field = ""

    @property
    def nominal_payload_bits(self) -> int:
        return 0

    def encode(self, h: torch.Tensor, *, snr_db: float | None = None) -> FeedbackMessage:
        h = self.check_csi(h)
        b = h.shape[0]
        return FeedbackMessage(bits=torch.zeros(b, 0, dtype=torch.uint8, device=h.device),
                               num_bits=torch.zeros(b, dtype=torch.int64, device=h.device))

    def decode(self, message: FeedbackMessage, *, side_info: SideInfo | None = None) -> torch.Tensor:
        return (side_info or SideInfo()).require(self.side_field, self.name)


@register_scheme("perfect")
class PerfectCSI(_NoFeedback):
    """Genie: the BS knows the DL channel at the time it precodes (the upper bound).

    Reads ``side_info.h_genie``, the *true* DL CSI at transmission time, which the chain
    provides; it costs no bits and is not realisable.

    Examples:
        >>> s = PerfectCSI(); h = torch.ones(1, 2, 3, dtype=torch.complex64)
        >>> bool((s.decode(s.encode(h), side_info=SideInfo(h_genie=2 * h)) == 2 * h).all())
        True
    """

    side_field = "h_genie"
    description = "genie: the true DL CSI at transmission time (upper bound)"


@register_scheme("ul-reuse")
class ULReuse(_NoFeedback):
    """No feedback: the BS precodes with its own UL CSI (the reciprocity baseline).

    Examples:
        >>> s = ULReuse(); y = torch.ones(1, 2, 3, dtype=torch.complex64)
        >>> bool((s.decode(s.encode(y), side_info=SideInfo(h_uplink=y)) == y).all())
        True
    """

    side_field = "h_uplink"
    description = "no feedback: the BS's own UL CSI"


@register_scheme("perfect-feedback")
class PerfectFeedback(FeedbackScheme):
    """The measured CSI fed back without compression (unbounded bits): only ageing remains.

    A genie reference, not a report: its message carries the whole channel in ``meta`` (see
    :class:`~sionna_csifb.schemes.base.FeedbackMessage`), with no bits and ``kind = "none"``.

    Examples:
        >>> s = PerfectFeedback(); h = torch.ones(1, 2, 3, dtype=torch.complex64)
        >>> bool((s.decode(s.encode(h)) == h).all())
        True
    """

    kind = "none"
    description = "genie: the measured (outdated) CSI, uncompressed; shows the ageing loss alone"

    def encode(self, h: torch.Tensor, *, snr_db: float | None = None) -> FeedbackMessage:
        h = self.check_csi(h)
        return FeedbackMessage(bits=None, num_bits=torch.zeros(h.shape[0], dtype=torch.int64), meta={"csi": h})

    def decode(self, message: FeedbackMessage, *, side_info: SideInfo | None = None) -> torch.Tensor:
        return message.meta["csi"]

"""The one interface every feedback scheme implements, and the scheme registry.

A scheme encodes the DL CSI the UE measured into a :class:`FeedbackMessage` (bits for a
digital scheme, complex channel symbols for an analog one), and decodes at the BS, with
optional :class:`SideInfo`, into an estimate of the DL CSI. The chain
(:mod:`sionna_csifb.evaluation.chain`) sends the message over an uplink in between.

CSI convention (all schemes): complex `[batch, num_bs_ant, num_subcarriers]`,
spatial-frequency domain, normalised as in the datasets (unit mean power per entry of the
measured CSI); an estimate ``h_hat`` is in the same units and convention as the channel
``h`` (received signal ``y = h^T w x``), so MRT is ``w = conj(h_hat) / ||h_hat||``.

Write your own scheme in a few lines::

    @register_scheme("sign-only")
    class SignOnly(FeedbackScheme):
        kind = "digital"
        def encode(self, h, *, snr_db=None):
            bits = (h.real > 0).flatten(1).to(torch.uint8)
            return FeedbackMessage.from_bits(bits, meta={"shape": tuple(h.shape[1:])})
        def decode(self, message, *, side_info=None):
            b = message.bits[:, : message.nominal_bits].float() * 2 - 1
            return torch.complex(b, torch.zeros_like(b)).reshape(-1, *message.meta["shape"])

Examples:
    >>> "etype2-pc3" in list_schemes() and "perfect" in list_schemes()
    True
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import torch

from .._validation import check_tensor

__all__ = [
    "FeedbackMessage",
    "SideInfo",
    "FeedbackScheme",
    "register_scheme",
    "get_scheme",
    "list_schemes",
    "scheme_overrides",
]


@dataclass(frozen=True)
class FeedbackMessage:
    """What the UE sends.

    Attributes:
        bits: `[batch, max_bits]` uint8 in {0, 1}, or None (analog). Sample ``b`` uses the
            first ``num_bits[b]`` bits.
        num_bits: `[batch]` int64. The real payload length in bits (0 for analog).
        symbols: `[batch, num_channel_uses]` complex, or None (digital).
        meta: dict. What ``decode`` needs besides the payload (shapes, configuration): never
            per-sample information for a real scheme. The genie references are the exception
            and say so: ``perfect-feedback`` carries the uncompressed channel itself here (no
            bits, ``kind = "none"``), which no uplink could send.
    """

    bits: torch.Tensor | None
    num_bits: torch.Tensor
    symbols: torch.Tensor | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_bits(cls, bits: torch.Tensor, meta: dict[str, Any] | None = None) -> "FeedbackMessage":
        """A fixed-length digital message from `[batch, num_bits]` bits."""
        bits = bits.to(torch.uint8)
        n = torch.full((bits.shape[0],), bits.shape[1], dtype=torch.int64, device=bits.device)
        return cls(bits=bits, num_bits=n, meta=dict(meta or {}))

    @property
    def nominal_bits(self) -> int:
        """Width of ``bits`` (0 for analog)."""
        return 0 if self.bits is None else int(self.bits.shape[1])

    @property
    def num_channel_uses(self) -> int | None:
        """Complex symbols per sample for analog messages, else None."""
        return None if self.symbols is None else int(self.symbols.shape[1])

    def replace_bits(self, bits: torch.Tensor) -> "FeedbackMessage":
        """The same message with received (possibly corrupted) bits."""
        return FeedbackMessage(bits=bits.to(torch.uint8), num_bits=self.num_bits, symbols=self.symbols, meta=self.meta)


@dataclass(frozen=True)
class SideInfo:
    """What the BS knows besides the message (all optional).

    Attributes:
        h_uplink: `[batch, num_bs_ant, num_subcarriers]` complex. UL CSI (Y), normalised
            to unit mean power per entry.
        h_prev: `[batch, num_bs_ant, num_subcarriers]` complex. A previous CSI estimate.
        snr_db: float. Uplink SNR, for analog schemes.
        h_genie: `[batch, num_bs_ant, num_subcarriers]` complex. The true DL CSI at
            transmission time; only the genie upper bound ``perfect`` may read it.
    """

    h_uplink: torch.Tensor | None = None
    h_prev: torch.Tensor | None = None
    snr_db: float | None = None
    h_genie: torch.Tensor | None = None

    def require(self, name: str, scheme: str) -> Any:
        """The field ``name``, or a ValueError naming it and the scheme that needs it."""
        value = getattr(self, name)
        if value is None:
            raise ValueError(f"Scheme {scheme!r} needs side_info.{name}, which was not given.")
        return value


class FeedbackScheme(abc.ABC):
    """Base class of feedback schemes.

    Subclasses set ``kind`` ("digital" or "analog") and implement :meth:`encode` and
    :meth:`decode`. ``name`` is the registry id (set by :func:`register_scheme`).
    """

    name: str = "unnamed"
    kind: Literal["digital", "analog", "none"] = "digital"
    description: str = ""

    @abc.abstractmethod
    def encode(self, h: torch.Tensor, *, snr_db: float | None = None) -> FeedbackMessage:
        """UE side: measured DL CSI `[batch, num_bs_ant, num_subcarriers]` -> message."""

    @abc.abstractmethod
    def decode(self, message: FeedbackMessage, *, side_info: SideInfo | None = None) -> torch.Tensor:
        """BS side: message (+ side information) -> DL CSI estimate, same shape as ``h``."""

    @property
    def nominal_payload_bits(self) -> int | None:
        """Fixed payload in bits, or None when variable or analog."""
        return None

    @property
    def mean_payload_bits(self) -> float | None:
        """The mean report length: the fixed payload, or for variable-length reports the mean
        measured on the scheme's test set (None for analog schemes and references)."""
        return self.nominal_payload_bits

    @property
    def budget_bits(self) -> int | None:
        """The most bits any report takes, for variable-length reports held to a budget (a
        model trained with ``max_bits``); None otherwise."""
        return None

    @property
    def trained_scenarios(self) -> list[str] | None:
        """Names of the scenarios a learned scheme was trained on; None for schemes that
        were not trained (codebooks, references), which hold on any scenario."""
        return None

    def trained_for(self, scenario) -> bool:
        """Whether ``scenario`` (a :class:`~sionna_csifb.csi.scenario.Scenario`) is one the
        scheme was trained on (all of its parameters, not only the name). True if untrained."""
        return True

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments (JSON values)."""
        return {}

    @staticmethod
    def check_csi(h: torch.Tensor, name: str = "h") -> torch.Tensor:
        """Validate a CSI batch `[batch, num_bs_ant, num_subcarriers]` complex."""
        return check_tensor(h, name, kind="complex", ndim=3, nonzero=True)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


_REGISTRY: dict[str, Callable[[], FeedbackScheme]] = {}


def register_scheme(name: str, **defaults: Any):
    """Class decorator: register ``cls(**defaults)`` under ``name``.

    May be stacked to register several configurations of one class.
    """

    def deco(cls):
        if name in _REGISTRY:
            raise ValueError(f"A scheme named {name!r} is already registered.")

        def factory(**overrides):
            obj = cls(**{**defaults, **overrides})
            obj.name = name
            return obj

        factory.cls = cls
        _REGISTRY[name] = factory
        return cls

    return deco


def list_schemes() -> list[str]:
    """Ids of the registered schemes."""
    _load_builtin()
    return list(_REGISTRY)


def get_scheme(name: str, **overrides: Any) -> FeedbackScheme:
    """Build a registered scheme by id.

    Raises:
        ValueError: for an unknown id; the message lists the known ones.

    Examples:
        >>> get_scheme("type1-wb").nominal_payload_bits
        7
    """
    _load_builtin()
    if name not in _REGISTRY:
        raise ValueError(f"Unknown feedback scheme {name!r}; known schemes: {sorted(_REGISTRY)}.")
    return _REGISTRY[name](**overrides)


def scheme_overrides(name: str, num_ant: int) -> dict[str, Any]:
    """Constructor overrides that fit scheme ``name`` to ``num_ant`` BS antennas.

    Schemes whose constructor takes ``num_ant`` get it; others get nothing.
    """
    import inspect

    _load_builtin()
    if name not in _REGISTRY:
        return {}
    params = inspect.signature(_REGISTRY[name].cls.__init__).parameters
    return {"num_ant": num_ant} if "num_ant" in params else {}


def _load_builtin() -> None:
    from . import classical, codebook, learned  # noqa: F401  (registration side effects)

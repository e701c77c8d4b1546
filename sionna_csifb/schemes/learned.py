"""Learned feedback schemes: a thin adapter from the learned-codec contract to ``FeedbackScheme``.

``encode`` is the codec's ``compress`` (the UE crops, normalises and encodes: the payload is
exactly the model's bit count, and invariant to the channel's scale), ``decode`` its
``decompress`` with the UL CSI as side information if the model uses it. Shipped weights
register themselves under their manifest names (``list_schemes()``). Torch glue: the chain
passes torch tensors.
"""

from __future__ import annotations

import torch

from ..csi.scenario import Scenario
from ..weights.registry import list_bundled, load_model
from .base import FeedbackMessage, FeedbackScheme, SideInfo, register_scheme

__all__ = ["LearnedScheme"]


class LearnedScheme(FeedbackScheme):
    """A trained feedback model as a digital scheme.

    Args:
        weights: str. Name of shipped weights (see ``sionna_csifb.weights.registry``).
        num_inference_steps: int or None. Diffusion sampler steps (None: all T).

    Examples:
        >>> from sionna_csifb.weights.registry import list_bundled
        >>> all(isinstance(LearnedScheme(n), LearnedScheme) for n in list_bundled()[:1])
        True
    """

    kind = "digital"

    def __init__(self, weights: str, num_inference_steps: int | None = None) -> None:
        self.weights = weights
        self.num_inference_steps = num_inference_steps
        self.model, self.entry = load_model(weights)
        self.scenario = Scenario.from_dict(self.entry["scenario"])
        m = self.entry["test_metrics"]
        self.description = (f"{self.entry['model']} ({self.entry.get('size', '')}), "
                            f"{self.nominal_payload_bits} bits, {'with' if self.side_info else 'without'} UL side "
                            f"information; test NMSE {m['nmse_ad_db']:.2f} dB (angular-delay)")

    @property
    def side_info(self) -> bool:
        return bool(self.entry["model_config"].get("side_info", False))

    @property
    def nominal_payload_bits(self) -> int:
        return int(self.entry["test_metrics"]["payload_bits"])

    @property
    def trained_scenarios(self) -> list[str]:
        """The manifest's scenario, or its list of scenarios for a model trained on a mix."""
        return [Scenario.from_dict(d).name for d in self._scenario_dicts]

    @property
    def _scenario_dicts(self) -> list[dict]:
        return list(self.entry.get("scenarios") or [self.entry["scenario"]])

    def trained_for(self, scenario) -> bool:
        return scenario.to_dict() in [Scenario.from_dict(d).to_dict() for d in self._scenario_dicts]

    def get_config(self) -> dict:
        return {"weights": self.weights, "num_inference_steps": self.num_inference_steps}

    def _check(self, h: torch.Tensor, name: str) -> torch.Tensor:
        h = self.check_csi(h, name)
        want = self.model.csi_shape
        if tuple(h.shape[1:]) != want:
            raise ValueError(f"`{name}` must be [batch, {want[0]}, {want[1]}] for {self.weights!r} "
                             f"(scenario {self.scenario.name}), got {tuple(h.shape)}.")
        return h

    @torch.no_grad()
    def encode(self, h: torch.Tensor, *, snr_db: float | None = None) -> FeedbackMessage:
        bits = self.model.compress(self._check(h, "h"))
        return FeedbackMessage.from_bits(torch.as_tensor(bits).to(torch.uint8))

    @torch.no_grad()
    def decode(self, message: FeedbackMessage, *, side_info: SideInfo | None = None) -> torch.Tensor:
        nb = self.nominal_payload_bits
        if message.bits is None or message.bits.shape[1] < nb:
            raise ValueError(f"Scheme {self.name!r} expects {nb} bits per sample.")
        y = None
        if self.side_info:
            y = self._check((side_info or SideInfo()).require("h_uplink", self.name), "side_info.h_uplink")
        est = self.model.decompress(message.bits[:, :nb], y, num_inference_steps=self.num_inference_steps)
        return torch.as_tensor(est).to(torch.complex64)


for _name in list_bundled():
    register_scheme(_name, weights=_name)(LearnedScheme)

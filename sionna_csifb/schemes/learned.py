"""Learned digital feedback schemes: a trained model behind the scheme interface.

The UE crops the measured CSI to the angular-delay domain, scales it
(:func:`sionna_csifb.training.to_model`), and the model's encoder turns it into bits (VQ
indices or uniformly quantised latents: the payload is exactly the model's bit count). The
BS decodes the bits, with the UL CSI as side information if the model uses it, and returns
to the spatial-frequency domain. Shipped weights register themselves under their manifest
names (``list_schemes()``).
"""

from __future__ import annotations

import torch

from ..csi.scenario import Scenario
from ..csi.transforms import from_angular_delay, to_angular_delay
from ..training import from_model, to_model
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

    def get_config(self) -> dict:
        return {"weights": self.weights, "num_inference_steps": self.num_inference_steps}

    def _to_model(self, h: torch.Tensor, name: str) -> torch.Tensor:
        h = self.check_csi(h, name)
        want = self.scenario.shape_sf
        if tuple(h.shape[1:]) != want:
            raise ValueError(f"`{name}` must be [batch, {want[0]}, {want[1]}] for {self.weights!r} "
                             f"(scenario {self.scenario.name}), got {tuple(h.shape)}.")
        g = to_angular_delay(h, self.scenario.num_taps, self.scenario.window_start)
        return to_model(g, self.scenario)

    @torch.no_grad()
    def encode(self, h: torch.Tensor, *, snr_db: float | None = None) -> FeedbackMessage:
        bits = self.model.encode_bits(self._to_model(h, "h"))
        return FeedbackMessage.from_bits(torch.as_tensor(bits).to(torch.uint8),
                                         meta={"num_subcarriers": h.shape[-1]})

    @torch.no_grad()
    def decode(self, message: FeedbackMessage, *, side_info: SideInfo | None = None) -> torch.Tensor:
        nb = self.nominal_payload_bits
        if message.bits is None or message.bits.shape[1] < nb:
            raise ValueError(f"Scheme {self.name!r} expects {nb} bits per sample.")
        y = None
        if self.side_info:
            y = self._to_model((side_info or SideInfo()).require("h_uplink", self.name), "side_info.h_uplink")
        est = self.model.decode_bits(message.bits[:, :nb].to(torch.int32), y,
                                     num_inference_steps=self.num_inference_steps)
        g = from_model(torch.as_tensor(est), self.scenario)
        return from_angular_delay(g.to(torch.complex64), self.scenario.num_subcarriers, self.scenario.window_start)


for _name in list_bundled():
    register_scheme(_name, weights=_name)(LearnedScheme)

"""Learned feedback schemes: a thin adapter from the learned-codec contract to ``FeedbackScheme``.

``encode`` is the codec's ``compress`` (the UE crops, normalises and encodes: the payload is
exactly the model's bit count, and invariant to the channel's scale), ``decode`` its
``decompress`` with the UL CSI as side information if the model uses it. Entropy-coded models
send variable-length reports (``FeedbackMessage.num_bits`` per report); analog (JSCC) models
send complex symbols (``FeedbackMessage.symbols``), need the uplink SNR at both ends
(``encode(h, snr_db=...)``, ``SideInfo.snr_db``) and cross the analog uplink. Shipped weights
register themselves under their manifest names (``list_schemes()``); entropy-coded weights whose
manifest holds a calibrated ``ue_refinement`` also register ``<name>-refined``: the same model
and decoder, with the UE refining each report's latents before coding it
(:mod:`sionna_csifb.models.refinement`, at the rate scale calibrated on training drops to hold
the manifest's ``target_bits``), and ``<name>-refined-held``: those refined reports held to that
payload in every report (``compress(h, max_bits=target_bits)``, the codec's rate-adaptive mode:
no report longer than the eType II report it is compared with). Torch glue: the chain passes torch tensors.
"""

from __future__ import annotations

import numpy as np
import torch

from ..csi.scenario import Scenario
from ..entropy.coding import VariableLengthBits
from ..models.refinement import LatentRefinement
from ..weights.registry import list_bundled, load_model, manifest_entry
from .base import FeedbackMessage, FeedbackScheme, SideInfo, register_scheme

__all__ = ["LearnedScheme"]


class LearnedScheme(FeedbackScheme):
    """A trained feedback model as a digital (or, for JSCC models, analog) scheme.

    Args:
        weights: str. Name of shipped weights (see ``sionna_csifb.weights.registry``).
        num_inference_steps: int or None. Diffusion sampler steps (None: all T; JSCC models:
            the manifest's, 2).
        directory: str or None. Folder with ``manifest.json`` and the weights (None: the
            package's shipped weights).
        ue_refinement: bool, dict or None. UE-side latent refinement of an entropy-coded model
            without side information: True takes the manifest's calibrated ``ue_refinement``,
            a dict the :class:`~sionna_csifb.models.refinement.LatentRefinement` fields
            (``steps``, ``learning_rate``, ``rate_scale``); None/False: the encoder's latents.
        max_bits: int, True or None. Entropy-coded models only: hold every report to at most
            this many bits (the codec's rate-adaptive mode, ``compress(h, max_bits=...)``);
            True: the payload the manifest's refinement was calibrated to hold on average
            (``ue_refinement.target_bits``, an eType II payload); None: the model's own budget
            (``max_bits`` of its config, if it was trained for one), else variable length.

    Examples:
        >>> from sionna_csifb.weights.registry import list_bundled
        >>> all(isinstance(LearnedScheme(n), LearnedScheme) for n in list_bundled()[:1])
        True
    """

    def __init__(self, weights: str, num_inference_steps: int | None = None, directory=None,
                 ue_refinement: bool | dict | None = None, max_bits: int | bool | None = None) -> None:
        from pathlib import Path

        self.weights = weights
        self.num_inference_steps = num_inference_steps
        self.directory = directory
        self.model, self.entry = (load_model(weights) if directory is None else
                                  load_model(weights, directory=Path(directory)))
        self.ue_refinement = self._refinement_fields(ue_refinement)
        if self.ue_refinement is not None:
            self.model.latent_refinement = LatentRefinement.from_dict(self.ue_refinement)
        self.max_bits = self._budget(max_bits)
        self.scenario = Scenario.from_dict(self.entry["scenario"])
        self.kind = getattr(self.model, "kind", "digital")
        m = self.test_metrics
        if self.kind == "analog" and num_inference_steps is None:
            self.num_inference_steps = m.get("num_inference_steps")
        cap = self.budget_bits
        size = (f"{m['payload_bits']:.1f} bits on average (variable" + (f", at most {cap})" if cap else ")")
                if self.variable_length
                else f"{self.model.num_symbols} complex symbols (analog, test at UL SNR {m['ul_snr_db']:g} dB)"
                if self.kind == "analog" else f"{self.nominal_payload_bits} bits")
        self.description = (f"{self.entry['model']} ({self.entry.get('size', '')}), "
                            f"{size}, {'with' if self.side_info else 'without'} UL side "
                            f"information; test NMSE {m['nmse_ad_db']:.2f} dB (angular-delay)"
                            + (f" as trained; UE-refined latents ({self.ue_refinement['steps']} steps, "
                               f"{self.ue_refinement['search_sweeps']} search sweeps, rate scale "
                               f"{self.ue_refinement['rate_scale']:.3g}"
                               + (f", x {self.ue_refinement['budget_scales']} under the budget" if self.max_bits else "")
                               + ")" + (f": test SGCS {m['sgcs']:.3f}" if m is not self.entry["test_metrics"] else "")
                               if self.ue_refinement else ""))

    @property
    def test_metrics(self) -> dict:
        """The manifest's test metrics; with the manifest's calibrated refinement, those it was
        measured with (held to a budget: ``held_test_metrics``, if measured at that budget; a
        refinement passed as a dict: the unrefined model's)."""
        m = self.entry["test_metrics"]
        block = self.entry.get("ue_refinement") or {}
        if not block or self.ue_refinement != LatentRefinement.from_manifest(block).to_dict():
            return m
        if self.max_bits:
            held = block.get("held_test_metrics") or {}
            return {**m, **held} if held.get("budget_bits") == self.max_bits else m
        return {**m, **block.get("test_metrics", {})}

    def _refinement_fields(self, value) -> dict | None:
        if value is None or value is False:
            return None
        if not hasattr(self.model, "latent_refinement"):
            raise ValueError(f"UE-side latent refinement needs an entropy-coded model; {self.weights!r} is "
                             f"{self.entry['model']!r}.")
        if value is True:
            block = self.entry.get("ue_refinement")
            if block is None:
                raise ValueError(f"The manifest entry of {self.weights!r} holds no calibrated `ue_refinement`; "
                                 f"pass its fields (steps, learning_rate, rate_scale, search_sweeps) as a dict.")
            return LatentRefinement.from_manifest(block).to_dict()
        if not isinstance(value, dict):
            raise TypeError(f"`ue_refinement` must be True, a dict or None, got {type(value).__name__}.")
        return LatentRefinement.from_dict(value).to_dict()

    def _budget(self, value) -> int | None:
        if value is None or value is False:
            return None
        if not self.variable_length:
            raise ValueError(f"`max_bits` holds entropy-coded (variable-length) reports to a budget; "
                             f"{self.weights!r} is {self.entry['model']!r}.")
        if value is True:
            target = (self.entry.get("ue_refinement") or {}).get("target_bits")
            if target is None:
                raise ValueError(f"`max_bits=True` takes the payload the manifest's `ue_refinement` was calibrated "
                                 f"to; {self.weights!r} has none: pass the budget in bits.")
            value = int(round(float(target)))
        if not isinstance(value, (int, np.integer)):
            raise TypeError(f"`max_bits` must be an int, True or None, got {type(value).__name__}.")
        if value <= self.model.header_bits:
            raise ValueError(f"`max_bits` must exceed the {self.model.header_bits} header bits of "
                             f"{self.weights!r}, got {value}.")
        return int(value)

    @property
    def variable_length(self) -> bool:
        """Entropy-coded reports: their length varies per report."""
        return bool(getattr(self.model, "variable_length", False))

    @property
    def side_info(self) -> bool:
        return bool(self.entry["model_config"].get("side_info", False))

    @property
    def nominal_payload_bits(self) -> int | None:
        """The fixed payload; None for variable-length (entropy-coded) reports and analog ones."""
        if self.variable_length or self.kind == "analog":
            return None
        return int(self.entry["test_metrics"]["payload_bits"])

    @property
    def mean_payload_bits(self) -> float | None:
        bits = self.test_metrics["payload_bits"]
        return None if bits is None else float(bits)

    @property
    def budget_bits(self) -> int | None:
        if not self.variable_length:
            return None
        return self.max_bits or getattr(self.model, "max_bits", None)

    @property
    def num_symbols(self) -> int | None:
        """Complex channel symbols (uplink REs) per report of an analog model, else None."""
        return int(self.model.num_symbols) if self.kind == "analog" else None

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
        cfg = {"weights": self.weights, "num_inference_steps": self.num_inference_steps,
               **({"ue_refinement": self.ue_refinement} if self.ue_refinement else {}),
               **({"max_bits": self.max_bits} if self.max_bits else {})}
        return cfg if self.directory is None else {**cfg, "directory": str(self.directory)}

    def _check(self, h: torch.Tensor, name: str) -> torch.Tensor:
        h = self.check_csi(h, name)
        want = self.model.csi_shape
        if tuple(h.shape[1:]) != want:
            raise ValueError(f"`{name}` must be [batch, {want[0]}, {want[1]}] for {self.weights!r} "
                             f"(scenario {self.scenario.name}), got {tuple(h.shape)}.")
        return h

    @torch.no_grad()
    def encode(self, h: torch.Tensor, *, snr_db: float | None = None) -> FeedbackMessage:
        if self.kind == "analog":
            if snr_db is None:
                raise ValueError(f"Scheme {self.name!r} is analog (JSCC): encode(h, snr_db=...) needs the uplink SNR.")
            z = torch.as_tensor(self.model.compress(self._check(h, "h"), snr_db=snr_db)).to(torch.complex64)
            return FeedbackMessage(bits=None, num_bits=torch.zeros(z.shape[0], dtype=torch.int64), symbols=z)
        h = self._check(h, "h")
        if not self.variable_length:
            return FeedbackMessage.from_bits(torch.as_tensor(self.model.compress(h)).to(torch.uint8))
        bits = self.model.compress(h, max_bits=self.max_bits)
        over = int((np.asarray(bits.num_bits) > self.max_bits).sum()) if self.max_bits else 0
        if over:
            raise ValueError(f"{over} of {len(bits.num_bits)} reports of {self.weights!r} exceed the budget of "
                             f"{self.max_bits} bits even at the coarsest rate-adaptive level (longest "
                             f"{int(np.max(bits.num_bits))}): this model cannot hold that budget.")
        return FeedbackMessage(bits=torch.as_tensor(bits.bits).to(torch.uint8),
                               num_bits=torch.as_tensor(bits.num_bits).to(torch.int64))

    @torch.no_grad()
    def decode(self, message: FeedbackMessage, *, side_info: SideInfo | None = None) -> torch.Tensor:
        if self.kind == "analog":
            if message.symbols is None:
                raise ValueError(f"Scheme {self.name!r} decodes analog symbols; this message has none.")
            snr = (side_info or SideInfo()).require("snr_db", self.name)
            est = self.model.decompress(message.symbols, num_inference_steps=self.num_inference_steps, snr_db=snr)
            return torch.as_tensor(est).to(torch.complex64)
        y = None
        if self.side_info:
            y = self._check((side_info or SideInfo()).require("h_uplink", self.name), "side_info.h_uplink")
        if self.variable_length:
            if message.bits is None:
                raise ValueError(f"Scheme {self.name!r} decodes digital reports; this message has no bits.")
            payload = VariableLengthBits(message.bits.cpu().numpy().astype(np.uint8),
                                         message.num_bits.cpu().numpy().astype(np.int64))
            est = self.model.decompress(payload, y, rate_adaptive=True if self.max_bits else None)
            return torch.as_tensor(est).to(torch.complex64)
        nb = self.nominal_payload_bits
        if message.bits is None or message.bits.shape[1] < nb:
            raise ValueError(f"Scheme {self.name!r} expects {nb} bits per sample.")
        est = self.model.decompress(message.bits[:, :nb], y, num_inference_steps=self.num_inference_steps)
        return torch.as_tensor(est).to(torch.complex64)


for _name in list_bundled():
    register_scheme(_name, weights=_name)(LearnedScheme)
    if "ue_refinement" in manifest_entry(_name):
        register_scheme(f"{_name}-refined", weights=_name, ue_refinement=True)(LearnedScheme)
        register_scheme(f"{_name}-refined-held", weights=_name, ue_refinement=True, max_bits=True)(LearnedScheme)

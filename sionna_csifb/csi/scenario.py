"""FDD scenarios: what the paired CSI data models, as a frozen dataclass with named presets.

A :class:`Scenario` fixes everything that shapes a CSI sample: the 3GPP TR 38.901 channel
model, the arrays, the OFDM numerology, the DL/UL carriers, mobility, the feedback delay,
how UL and DL small-scale phases relate, and the angular-delay crop.

Presets (``list_presets()``; ``get_scenario(name)``):

==================  =====================================================================
``paper-cdl-c``     Kim et al. Sec. IV-B: CDL-C 300 ns, BS 1x32 ULA (V, 38.901 element),
                    1 omni UE antenna, 667 x 15 kHz, DL 2.11 GHz / UL 1.91 GHz, 5 m/s,
                    +5 ms. Sionna's CDL: fixed cluster angles for every sample, random 3-D
                    velocity direction. UL shares the per-ray phases with the DL
                    (``ul_phases="shared"``): with one fixed geometry for all samples this is
                    the only option under which the UL CSI says more about *this* sample's
                    DL than another sample's UL would (see docs, "Paired FDD data").
``realistic-cdl-c`` As ``paper-cdl-c`` but each sample gets its own BS yaw (uniform in
                    +-60 deg) and horizontal UE motion, so samples no longer share one
                    angular footprint; UL with independent per-ray phases (conservative:
                    only the geometry is common to the two bands).
``cdl-a`` ...       The paper setting with CDL-A, -B, -D (LoS) or -E (LoS) profiles.
``umi`` / ``uma``   38.901 UMi / UMa street canyon / macro: geometry (LoS state, LSPs,
                    clusters, angles) drawn per drop; path loss and shadowing disabled.
``tr38843-uma`` /   In the spirit of TR 38.843's CSI-compression evaluations: UMa / UMi with
``tr38843-umi``     80% indoor UEs, 3 km/h, the report used 5 ms after it was measured,
                    independent UL/DL phases. The TR's 32-port dual-polarised 2-D arrays,
                    rank > 1 and 48-52 RB bandwidths are not modelled: a 1 x 32 ULA keeps the
                    Type I / eType II codebooks applicable.
``tdl-c``           TDL-C 300 ns with exponential BS antenna correlation 0.7: no angles,
                    so UL CSI carries no geometric side information (DL-only studies).
``cpu-small``       A small CDL-C setting for tests: 8 antennas, 72 x 30 kHz, 8 taps.
==================  =====================================================================

What none of them models: path loss and shadowing (samples are normalised anyway),
multi-antenna UEs, channel estimation error at the UE, and 38.901 spatial consistency
between successive drops.

Examples:
    >>> from sionna_csifb.csi.scenario import get_scenario
    >>> s = get_scenario("paper-cdl-c")
    >>> s.num_bs_ant, s.num_subcarriers, s.num_taps
    (32, 667, 32)
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Scenario", "PRESETS", "get_scenario", "list_presets"]

_MODELS = ("cdl", "tdl", "umi", "uma")
_PHASES = ("shared", "shared-offset", "independent")
_VELOCITY = ("3d", "horizontal")


@dataclass(frozen=True)
class Scenario:
    """Everything that defines a paired FDD CSI sample (X, Y, Z).

    X is the DL CSI the UE measures now, Z the DL CSI ``horizon`` seconds later (when the
    BS precodes), and Y the UL CSI at that later time (side information at the BS).

    Args:
        name: str. Preset name or ``"custom"``.
        channel_model: "cdl", "tdl", "umi" or "uma".
        profile: str. CDL/TDL profile letter "A".."E" (ignored by UMi/UMa).
        delay_spread: float. RMS delay spread in seconds (CDL/TDL).
        num_bs_ant: int. BS antennas, a horizontal 1 x N ULA with lambda_DL/2 spacing.
        bs_antenna_pattern: "38.901" or "omni".
        ue_antenna_pattern: "omni" or "38.901".
        polarization_type: "V" or "H" (single-polarised arrays).
        num_subcarriers: int. Subcarriers, centred on the carrier.
        subcarrier_spacing: float. Hz.
        carrier_frequency_dl: float. Hz.
        carrier_frequency_ul: float. Hz.
        ue_speed: float. m/s.
        horizon: float. Seconds between X and Z (feedback delay), > 0.
        velocity: "3d" (Sionna's default uniformly random 3-D direction) or "horizontal".
        bs_yaw_spread_deg: float. Per-sample BS yaw uniform in +-this (CDL only); 0 = none.
        ul_phases: how UL per-ray phases relate to DL: "shared" (same phases; bands differ
            only through wavelength: an optimistic bound), "shared-offset" (same phases plus
            the carrier-offset rotation exp(+j 2 pi (f_DL - f_UL) tau)), or "independent"
            (same geometry, independent per-ray phases across the duplex gap). For TDL,
            "independent" means an independent fading draw.
        num_taps: int. Delay taps kept by the angular-delay crop.
        window_start: int. First kept tap (0 = the paper's first taps; -4 = taps -4..27).
        tdl_tx_correlation: float. Exponential BS antenna correlation for TDL, in [0, 1).
        indoor_probability: float. UMi/UMa: probability that a UE is indoor (38.901 O2I
            penetration, low-loss model), in [0, 1]; 0 = outdoor UEs only.
        description: str. Free text.

    Raises:
        ValueError: if a field is out of range, naming the field.
    """

    name: str = "custom"
    channel_model: str = "cdl"
    profile: str = "C"
    delay_spread: float = 300e-9
    num_bs_ant: int = 32
    bs_antenna_pattern: str = "38.901"
    ue_antenna_pattern: str = "omni"
    polarization_type: str = "V"
    num_subcarriers: int = 667
    subcarrier_spacing: float = 15e3
    carrier_frequency_dl: float = 2.11e9
    carrier_frequency_ul: float = 1.91e9
    ue_speed: float = 5.0
    horizon: float = 5e-3
    velocity: str = "3d"
    bs_yaw_spread_deg: float = 0.0
    ul_phases: str = "independent"
    num_taps: int = 32
    window_start: int = 0
    tdl_tx_correlation: float = 0.7
    indoor_probability: float = 0.0
    description: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        def bad(f, want):
            raise ValueError(f"Scenario field `{f}` must be {want}, got {getattr(self, f)!r}.")

        if self.channel_model not in _MODELS:
            bad("channel_model", f"one of {list(_MODELS)}")
        if self.channel_model in ("cdl", "tdl") and self.profile not in tuple("ABCDE"):
            bad("profile", "one of 'A'..'E'")
        if self.ul_phases not in _PHASES:
            bad("ul_phases", f"one of {list(_PHASES)}")
        if self.velocity not in _VELOCITY:
            bad("velocity", f"one of {list(_VELOCITY)}")
        if self.bs_antenna_pattern not in ("38.901", "omni"):
            bad("bs_antenna_pattern", "'38.901' or 'omni'")
        if self.ue_antenna_pattern not in ("38.901", "omni"):
            bad("ue_antenna_pattern", "'38.901' or 'omni'")
        if self.polarization_type not in ("V", "H"):
            bad("polarization_type", "'V' or 'H'")
        for f in ("num_bs_ant", "num_subcarriers", "num_taps"):
            v = getattr(self, f)
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                bad(f, "a positive int")
        if self.num_taps > self.num_subcarriers:
            bad("num_taps", f"<= num_subcarriers ({self.num_subcarriers})")
        if not isinstance(self.window_start, int) or abs(self.window_start) >= self.num_subcarriers:
            bad("window_start", "an int with |window_start| < num_subcarriers")
        for f in ("delay_spread", "subcarrier_spacing", "carrier_frequency_dl", "carrier_frequency_ul", "horizon"):
            v = getattr(self, f)
            if not isinstance(v, (int, float)) or not v > 0 or v != v or v == float("inf"):
                bad(f, "a finite positive number")
        for f in ("ue_speed", "bs_yaw_spread_deg"):
            v = getattr(self, f)
            if not isinstance(v, (int, float)) or not 0 <= v < float("inf"):
                bad(f, "a finite non-negative number")
        if self.bs_yaw_spread_deg > 180:
            bad("bs_yaw_spread_deg", "<= 180")
        if not 0 <= self.tdl_tx_correlation < 1:
            bad("tdl_tx_correlation", "in [0, 1)")
        if not isinstance(self.indoor_probability, (int, float)) or not 0 <= self.indoor_probability <= 1:
            bad("indoor_probability", "in [0, 1]")
        if self.channel_model not in ("umi", "uma") and self.indoor_probability:
            bad("indoor_probability", "0 unless channel_model is 'umi' or 'uma'")
        if self.channel_model != "cdl" and self.bs_yaw_spread_deg:
            bad("bs_yaw_spread_deg", "0 unless channel_model is 'cdl' (UMi/UMa draw geometry per drop)")

    # ---- serialisation ---------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dict of all fields."""
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        """The scenario as a JSON string (stored inside datasets)."""
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Scenario":
        """Rebuild from :meth:`to_dict`; unknown keys raise ValueError naming them."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"Unknown Scenario field(s) {unknown}; valid fields: {sorted(names)}.")
        return cls(**d)

    @classmethod
    def from_json(cls, s: str) -> "Scenario":
        """Rebuild from :meth:`to_json`."""
        return cls.from_dict(json.loads(s))

    def replace(self, **changes: Any) -> "Scenario":
        """Copy with some fields changed (validated); the name becomes ``"custom"`` unless given."""
        changes.setdefault("name", "custom" if changes else self.name)
        return dataclasses.replace(self, **changes)

    def differences(self, other: "Scenario") -> list[str]:
        """Names of the fields (other than name/description) whose values differ."""
        out = []
        for f in dataclasses.fields(self):
            if f.name in ("name", "description"):
                continue
            if getattr(self, f.name) != getattr(other, f.name):
                out.append(f.name)
        return out

    # ---- derived quantities ----------------------------------------------------------
    @property
    def shape_sf(self) -> tuple[int, int]:
        """Spatial-frequency CSI shape ``(num_bs_ant, num_subcarriers)``."""
        return (self.num_bs_ant, self.num_subcarriers)

    @property
    def shape_ad(self) -> tuple[int, int]:
        """Cropped angular-delay CSI shape ``(num_bs_ant, num_taps)``."""
        return (self.num_bs_ant, self.num_taps)

    @property
    def doppler_hz(self) -> float:
        """Maximum DL Doppler shift ``v f_DL / c`` in Hz."""
        return self.ue_speed * self.carrier_frequency_dl / 299_792_458.0


_PAPER = dict(
    channel_model="cdl", profile="C", delay_spread=300e-9, num_bs_ant=32, num_subcarriers=667,
    subcarrier_spacing=15e3, carrier_frequency_dl=2.11e9, carrier_frequency_ul=1.91e9,
    ue_speed=5.0, horizon=5e-3, num_taps=32,
)

PRESETS: dict[str, Scenario] = {
    "paper-cdl-c": Scenario(
        name="paper-cdl-c", **{**_PAPER, "ul_phases": "shared"},
        description="Kim et al. Sec. IV-B: CDL-C 300 ns, 32-ant ULA, 667 SC, 2.11/1.91 GHz, 5 m/s, +5 ms. "
        "Sionna CDL: fixed cluster angles, random 3-D velocity direction; UL shares the ray phases.",
    ),
    "realistic-cdl-c": Scenario(
        name="realistic-cdl-c", **{**_PAPER, "velocity": "horizontal", "bs_yaw_spread_deg": 60.0},
        description="paper-cdl-c plus a per-sample BS yaw in +-60 deg and horizontal UE motion.",
    ),
    **{
        f"cdl-{p.lower()}": Scenario(
            name=f"cdl-{p.lower()}", **{**_PAPER, "profile": p},
            description=f"The paper setting with the CDL-{p} profile{' (LoS)' if p in 'DE' else ''}.",
        )
        for p in "ABDE"
    },
    "umi": Scenario(
        name="umi", **{**_PAPER, "channel_model": "umi"},
        description="38.901 UMi street canyon, outdoor UEs, geometry drawn per drop, no path loss.",
    ),
    "uma": Scenario(
        name="uma", **{**_PAPER, "channel_model": "uma"},
        description="38.901 UMa, outdoor UEs, geometry drawn per drop, no path loss.",
    ),
    **{
        f"tr38843-{m}": Scenario(
            name=f"tr38843-{m}", **{**_PAPER, "channel_model": m, "ue_speed": 3 / 3.6, "indoor_probability": 0.8},
            description=f"TR 38.843-style 38.901 {m.upper()}: geometry per drop, 80% indoor UEs, 3 km/h, the report "
            "used 5 ms after it was measured, FDD 2.11/1.91 GHz, independent UL/DL phases; 1 x 32 ULA.",
        )
        for m in ("uma", "umi")
    },
    "tdl-c": Scenario(
        name="tdl-c", **{**_PAPER, "channel_model": "tdl"},
        description="TDL-C 300 ns with exponential BS correlation 0.7; no angles (DL-only baselines).",
    ),
    "cpu-small": Scenario(
        name="cpu-small", **{**_PAPER, "num_bs_ant": 8, "num_subcarriers": 72,
                             "subcarrier_spacing": 30e3, "num_taps": 8, "ul_phases": "shared"},
        description="Small CDL-C setting for tests: 8 antennas, 72 x 30 kHz, 8 taps.",
    ),
}


def list_presets() -> list[str]:
    """Names of the scenario presets.

    Examples:
        >>> "paper-cdl-c" in list_presets()
        True
    """
    return list(PRESETS)


def get_scenario(name: str, **overrides: Any) -> Scenario:
    """A preset scenario, optionally with some fields changed.

    Args:
        name: str. A preset name (see :func:`list_presets`).
        **overrides: Scenario fields to change.

    Raises:
        ValueError: for an unknown preset (listing the known ones) or an unknown field.

    Examples:
        >>> get_scenario("paper-cdl-c", ul_phases="independent").ul_phases
        'independent'
    """
    if name not in PRESETS:
        raise ValueError(f"Unknown scenario preset {name!r}; known presets: {list_presets()}.")
    base = PRESETS[name]
    if not overrides:
        return base
    unknown = sorted(set(overrides) - {f.name for f in dataclasses.fields(Scenario)})
    if unknown:
        raise ValueError(f"Unknown Scenario field(s) {unknown}.")
    return base.replace(name=f"{name}+custom", **overrides)

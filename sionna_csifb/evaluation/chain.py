"""The Sionna chain: feedback -> uplink -> reconstruction -> precoding -> throughput.

For a batch of paired FDD samples (X: DL CSI the UE measures, Y: UL CSI at the BS, Z: DL
CSI when the BS transmits, 5 ms later), each scheme encodes X, the message crosses the
uplink, the BS decodes with Y as side information, and precodes over the **true future
channel Z**, so CSI ageing is part of what is measured. A lost report (failed CRC on the
coded uplink) falls back to the UL CSI Y, the only CSI the BS has in a one-shot evaluation.

Per scheme and DL SNR it reports distortion of the CSI estimate against Z (NMSE, SGCS),
the single-user MRT beamforming gain, and throughput: single-user MRT, and multi-user
ZF/RZF with K co-scheduled UEs (consecutive samples of the batch, each with its own
feedback), from the PHY abstraction (fast) and optionally the coded link.

Channels are normalised per UE (unit mean power per entry of X), so every UE has the same
average SNR, as with power control; no absolute scale needs feeding back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from .._validation import check_choice, check_finite_scalar, check_positive_int
from ..csi.generator import CSIGenerator, CSITriplet
from ..csi.scenario import Scenario
from ..schemes.base import FeedbackMessage, FeedbackScheme, SideInfo
from .link import MIN_CODED_MCS, abstraction_throughput, coded_link_best_mcs, rate_bound
from .metrics import nmse, sgcs, to_db
from .precoding import bf_gain_db, post_precoding_sinr, precoding_matrix, snr_db_to_no
from .uplink import CodedUplink, get_uplink

__all__ = ["ChainConfig", "draw_samples", "evaluate_scheme"]


@dataclass
class ChainConfig:
    """Settings of one evaluation.

    Args:
        snr_dbs: DL per-UE SNRs in dB (before beamforming gain).
        num_ues: int. K co-scheduled UEs for MU-MIMO.
        mu_precoders: MU precoders to evaluate ("zf", "rzf").
        uplink: "ideal" or "coded" (digital reports; analog schemes always cross the fading
            uplink, :class:`~.uplink.AnalogUplink`, at ``ul_snr_db``).
        ul_snr_db: float. Per-antenna uplink SNR (coded and analog uplinks).
        ul_code_rate: float. LDPC code rate of the coded uplink (default 1/3).
        ul_bits_per_symbol: int. QAM order of the coded uplink: 2 (QPSK, default), 4 or 6.
        coded_link: bool. Also run the LDPC-coded downlink (slow on CPU) for the schemes in
            ``coded_link_schemes``, SU-MRT, with the MCS candidates within 2 of the PHY
            abstraction's best MCS: a validation of the abstraction at a few points.
        coded_link_samples: int. Samples used by the coded link.
        coded_link_schemes: scheme ids validated with the coded link.
        allow_out_of_distribution: bool. Evaluate a learned scheme on a scenario it was not
            trained on (its row is then marked ``out_of_distribution``); otherwise that raises.
    """

    snr_dbs: list[float] = field(default_factory=lambda: [-10.0, 0.0, 10.0])
    num_ues: int = 4
    mu_precoders: list[str] = field(default_factory=lambda: ["zf", "rzf"])
    uplink: str = "ideal"
    ul_snr_db: float = 0.0
    ul_code_rate: float = 1 / 3
    ul_bits_per_symbol: int = 2
    coded_link: bool = False
    coded_link_samples: int = 8
    allow_out_of_distribution: bool = False
    coded_link_schemes: list[str] = field(default_factory=lambda: ["perfect", "type1-sb", "etype2-pc3"])

    def __post_init__(self) -> None:
        self.snr_dbs = [check_finite_scalar(s, "snr_dbs") for s in self.snr_dbs]
        check_positive_int(self.num_ues, "num_ues")
        for p in self.mu_precoders:
            check_choice(p, "mu_precoders", ("zf", "rzf"))
        check_choice(self.uplink, "uplink", ("ideal", "coded"))
        check_finite_scalar(self.ul_snr_db, "ul_snr_db")
        CodedUplink(**self.coded_uplink_kwargs())  # checks the code rate and modulation

    def coded_uplink_kwargs(self) -> dict:
        """The coded uplink's code rate and modulation."""
        return {"code_rate": self.ul_code_rate, "num_bits_per_symbol": self.ul_bits_per_symbol}


def draw_samples(scenario: Scenario, num_samples: int, seed: int, batch_size: int = 64) -> CSITriplet:
    """Normalised spatial-frequency triplets (x, y, z) `[num_samples, N, F]` for evaluation."""
    gen = CSIGenerator(scenario)
    parts = [gen(min(batch_size, num_samples - lo), seed * 1_000_003 + lo)
             for lo in range(0, check_positive_int(num_samples, "num_samples"), batch_size)]
    trip = CSITriplet(*(torch.cat([getattr(p, k) for p in parts]) for k in "xyz"))
    return trip.normalized()[0]


def _throughput(h: torch.Tensor, h_hat: torch.Tensor, method: str, snr_db: float, scs: float) -> dict:
    w = precoding_matrix(h_hat, method, snr_db)
    sinr = post_precoding_sinr(h, w, snr_db_to_no(snr_db))
    out = abstraction_throughput(sinr, subcarrier_spacing=scs)
    out["rate_bound_mbps"] = rate_bound(sinr, subcarrier_spacing=scs)
    out["sinr_db_mean"] = 10 * math.log10(float(sinr.double().mean()))
    return out


def _variable_length_stats(num_bits: torch.Tensor, res: torch.Tensor | None) -> dict:
    """Mean, 95th percentile and maximum of the report length and of its coded-uplink REs,
    for schemes whose reports vary in length (empty for fixed-length ones)."""
    n = num_bits.double().cpu()
    if res is None or len(n) == 0 or bool((n == n[0]).all()):
        return {}
    return {"variable_length": True, "payload_bits_p95": float(torch.quantile(n, 0.95)),
            "payload_bits_max": int(n.max()), "uplink_res_p95": float(torch.quantile(res.double(), 0.95))}


def evaluate_scheme(scheme: FeedbackScheme, data: CSITriplet, scenario: Scenario, cfg: ChainConfig) -> dict:
    """Run one scheme through the chain.

    Args:
        scheme: FeedbackScheme.
        data: CSITriplet. Normalised samples (see :func:`draw_samples`).
        scenario: Scenario. For the subcarrier spacing and the record.
        cfg: ChainConfig.

    Returns:
        dict: a JSON-serialisable row (see the example ``fdd_precoding.py``).
    """
    ood = not scheme.trained_for(scenario)
    if ood and not cfg.allow_out_of_distribution:
        raise ValueError(f"scheme {scheme.name!r} was trained on {scheme.trained_scenarios} but is evaluated on "
                         f"{scenario.name!r}: a learned scheme outside what it was trained for gives numbers that "
                         "mean little. Pass ChainConfig(allow_out_of_distribution=True) (examples/fdd_precoding.py: "
                         "--allow-ood) to evaluate it anyway; its row is then marked out of distribution.")
    x, y, z = data.x, data.y, data.z
    analog = scheme.kind == "analog"
    with torch.no_grad():
        msg = scheme.encode(x, snr_db=cfg.ul_snr_db) if analog else scheme.encode(x)
        # analog symbols always cross the fading uplink; no bits: nothing to code
        uplink = get_uplink("analog" if analog else cfg.uplink if msg.bits is not None else "ideal",
                            **(cfg.coded_uplink_kwargs() if msg.bits is not None and cfg.uplink == "coded" else {}))
        msg_rx, info = uplink.transmit(msg, y, cfg.ul_snr_db)
        lost = info["lost"].to(y.device)
        keep = torch.nonzero(~lost).flatten()
        h_hat = y.clone()  # a lost report (failed CRC) is never decoded: the BS falls back to the UL CSI
        if len(keep):
            sub = msg_rx if len(keep) == len(lost) else FeedbackMessage(
                bits=None if msg_rx.bits is None else msg_rx.bits[keep.to(msg_rx.bits.device)],
                num_bits=msg_rx.num_bits[keep.to(msg_rx.num_bits.device)],
                symbols=None if msg_rx.symbols is None else msg_rx.symbols[keep], meta=msg_rx.meta)
            h_hat[keep] = scheme.decode(sub, side_info=SideInfo(h_uplink=y[keep], h_genie=z[keep],
                                                                snr_db=cfg.ul_snr_db if analog else None)).to(y.dtype)
    bits = msg.num_bits.double().mean().item() if msg.bits is not None else None
    nominal = scheme.nominal_payload_bits
    per_report_res = None
    if bits is not None:  # REs of each report on the coded uplink (variable-length reports differ)
        ul = CodedUplink(**cfg.coded_uplink_kwargs())
        per_report_res = torch.tensor([float(ul.num_res(int(n))) for n in msg.num_bits.tolist()])
    res_coded = float(per_report_res.mean()) if per_report_res is not None else None
    scs = scenario.subcarrier_spacing
    row = {
        "scheme": scheme.name, "description": scheme.description, "kind": scheme.kind,
        "out_of_distribution": ood, "trained_scenarios": scheme.trained_scenarios,
        "config": scheme.get_config(),
        "payload_bits": nominal if nominal is not None else bits,
        "ul_snr_db": cfg.ul_snr_db,
        "uplink_res": info["uplink_res"] if info["uplink_res"] is not None else res_coded,
        "reports_lost": float(lost.float().mean()),
        **_variable_length_stats(msg.num_bits, per_report_res),
        **({"budget_bits": scheme.budget_bits} if scheme.budget_bits else {}),
        "nmse_db": to_db(nmse(z, h_hat)),
        "sgcs": float(sgcs(z, h_hat).mean()),
        "bf_gain_db": bf_gain_db(z, h_hat),
        "snr": {},
    }
    k = cfg.num_ues
    n_mu = (x.shape[0] // k) * k
    for snr in cfg.snr_dbs:
        entry = {"su_mrt": _throughput(z[:, None], h_hat[:, None], "mrt", snr, scs)}
        hz = z[:n_mu].reshape(-1, k, *z.shape[1:])
        hh = h_hat[:n_mu].reshape(-1, k, *z.shape[1:])
        for p in cfg.mu_precoders:
            entry[f"mu_{p}"] = _throughput(hz, hh, p, snr, scs)
        if cfg.coded_link and scheme.name in cfg.coded_link_schemes:
            n = cfg.coded_link_samples
            w = precoding_matrix(h_hat[:n, None], "mrt")
            sinr = post_precoding_sinr(z[:n, None], w, snr_db_to_no(snr))
            ref = abstraction_throughput(sinr, subcarrier_spacing=scs)
            cands = range(max(MIN_CODED_MCS, ref["mcs"] - 2), min(27, ref["mcs"] + 2) + 1)
            coded = coded_link_best_mcs(z[:n, None], w, snr_db_to_no(snr), mcs_candidates=cands,
                                        subcarrier_spacing=scs)
            coded["abstraction_same_samples_mbps"] = ref["throughput_mbps"]
            coded["rate_bound_mbps"] = rate_bound(sinr, subcarrier_spacing=scs)
            entry["su_mrt_coded"] = coded
        row["snr"][str(snr)] = entry
    return row

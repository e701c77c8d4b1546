import pytest
import torch

from sionna_csifb.csi.generator import CSIGenerator
from sionna_csifb.csi.scenario import get_scenario
from sionna_csifb.schemes.base import (
    FeedbackMessage,
    FeedbackScheme,
    SideInfo,
    get_scheme,
    list_schemes,
    register_scheme,
    scheme_overrides,
)


@pytest.fixture(scope="module")
def data():
    t, _ = CSIGenerator(get_scenario("cpu-small"))(4, seed=0).normalized()
    return t


def _build(name):
    return get_scheme(name, **scheme_overrides(name, 8))


_PAPER_DATA = {}
UL_SNR = 10.0  # analog (JSCC) schemes need the uplink SNR at both ends; digital ones ignore it


def _enc(scheme, x):
    return scheme.encode(x, snr_db=UL_SNR) if scheme.kind == "analog" else scheme.encode(x)


def _inputs(scheme, data):
    """Learned schemes are trained for one scenario: give them data of that scenario."""
    scen = getattr(scheme, "scenario", None)
    if scen is None:
        return data
    if scen.name not in _PAPER_DATA:
        _PAPER_DATA[scen.name] = CSIGenerator(scen)(4, seed=0).normalized()[0]
    return _PAPER_DATA[scen.name]


class TestRegistry:
    def test_builtin_ids(self):
        ids = list_schemes()
        for n in ("perfect", "perfect-feedback", "ul-reuse", "type1-wb", "type1-sb", "etype2-pc1", "etype2-pc8"):
            assert n in ids

    def test_unknown_lists_known(self):
        with pytest.raises(ValueError, match="known schemes: .*etype2-pc3"):
            get_scheme("type3")

    def test_user_scheme_in_a_few_lines(self, data):
        @register_scheme("test-sign-only")
        class SignOnly(FeedbackScheme):
            kind = "digital"

            def encode(self, h, *, snr_db=None):
                bits = (h.real > 0).flatten(1).to(torch.uint8)
                return FeedbackMessage.from_bits(bits, meta={"shape": tuple(h.shape[1:])})

            def decode(self, message, *, side_info=None):
                b = message.bits[:, : message.nominal_bits].float() * 2 - 1
                return torch.complex(b, torch.zeros_like(b)).reshape(-1, *message.meta["shape"])

        from sionna_csifb.schemes import base

        try:
            s = get_scheme("test-sign-only")
            h_hat = s.decode(s.encode(data.x))
            assert h_hat.shape == data.x.shape and s.name == "test-sign-only"
            with pytest.raises(ValueError, match="already registered"):
                register_scheme("test-sign-only")(SignOnly)
        finally:
            base._REGISTRY.pop("test-sign-only", None)


@pytest.mark.parametrize("name", [n for n in list_schemes() if not n.startswith("test-")])
class TestSchemeContract:
    def test_round_trip_shape_dtype_payload(self, name, data):
        s = _build(name)
        data = _inputs(s, data)
        msg = _enc(s, data.x)
        side = SideInfo(h_uplink=data.y, h_genie=data.z, snr_db=UL_SNR)
        h_hat = s.decode(msg, side_info=side)
        assert h_hat.shape == data.x.shape and h_hat.dtype == data.x.dtype
        assert bool(torch.isfinite(torch.view_as_real(h_hat)).all())
        if s.nominal_payload_bits is not None:
            assert bool((msg.num_bits <= s.nominal_payload_bits).all())
            assert msg.nominal_bits == s.nominal_payload_bits

    def test_deterministic_and_fresh_instance_decodes_identically(self, name, data):
        a, b = _build(name), _build(name)
        data = _inputs(a, data)
        side = SideInfo(h_uplink=data.y, h_genie=data.z, snr_db=UL_SNR)
        m1, m2 = _enc(a, data.x), _enc(b, data.x)
        if m1.bits is not None:
            assert torch.equal(m1.bits, m2.bits)
        elif m1.symbols is not None:
            assert torch.equal(m1.symbols, m2.symbols)
        assert torch.equal(a.decode(m1, side_info=side), b.decode(m1, side_info=side))

    def test_bad_input(self, name, data):
        s = _build(name)
        data = _inputs(s, data)
        with pytest.raises(ValueError):
            _enc(s, data.x.real)
        bad = data.x.clone()
        bad[0, 0, 0] = float("nan")
        with pytest.raises(ValueError, match="NaN"):
            _enc(s, bad)


class TestSideInfo:
    def test_missing_side_info_named(self, data):
        s = get_scheme("ul-reuse")
        with pytest.raises(ValueError, match="side_info.h_uplink"):
            s.decode(s.encode(data.x))

    def test_codebook_refuses_short_message(self, data):
        s = _build("etype2-pc1")
        msg = FeedbackMessage.from_bits(torch.zeros(4, 10, dtype=torch.uint8), meta={"num_subcarriers": 72})
        with pytest.raises(ValueError, match="bits per sample"):
            s.decode(msg)

    def test_wrong_antenna_count(self, data):
        with pytest.raises(ValueError, match="32 BS antennas"):
            get_scheme("type1-wb").encode(data.x)


class TestScaleInvariance:
    """A UE's channel carries path loss: every scheme's estimate must not depend on its scale.

    On 32-antenna channels with every scheme at its default configuration (with the 8-antenna
    test overrides, eType II keeps all 8 beams, so its rotation choice is an exact tie that
    rounding breaks either way)."""

    @pytest.fixture(scope="class")
    @staticmethod
    def data32():
        return CSIGenerator(get_scenario("paper-cdl-c"))(4, seed=3).normalized()[0]

    @pytest.mark.parametrize("name", list_schemes())
    @pytest.mark.parametrize("c", [1e-6, 1e6])
    def test_same_sgcs_for_scaled_channels(self, name, c, data32):
        from sionna_csifb.evaluation.metrics import sgcs

        scheme = get_scheme(name)
        d = data32

        def run(s):
            msg = _enc(scheme, d.x * s)
            est = scheme.decode(msg, side_info=SideInfo(h_uplink=d.y * s, h_genie=d.z * s, snr_db=UL_SNR))
            return float(sgcs(d.z, est).mean())

        ref, scaled = run(1.0), run(c)
        assert abs(scaled - ref) < 1e-3, f"{name}: SGCS {ref:.4f} at scale 1, {scaled:.4f} at scale {c:g}"


class TestOutOfDistribution:
    """A learned scheme used on a scenario it was not trained for raises, unless allowed."""

    def test_refused_then_marked(self):
        from sionna_csifb.evaluation.chain import ChainConfig, draw_samples, evaluate_scheme
        from sionna_csifb.schemes.learned import LearnedScheme

        names = [n for n in list_schemes() if isinstance(get_scheme(n), LearnedScheme)]
        assert names, "no shipped learned scheme registered"
        scheme = get_scheme(names[0])
        other = get_scenario("realistic-cdl-c")
        assert scheme.trained_for(get_scenario(scheme.trained_scenarios[0])) and not scheme.trained_for(other)
        data = draw_samples(other, 4, seed=0)
        with pytest.raises(ValueError, match=rf"trained on \['{scheme.trained_scenarios[0]}'\].*'realistic-cdl-c'"):
            evaluate_scheme(scheme, data, other, ChainConfig(snr_dbs=[0.0]))
        row = evaluate_scheme(scheme, data, other, ChainConfig(snr_dbs=[0.0], allow_out_of_distribution=True))
        assert row["out_of_distribution"] is True
        assert evaluate_scheme(get_scheme("type1-wb"), data, other, ChainConfig(snr_dbs=[0.0]))[
            "out_of_distribution"] is False

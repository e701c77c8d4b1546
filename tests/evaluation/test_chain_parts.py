import math

import numpy as np
import pytest
import torch

from sionna_csifb.csi.generator import CSIGenerator
from sionna_csifb.csi.scenario import get_scenario
from sionna_csifb.evaluation.link import (
    abstraction_throughput,
    coded_link,
    coded_link_best_mcs,
    rate_bound,
    slot_duration,
)
from sionna_csifb.evaluation.precoding import bf_gain_db, post_precoding_sinr, precoding_matrix, snr_db_to_no
from sionna_csifb.evaluation.uplink import AnalogUplink, CodedUplink, IdealUplink, get_uplink
from sionna_csifb.schemes.base import FeedbackMessage


@pytest.fixture(scope="module")
def data():
    t, _ = CSIGenerator(get_scenario("cpu-small", ul_phases="independent"))(16, seed=1).normalized()
    return t


class TestPrecoding:
    def test_perfect_mrt_gain(self, data):
        assert bf_gain_db(data.z, data.z) == pytest.approx(10 * math.log10(8), abs=1e-3)
        assert bf_gain_db(data.z, data.x) < bf_gain_db(data.z, data.z)

    def test_zf_nulls_interference_with_perfect_csi(self, data):
        h = data.z.reshape(4, 4, 8, 72)
        w = precoding_matrix(h, "zf")
        g = torch.einsum("bunf,bfnj->bfuj", h, w).abs().pow(2)
        off = g.sum(-1) - torch.diagonal(g, dim1=-2, dim2=-1)
        assert float(off.max()) < 1e-6 * float(g.max())
        np.testing.assert_allclose(w.norm(dim=(-2, -1)).numpy(), 1.0, rtol=1e-5)

    def test_zf_finite_for_colinear_reports(self, data):
        h_hat = data.x[:1, None].expand(1, 4, 8, 72).contiguous()
        sinr = post_precoding_sinr(data.z[:4][None], precoding_matrix(h_hat, "zf"), 0.1)
        assert bool(torch.isfinite(sinr).all())

    def test_rzf_beats_zf_at_low_snr_with_stale_csi(self, data):
        h, h_hat = data.z.reshape(4, 4, 8, 72), data.x.reshape(4, 4, 8, 72)
        r = {m: rate_bound(post_precoding_sinr(h, precoding_matrix(h_hat, m, -5.0), snr_db_to_no(-5.0)))
             for m in ("zf", "rzf")}
        assert r["rzf"] >= r["zf"]

    def test_bad_arguments(self, data):
        with pytest.raises(ValueError, match="single-user"):
            precoding_matrix(data.z.reshape(4, 4, 8, 72), "mrt")
        with pytest.raises(ValueError, match="method"):
            precoding_matrix(data.z[:, None], "svd")
        with pytest.raises(ValueError, match="snr_db"):
            precoding_matrix(data.z.reshape(4, 4, 8, 72), "rzf", float("nan"))
        with pytest.raises(ValueError, match="h_hat"):
            precoding_matrix(data.z, "mrt")


class TestThroughput:
    def test_slot(self):
        assert slot_duration(15e3) == 1e-3

    @pytest.mark.parametrize("snr_db", [-20.0, -12.0, 0.0])
    def test_coded_link_never_exceeds_rate_bound(self, data, snr_db):
        h = data.z[:6, None]
        w = precoding_matrix(data.x[:6, None], "mrt")
        sinr = post_precoding_sinr(h, w, snr_db_to_no(snr_db))
        bound = rate_bound(sinr, subcarrier_spacing=30e3)
        best = coded_link_best_mcs(h, w, snr_db_to_no(snr_db), mcs_candidates=[3, 6, 10, 14, 18, 22, 27],
                                   subcarrier_spacing=30e3, num_iter=10)
        assert best["throughput_mbps"] <= bound
        for mcs in (3, 27):  # also when the MCS is far too high
            assert coded_link(h, w, snr_db_to_no(snr_db), mcs, subcarrier_spacing=30e3,
                              num_iter=10)["throughput_mbps"] <= bound

    def test_abstraction_tracks_coded_link(self, data):
        h = data.z[:8, None]
        w = precoding_matrix(data.z[:8, None], "mrt")
        no = snr_db_to_no(-5.0)
        sinr = post_precoding_sinr(h, w, no)
        a = abstraction_throughput(sinr, subcarrier_spacing=30e3)
        c = coded_link(h, w, no, max(a["mcs"], 3), subcarrier_spacing=30e3)
        assert a["throughput_mbps"] <= rate_bound(sinr, subcarrier_spacing=30e3)
        assert abs(c["throughput_mbps"] - a["throughput_mbps"]) <= 0.35 * a["throughput_mbps"] + 0.5

    def test_bad_mcs(self, data):
        w = precoding_matrix(data.z[:1, None], "mrt")
        with pytest.raises(ValueError, match="mcs_index"):
            coded_link(data.z[:1, None], w, 0.1, 1)


class TestUplink:
    def test_ideal(self):
        msg = FeedbackMessage.from_bits(torch.ones(3, 4, dtype=torch.uint8))
        out, info = IdealUplink().transmit(msg)
        assert out is msg and not bool(info["lost"].any())

    def test_coded_loses_reports_at_low_snr_only(self, data):
        bits = (torch.rand(16, 65) > 0.5).to(torch.uint8)
        msg = FeedbackMessage.from_bits(bits)
        ul = CodedUplink()
        out, info = ul.transmit(msg, data.y, 5.0)
        assert not bool(info["lost"].any()) and torch.equal(out.bits, bits)
        assert info["uplink_res"] == ul.num_res(65) == math.ceil((65 + 24) * 3 / 2)
        _, info = ul.transmit(msg, data.y, -30.0)
        assert float(info["lost"].float().mean()) > 0.9

    def test_coded_carries_variable_length_reports(self, data):
        lengths = torch.tensor([0, 12, 40, 12] * 4)
        bits = (torch.rand(16, 40) > 0.5).to(torch.uint8) * (torch.arange(40)[None] < lengths[:, None])
        msg = FeedbackMessage(bits=bits, num_bits=lengths)
        ul = CodedUplink()
        out, info = ul.transmit(msg, data.y, 5.0)
        assert not bool(info["lost"].any()) and torch.equal(out.bits, bits)
        res = info["uplink_res_per_report"]
        assert res.tolist() == [ul.num_res(int(n)) for n in lengths] and res[0] == 0
        assert info["uplink_res"] == pytest.approx(float(res.double().mean()))
        with pytest.raises(ValueError, match="num_bits"):
            ul.transmit(FeedbackMessage(bits=bits, num_bits=lengths + 1), data.y, 5.0)

    def test_analog_mrc_noise(self, data):
        z = torch.randn(16, 64, dtype=torch.complex64)
        z = z / z.abs().pow(2).mean().sqrt()
        out, info = AnalogUplink().transmit(FeedbackMessage(None, torch.zeros(16, dtype=torch.int64), z),
                                            data.y, 0.0)
        err = float((out.symbols - z).abs().pow(2).mean())
        assert err == pytest.approx(1 / 8, rel=0.3)  # no / N after MRC over 8 antennas
        assert info["uplink_res"] == 64

    def test_bad_input(self, data):
        msg = FeedbackMessage.from_bits(torch.ones(16, 4, dtype=torch.uint8))
        with pytest.raises(ValueError, match="snr_db"):
            CodedUplink().transmit(msg, data.y, float("nan"))
        with pytest.raises(ValueError, match="h_ul"):
            CodedUplink().transmit(msg, data.y[:3], 0.0)
        with pytest.raises(ValueError, match="uplink"):
            get_uplink("satellite")
        with pytest.raises(ValueError, match="code_rate"):
            CodedUplink(code_rate=0.1)

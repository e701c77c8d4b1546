import math

import numpy as np
import pytest
import torch
from scipy.special import j0

from sionna_csifb.csi.generator import CSIGenerator, cir_to_freq
from sionna_csifb.csi.scenario import get_scenario
from sionna_csifb.csi.transforms import to_angular_delay
from sionna_csifb.evaluation.metrics import correlation


def corr(x, y):
    """Mean over samples of |<x, y>| / (|x| |y|)."""
    return correlation(x, y).mean().item()


@pytest.fixture(scope="module")
def small():
    return get_scenario("cpu-small")


class TestCirToFreq:
    def test_matches_sionna(self):
        from sionna.phy.channel import cir_to_ofdm_channel, subcarrier_frequencies
        from sionna.phy.channel.tr38901 import CDL, PanelArray

        fc = 2.11e9
        bs = PanelArray(num_rows_per_panel=1, num_cols_per_panel=4, polarization="single",
                        polarization_type="V", antenna_pattern="38.901", carrier_frequency=fc)
        ue = PanelArray(num_rows_per_panel=1, num_cols_per_panel=1, polarization="single",
                        polarization_type="V", antenna_pattern="omni", carrier_frequency=fc)
        a, tau = CDL("C", 300e-9, fc, ut_array=ue, bs_array=bs, direction="downlink", min_speed=5.0,
                     max_speed=5.0)(3, 2, 200.0)
        f = subcarrier_frequencies(24, 15e3)
        ref = cir_to_ofdm_channel(f, a, tau)  # [B, 1, 1, 1, N, T, F]
        ours = cir_to_freq(a, tau, f)  # [B, T, N, F]
        np.testing.assert_allclose(ours.numpy(), ref[:, 0, 0, 0].permute(0, 2, 1, 3).numpy(), rtol=1e-4, atol=1e-5)

    def test_bad_shape(self):
        with pytest.raises(ValueError, match="`a`"):
            cir_to_freq(torch.zeros(2, 3, dtype=torch.complex64), torch.zeros(2, 1, 1, 3), torch.zeros(4))


class TestCSIGenerator:
    def test_shapes_and_reproducibility(self, small):
        gen = CSIGenerator(small)
        a, b, c = gen(6, seed=3), gen(6, seed=3), gen(6, seed=4)
        for t in (a.x, a.y, a.z):
            assert t.shape == (6, 8, 72) and t.dtype == torch.complex64
        assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y) and torch.equal(a.z, b.z)
        assert not torch.equal(a.x, c.x)

    @pytest.mark.parametrize("preset", ["cdl-a", "uma", "umi", "tdl-c", "realistic-cdl-c"])
    def test_other_models_run(self, preset):
        s = get_scenario(preset, num_bs_ant=4, num_subcarriers=24, num_taps=8)
        t = CSIGenerator(s)(2, seed=0)
        assert t.z.shape == (2, 4, 24) and bool(torch.isfinite(t.z.abs()).all())

    def test_ul_correlates_with_future_dl_more_than_independent_draw(self, small):
        # Fixed CDL geometry (the paper's setting): shared ray phases make UL informative.
        t = CSIGenerator(small)(256, seed=1)
        paired, shuffled = corr(t.z, t.y), corr(t.z, t.y.roll(1, 0))
        assert paired > shuffled + 0.2, (paired, shuffled)
        # Per-sample geometry, independent phases: UL still tells this sample's angles.
        s = get_scenario("realistic-cdl-c", num_bs_ant=8, num_subcarriers=72, subcarrier_spacing=30e3, num_taps=8)
        t = CSIGenerator(s)(256, seed=2)
        ad = lambda h: to_angular_delay(h, 8).abs()  # noqa: E731
        paired, shuffled = corr(ad(t.z), ad(t.y)), corr(ad(t.z), ad(t.y).roll(1, 0))
        assert paired > shuffled + 0.2, (paired, shuffled)

    def test_no_motion_no_ageing(self, small):
        t = CSIGenerator(small.replace(ue_speed=0.0))(8, seed=0)
        assert torch.allclose(t.x, t.z, atol=1e-6)

    def test_ageing_depends_on_distance_travelled(self, small):
        # The CSI evolves through Doppler phases exp(j 2 pi v.r t / lambda): doubling the
        # speed and halving the horizon (same 2.5 cm travelled) gives the same channel.
        a = CSIGenerator(small)(16, seed=5)
        b = CSIGenerator(small.replace(ue_speed=10.0, horizon=2.5e-3))(16, seed=5)
        np.testing.assert_allclose(b.z.numpy(), a.z.numpy(), rtol=1e-3, atol=1e-4)

    def test_ageing_magnitude_consistent_with_5ms_at_5mps(self, small):
        s = small.replace(velocity="horizontal")
        rho = corr(CSIGenerator(s)(256, seed=6).x, CSIGenerator(s)(256, seed=6).z)
        # 2.5 cm travelled = 0.176 lambda: isotropic scattering gives J0(2 pi 0.176) = 0.72;
        # CDL-C's angular spread is narrower, so the channel decorrelates less, but it must age.
        jakes = float(j0(2 * math.pi * s.doppler_hz * s.horizon))
        assert jakes - 0.05 < rho < 0.99, (rho, jakes)
        rho_fast = corr(*(lambda t: (t.x, t.z))(CSIGenerator(s.replace(ue_speed=20.0))(256, seed=6)))
        assert rho_fast < rho - 0.1

    def test_bad_arguments(self, small):
        gen = CSIGenerator(small)
        with pytest.raises(ValueError, match="batch_size"):
            gen(0, seed=1)
        with pytest.raises(ValueError, match="seed"):
            gen(2, seed=-1)
        with pytest.raises(ValueError, match="scenario"):
            CSIGenerator("paper-cdl-c")

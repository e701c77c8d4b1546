import math

import numpy as np
import pytest
import torch

from sionna_csifb.csi.generator import CSIGenerator
from sionna_csifb.csi.scenario import get_scenario
from sionna_csifb.csi.transforms import from_angular_delay, to_angular_delay
from sionna_csifb.evaluation.metrics import nmse, nmse_db, nmse_sf_from_ad, rho, sgcs


def _h(b=4, n=4, f=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.complex(torch.randn(b, n, f, generator=g), torch.randn(b, n, f, generator=g))


class TestNMSE:
    def test_linear_mean_then_db(self):
        h = torch.ones(2, 2, 2, dtype=torch.complex64)
        h_hat = torch.stack([0.9 * h[0], 0.0 * h[1]])  # per-sample 0.01 and 1.0
        np.testing.assert_allclose(nmse(h, h_hat).numpy(), [0.01, 1.0], rtol=1e-5)
        assert nmse_db(h, h_hat) == pytest.approx(10 * math.log10(0.505), abs=1e-4)  # not mean of dB (-10)

    def test_sf_from_ad_equals_direct_sf_nmse(self):
        t = CSIGenerator(get_scenario("cpu-small"))(8, seed=0)
        h = t.z
        g = to_angular_delay(h, 8)
        g_hat = g + 0.3 * _h(8, 8, 8, seed=1)
        direct = nmse(h, from_angular_delay(g_hat, 72))
        via_ad = nmse_sf_from_ad(g, g_hat, h.abs().pow(2).sum((1, 2)))
        np.testing.assert_allclose(via_ad.numpy(), direct.numpy(), rtol=1e-4)

    def test_sf_from_ad_checks_energy(self):
        g = _h()
        with pytest.raises(ValueError, match="energy"):
            nmse_sf_from_ad(g, g, torch.ones(4))

    @pytest.mark.parametrize(
        "h_hat,msg",
        [(_h(b=3), "same shape"), (torch.zeros(4, 4, 8), "complex"),
         (torch.full((4, 4, 8), float("inf"), dtype=torch.complex64), "NaN or Inf")],
    )
    def test_bad_estimate(self, h_hat, msg):
        with pytest.raises(ValueError, match=msg):
            nmse(_h(), h_hat)

    def test_zero_channel(self):
        h = _h()
        h[2] = 0
        with pytest.raises(ValueError, match="`h` has an all-zero channel at sample index 2"):
            nmse(h, _h())


class TestSGCS:
    def test_invariant_to_per_subcarrier_phase_and_gain(self):
        h = _h()
        scale = torch.polar(torch.rand(4, 1, 8) + 0.5, torch.rand(4, 1, 8) * 6)
        np.testing.assert_allclose(sgcs(h, h * scale).numpy(), 1.0, rtol=1e-5)

    def test_known_value(self):
        h = torch.zeros(1, 2, 1, dtype=torch.complex64)
        h[0, 0, 0] = 1
        h_hat = torch.ones(1, 2, 1, dtype=torch.complex64)
        assert sgcs(h, h_hat).item() == pytest.approx(0.5)

    def test_subband_uses_principal_direction(self):
        h = _h(b=2, n=4, f=8)
        out = sgcs(h, h, subband_size=3)
        assert out.shape == (2, 3)
        np.testing.assert_allclose(out.numpy(), 1.0, rtol=1e-4)
        assert bool((sgcs(h, _h(b=2, n=4, f=8, seed=5), subband_size=4) < 1).all())

    def test_bad_subband(self):
        with pytest.raises(ValueError, match="subband_size"):
            sgcs(_h(), _h(), subband_size=0)


class TestRho:
    def test_range_and_perfect(self):
        h = _h()
        np.testing.assert_allclose(rho(h, h).numpy(), 1.0, rtol=1e-5)
        r = rho(h, _h(seed=3))
        assert bool(((r >= 0) & (r <= 1)).all())

    def test_ignores_scale(self):
        h = _h()
        np.testing.assert_allclose(rho(h, 3j * h).numpy(), 1.0, rtol=1e-5)

import numpy as np
import pytest
import torch

from sionna_csifb.csi.transforms import (
    complex_to_real,
    from_angular_delay,
    normalize_power,
    real_to_complex,
    tap_indices,
    to_angular_delay,
)


def _h(b=3, n=8, f=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.complex(torch.randn(b, n, f, generator=g), torch.randn(b, n, f, generator=g))


class TestAngularDelay:
    @pytest.mark.parametrize("start", [0, -4, 3])
    def test_matches_float64_ifft2_crop(self, start):
        h = _h()
        ref = torch.roll(torch.fft.ifft2(h.to(torch.complex128), norm="ortho"), -start, dims=-1)[..., :16]
        g = to_angular_delay(h, 16, start)
        assert g.dtype == torch.complex64
        np.testing.assert_allclose(g.numpy(), ref.numpy(), rtol=1e-5, atol=1e-6)

    @pytest.mark.parametrize("start", [0, -4])
    def test_round_trip_exact_for_cropped_channel(self, start):
        h = _h()
        g = to_angular_delay(h, 16, start)
        h_c = from_angular_delay(g, 40, start)  # the cropped channel, spatial-frequency domain
        np.testing.assert_allclose(to_angular_delay(h_c, 16, start).numpy(), g.numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(from_angular_delay(to_angular_delay(h_c, 16, start), 40, start).numpy(),
                                   h_c.numpy(), rtol=1e-5, atol=1e-5)

    def test_full_window_is_lossless(self):
        h = _h(f=12)
        np.testing.assert_allclose(from_angular_delay(to_angular_delay(h, 12), 12).numpy(), h.numpy(), atol=1e-5)

    def test_energy_kept_is_at_most_total(self):
        h = _h()
        g = to_angular_delay(h, 16)
        assert bool((g.abs().pow(2).sum((1, 2)) <= h.abs().pow(2).sum((1, 2)) * (1 + 1e-6)).all())

    def test_tap_indices_wrap(self):
        assert tap_indices(10, 4, -2).tolist() == [8, 9, 0, 1]

    @pytest.mark.parametrize(
        "bad,msg",
        [
            (torch.randn(3, 8, 40), "complex"),
            (torch.randn(40, dtype=torch.complex64), "dimensions"),
            (torch.full((2, 8, 40), float("nan"), dtype=torch.complex64), "NaN"),
        ],
    )
    def test_bad_input(self, bad, msg):
        with pytest.raises(ValueError, match=msg):
            to_angular_delay(bad, 16)

    def test_too_many_taps(self):
        with pytest.raises(ValueError, match="num_taps"):
            to_angular_delay(_h(f=8), 16)


class TestPacking:
    def test_round_trip(self):
        g = _h()
        x = complex_to_real(g)
        assert x.shape == (*g.shape, 2) and x.dtype == torch.float32
        assert torch.equal(real_to_complex(x), g)

    def test_real_to_complex_needs_trailing_2(self):
        with pytest.raises(ValueError, match=r"\[\.\.\., 2\]"):
            real_to_complex(torch.zeros(2, 3))


class TestNormalizePower:
    def test_unit_power_and_inverse(self):
        h = 5 * _h()
        hn, s = normalize_power(h)
        np.testing.assert_allclose(hn.abs().pow(2).mean((1, 2)).numpy(), 1.0, rtol=1e-5)
        np.testing.assert_allclose((hn * s[:, None, None]).numpy(), h.numpy(), rtol=1e-5, atol=1e-5)

    def test_zero_channel_refused(self):
        h = _h()
        h[1] = 0
        with pytest.raises(ValueError, match="all-zero channel at sample index 1"):
            normalize_power(h)

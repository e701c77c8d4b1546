import h5py
import numpy as np
import pytest
import scipy.io
import torch

from sionna_csifb.data.cost2100 import load_cost2100


def _csinet_layout(g: np.ndarray) -> np.ndarray:
    """Encode complex [N, angle, delay] the way CsiNet's files store it: each row is
    reshaped by their code to (2, 32 angle, 32 delay), the delay index fastest."""
    return np.concatenate([g.real.reshape(len(g), -1), g.imag.reshape(len(g), -1)], 1) + 0.5


def _hf_all(g: np.ndarray) -> np.ndarray:
    """HF_all as CsiNet's code derives it: FFT of the delay axis zero-padded to 257, first 125
    subcarriers, stored as rows of (32 antennas, 125 subcarriers), the subcarrier fastest."""
    return np.fft.fft(g, 257, axis=-1)[..., :125].reshape(len(g), -1)


@pytest.fixture
def g():
    rng = np.random.default_rng(0)
    return (0.1 * (rng.standard_normal((5, 32, 32)) + 1j * rng.standard_normal((5, 32, 32)))).astype(np.complex64)


class TestLoadCost2100:
    @pytest.mark.parametrize("name", ["DATA_Htrainin.mat", "DATA_Htestout.mat"])
    def test_v5_ht(self, tmp_path, g, name):
        p = tmp_path / name
        scipy.io.savemat(p, {"HT": _csinet_layout(g).astype(np.float32)})
        h = load_cost2100(p)
        assert h.shape == (5, 32, 32) and h.dtype == torch.complex64
        np.testing.assert_allclose(h.numpy(), g, atol=1e-6)

    def test_v73_ht(self, tmp_path, g):
        p = tmp_path / "DATA_Htestin.mat"
        with h5py.File(p, "w") as f:
            f["HT"] = _csinet_layout(g).astype(np.float32).T  # MATLAB v7.3 stores transposed
        np.testing.assert_allclose(load_cost2100(p).numpy(), g, atol=1e-6)

    def test_hf_all(self, tmp_path):
        rng = np.random.default_rng(1)
        hf = (rng.standard_normal((2, 32, 125)) + 1j * rng.standard_normal((2, 32, 125))).astype(np.complex64)
        p = tmp_path / "DATA_HtestFin_all.mat"
        scipy.io.savemat(p, {"HF_all": hf.reshape(2, -1)})
        h = load_cost2100(p)
        assert h.shape == (2, 32, 125)
        np.testing.assert_allclose(h.numpy(), hf, atol=1e-6)

    def test_ht_and_hf_all_agree(self, tmp_path, g):
        """The HT sample and the HF_all sample derived from it (as CsiNet's code does) agree
        after loading: DFT of the loaded HT over the zero-padded delay axis == loaded HF_all."""
        scipy.io.savemat(tmp_path / "DATA_Htestin.mat", {"HT": _csinet_layout(g).astype(np.float32)})
        scipy.io.savemat(tmp_path / "DATA_HtestFin_all.mat", {"HF_all": _hf_all(g).astype(np.complex64)})
        ht = load_cost2100(tmp_path / "DATA_Htestin.mat").numpy()
        hf = load_cost2100(tmp_path / "DATA_HtestFin_all.mat").numpy()
        np.testing.assert_allclose(np.fft.fft(ht, 257, axis=-1)[..., :125], hf, atol=1e-5)
        # a non-square, asymmetric pattern: a transposed or scrambled reading cannot pass
        assert not np.allclose(np.fft.fft(np.swapaxes(ht, 1, 2), 257, axis=-1)[..., :125], hf, atol=1e-3)

    def test_missing_key_lists_variables(self, tmp_path):
        p = tmp_path / "x.mat"
        scipy.io.savemat(p, {"H": np.zeros((2, 2048))})
        with pytest.raises(ValueError, match=r"variables found: \['H'\]"):
            load_cost2100(p)

    def test_wrong_width(self, tmp_path):
        p = tmp_path / "x.mat"
        scipy.io.savemat(p, {"HT": np.zeros((2, 2000))})
        with pytest.raises(ValueError, match="2048"):
            load_cost2100(p)

    def test_nan(self, tmp_path):
        p = tmp_path / "x.mat"
        a = np.zeros((2, 2048))
        a[0, 3] = np.nan
        scipy.io.savemat(p, {"HT": a})
        with pytest.raises(ValueError, match="NaN"):
            load_cost2100(p)

    def test_damaged_file(self, tmp_path):
        p = tmp_path / "x.mat"
        p.write_bytes(b"garbage" * 20)
        with pytest.raises(ValueError, match="not a readable MATLAB file"):
            load_cost2100(p)

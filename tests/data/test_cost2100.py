import h5py
import numpy as np
import pytest
import scipy.io
import torch

from sionna_csifb.data.cost2100 import load_cost2100


def _csinet_layout(g: np.ndarray) -> np.ndarray:
    """Encode complex [N, angle, delay] the way CsiNet's files store it."""
    g_da = np.swapaxes(g, 1, 2)  # [N, delay, angle]
    return np.concatenate([g_da.real.reshape(len(g), -1), g_da.imag.reshape(len(g), -1)], 1) + 0.5


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
        hf = (rng.standard_normal((2, 125, 32)) + 1j * rng.standard_normal((2, 125, 32))).astype(np.complex64)
        p = tmp_path / "DATA_HtestFin_all.mat"
        scipy.io.savemat(p, {"HF_all": hf.reshape(2, -1)})
        h = load_cost2100(p)
        assert h.shape == (2, 32, 125)
        np.testing.assert_allclose(h.numpy(), np.swapaxes(hf, 1, 2), atol=1e-6)

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

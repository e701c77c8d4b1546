import os
import subprocess
import sys

import pytest
import torch

import sionna_csifb
from sionna_csifb.config import normalize_device


def _run(code, **env):
    e = {k: v for k, v in os.environ.items() if k not in ("KERAS_BACKEND", "SIONNA_CSIFB_DEVICE")}
    e.update(env)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=e, timeout=300)


class TestBackend:
    def test_selects_torch_when_unset(self):
        r = _run("import sionna_csifb, keras; print(keras.backend.backend())")
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip().endswith("torch")

    def test_keras_already_imported_with_other_backend(self):
        # Stand-in for Keras imported on TensorFlow (which is not installed here): the package
        # imports, the torch glue refuses with the fix.
        fake = ("import sys, types; k = types.ModuleType('keras'); "
                "k.backend = types.SimpleNamespace(backend=lambda: 'tensorflow'); sys.modules['keras'] = k; ")
        r = _run(fake + "import sionna_csifb; print(sionna_csifb.keras_backend()); import sionna_csifb.schemes")
        assert r.stdout.strip() == "tensorflow" and r.returncode != 0
        assert "uses the 'tensorflow' backend" in r.stderr and "KERAS_BACKEND=torch" in r.stderr

    def test_other_backend_chosen(self):
        fake = ("import sys, types; k = types.ModuleType('keras'); "
                "k.backend = types.SimpleNamespace(backend=lambda: 'jax'); sys.modules['keras'] = k; ")
        r = _run(fake + "import sionna_csifb.training")
        assert r.returncode != 0 and "sionna_csifb.training is torch glue" in r.stderr


class TestConfig:
    def test_env_device(self):
        r = _run("import sionna_csifb; from sionna.phy import config as c; print(sionna_csifb.config.device, c.device)",
                 SIONNA_CSIFB_DEVICE="cpu")
        assert r.returncode == 0, r.stderr
        assert r.stdout.split()[-2:] == ["cpu", "cpu"]

    def test_device_pushed_to_sionna(self):
        from sionna.phy import config as sn

        sionna_csifb.config.device = "cpu"
        assert sn.device == "cpu"

    @pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
    def test_cuda_refused_without_gpu(self):
        with pytest.raises(ValueError, match="no CUDA device"):
            sionna_csifb.config.device = "cuda"

    def test_bad_device_and_precision(self):
        with pytest.raises(ValueError, match="device"):
            normalize_device("tpu")
        with pytest.raises(ValueError, match="precision"):
            sionna_csifb.config.precision = "half"

    def test_precision(self):
        from sionna.phy import config as sn

        sionna_csifb.config.precision = "double"
        try:
            assert sn.precision == "double" and sionna_csifb.config.cdtype == torch.complex128
        finally:
            sionna_csifb.config.precision = "single"

    def test_seed(self):
        sionna_csifb.config.seed = 3
        a = torch.rand(2)
        sionna_csifb.config.seed = 3
        assert torch.equal(a, torch.rand(2))
        with pytest.raises(ValueError, match="seed"):
            sionna_csifb.config.seed = -1

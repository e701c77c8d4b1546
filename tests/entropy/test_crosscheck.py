"""UE and BS in two processes: the reports one process encodes, another decodes exactly."""

import json
import os
import subprocess
import sys

import keras
import numpy as np

from sionna_csifb.models.entropy_codec import EntropyCodec


def _run(*args):
    env = {**os.environ, "KERAS_BACKEND": "torch", "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-m", "sionna_csifb.entropy.crosscheck", *args], capture_output=True,
                       text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_encode_in_one_process_decode_in_another(tmp_path):
    cfg = dict(num_latents=16, input_size=[8, 8], num_subcarriers=24, entropy_model="hyperprior", side_info=False)
    keras.utils.set_random_seed(1)
    m = EntropyCodec(**cfg)
    m.freeze()
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    m.save_weights(tmp_path / "model.weights.h5")
    rng = np.random.default_rng(0)
    h = (rng.standard_normal((600, 8, 24)) + 1j * rng.standard_normal((600, 8, 24))).astype("complex64")
    h *= rng.uniform(0.2, 5.0, (600, 1, 1)).astype("float32")  # spread of scales and report lengths
    np.save(tmp_path / "csi.npy", h)
    enc = _run("encode", "--model-dir", str(tmp_path), "--work-dir", str(tmp_path / "w"), "--csi",
               str(tmp_path / "csi.npy"))
    dec = _run("decode", "--model-dir", str(tmp_path), "--work-dir", str(tmp_path / "w"))
    assert enc["reports"] == dec["reports"] == 600
    assert dec["mismatches"] == 0


def test_crosscheck_streams_a_dataset(tmp_path):
    from sionna_csifb.csi.scenario import get_scenario
    from sionna_csifb.data.hdf5 import generate_dataset

    scen = get_scenario("cpu-small")
    data = generate_dataset(tmp_path / "d.h5", scen, 16, seed=2, progress=False)
    cfg = dict(num_latents=8, input_size=[scen.num_bs_ant, scen.num_taps], num_subcarriers=scen.num_subcarriers,
               window_start=scen.window_start, side_info=False)
    keras.utils.set_random_seed(2)
    m = EntropyCodec(**cfg)
    m.freeze()
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    m.save_weights(tmp_path / "model.weights.h5")
    enc = _run("encode", "--model-dir", str(tmp_path), "--work-dir", str(tmp_path / "w"), "--data", str(data),
               "--num-reports", "40")
    dec = _run("decode", "--model-dir", str(tmp_path), "--work-dir", str(tmp_path / "w"))
    assert enc["reports"] == dec["reports"] == 40 and dec["mismatches"] == 0

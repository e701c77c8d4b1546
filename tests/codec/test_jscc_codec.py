"""RD-JSCC and the deep-JSCC baselines as analog codecs, backend-agnostic (keras.ops and NumPy).

Run in the suite (torch) and alone on TensorFlow in CI, like the other codec-layer tests.
"""

import keras
import numpy as np
import pytest

from sionna_csifb.diffusion.samplers import ddim_sample
from sionna_csifb.diffusion.schedules import CosineSchedule
from sionna_csifb.models.jscc import EXIT_SNR_GRID_DB, JSCCCodec

N, T, F, K = 8, 8, 24, 6


def _h(b, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((b, N, F)) + 1j * rng.standard_normal((b, N, F))).astype("complex64")


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _model(**kw):
    keras.utils.set_random_seed(0)
    args = dict(num_symbols=K, input_size=(N, T), unet_width=8, unet_mults=(1, 2), attention_levels=[1], num_steps=4,
                schedule_steps=8, num_subcarriers=F, seed=0)
    return JSCCCodec(**{**args, **kw})


@pytest.mark.parametrize("arch", ["rdjscc", "adjscc", "csinetplus"])
def test_symbols_have_unit_power_and_decode(arch):
    m = _model(architecture=arch, refinement=None if arch != "rdjscc" else "residual")
    h = keras.ops.convert_to_tensor(_h(3))
    s = m.compress(h, snr_db=5.0)
    assert tuple(s.shape) == (3, K) and "complex" in str(s.dtype)
    assert np.allclose(np.mean(np.abs(_np(s)) ** 2, axis=1), 1.0, atol=1e-4)
    est = m.decompress(s, snr_db=[5.0, 0.0, 20.0], num_inference_steps=1)
    assert tuple(est.shape) == (3, N, F) and np.isfinite(_np(keras.ops.view_as_real(est))).all()
    # the UE's encoding is invariant to the channel's scale
    assert np.allclose(_np(m.compress(keras.ops.convert_to_tensor(_h(3) * 1e-4), snr_db=5.0)), _np(s), atol=1e-4)


def test_snr_adaptation_changes_the_symbols():
    m = _model()
    h = keras.ops.convert_to_tensor(_h(2))
    assert not np.allclose(_np(m.compress(h, snr_db=-10.0)), _np(m.compress(h, snr_db=20.0)))


def test_noiseless_awgn_equals_the_exact_path():
    m = _model()
    h = keras.ops.convert_to_tensor(_h(2))
    out = m(h, snr_db=200.0, num_inference_steps=0)
    exact = m.decompress(m.compress(h, snr_db=200.0), snr_db=200.0, num_inference_steps=0)
    assert np.allclose(_np(keras.ops.view_as_real(out["h_hat"])), _np(keras.ops.view_as_real(exact)), atol=1e-4)
    ident = m(h, snr_db=200.0, num_inference_steps=0, channel=lambda s: s)
    assert np.allclose(_np(ident["x_hat"]), _np(out["x_hat"]), atol=1e-4)


def test_residual_process_matches_eqs_5_to_10():
    sch = CosineSchedule(40)
    n = 20
    ab = sch.alphas_bar[n]
    lam = sch.residual_scale(n)
    rng = np.random.default_rng(0)
    z0, coarse, eps = rng.standard_normal((3, 4))
    # eq. (10) at t = N is eq. (5): sqrt(ab_N) * coarse + sqrt(1 - ab_N) * eps
    z_n = np.sqrt(ab) * z0 + np.sqrt(1 - ab) * (lam * (coarse - z0) + eps)
    assert np.allclose(z_n, np.sqrt(ab) * coarse + np.sqrt(1 - ab) * eps)
    # a perfect x-predictor brings the sampler from z_N back to z0 in any number of steps
    for steps in (1, 2, n):
        out = ddim_sample(lambda z, t: keras.ops.convert_to_tensor(z0[None].astype("float32")), (1, 4), sch, steps,
                          start=n, z_start=keras.ops.convert_to_tensor(z_n[None].astype("float32")))
        assert np.allclose(_np(out)[0], z0, atol=1e-5)
    assert sch.timesteps(2, start=n) == [20, 1]


@pytest.mark.parametrize("refinement", ["residual", "generative", "supervised", None])
def test_training_losses_per_stage(refinement):
    m = _model(refinement=refinement)
    h = keras.ops.convert_to_tensor(_h(4))
    m.training_stage = 1
    assert float(m.training_loss(h)) > 0  # SNRs drawn from train_snr_db
    m.training_stage = 2
    if refinement is None:
        with pytest.raises(ValueError, match="stage 1 only"):
            m.training_loss(h)
    else:
        assert np.isfinite(float(m.training_loss(h, snr_db=10.0)))
    m.training_stage = 3
    with pytest.raises(ValueError, match="training_stage"):
        m.training_loss(h)


def test_early_exit_policy():
    m = _model(exit_threshold_db=0.5)
    assert not np.any(_np(m.unet.out.kernel))  # zero-initialised: refinement starts as the identity
    m.unet.out.kernel.assign(np.full(tuple(m.unet.out.kernel.shape), 0.1, dtype="float32"))
    h = keras.ops.convert_to_tensor(_h(4))
    s = m.compress(h, snr_db=0.0)
    with pytest.raises(ValueError, match="set_refinement_gain"):
        m.decompress(s, snr_db=0.0)
    # refinement worth 1 dB at low SNR, nothing above 5 dB
    m.set_refinement_gain([1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0])
    snr = np.array([-10.0, 20.0, 0.0, 15.0], dtype="float32")
    assert m.refine_mask(snr).tolist() == [True, False, True, False]
    est = _np(keras.ops.view_as_real(m.decompress(s, snr_db=snr, num_inference_steps=2)))
    coarse = _np(keras.ops.view_as_real(m.decompress(s, snr_db=snr, num_inference_steps=0)))
    assert np.allclose(est[[1, 3]], coarse[[1, 3]], atol=1e-5)  # exited: the coarse estimate
    assert not np.allclose(est[[0, 2]], coarse[[0, 2]], atol=1e-3)  # refined
    with pytest.raises(ValueError, match="finite values"):
        m.set_refinement_gain([1.0, 2.0])
    assert len(EXIT_SNR_GRID_DB) == 7


def test_bad_input_is_refused():
    m = _model()
    h = keras.ops.convert_to_tensor(_h(2))
    s = m.compress(h, snr_db=0.0)
    with pytest.raises(ValueError, match="snr_db"):
        m.compress(h)
    with pytest.raises(ValueError, match="NaN"):
        m.decompress(s, snr_db=float("nan"))
    with pytest.raises(ValueError, match="snr_db"):
        m.decompress(s, snr_db=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="complex channel symbols"):
        m.decompress(keras.ops.ones((2, K)), snr_db=0.0)
    with pytest.raises(ValueError, match=rf"\[batch, {K}\]"):
        m.decompress(keras.ops.view_as_complex(keras.ops.ones((2, K + 1, 2))), snr_db=0.0)
    bad = _np(keras.ops.view_as_real(s)).copy()
    bad[0, 0, 0] = np.inf
    with pytest.raises(ValueError, match="NaN or Inf"):
        m.decompress(keras.ops.view_as_complex(keras.ops.convert_to_tensor(bad)), snr_db=0.0)
    with pytest.raises(ValueError, match="all-zero"):
        m.compress(keras.ops.zeros((1, N, F), dtype="complex64"), snr_db=0.0)
    with pytest.raises(ValueError, match="channel"):
        m(h, snr_db=0.0, channel=lambda s: s[:, :2])
    with pytest.raises(ValueError, match="num_steps"):
        _model(num_steps=8, schedule_steps=8)
    with pytest.raises(ValueError, match="architecture"):
        _model(architecture="transformer")


def test_config_round_trip():
    m = _model(architecture="adjscc", refinement="generative", exit_threshold_db=0.2)
    m2 = JSCCCodec.from_config(m.get_config())
    assert m2.get_config() == m.get_config()
    assert len(m2.weights) == len(m.weights) and m2.payload_bits is None and m2.kind == "analog"

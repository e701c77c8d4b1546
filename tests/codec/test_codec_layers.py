"""The learned-codec contract, backend-agnostic: keras.ops and NumPy only, no torch.

CI runs this file twice: in the suite (torch backend) and alone with KERAS_BACKEND=tensorflow
(tensorflow-cpu, ``--noconftest``), which shows the codec layers use keras.ops only.
"""

import keras
import numpy as np
import pytest

from sionna_csifb.layers.csi_packing import AngularDelayPacking
from sionna_csifb.models.csinet import QuantizedAutoencoder
from sionna_csifb.models.diffusion_codec import DiffusionCodec
from sionna_csifb.models.eigen_diffusion import EigenDiffusionCodec

N, T, F = 8, 8, 24


def _h(b, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((b, N, F)) + 1j * rng.standard_normal((b, N, F))).astype("complex64")


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _models():
    keras.utils.set_random_seed(0)
    return [QuantizedAutoencoder("csinet", num_bits=24, input_size=(N, T), num_subcarriers=F),
            QuantizedAutoencoder("crnet", num_bits=24, input_size=(N, T), num_subcarriers=F, side_info=False),
            DiffusionCodec(num_bits=8, input_size=(N, T), encoder_channels=(8, 8), cond_channels=4, unet_width=8,
                           unet_mults=(1, 2), num_subcarriers=F, window_start=-2, seed=0),
            QuantizedAutoencoder("eigen", num_bits=29, bits_per_value=4, input_size=(N, T), num_subcarriers=F,
                                 num_subbands=3, hidden_width=16),
            QuantizedAutoencoder("eigen", num_bits=29, bits_per_value=4, input_size=(N, T), num_subcarriers=F,
                                 num_subbands=3, hidden_width=16, kept_beams=3),
            EigenDiffusionCodec(num_bits=40, bits_per_index=4, codeword_dim=4, input_size=(N, T), num_subcarriers=F,
                                num_subbands=3, hidden_width=16, kept_beams=4, unet_width=8, unet_mults=(1, 2),
                                attention_levels=[1], seed=0)]


def _side(m, h):
    return h if m.side_info else None


def test_packing_matches_numpy_fft():
    h = _h(3)
    p = AngularDelayPacking(N, F, T, window_start=-2)
    x, s = p(keras.ops.convert_to_tensor(h))
    g = np.fft.ifft(np.fft.ifft(h, axis=1, norm="ortho"), axis=2, norm="ortho")[..., (np.arange(T) - 2) % F]
    s_ref = np.sqrt((np.abs(g) ** 2).sum((1, 2)) / (N * F))
    np.testing.assert_allclose(_np(s), s_ref, rtol=1e-5)
    ref = np.stack([g.real, g.imag], -1) * np.sqrt(2 * T / F) / s_ref[:, None, None, None]
    np.testing.assert_allclose(_np(x), ref, atol=1e-5)
    # unpack is the inverse on the cropped channel
    full = np.zeros_like(h)
    full[..., (np.arange(T) - 2) % F] = g / s_ref[:, None, None]
    np.testing.assert_allclose(_np(p.unpack(x)), np.fft.fft2(full, norm="ortho"), atol=1e-5)


@pytest.mark.parametrize("i", [0, 1, 2, 3, 4, 5])
def test_compress_decompress_and_scale_invariance(i):
    m = _models()[i]
    h = _h(4)
    bits = _np(m.compress(keras.ops.convert_to_tensor(h)))
    assert bits.shape == (4, m.payload_bits) and set(np.unique(bits)) <= {0, 1}
    for c in (1e-6, 1e6):
        assert np.array_equal(_np(m.compress(keras.ops.convert_to_tensor((c * h).astype("complex64")))), bits)
    est = _np(m.decompress(keras.ops.convert_to_tensor(bits), _side(m, h), num_inference_steps=1))
    assert est.shape == (4, N, F) and np.iscomplexobj(est) and np.isfinite(est).all()
    est2 = _np(m.decompress(keras.ops.convert_to_tensor(bits), _side(m, (1e6 * h).astype("complex64")),
                            num_inference_steps=1))
    np.testing.assert_allclose(est2, est, atol=1e-4)


@pytest.mark.parametrize("i", [0, 2, 3, 4, 5])
def test_call_equals_exact_path_and_identity_channel(i):
    """In inference mode, call() gives the estimate of decompress(compress(h)); through an identity
    bit channel (soft bits = hard bits) it gives the same again."""
    m = _models()[i]
    h = keras.ops.convert_to_tensor(_h(4))
    exact = _np(m.decompress(m.compress(h), h, num_inference_steps=2))
    def nmse(a):  # per sample; float rounding (c + sg(e - c) vs e, a backend's accumulation order) only
        return (np.abs(a - exact) ** 2).sum((1, 2)) / (np.abs(exact) ** 2).sum((1, 2))

    assert nmse(_np(m(h, h, num_inference_steps=2)["h_hat"])).max() < 1e-4
    assert nmse(_np(m(h, h, num_inference_steps=2, channel=lambda b: b)["h_hat"])).max() < 1e-4


@pytest.mark.parametrize("i", [0, 2, 3, 5])
def test_fit_trains(i):
    m = _models()[i]
    h, y = _h(64, 1), _h(64, 2)
    m.compile(optimizer=keras.optimizers.Adam(3e-3))
    hist = m.fit((h, y), h, batch_size=16, epochs=4, verbose=0)
    loss = hist.history["loss"]
    assert np.isfinite(loss).all() and loss[-1] < loss[0]


def test_bad_input_is_refused():
    m = _models()[0]
    h = _h(2)
    with pytest.raises(ValueError, match="NaN or Inf"):
        bad = h.copy()
        bad[0, 0, 0] = np.nan
        m.compress(keras.ops.convert_to_tensor(bad))
    with pytest.raises(ValueError, match="all-zero"):
        m.compress(keras.ops.convert_to_tensor(np.zeros_like(h)))
    with pytest.raises(ValueError, match=r"\[batch, 8, 24\]"):
        m.compress(keras.ops.convert_to_tensor(h[:, :, :20]))
    with pytest.raises(ValueError, match="complex"):
        m.compress(keras.ops.convert_to_tensor(h.real))
    with pytest.raises(ValueError, match=r"bits \[batch, 24\]"):
        m.decompress(keras.ops.zeros((2, 23), dtype="int32"), h)
    with pytest.raises(ValueError, match="only 0 and 1"):
        m.decompress(keras.ops.full((2, 24), 2, dtype="int32"), h)
    with pytest.raises(ValueError, match="side_info"):
        m.decompress(m.compress(keras.ops.convert_to_tensor(h)))


def test_config_round_trip():
    for m in _models():
        cfg = m.get_config()
        assert type(m).from_config(cfg).get_config() == cfg


def test_subband_eigen_matches_numpy_eigh():
    """The power iterations give each subband's principal eigenvector (up to the common phase,
    which the layer fixes: v_wb^H v_t real and positive); to_packed is constant per subband."""
    from sionna_csifb.layers.subband_eigen import SubbandEigen, subband_edges

    rng = np.random.default_rng(3)
    # a few paths: a dominant eigenvector per subband, as in the 3GPP channels
    ang, dly = rng.uniform(0, 1, (2, 3)), rng.uniform(0, 4, (2, 3))
    gain = np.array([1.0, 0.5, 0.3]) * np.exp(2j * np.pi * rng.uniform(size=(2, 3)))
    n, f = np.arange(N), np.arange(F)
    h = np.einsum("bp,bpn,bpf->bnf", gain, np.exp(2j * np.pi * ang[..., None] * n),
                  np.exp(-2j * np.pi * dly[..., None] * f / F)).astype("complex64")
    p = AngularDelayPacking(N, F, F)   # no crop: every tap kept
    e = SubbandEigen(p, num_subbands=3, iterations=30, stride=1)
    x, _ = p(keras.ops.convert_to_tensor(h))
    d = _np(e(x)[0])
    a = np.fft.ifft(np.eye(N), axis=0, norm="ortho")              # the packing's IDFT over antennas
    v = np.einsum("mn,bsm->bsn", a.conj(), d[..., 0] + 1j * d[..., 1]) / np.sqrt(N)
    edges = subband_edges(F, 3)
    for b in range(2):
        for s in range(3):
            hs = h[b, :, edges[s]:edges[s + 1]]
            ref = np.linalg.eigh(hs @ hs.conj().T)[1][:, -1]
            assert abs(np.vdot(ref, v[b, s])) ** 2 > 0.999
    # aligned phases: v_wb^H v_t > 0 for the wideband principal eigenvector
    for b in range(2):
        wb = np.linalg.eigh(h[b] @ h[b].conj().T)[1][:, -1]
        c = np.array([np.vdot(wb, v[b, s]) for s in range(3)])
        ph = c / np.abs(c)
        assert np.abs(np.angle(ph / ph[0])).max() < 1e-3
    # to_csi interpolates between subband centres: equal directions give a constant estimate
    same = np.repeat(d[:, :1], 3, axis=1)
    g = _np(e.to_csi(keras.ops.convert_to_tensor(same)))
    np.testing.assert_allclose(g, np.repeat(g[..., :1], F, -1), atol=1e-5)
    u = v[:, 0] / np.linalg.norm(v[:, 0], axis=-1, keepdims=True)
    np.testing.assert_allclose(np.abs(np.einsum("bn,bnf->bf", u.conj(), g)) ** 2 / (np.abs(g) ** 2).sum(1), 1.0,
                               atol=1e-4)


def test_subband_eigen_centring_is_undone():
    """Centring on the strongest oversampled beam puts a single path at beam 0; uncentre restores it."""
    from sionna_csifb.layers.subband_eigen import SubbandEigen

    n, f = np.arange(N), np.arange(F)
    psi = np.array([0.3125, 0.71])  # 0.3125 = 10 / (4 N): on the oversampled grid
    h = (np.exp(-2j * np.pi * psi[:, None, None] * n[:, None]) * np.exp(-2j * np.pi * 2 * f / F)
         * np.ones((2, N, F))).astype("complex64")
    p = AngularDelayPacking(N, F, F)
    e = SubbandEigen(p, num_subbands=3, stride=1, oversampling=4)
    assert e.beam_bits == 5
    d, beam = e(p(keras.ops.convert_to_tensor(h))[0])
    assert _np(beam).tolist()[0] == 10
    power = (_np(d) ** 2).sum(-1)
    assert (power[0, :, 0] / power[0].sum(-1) > 0.999).all()   # on the grid: all energy in beam 0
    u = _np(e.to_csi(e.uncentre(d, beam)))
    cos = np.abs((h.conj() * u).sum(1)) ** 2 / ((np.abs(h) ** 2).sum(1) * (np.abs(u) ** 2).sum(1))
    assert cos.min() > 0.999


def test_beam_selection_keeps_the_strongest_beams_and_indexes_every_set():
    """Bin 0 and the L - 1 strongest other beams are kept, in the canonical order; the
    combinatorial index is a bijection onto [0, C(N - 1, L - 1)) and an index beyond raises."""
    import math

    from sionna_csifb.layers.beam_selection import BeamSelection

    sel = BeamSelection(32, 5)
    assert sel.index_bits == math.ceil(math.log2(math.comb(31, 4)))
    rng = np.random.default_rng(0)
    d = 0.01 * rng.standard_normal((64, 3, 32, 2)).astype("float32")
    strong = np.stack([rng.choice(np.arange(1, 32), 4, replace=False) for _ in range(64)])
    for b in range(64):
        d[b, :, strong[b], 0] += 1.0 + np.arange(4)[:, None]
    coef, beams = sel(keras.ops.convert_to_tensor(d))
    beams = _np(beams)
    assert (beams[:, 0] == 0).all()
    assert [sorted(r[1:]) for r in beams.tolist()] == [sorted(r) for r in strong.tolist()]
    dist = np.minimum(beams, 32 - beams) * 32 + beams
    assert (np.diff(dist, axis=1) > 0).all()  # canonical order: circular distance from bin 0, then index
    np.testing.assert_allclose(_np(coef), np.take_along_axis(d, beams[:, None, :, None], 2))
    r = _np(sel.index(keras.ops.convert_to_tensor(beams)))
    assert len(set(r.tolist())) == 64 and r.min() >= 0 and r.max() < math.comb(31, 4)
    assert np.array_equal(_np(sel.unindex(keras.ops.convert_to_tensor(r))), beams)
    every = np.arange(math.comb(8 - 1, 3))  # every set of a small one round-trips
    small = BeamSelection(8, 4)
    assert np.array_equal(_np(small.index(small.unindex(keras.ops.convert_to_tensor(every)))), every)
    with pytest.raises(ValueError, match="corrupted report"):
        sel.unindex(keras.ops.convert_to_tensor(np.array([math.comb(31, 4)], "int32")))
    with pytest.raises(ValueError, match="num_kept"):
        BeamSelection(8, 9)


def test_eigen_kept_beams_report_layout_and_errors():
    """The kept beams' index follows the centring beam; a corrupted index raises; kept_beams is for
    eigen only."""
    m = _models()[4]
    assert m.payload_bits == m.beam_bits + m.select_bits + m.latent_dim * 4 <= 29 and m.select_bits == 5
    bits = _np(m.compress(keras.ops.convert_to_tensor(_h(2))))
    bits[:, m.beam_bits:m.beam_bits + m.select_bits] = 1  # 31 >= C(7, 2) = 21
    with pytest.raises(ValueError, match="corrupted report"):
        m.decompress(keras.ops.convert_to_tensor(bits), _h(2))
    with pytest.raises(ValueError, match="eigen"):
        QuantizedAutoencoder("csinet", num_bits=24, input_size=(N, T), num_subcarriers=F, kept_beams=2)
    with pytest.raises(ValueError, match="kept_beams"):
        QuantizedAutoencoder("eigen", num_bits=29, input_size=(N, T), num_subcarriers=F, kept_beams=9)


def test_eigen_residual_blocks():
    """residual_blocks swaps the two dense layers of each network for pre-norm residual blocks; the
    report is unchanged in length and decodes exactly; eigen only."""
    keras.utils.set_random_seed(0)
    m = QuantizedAutoencoder("eigen", num_bits=29, bits_per_value=4, input_size=(N, T), num_subcarriers=F,
                             num_subbands=3, hidden_width=16, kept_beams=3, residual_blocks=2, side_info=False)
    plain = _models()[4]  # (with side information: its side network adds weights too)
    assert m.payload_bits == plain.payload_bits and len(m.trainable_weights) > len(plain.trainable_weights) + 8
    h = keras.ops.convert_to_tensor(_h(3))
    x, _ = m.pack(h)
    np.testing.assert_allclose(_np(m.decompress_packed(m.compress_packed(x))), _np(m.forward_packed(x)["x_hat"]),
                               atol=1e-5)
    assert m.get_config()["residual_blocks"] == 2
    with pytest.raises(ValueError, match="eigen"):
        QuantizedAutoencoder("csinet", num_bits=24, input_size=(N, T), num_subcarriers=F, residual_blocks=1)
    with pytest.raises(ValueError, match="residual_blocks"):
        QuantizedAutoencoder("eigen", num_bits=29, input_size=(N, T), num_subcarriers=F, residual_blocks=-1)


def test_eigen_diffusion_report_layout_and_errors():
    """The eigen VQ-diffusion codec's report: the eigen header (centring beam, kept beams), then
    whole codeword indices; a corrupted header raises; it reconstructs (a prediction target
    raises); the U-Net's grid must divide; config and arguments are checked."""
    m = _models()[5]
    assert m.num_indices == (40 - m.header_bits) // 4 and m.payload_bits == m.header_bits + 4 * m.num_indices <= 40
    assert tuple(m.encode_latent(m.pack(keras.ops.convert_to_tensor(_h(2)))[0]).shape) == (2, m.num_indices, 4)
    bits = _np(m.compress(keras.ops.convert_to_tensor(_h(2))))
    bits[:, m.beam_bits:m.header_bits] = 1  # 127 >= C(7, 3) = 35 sets
    with pytest.raises(ValueError, match="corrupted report"):
        m.decompress(keras.ops.convert_to_tensor(bits))
    with pytest.raises(ValueError, match="reconstructs"):
        m.training_loss(keras.ops.convert_to_tensor(_h(2)), target=keras.ops.convert_to_tensor(_h(2, seed=5)))
    with pytest.raises(ValueError, match="multiple of 2"):
        EigenDiffusionCodec(num_bits=40, input_size=(N, T), num_subcarriers=F, kept_beams=3, unet_mults=(1, 2))
    with pytest.raises(ValueError, match="architecture 'eigen' only"):
        EigenDiffusionCodec(architecture="csinet")
    with pytest.raises(ValueError, match="sgcs_weight"):
        EigenDiffusionCodec(num_bits=40, input_size=(N, T), num_subcarriers=F, kept_beams=4, sgcs_weight=-1.0)

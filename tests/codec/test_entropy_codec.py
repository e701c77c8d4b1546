"""Entropy-coded feedback: densities, integer tables, range coding, the codec, stored reports.

Backend-agnostic (keras.ops, NumPy, constriction): CI runs it on torch and on TensorFlow.
"""

import keras
import numpy as np
import pytest

from sionna_csifb.entropy.coding import (CodingError, VariableLengthBits, coarse_pmf, decode_segments,
                                         encode_segments, information_bits, integer_pmf)
from sionna_csifb.entropy.densities import SCALE_TABLE, FactorizedDensity, GaussianConditional
from sionna_csifb.entropy.report_file import ReportFormatError, pack_reports, unpack_reports
from sionna_csifb.models.entropy_codec import RATE_LEVELS, EntropyCodec

from .test_codec_layers import F, N, T, _h, _np


def _codec(**kw):
    keras.utils.set_random_seed(0)
    cfg = dict(num_latents=6, input_size=(N, T), num_subcarriers=F)
    return EntropyCodec(**{**cfg, **kw})


MODELS = [dict(entropy_model="factorized"), dict(entropy_model="hyperprior"),
          dict(entropy_model="hyperprior", dither_seed=5),
          dict(entropy_model="hyperprior", encoder="attention", attention_dim=8, attention_window=4,
               companding="mulaw", architecture="crnet", side_info=True),
          dict(entropy_model="hyperprior", architecture="eigen", kept_beams=3, num_subbands=3, hidden_width=16),
          dict(entropy_model="hyperprior", architecture="eigen", kept_beams=3, num_subbands=3, hidden_width=16,
               linear_path=True),
          dict(entropy_model="hyperprior", architecture="eigen", kept_beams=3, num_subbands=3, hidden_width=16,
               beam_coding="entropy")]


# ---- densities and tables ---------------------------------------------------------------------
def test_densities_are_normalised():
    d = FactorizedDensity(3, init_scale=4.0)
    p = d.bin_probabilities(np.arange(-60, 61))
    assert p.shape == (3, 121)
    np.testing.assert_allclose(p.sum(1), 1.0, atol=1e-3)
    g = GaussianConditional.bin_probabilities(np.arange(-400, 401) + 0.5, SCALE_TABLE)
    np.testing.assert_allclose(g.sum(1), 1.0, atol=1e-9)
    lik = _np(GaussianConditional()(keras.ops.zeros((1, 1)), keras.ops.ones((1, 1)) * 2.0))
    np.testing.assert_allclose(lik[0, 0], GaussianConditional.bin_probabilities(np.array([0.0]), [2.0])[0, 0],
                               rtol=1e-5)


def test_integer_pmf_sums_and_floor():
    rng = np.random.default_rng(1)
    p = rng.dirichlet(np.ones(40) * 0.1, size=50)
    c = integer_pmf(p)
    assert (c.sum(1) == 2 ** 16).all() and (c >= 1).all()
    assert np.array_equal(c, integer_pmf(p.copy()))
    assert (coarse_pmf(c, 3).sum(1) == 2 ** 16).all() and coarse_pmf(c, 3).shape == (50, 14)
    with pytest.raises(ValueError, match="non-negative"):
        integer_pmf(np.array([0.5, np.nan]))


def test_range_coding_is_exact_and_bit_granular():
    rng = np.random.default_rng(2)
    over = []
    for _ in range(150):
        m, n = int(rng.integers(2, 65)), int(rng.integers(1, 50))
        c = integer_pmf(rng.dirichlet(np.ones(m) * 0.3, size=n))
        s = np.array([rng.choice(m, p=row / row.sum()) for row in c])
        bits = encode_segments([(s, c)])
        assert np.array_equal(decode_segments(bits, [c])[0], s)
        over.append(len(bits) - information_bits(s, c))
    # whole 32-bit words would cost ~16 bits per report on average; bit-granular ~0-2
    assert np.mean(over) < 2.0 and max(over) < 4.0


def test_decoder_reports_foreign_streams_cleanly():
    c = integer_pmf(np.tile([[0.97, 0.01, 0.01, 0.01]], (8, 1)))
    rng = np.random.default_rng(3)
    outcomes = set()
    for _ in range(300):
        bits = rng.integers(0, 2, int(rng.integers(0, 80))).astype(np.uint8)
        try:
            s = decode_segments(bits, [c])[0]
            assert s.shape == (8,) and s.min() >= 0 and s.max() < 4
            outcomes.add("decoded")
        except CodingError:
            outcomes.add("error")
    assert "decoded" in outcomes
    with pytest.raises(ValueError, match="0/1"):
        decode_segments(np.array([0, 2]), [c])


# ---- the codec -----------------------------------------------------------------------------------
@pytest.mark.parametrize("kw", MODELS, ids=["factorized", "hyperprior", "dithered", "attention-mulaw-si", "eigen-kept-beams",
                                       "eigen-linear-path", "eigen-beam-coding"])
def test_codec_trains_and_decodes_exactly(kw):
    m = _codec(**kw)
    h = _h(5)
    side = h if m.side_info else None
    out = m(h, side, training=True)
    assert _np(out["bits"]).shape == (5,) and np.isfinite(_np(out["aux_loss"]))
    assert np.isfinite(float(_np(m.training_loss(h, side))))
    with pytest.raises(RuntimeError, match="freeze"):
        m.compress(h)
    m.freeze()
    payload = m.compress(h)
    assert isinstance(payload, VariableLengthBits) and payload.bits.dtype == np.uint8
    # the BS decodes exactly the UE's quantised latents: the same estimate as the model's hard pass
    x, _ = m.pack(h)
    want = _np(m.forward_packed(x, m.pack_side_info(side))["x_hat"])
    got = _np(m.decompress_packed(payload, m.pack_side_info(side)))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert _np(m.decompress(payload, side)).shape == (5, N, F)
    if m.dither_seed is not None:  # the report number is part of the dither: another one decodes differently
        other = _np(m.decompress_packed(payload, m.pack_side_info(side), first_report=1))
        assert not np.allclose(other, want, atol=1e-5)
    # actual bits: the ideal code length of the frozen tables plus a bit or two
    info = m.information_bits(x)
    assert np.all(payload.num_bits <= np.ceil(info) + 3)


def test_codec_rate_adaptive_budget():
    m = _codec(entropy_model="hyperprior", num_latents=12)
    m.freeze()
    h = _h(6, seed=4)
    free = m.compress(h)
    budget = int(np.median(free.num_bits)) - 10
    capped = m.compress(h, max_bits=budget)
    fits = capped.num_bits <= budget
    levels = m.last_levels
    assert fits.mean() > 0.5 and levels.min() >= 0 and levels.max() < RATE_LEVELS
    assert (levels[~fits] == RATE_LEVELS - 1).all()  # only the coarsest level may overrun
    assert (capped.num_bits[fits] > budget - 40).all()  # the finest level that fits, not far below
    est = _np(m.decompress(capped, rate_adaptive=True))
    assert est.shape == (6, N, F) and np.isfinite(est.view("float32")).all()
    # level 0 decodes to the same symbols as without the budget; coarser levels within half a bin
    fine = m.decode_symbols(free)
    coarse = m.decode_symbols(capped, rate_adaptive=True)
    for b in range(6):
        _, ranks = m._y_tables(m._symbols(m.pack(h[b:b + 1])[0])[1][0] if m.entropy_model == "hyperprior" else None,
                               m._coder())
        steps = m.grid_steps(int(levels[b]), ranks)
        assert (np.abs(coarse[b] - fine[b]) <= steps // 2).all()
        np.testing.assert_array_equal(coarse[b][steps == 1], fine[b][steps == 1])


def test_codec_bad_input():
    m = _codec(entropy_model="factorized")
    m.freeze()
    with pytest.raises(TypeError, match="VariableLengthBits"):
        m.decompress(np.zeros((2, 10), np.int32))
    with pytest.raises(NotImplementedError, match="coded uplink"):
        m(_h(2), training=True, channel=lambda b: b)
    with pytest.raises(ValueError, match="entropy_model"):
        EntropyCodec(entropy_model="laplace", input_size=(N, T))
    h = _h(2)
    h[0] = 0
    with pytest.raises(ValueError, match="all-zero"):
        m.compress(h)


def test_eigen_report_is_header_then_range_code():
    """eigen: each report starts with the centring beam and the kept beams' index (fixed length,
    counted in the rate), then the range-coded latents; a truncated report or a corrupted header
    raises; the rate-adaptive mode keeps the header."""
    m = _codec(entropy_model="factorized", architecture="eigen", kept_beams=3, num_subbands=3, hidden_width=16,
               num_latents=8)
    m.freeze()
    h = _h(4, seed=9)
    x, _ = m.pack(h)
    _, beam, kept = m._encode_eigen(x)
    head = _np(m._encode_header(beam, kept))
    assert m.header_bits == m.beam_bits + m.select_bits == head.shape[1] > 0
    p = m.compress(h)
    for b in range(4):
        np.testing.assert_array_equal(p.report(b)[:m.header_bits], head[b])
    est = _np(m.rate_bits(m.encode_latent(x)))
    assert np.all(np.abs(p.num_bits - est) < 4) and np.all(est > m.header_bits)
    np.testing.assert_allclose(m.information_bits(x), est, rtol=1e-3)
    short = VariableLengthBits(p.bits[:, :m.header_bits - 1], np.full(4, m.header_bits - 1))
    with pytest.raises(CodingError, match="header"):
        m.decompress(short)
    # a report may end right after its header: the range coder reads missing bits as zeros
    assert m.decode_symbols(VariableLengthBits(p.bits[:, :m.header_bits], np.full(4, m.header_bits))).shape == (4, 8)
    bad = VariableLengthBits(p.bits.copy(), p.num_bits.copy())
    bad.bits[:, m.beam_bits:m.header_bits] = 1  # all-ones: no set of kept beams has this index
    with pytest.raises(ValueError, match="corrupted report"):
        m.decompress(bad)
    capped = m.compress(h, max_bits=m.header_bits + 12)
    assert _np(m.decompress(capped, rate_adaptive=True)).shape == (4, N, F)
    for b in range(4):
        np.testing.assert_array_equal(capped.report(b)[:m.header_bits], head[b])
    with pytest.raises(ValueError, match="header"):
        m.compress(h, max_bits=m.header_bits)
    with pytest.raises(ValueError, match="encoder"):
        _codec(architecture="eigen", encoder="attention")
    with pytest.raises(ValueError, match="sgcs_weight"):
        _codec(architecture="eigen", sgcs_weight=1.0)


def test_budget_trained_model_codes_within_its_budget():
    """max_bits: the training loss adds a hinge on each report's length over the budget (less the
    level symbol's 4 bits), and compress/decompress default to the rate-adaptive mode at it."""
    from sionna_csifb.models.entropy_codec import CAP_MARGIN_BITS

    h = _h(6, seed=4)
    free = _codec(entropy_model="hyperprior", num_latents=12)
    free.freeze()
    budget = int(np.median(free.compress(h).num_bits)) - 6
    m = _codec(entropy_model="hyperprior", num_latents=12, max_bits=budget, cap_weight=0.5)
    assert m.get_config()["max_bits"] == budget and EntropyCodec.from_config(m.get_config()).max_bits == budget
    x = m.pack(h)[0]
    keras.utils.set_random_seed(1)
    out = m.forward_packed(x, training=True)
    bits = _np(out["bits"])
    over = np.maximum(bits - (budget - CAP_MARGIN_BITS), 0).mean()
    assert over > 0
    np.testing.assert_allclose(float(_np(out["aux_loss"])), 3e-4 * bits.mean() + 0.5 * over, rtol=1e-4)
    m.freeze()
    p = m.compress(h)
    assert (p.num_bits <= budget).mean() > 0.5
    for b in range(6):  # the same reports as an explicit budget, decoded in the rate-adaptive mode
        np.testing.assert_array_equal(p.report(b), m.compress(h, max_bits=budget).report(b))
    np.testing.assert_array_equal(_np(m.decompress(p)), _np(m.decompress(p, rate_adaptive=True)))
    with pytest.raises(ValueError, match="max_bits"):
        _codec(max_bits=0)
    with pytest.raises(ValueError, match="cap_weight"):
        _codec(cap_weight=float("nan"))


def test_weights_roundtrip_keeps_tables_and_fingerprint(tmp_path):
    m = _codec(entropy_model="hyperprior")
    m.freeze()
    path = tmp_path / "m.weights.h5"
    m.save_weights(path)
    m2 = _codec(entropy_model="hyperprior")
    assert not m2.frozen and m2.fingerprint() != m.fingerprint()
    m2.load_weights(path)
    assert m2.frozen and m2.fingerprint() == m.fingerprint()
    h = _h(4, seed=7)
    p = m.compress(h)
    np.testing.assert_array_equal(m2.compress(h).bits, p.bits)
    np.testing.assert_allclose(_np(m2.decompress(p)), _np(m.decompress(p)), rtol=1e-6)


# ---- stored reports ------------------------------------------------------------------------------
def test_report_file_roundtrip_and_fuzz():
    m = _codec(entropy_model="hyperprior")
    m.freeze()
    h = _h(8, seed=5)
    p = m.compress(h)
    fp = m.fingerprint()
    blob = pack_reports(p, fp)
    q, meta = unpack_reports(blob, fp)
    np.testing.assert_array_equal(q.bits, p.bits)
    np.testing.assert_array_equal(q.num_bits, p.num_bits)
    with pytest.raises(ReportFormatError, match="not by this model"):
        unpack_reports(blob, "f" * 16)
    rng = np.random.default_rng(6)
    errors = 0
    for i in range(400):  # bit flips, truncations, random bytes: a clear error or a valid decode
        b = bytearray(blob)
        if i % 3 == 0:
            pos = int(rng.integers(0, 8 * len(b)))
            b[pos // 8] ^= 1 << (pos % 8)
        elif i % 3 == 1:
            b = b[: int(rng.integers(0, len(b)))]
        else:
            b = bytearray(rng.integers(0, 256, int(rng.integers(0, 80))).astype(np.uint8).tobytes())
        try:
            q, _ = unpack_reports(bytes(b), fp)
            est = _np(m.decompress(q))
            assert np.isfinite(est.view("float32")).all()
        except (ReportFormatError, CodingError):
            errors += 1
    assert errors == 400  # the checksum catches every corruption of this file


def test_report_file_version_1_reads_without_the_rate_adaptive_flag_only():
    """Version 1 coded the level symbol uniformly: its plain reports read as before, its
    rate-adaptive ones are refused (they would decode to other symbols)."""
    import struct
    import zlib

    from sionna_csifb.entropy.report_file import VERSION

    p = VariableLengthBits.from_list([np.array([1, 0, 1], np.uint8)])
    fp = "0123456789abcdef"

    def as_v1(blob):
        body = bytearray(blob[:-4])
        body[8] = 1
        return bytes(body) + struct.pack(">I", zlib.crc32(bytes(body)))

    assert VERSION == 2
    q, meta = unpack_reports(as_v1(pack_reports(p, fp)), fp)
    assert meta["version"] == 1 and q.report(0).tolist() == [1, 0, 1]
    with pytest.raises(ReportFormatError, match="version-1 file of rate-adaptive"):
        unpack_reports(as_v1(pack_reports(p, fp, rate_adaptive=True)), fp)
    body = bytearray(pack_reports(p, fp)[:-4])
    body[8] = 3
    with pytest.raises(ReportFormatError, match="version 3"):
        unpack_reports(bytes(body) + struct.pack(">I", zlib.crc32(bytes(body))))


def test_level_symbol_is_cheap_at_the_finest_level():
    """The rate-adaptive level symbol costs under half a bit at level 0 (what nearly every held
    report sends), and a report at level 0 is the plain report plus about that."""
    from sionna_csifb.models.entropy_codec import LEVEL_PROBABILITIES, level_bits, level_table

    assert abs(sum(LEVEL_PROBABILITIES) - 1) < 1e-12 and len(LEVEL_PROBABILITIES) == RATE_LEVELS
    assert level_bits(0) < 0.5 and 2.9 < level_bits(1) < 3.1 and level_table().sum() == 1 << 16
    m = _codec(entropy_model="hyperprior", num_latents=12)
    m.freeze()
    h = _h(16, seed=7)
    plain, held = m.compress(h), m.compress(h, max_bits=10_000)
    assert (m.last_levels == 0).all()
    extra = held.num_bits - plain.num_bits
    assert extra.mean() < 1.5  # (a uniform symbol: 3.6; per report the coder's termination varies by a few bits)


def test_eigen_linear_path_starts_as_a_klt_transform_coder():
    """linear_path adds a linear map to the latents and back; init_linear_path makes it the KLT of
    the kept beams' coefficients (decorrelated latents, exact inverse when every component is kept)
    with the MLPs' outputs at zero, so the untrained model is that linear coder; errors are clear."""
    from sionna_csifb.models.csinet import QuantizedAutoencoder

    m = _codec(architecture="eigen", kept_beams=2, num_subbands=2, hidden_width=8, num_latents=8, side_info=False,
               linear_path=True, target_bits=40.0)
    x, _ = m.pack(keras.ops.convert_to_tensor(_h(64)))
    f = m.linear_path_features(x)
    assert f.shape == (64, 2 * 2 * 2)
    step = m.init_linear_path(f)
    assert step > 0
    y = _np(m.encode_latent(x))
    np.testing.assert_allclose(y, (f - f.mean(0)) @ _np(m.enc_linear.kernel).astype("float64"), atol=1e-4)
    cov = np.cov(y, rowvar=False)
    np.testing.assert_allclose(cov - np.diag(np.diag(cov)), 0.0, atol=1e-3 * np.abs(cov).max())
    back = _np(m.dec_linear(keras.ops.convert_to_tensor(y.astype("float32"))))
    np.testing.assert_allclose(back, f, atol=1e-4)  # all 8 components kept: exact inverse
    assert m.get_config()["linear_path"] is True
    assert EntropyCodec.from_config(m.get_config()).linear_path
    with pytest.raises(ValueError, match=r"\[samples, 8\]"):
        m.init_linear_path(f[:, :5])
    with pytest.raises(ValueError, match="finite"):
        m.init_linear_path(np.full_like(f, np.nan))
    with pytest.raises(ValueError, match="more samples"):
        m.init_linear_path(f[:4])
    with pytest.raises(ValueError, match="no linear path"):
        _codec(architecture="eigen", kept_beams=2, num_subbands=2, hidden_width=8, side_info=False).init_linear_path(f)
    with pytest.raises(ValueError, match="eigen"):
        _codec(linear_path=True)
    fixed = QuantizedAutoencoder("eigen", num_bits=29, bits_per_value=4, input_size=(N, T), num_subcarriers=F,
                                 num_subbands=2, hidden_width=8, kept_beams=2, side_info=False, linear_path=True)
    with pytest.raises(ValueError, match="fixed-rate"):
        fixed.init_linear_path(f)


# ---- range-coded kept beams ------------------------------------------------------------------------
def test_beam_set_model_codes_every_set_and_learns_the_common_ones():
    """The uniform tables cost log2 C(N - 1, L - 1) bits for every set (the index's length); fitted
    tables make the training sets cheap and still code any set, decoded exactly."""
    import math

    from sionna_csifb.entropy.beam_prior import BeamSetModel

    n, k = 12, 4
    bm = BeamSetModel(n, k)
    rng = np.random.default_rng(0)
    sets = np.array([np.concatenate([[0], rng.choice(np.arange(1, n), k - 1, replace=False)]) for _ in range(40)])
    uni = bm.uniform()
    ideal = math.log2(math.comb(n - 1, k - 1))
    np.testing.assert_allclose(_np(bm.bits(keras.ops.convert_to_tensor(sets.astype("int32")), uni)), ideal, atol=0.01)
    near = np.array([[0, 1, n - 1, 2]] * 90 + [[0, 1, 2, 3]] * 10)  # beams next to the centring one
    tab = bm.fit(near)
    cheap = _np(bm.bits(keras.ops.convert_to_tensor(near[:1].astype("int32")), tab))[0]
    assert cheap < 1.0 < ideal
    for row in [*sets[:10], near[0], near[-1]]:  # unseen sets too: more bits, decoded exactly
        bits = encode_segments(bm.segments(row, tab))
        from sionna_csifb.entropy.coding import decode_sequential
        got = bm.beams_from_segments(decode_sequential(bits, bm.table_fns(tab)))
        assert sorted(got.tolist()) == sorted(row.tolist()) and got[0] == 0
        segs = bm.segments(row, tab)
        info = sum(information_bits(sym, t) for sym, t in segs if len(sym))
        assert len(bits) <= np.ceil(info) + 2
    with pytest.raises(ValueError, match="bin 0"):
        bm.flags(np.array([[1, 2, 3, 4]]))
    with pytest.raises(ValueError, match=r"\[n, 4\]"):
        bm.flags(np.array([[0, 1, 2]]))
    with pytest.raises(ValueError, match="num_kept"):
        BeamSetModel(8, 1)


def test_eigen_beam_coding_range_codes_the_kept_beams(tmp_path):
    """beam_coding='entropy': the fixed header is the centring beam alone, the kept beams are range
    coded first (their cost in the rate and in information_bits), fitted tables travel with the
    weights, and the BS decodes the same estimate; the rate-adaptive mode works alike."""
    kw = dict(architecture="eigen", kept_beams=3, num_subbands=3, hidden_width=16, num_latents=8,
              entropy_model="factorized")
    m = _codec(beam_coding="entropy", **kw)
    ref = _codec(**kw)
    assert m.header_bits == m.beam_bits < ref.header_bits and m.get_config()["beam_coding"] == "entropy"
    assert "beam_coding" not in ref.get_config()  # (earlier models keep their fingerprints)
    h = _h(6, seed=3)
    x, _ = m.pack(h)
    kept = m.kept_beams_of(x)
    bits = m.fit_beam_prior(np.concatenate([kept] * 20))
    assert bits < ref.select_bits
    with pytest.raises(ValueError, match="kept"):
        m.rate_bits(m.encode_latent(x))
    est = _np(m.estimate_bits(x))
    assert np.all(est > m.header_bits)
    m.freeze()
    p = m.compress(h)
    np.testing.assert_allclose(m.information_bits(x), est, rtol=1e-3)
    assert np.all(p.num_bits <= np.ceil(m.information_bits(x)) + 3)
    want = _np(m.forward_packed(x)["x_hat"])
    np.testing.assert_allclose(_np(m.decompress_packed(p)), want, rtol=1e-5, atol=1e-5)
    _, _, got_kept = m.decode_symbols(p, with_header=True)
    np.testing.assert_array_equal(got_kept, kept)
    capped = m.compress(h, max_bits=int(np.median(p.num_bits)) - 4)
    assert _np(m.decompress(capped, rate_adaptive=True)).shape == (6, N, F)
    m2 = _codec(beam_coding="entropy", **kw)
    path = tmp_path / "m.weights.h5"
    m.save_weights(path)
    m2.load_weights(path)
    assert m2.fingerprint() == m.fingerprint()
    np.testing.assert_array_equal(m2.compress(h).bits, p.bits)
    with pytest.raises(ValueError, match="kept_beams >= 2"):
        _codec(beam_coding="entropy")
    with pytest.raises(ValueError, match="kept_beams >= 2"):
        _codec(beam_coding="entropy", architecture="eigen", num_subbands=3, hidden_width=16)
    with pytest.raises(ValueError, match="beam_coding"):
        _codec(beam_coding="huffman", **kw)
    with pytest.raises(ValueError, match="index"):
        ref.fit_beam_prior(kept)

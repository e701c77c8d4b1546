"""UE-side latent refinement of an entropy-coded model: the reports stay decodable by the BS's
unchanged decoder, score no worse on the model's own objective, and bad settings raise."""

import keras
import numpy as np
import pytest
from keras import ops

from sionna_csifb.models.entropy_codec import EntropyCodec, level_bits
from sionna_csifb.models.refinement import LatentRefinement, budget_candidates, calibrate_rate_scale, refine_latents

from ..codec.test_codec_layers import F, N, T, _h, _np


def _model(**kw):
    keras.utils.set_random_seed(0)
    cfg = dict(num_latents=8, input_size=(N, T), num_subcarriers=F, entropy_model="hyperprior",
               architecture="eigen", kept_beams=3, num_subbands=3, hidden_width=16)
    m = EntropyCodec(**{**cfg, **kw})
    m.freeze()
    return m


def _objective(m, x, latent, beam, kept):
    """distortion + lambda x bits of the rounded latents, per report (what refinement lowers)."""
    t_hat = m.received_axis(m.to_axis(latent))
    x_hat = m.decode_latent(m.from_axis(t_hat), None, beam=beam, kept=kept)
    lam = float(_np(m.lagrange.value))
    return _np(m.report_distortion(x_hat, x)) + lam * _np(m.rate_bits(latent, kept=kept))


@pytest.mark.parametrize("kw", [{}, {"dither_seed": 3}], ids=["plain", "dithered"])
def test_refined_reports_decode_and_score_no_worse(kw):
    m = _model(**kw)
    h = _h(6, seed=4)
    x, _ = m.pack(h)
    latent, beam, kept = m._encode_parts(x)
    refined = refine_latents(m, x, latent, beam, kept, LatentRefinement(steps=15, learning_rate=0.2))
    before, after = _objective(m, x, latent, beam, kept), _objective(m, x, refined, beam, kept)
    assert np.all(after <= before + 1e-5) and np.any(after < before - 1e-4)

    # set on the model: compress carries the refined latents, the unchanged decoder reads them
    base = m.compress(h)
    m.latent_refinement = LatentRefinement(steps=15, learning_rate=0.2)
    p = m.compress(h)
    assert not np.array_equal(p.bits, base.bits)
    got = _np(m.decompress_packed(p))
    t_hat = m.received_axis(m.to_axis(refined))
    want = _np(m.decode_latent(m.from_axis(t_hat), None, beam=beam, kept=kept))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    assert _np(m.decompress(p)).shape == (6, N, F)
    info = m.information_bits(x)  # the refined latents' ideal code length, a bit or two below the report
    assert np.all(p.num_bits <= np.ceil(info) + 3)
    m.latent_refinement = None
    np.testing.assert_array_equal(m.compress(h).bits, base.bits)


@pytest.mark.parametrize("kw", [{}, {"dither_seed": 3}], ids=["plain", "dithered"])
def test_coordinate_search_only_lowers_each_reports_objective(kw):
    m = _model(**kw)
    x, _ = m.pack(_h(6, seed=7))
    latent, beam, kept = m._encode_parts(x)
    adam = refine_latents(m, x, latent, beam, kept, LatentRefinement(steps=5, learning_rate=0.2, search_sweeps=0))
    searched = refine_latents(m, x, latent, beam, kept, LatentRefinement(steps=5, learning_rate=0.2, search_sweeps=2))
    before, after = _objective(m, x, adam, beam, kept), _objective(m, x, searched, beam, kept)
    assert np.all(after <= before + 1e-6) and np.any(after < before - 1e-4)
    # the searched latents stay on the symbol grid the coder sends (within the clip range)
    t = _np(m.received_axis(m.to_axis(searched)))
    assert np.all(np.abs(t) <= m.amplitude + 1.0)


@pytest.mark.parametrize("kw", [{}, {"dither_seed": 3}], ids=["plain", "dithered"])
def test_refined_reports_held_to_a_budget_fit_decode_and_beat_the_encoders(kw):
    m = _model(**kw)
    h = _h(8, seed=9)
    x, _ = m.pack(h)
    budget = int(np.median(m.compress(h).num_bits)) + 4  # about half fit as encoded, with the level symbol
    plain = m.compress(h, max_bits=budget)
    plain_levels = m.last_levels.copy()
    assert m.last_candidates is None
    r = LatentRefinement(steps=15, learning_rate=0.2, budget_scales=(0.5, 2.0))
    m.latent_refinement = r
    p = m.compress(h, max_bits=budget)
    assert np.all(p.num_bits <= budget)
    chosen = m.last_candidates
    assert chosen.shape == (8,) and set(chosen.tolist()) <= {-1, 0, 1, 2}
    assert np.all((chosen >= 0) == (m.last_levels == 0))

    # the BS decodes them in the rate-adaptive mode, unchanged: each is the chosen candidate's
    latent, beam, kept = m._encode_parts(x)
    cands, dist = budget_candidates(m, x, latent, beam, kept, r, bit_cap=budget - level_bits(0))
    assert dist.shape == (3, 8)
    got = _np(m.decompress_packed(p, rate_adaptive=True))
    for b in np.flatnonzero(chosen >= 0):
        y = cands[chosen[b]][b:b + 1]
        want = _np(m.decode_latent(m.from_axis(m.received_axis(m.to_axis(y), int(b))), None,
                                   beam=beam[b:b + 1], kept=kept[b:b + 1]))
        np.testing.assert_allclose(got[b:b + 1], want, rtol=1e-4, atol=1e-4)
    # where the encoder's report fit as it was, the one sent decodes no worse (it was a candidate)
    d_plain = _np(m.report_distortion(ops.convert_to_tensor(_np(m.decompress_packed(plain, rate_adaptive=True))), x))
    d_sent = _np(m.report_distortion(ops.convert_to_tensor(got), x))
    fit = plain_levels == 0
    assert fit.any() and np.all(d_sent[fit] <= d_plain[fit] + 1e-5)


def test_budget_cap_pushes_refined_reports_under_it():
    m = _model()
    x, _ = m.pack(_h(6, seed=2))
    latent, beam, kept = m._encode_parts(x)
    r = LatentRefinement(steps=20, learning_rate=0.2, rate_scale=0.25)
    free = _np(m.rate_bits(refine_latents(m, x, latent, beam, kept, r), kept=kept))
    cap = float(np.min(free)) - 2.0
    capped = _np(m.rate_bits(refine_latents(m, x, latent, beam, kept, r, bit_cap=cap), kept=kept))
    assert np.mean(np.maximum(capped - cap, 0)) < np.mean(np.maximum(free - cap, 0))


def test_manifest_blocks_without_search_sweeps_predate_the_search():
    r = LatentRefinement.from_manifest({"steps": 4, "learning_rate": 0.1, "rate_scale": 1.2, "target_bits": 9.0})
    assert r == LatentRefinement(steps=4, learning_rate=0.1, rate_scale=1.2, search_sweeps=0)
    assert LatentRefinement.from_manifest({**r.to_dict(), "search_sweeps": 2}).search_sweeps == 2


def test_rate_scale_trades_bits_and_calibration_finds_a_target():
    m = _model()
    h = _h(8, seed=5)
    x, _ = m.pack(h)
    bits = {}
    for s in (0.5, 8.0):
        m.latent_refinement = LatentRefinement(steps=20, learning_rate=0.2, rate_scale=s)
        bits[s] = float(np.mean(_np(m.estimate_bits(x))))
    m.latent_refinement = None
    assert bits[8.0] < bits[0.5]
    target = 0.5 * (bits[0.5] + bits[8.0])
    s, b = calibrate_rate_scale(m, h, target, LatentRefinement(steps=20, learning_rate=0.2), iterations=5)
    assert 0.5 <= s <= 8.0 and abs(b - target) <= abs(bits[0.5] - target)
    assert m.latent_refinement is None  # calibration leaves the model as it was


def test_refinement_bad_settings():
    with pytest.raises(ValueError, match="learning_rate"):
        LatentRefinement(learning_rate=float("nan"))
    with pytest.raises(ValueError, match="search_sweeps"):
        LatentRefinement(search_sweeps=-1)
    for bad in ((), (0.5, -1.0), "0.5", (float("inf"),)):
        with pytest.raises(ValueError, match="budget_scales"):
            LatentRefinement(budget_scales=bad)
    assert LatentRefinement.from_dict(LatentRefinement(budget_scales=[1, 2]).to_dict()).budget_scales == (1.0, 2.0)
    with pytest.raises(ValueError, match="unknown keys"):
        LatentRefinement.from_dict({"steps": 3, "lr": 0.1})
    m = _model()
    with pytest.raises(TypeError, match="LatentRefinement"):
        m.latent_refinement = {"steps": 3}
    si = _model(side_info=True)
    with pytest.raises(ValueError, match="UL CSI"):
        si.latent_refinement = LatentRefinement(steps=2)
    x, _ = si.pack(_h(2))
    with pytest.raises(ValueError, match="UL CSI"):
        refine_latents(si, x, ops.zeros((2, 8)))

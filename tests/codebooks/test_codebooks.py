import math

import numpy as np
import pytest
import torch

from sionna_csifb.codebooks.common import (
    BitReader,
    BitWriter,
    comb_bits,
    comb_index,
    comb_unindex,
    dft_beams,
    expand_subbands,
    subband_eigvecs,
)
from sionna_csifb.codebooks.etype2 import EType2Config, etype2_decode, etype2_encode, etype2_unquantized
from sionna_csifb.codebooks.type1 import type1_payload_bits, type1_precoders, type1_select
from sionna_csifb.csi.generator import CSIGenerator
from sionna_csifb.csi.scenario import get_scenario


@pytest.fixture(scope="module")
def cdl():
    t, _ = CSIGenerator(get_scenario("paper-cdl-c"))(24, seed=3).normalized()
    return t


def _sgcs(v, w):
    return ((v.conj() * w).sum(-1).abs().pow(2) / (v.norm(dim=-1) * w.norm(dim=-1)).pow(2)).mean().item()


class TestCommon:
    def test_dft_beams_unit_norm_and_orthogonal_groups(self):
        a = dft_beams(32, 4)
        assert a.shape == (128, 32)
        np.testing.assert_allclose(a.norm(dim=1).numpy(), 1.0, rtol=1e-6)
        g = a[torch.arange(32) * 4 + 1]  # one rotation: an orthonormal basis
        np.testing.assert_allclose((g @ g.conj().T).numpy(), np.eye(32), atol=1e-5)

    def test_comb_index_is_a_bijection(self):
        seen = {comb_index(s, 6) for s in ([0, 1], [0, 5], [2, 3], [4, 5], [1, 4])}
        assert len(seen) == 5 and max(seen) < math.comb(6, 2)
        for idx in range(math.comb(7, 3)):
            assert comb_index(comb_unindex(idx, 7, 3), 7) == idx
        assert comb_bits(32, 4) == 16 and comb_bits(32, 32) == 0

    def test_bit_fields_round_trip_and_truncation(self):
        w = BitWriter()
        w.write(5, 3)
        w.write(0, 2)
        w.write(1023, 10)
        r = BitReader(w.bits)
        assert (r.read(3), r.read(2), r.read(10)) == (5, 0, 1023)
        with pytest.raises(ValueError, match="truncated"):
            r.read(1)
        with pytest.raises(ValueError, match="does not fit"):
            BitWriter().write(8, 3)

    def test_expand_subbands_mrt_gives_back_precoder(self):
        w = torch.randn(2, 3, 4, dtype=torch.complex64)
        h_hat = expand_subbands(w, 10)
        assert h_hat.shape == (2, 4, 10)
        np.testing.assert_allclose(h_hat.abs().pow(2).mean((1,)).numpy(), 1.0, rtol=1e-5)
        mrt = h_hat.conj() / h_hat.norm(dim=1, keepdim=True)
        np.testing.assert_allclose(mrt[:, :, 0].numpy(), (w[:, 0] / w[:, 0].norm(dim=-1, keepdim=True)).numpy(),
                                   atol=1e-6)


class TestType1:
    def test_payload_bits(self):
        assert type1_payload_bits(32, 13, False) == 7
        assert type1_payload_bits(32, 13, True) == 32

    @pytest.mark.parametrize("m", [0, 17, 77, 127])
    def test_pmi_round_trip_noise_free(self, m):
        a = dft_beams(32, 4)
        h = a[m].conj()[None, :, None].expand(1, 32, 26).contiguous()  # |h^T a_m| is maximal
        i1, i2 = type1_select(h, 13, subband=False)
        assert int(i1) == m
        w = type1_precoders(i1, i2, 32, subband=False)
        assert _sgcs(w, a[m].expand(13, 32)[None]) == pytest.approx(1.0, abs=1e-6)

    def test_subband_not_worse_than_wideband(self, cdl):
        v = subband_eigvecs(cdl.x, 13)
        s = []
        for sb in (False, True):
            i1, i2 = type1_select(cdl.x, 13, sb)
            s.append(_sgcs(v, type1_precoders(i1, i2, 32, sb)))
        assert s[1] >= s[0] - 1e-6


class TestEType2:
    def test_payload_bits_match_spec_formulas(self):
        bits = [EType2Config.from_param_combination(pc, 32, 13).payload_bits for pc in range(1, 9)]
        assert bits == [65, 94, 118, 175, 232, 286, 252, 337]

    def test_uncompressed_limit_is_exact(self, cdl):
        v = subband_eigvecs(cdl.x, 13)
        assert _sgcs(v, etype2_unquantized(v, 32, 13)) == pytest.approx(1.0, abs=1e-6)

    def test_encoder_ignores_per_subband_phases(self, cdl):
        v = subband_eigvecs(cdl.x, 13)
        ph = torch.polar(torch.ones(v.shape[:2]), torch.rand(v.shape[:2]) * 2 * math.pi)[..., None]
        cfg = EType2Config.from_param_combination(3, 32, 13)
        assert torch.equal(etype2_encode(v, cfg), etype2_encode(v * ph.to(v.dtype), cfg))

    def test_phase_alignment_matters(self, cdl):
        from sionna_csifb.codebooks import etype2

        v = subband_eigvecs(cdl.x, 13)
        ph = torch.polar(torch.ones(v.shape[:2]), torch.rand(v.shape[:2]) * 2 * math.pi)[..., None].to(v.dtype)
        aligned = _sgcs(v, etype2_unquantized(v * ph, 8, 4))
        orig = etype2._align_phases
        try:
            etype2._align_phases = lambda x: x
            raw = _sgcs(v, etype2_unquantized(v * ph, 8, 4))
        finally:
            etype2._align_phases = orig
        assert aligned > raw + 0.1, (aligned, raw)

    def test_more_bits_better(self, cdl):
        v = subband_eigvecs(cdl.x, 13)
        s = []
        for pc in (1, 3, 6):
            cfg = EType2Config.from_param_combination(pc, 32, 13)
            s.append(_sgcs(v, etype2_decode(etype2_encode(v, cfg), cfg)))
        assert s[0] < s[1] < s[2], s

    def test_quantisation_costs_little(self, cdl):
        v = subband_eigvecs(cdl.x, 13)
        cfg = EType2Config.from_param_combination(6, 32, 13)
        q = _sgcs(v, etype2_decode(etype2_encode(v, cfg), cfg))
        u = _sgcs(v, etype2_unquantized(v, cfg.num_beams, cfg.num_fd))
        assert 0 <= u - q < 0.06, (u, q)

    def test_corrupted_and_truncated_bitstreams(self, cdl):
        v = subband_eigvecs(cdl.x[:2], 13)
        cfg = EType2Config.from_param_combination(1, 32, 13)
        bits = etype2_encode(v, cfg)
        with pytest.raises(ValueError, match=r"\[batch, 65\]"):
            etype2_decode(bits[:, :40], cfg)
        bad = bits.clone()
        start = 2 + 16 + 8  # the bitmap
        bad[:, start:start + 16] = 1
        with pytest.raises(ValueError, match="corrupted PMI"):
            etype2_decode(bad, cfg)

    def test_bad_param_combination(self):
        with pytest.raises(ValueError, match="param_combination"):
            EType2Config.from_param_combination(9, 32, 13)

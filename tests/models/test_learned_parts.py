import json
import math

import keras
import numpy as np
import pytest
import torch

from sionna_csifb.diffusion.samplers import ddim_sample
from sionna_csifb.diffusion.schedules import CosineSchedule
from sionna_csifb.layers.blocks import ConditionalUNet, LinearAttention, ResnetBlock
from sionna_csifb.models.csinet import QuantizedAutoencoder
from sionna_csifb.models.diffusion_codec import DiffusionCodec
from sionna_csifb.quantization.scalar import UniformQuantizer
from sionna_csifb.quantization.vector import VectorQuantizer, bits_to_indices, indices_to_bits

TINY = dict(num_bits=8, input_size=(8, 8), encoder_channels=(8, 8), cond_channels=4, unet_width=8,
            unet_mults=(1, 2), seed=0)


def _h(b, n=8, f=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, n, f, dtype=torch.complex64, generator=g)


def _round_trip(layer_or_model):
    cfg = json.loads(json.dumps(layer_or_model.get_config()))
    return type(layer_or_model).from_config(cfg).get_config() == layer_or_model.get_config()


class TestLayers:
    @pytest.mark.parametrize("layer", [ResnetBlock(8, True), LinearAttention(2, 4),
                                       ConditionalUNet(8, (1, 2), 2, attention_levels=[1])])
    def test_config_round_trip(self, layer):
        assert _round_trip(layer)

    def test_unet_needs_divisible_input_and_gives_gradients(self):
        net = ConditionalUNet(8, (1, 2), 2)
        x = torch.randn(2, 8, 8, 3, requires_grad=True)
        net(x, torch.ones(2)).sum().backward()
        assert x.grad is not None and float(x.grad.abs().sum()) > 0


class TestVectorQuantizer:
    def test_nearest_and_straight_through(self):
        vq = VectorQuantizer(4, 2, seed=1)
        c = torch.randn(3, 5, 2, requires_grad=True)
        out = vq(c)
        cb = keras.ops.convert_to_numpy(vq.codebook)
        d = ((c.detach().numpy()[..., None, :] - cb) ** 2).sum(-1)
        assert np.array_equal(keras.ops.convert_to_numpy(out["indices"]), d.argmin(-1))
        np.testing.assert_allclose(out["z_hat"].detach().numpy(), cb[d.argmin(-1)], atol=1e-6)
        out["z_hat"].sum().backward()
        np.testing.assert_allclose(c.grad.numpy(), 1.0)  # straight-through
        e = cb[d.argmin(-1)]
        assert float(out["loss"]) == pytest.approx(2 * ((c.detach().numpy() - e) ** 2).mean(), rel=1e-5)

    def test_bits_round_trip(self):
        idx = torch.randint(0, 16, (3, 7))
        bits = indices_to_bits(idx, 4)
        assert tuple(bits.shape) == (3, 28) and set(np.unique(keras.ops.convert_to_numpy(bits))) <= {0, 1}
        assert np.array_equal(keras.ops.convert_to_numpy(bits_to_indices(bits, 4)), idx.numpy())

    def test_dead_codewords_restart(self):
        vq = VectorQuantizer(4, 2, seed=0)
        vq.build((None, 2))
        vq.codebook.assign(np.array([[0, 0], [50, 50], [60, 60], [70, 70]], dtype="float32"))
        for _ in range(400):
            vq(torch.randn(64, 2) * 0.1, training=True)
        cb = keras.ops.convert_to_numpy(vq.codebook)
        assert np.abs(cb).max() < 5, cb  # the far-away codewords were moved onto the data

    @pytest.mark.parametrize("weight", [0.0, 1.0])
    def test_balance_term_spreads_the_encoder_latents_over_the_codebook(self, weight):
        """90% of the latents start at one of two codewords: with the balance term, gradient
        steps on the codebook and the latents (what the encoder sees) bring the index entropy
        near the bit sent; without it the usage stays as it was."""
        vq = VectorQuantizer(2, 2, seed=0, balance_weight=weight)
        vq.build((None, 2))
        vq.codebook.assign(np.array([[-1, 0], [1, 0]], dtype="float32"))
        g = torch.Generator().manual_seed(0)
        c0 = torch.randn(512, 2, generator=g) * 0.5 + torch.tensor([-1.0, 0.0])
        c0[:51] += torch.tensor([2.0, 0.0])
        c = c0.clone().requires_grad_(True)
        opt = torch.optim.Adam([vq.codebook.value, c], lr=0.05)
        for _ in range(300):
            opt.zero_grad()
            vq(c, training=True)["loss"].backward()
            opt.step()
        p = np.bincount(keras.ops.convert_to_numpy(vq.nearest(c)).ravel(), minlength=2) / 512
        entropy = float(-(p[p > 0] * np.log2(p[p > 0])).sum())
        if weight:
            assert entropy > 0.95 and float(vq.balance(c)) < 0.05
        else:
            assert entropy < 0.6  # the paper's loss leaves the usage as it found it
        assert float(vq(c)["balance"]) == 0.0  # (the term is a training loss only)

    def test_bad_arguments(self):
        with pytest.raises(ValueError, match="balance_weight"):
            VectorQuantizer(4, 2, balance_weight=-1.0)
        with pytest.raises(ValueError, match="power of two"):
            VectorQuantizer(6, 2)
        with pytest.raises(ValueError, match="codeword_dim"):
            VectorQuantizer(4, 3)(torch.zeros(2, 2))


class TestUniformQuantizer:
    def test_levels_and_error(self):
        q = UniformQuantizer(6)
        c = torch.linspace(-1, 1, 1001)[None]
        out = q(c)
        err = (out["z_hat"] - c).abs().max().item()
        assert err <= 1 / 64 + 1e-6 and int(out["indices"].max()) == 63 and int(out["indices"].min()) == 0


class TestDiffusion:
    def test_schedule_matches_paper(self):
        ab = CosineSchedule(4).alphas_bar[1:]
        np.testing.assert_allclose(ab, [0.847, 0.493, 0.144, 1.44e-4], rtol=3e-3)

    def test_sampler_regression(self):
        # dummy denoiser z0_hat = 0.5 z_t + 1 from z_T = 0 with all 4 steps
        out = keras.ops.convert_to_numpy(ddim_sample(lambda z, t: 0.5 * z + 1.0, (1, 2), CosineSchedule(4)))
        ab = CosineSchedule(4).alphas_bar
        z = 0.0
        for t, tn in ((4, 3), (3, 2), (2, 1), (1, 0)):
            z0 = 0.5 * z + 1.0
            if tn == 0:
                break
            z = math.sqrt(ab[tn]) * z0 + math.sqrt(1 - ab[tn]) * (z - math.sqrt(ab[t]) * z0) / math.sqrt(1 - ab[t])
        np.testing.assert_allclose(out, z0, atol=1e-5)

    def test_timesteps_validation(self):
        with pytest.raises(ValueError, match="num_inference_steps"):
            CosineSchedule(4).timesteps(5)


class TestDiffusionCodec:
    def test_bits_shapes_and_config(self):
        m = DiffusionCodec(**TINY)
        x = torch.randn(3, 8, 8, 2)
        bits = m.encode_bits(x)
        assert tuple(bits.shape) == (3, 8) and m.bits_per_index == 2
        assert torch.equal(torch.as_tensor(bits), torch.as_tensor(m.encode_bits(x)))
        assert tuple(m.decode_bits(bits, x, num_inference_steps=1).shape) == (3, 8, 8, 2)
        assert _round_trip(m)

    def test_training_reduces_loss(self):
        keras.utils.set_random_seed(0)
        m = DiffusionCodec(**TINY)
        h = _h(8)
        x = m.pack(h)[0]
        noise = torch.randn(8, 8, 8, 2)
        ab = m.schedule.alphas_bar[2]

        def fixed_loss():  # x0-prediction error at t = 2 with fixed noise
            with torch.no_grad():
                cond = m.condition(m.vq(m.encode_latent(x))["z_hat"])
                z_t = math.sqrt(ab) * x + math.sqrt(1 - ab) * noise
                return float(((m.denoise(z_t, torch.full((8,), 2.0), cond, x) - x) ** 2).mean())

        before = fixed_loss()
        opt = torch.optim.Adam(m.parameters(), 3e-3)
        for _ in range(30):
            loss = m.training_loss(h, h)
            opt.zero_grad()
            loss.backward()
            opt.step()
        assert fixed_loss() < 0.8 * before

    def test_bad_input(self):
        m = DiffusionCodec(**TINY)
        with pytest.raises(ValueError, match=r"\[batch, 8, 8, 2\]"):
            m.encode_bits(torch.zeros(2, 8, 4, 2))
        with pytest.raises(ValueError, match="side_info=True"):
            m.decode_bits(m.encode_bits(torch.zeros(2, 8, 8, 2)))
        with pytest.raises(ValueError, match="multiple"):
            DiffusionCodec(**{**TINY, "num_bits": 6})
        with pytest.raises(ValueError, match=r"\[batch, 8\]"):
            m.decode_bits(torch.zeros(2, 5, dtype=torch.int32), torch.zeros(2, 8, 8, 2))


class TestQuantizedAutoencoder:
    @pytest.mark.parametrize("arch", ["csinet", "crnet"])
    def test_payload_and_training(self, arch):
        keras.utils.set_random_seed(0)
        m = QuantizedAutoencoder(arch, num_bits=64, input_size=(8, 8))
        assert m.payload_bits == 60
        h = _h(16)
        bits = m.compress(h)
        assert tuple(bits.shape) == (16, 60)
        opt = torch.optim.Adam(m.parameters(), 3e-3)
        losses = []
        for _ in range(25):
            loss = m.training_loss(h, h)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
        assert losses[-1] < losses[0]
        assert _round_trip(m)

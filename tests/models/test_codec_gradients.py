"""Gradients through the codec contract (torch backend): the channel hook reaches the encoder."""

import keras
import pytest
import torch

from sionna_csifb.models.csinet import QuantizedAutoencoder
from sionna_csifb.models.diffusion_codec import DiffusionCodec


def _h(b, seed=0):
    return torch.randn(b, 8, 24, dtype=torch.complex64, generator=torch.Generator().manual_seed(seed))


def _encoder_grads(m, h, channel):
    m.zero_grad()
    out = m(h, h, training=True, channel=channel, num_inference_steps=1)
    loss = (out["h_hat"] - h / out["scale"][:, None, None]).abs().pow(2).mean()
    loss.backward()
    enc = m.enc_dense if isinstance(m, QuantizedAutoencoder) else m.enc[0]
    return torch.cat([p.grad.flatten() for p in enc.parameters()])


def test_scalar_surrogate_is_exact_straight_through():
    """Through an identity bit channel the encoder gets exactly the straight-through gradient."""
    keras.utils.set_random_seed(0)
    m = QuantizedAutoencoder("csinet", num_bits=24, input_size=(8, 8), num_subcarriers=24)
    h = _h(4)
    g_ste = _encoder_grads(m, h, None)
    g_bits = _encoder_grads(m, h, lambda b: b)
    assert g_ste.abs().sum() > 0
    torch.testing.assert_close(g_bits, g_ste, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("kind", ["csinet", "diffusion"])
def test_gradient_reaches_encoder_through_a_noisy_channel(kind):
    keras.utils.set_random_seed(0)
    m = (QuantizedAutoencoder("csinet", num_bits=24, input_size=(8, 8), num_subcarriers=24) if kind == "csinet"
         else DiffusionCodec(num_bits=8, input_size=(8, 8), encoder_channels=(8, 8), cond_channels=4, unet_width=8,
                             unet_mults=(1, 2), num_subcarriers=24, seed=0))
    seen = {}

    def bsc_soft(b):  # BPSK over AWGN, soft demapping: P(bit = 1) = sigmoid(LLR)
        s = 1 - 2 * b
        r = s + 0.5 * torch.randn(s.shape, generator=torch.Generator().manual_seed(1))
        seen["bits"] = b
        return torch.sigmoid(-2 * r / 0.25)

    g = _encoder_grads(m, _h(4), bsc_soft)
    assert seen["bits"].requires_grad and float(g.norm()) > 0

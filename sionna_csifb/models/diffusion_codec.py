r"""VQ encoder + conditional diffusion decoder with UL side information (Kim et al. §III).

Input: the measured DL CSI X and (optionally) the UL CSI Y in the angular-delay domain,
real channels-last `[batch, H, W, 2]`; target: the future DL CSI Z (prediction, the
paper's task) or X itself (reconstruction).

* Encoder: two (ResNet block + downsampling) stages, to `[H/4, W/4, latent_dim]`.
* Vector quantiser: each of the (H/4)(W/4) latent vectors -> index into Nv codewords;
  payload (H/4)(W/4) log2(Nv) bits (64 log2 Nv for the paper's 32 x 32 input).
* Decoder: codebook lookup -> two (ResNet block + upsampling) stages to
  `[H, W, cond_channels]`, concatenated with the side information and the noisy target, and a
  time-conditioned U-Net that predicts the clean target (x0-prediction).
* Training loss (eq. 7): $w_t \|z_0 - D_\theta(z_t, c, y, t)\|^2 + \eta L_{cb}$ with
  $w_t = \bar\alpha_t/(1-\bar\alpha_t)$, $t \sim U\{1..T\}$. Our choice: $w_t$ is floored at
  ``min_loss_weight`` (default 0.1) because the sampler's first step (t = T,
  $\bar\alpha_T = 1.4\cdot10^{-4}$) would otherwise get almost no training signal; set it to 0
  for the paper's exact weighting.
* Sampling (eq. 6): deterministic, from $z_T = 0$, with 1..T steps.
"""

from __future__ import annotations

import keras
from keras import ops

from .._validation import check_positive_int
from ..diffusion.samplers import ddim_sample
from ..diffusion.schedules import CosineSchedule, x0_training_step
from ..layers.blocks import ConditionalUNet, Downsample, ResnetBlock, Upsample
from ..quantization.vector import DEAD_THRESHOLD, VectorQuantizer, bits_to_indices, indices_to_bits
from .codec import LearnedCodec, as_bits

__all__ = ["DiffusionCodec"]


@keras.saving.register_keras_serializable(package="sionna_csifb")
class DiffusionCodec(LearnedCodec):
    """VQ encoder + conditional diffusion decoder (see module docstring), a :class:`LearnedCodec`.

    ``call(h, side_info, training=True)`` returns, besides the estimate (from a 1-step sampler
    unless ``num_inference_steps`` is given), the decoder's conditioning so that
    :meth:`objective` can add the eq. (7) denoising term; :meth:`training_loss` skips the
    sampler altogether.

    Args:
        num_bits: int. Payload per sample; must be (H/4)(W/4) times a whole number of bits.
        input_size: tuple (H, W). Angular-delay grid (32, 32) for the paper.
        encoder_channels: tuple (c1, c2). Channels of the two encoder stages; c2 = N_Ebd.
        cond_channels: int. Channels of the decoder output fed to the U-Net (paper: 8).
        unet_width: int. U-Net embedding dimension (paper: 64).
        unet_mults: tuple of int. U-Net channel multipliers (paper: (1, 2, 3, 4)).
        attention_levels: list of int or None. U-Net levels with linear attention (None: all).
        side_info: bool. Condition the U-Net on the UL CSI.
        num_steps: int. Diffusion steps T (paper: 4).
        codebook_weight: float. eta in eq. (7) (paper: 4.5e-4).
        min_loss_weight: float. Floor of the eq. (7) step weight.
        codebook_balance: float. Weight of the VQ's usage-balance term
            (:class:`~sionna_csifb.quantization.vector.VectorQuantizer` ``balance_weight``; 0: the
            paper's loss, whose indices carry far less entropy than the bits sent).
        codebook_restart: float. The VQ's dead-codeword threshold (``dead_threshold``): during
            training a codeword chosen less often than this fraction of the uniform rate restarts
            at a random latent of the batch.
        seed: int or None.
        num_subcarriers: int or None. Subcarriers of the CSI (see :class:`LearnedCodec`).
        window_start: int. First kept delay tap of the crop.

    Examples:
        >>> import numpy as np
        >>> m = DiffusionCodec(num_bits=8, input_size=(8, 8), encoder_channels=(8, 8), cond_channels=4,
        ...                    unet_width=8, unet_mults=(1, 2), num_subcarriers=24, seed=0)
        >>> h = keras.ops.convert_to_tensor(np.ones((2, 8, 24), dtype="complex64"))
        >>> bits = m.compress(h)
        >>> tuple(bits.shape), tuple(m.decompress(bits, h, num_inference_steps=2).shape)
        ((2, 8), (2, 8, 24))
        >>> out = m(h, h, training=True)
        >>> tuple(out["h_hat"].shape), float(m.objective(out, h)) > 0
        ((2, 8, 24), True)
    """

    def __init__(self, num_bits: int = 128, input_size=(32, 32), encoder_channels=(64, 128), cond_channels: int = 8,
                 unet_width: int = 64, unet_mults=(1, 2, 3, 4), attention_levels=None, side_info: bool = True,
                 num_steps: int = 4,
                 codebook_weight: float = 4.5e-4, min_loss_weight: float = 0.1, codebook_balance: float = 0.0,
                 codebook_restart: float = DEAD_THRESHOLD, seed: int | None = None, num_subcarriers: int | None = None, window_start: int = 0, **kwargs) -> None:
        super().__init__(num_subcarriers=num_subcarriers, window_start=window_start, **kwargs)
        self.num_bits = check_positive_int(num_bits, "num_bits")
        self.input_size = tuple(check_positive_int(s, "input_size") for s in input_size)
        if len(self.input_size) != 2 or any(s % 4 for s in self.input_size):
            raise ValueError(f"`input_size` must be (H, W) divisible by 4, got {input_size}.")
        self.num_latents = (self.input_size[0] // 4) * (self.input_size[1] // 4)
        if self.num_bits % self.num_latents:
            raise ValueError(f"`num_bits` must be a multiple of the {self.num_latents} latent vectors, got {num_bits}.")
        self.bits_per_index = self.num_bits // self.num_latents
        if self.bits_per_index > 16:
            raise ValueError(f"`num_bits` gives {self.bits_per_index} bits per latent; at most 16 are supported.")
        self.encoder_channels = tuple(check_positive_int(c, "encoder_channels") for c in encoder_channels)
        self.cond_channels = check_positive_int(cond_channels, "cond_channels")
        self.unet_width = check_positive_int(unet_width, "unet_width")
        self.unet_mults = tuple(int(m) for m in unet_mults)
        self.attention_levels = None if attention_levels is None else [int(i) for i in attention_levels]
        self.side_info = bool(side_info)
        self.num_steps = check_positive_int(num_steps, "num_steps")
        self.codebook_weight = float(codebook_weight)
        self.min_loss_weight = float(min_loss_weight)
        self.codebook_balance = float(codebook_balance)
        self.codebook_restart = float(codebook_restart)
        self.seed = seed
        c1, c2 = self.encoder_channels
        self.enc = [ResnetBlock(c1), Downsample(c1), ResnetBlock(c1), Downsample(c2)]
        self.vq = VectorQuantizer(2 ** self.bits_per_index, c2, seed=seed, balance_weight=self.codebook_balance,
                                 dead_threshold=self.codebook_restart)
        self.dec = [ResnetBlock(c2), Upsample(c1), ResnetBlock(c1), Upsample(self.cond_channels)]
        self.unet = ConditionalUNet(self.unet_width, self.unet_mults, out_channels=2,
                                    attention_levels=self.attention_levels)
        self.schedule = CosineSchedule(self.num_steps)
        self._seed_gen = keras.random.SeedGenerator(seed)
        self._init_packing()

    @property
    def payload_bits(self) -> int:
        return self.num_bits

    # ---- pieces ----------------------------------------------------------------------
    def _check_input(self, x, name):
        shape = tuple(x.shape)
        if len(shape) != 4 or shape[1:] != (*self.input_size, 2):
            raise ValueError(f"`{name}` must be [batch, {self.input_size[0]}, {self.input_size[1]}, 2], got {shape}.")

    def encode_latent(self, x):
        self._check_input(x, "x")
        h = x
        for lyr in self.enc:
            h = lyr(h)
        return h

    def condition(self, z_hat):
        h = z_hat
        for lyr in self.dec:
            h = lyr(h)
        return h

    def denoise(self, z_t, t, cond, y=None):
        parts = [z_t, cond]
        if self.side_info:
            if y is None:
                raise ValueError("This DiffusionCodec was built with side_info=True: pass the UL CSI `y`.")
            self._check_input(y, "y")
            parts.append(y)
        return self.unet(ops.concatenate(parts, axis=-1), t)

    # ---- the codec contract (packed level) ----------------------------------------------
    def forward_packed(self, x, y=None, training=False, channel=None, num_inference_steps=None, sample=True):
        """Differentiable pass: VQ with straight-through gradient (or soft bits through
        ``channel``), conditioning, and ``num_inference_steps`` sampler steps (None: 1 when
        training, all T otherwise; ``sample=False`` skips the sampler)."""
        lat = self.encode_latent(x)
        q = self.vq(lat, training=training)
        z_hat = q["z_hat"]
        if channel is not None:
            z_hat = self.vq.lookup_soft_bits(channel(self.vq.relaxed_bits(lat)), tuple(lat.shape[1:3]))
        cond = self.condition(z_hat)
        steps = num_inference_steps if num_inference_steps is not None else (1 if training else None)
        x_hat = None
        if sample:
            x_hat = ddim_sample(lambda z, t: self.denoise(z, t, cond, y), ops.shape(x), self.schedule, steps)
        return {"x_hat": x_hat, "aux_loss": self.codebook_weight * q["loss"], "vq_loss": q["loss"],
                "cond": cond, "y": y}

    def objective(self, outputs, target):
        """Eq. (7): step-weighted x0-prediction error at a random step t, plus eta * L_cb."""
        z0_true, _ = self.pack(target, "target", scale=outputs["scale"])
        cond, y = outputs["cond"], outputs["y"]
        z_t, t, w = x0_training_step(self.schedule, z0_true, self._seed_gen, self.min_loss_weight)
        z0 = self.denoise(z_t, t, cond, y)
        return ops.mean(w * ops.mean((z0 - z0_true) ** 2, axis=(1, 2, 3))) + outputs["aux_loss"]

    def training_loss(self, h, side_info=None, target=None):
        """Eq. (7) on one batch, without running the sampler."""
        out = self._forward(h, side_info, training=True, sample=False)
        return self.objective(out, self._split(h, None)[0] if target is None else target)

    def compress_packed(self, x):
        return self.encode_bits(x)

    def decompress_packed(self, payload, y=None, num_inference_steps=None):
        return self.decode_bits(as_bits(payload, self.num_bits), y, num_inference_steps=num_inference_steps)

    # ---- coding ----------------------------------------------------------------------
    def encode_bits(self, x):
        """Packed `[batch, H, W, 2]` -> bits `[batch, num_bits]` int32 (latent indices, MSB first)."""
        idx = self.vq.nearest(self.encode_latent(x))
        return indices_to_bits(ops.reshape(idx, (ops.shape(x)[0], -1)), self.bits_per_index)

    def decode_bits(self, bits, y=None, num_inference_steps: int | None = None):
        """bits `[batch, num_bits]` (+ packed UL CSI) -> packed estimate `[batch, H, W, 2]`."""
        if tuple(bits.shape)[1:] != (self.num_bits,):
            raise ValueError(f"`bits` must be [batch, {self.num_bits}], got {tuple(bits.shape)}.")
        b = ops.shape(bits)[0]
        idx = ops.reshape(bits_to_indices(bits, self.bits_per_index),
                          (b, self.input_size[0] // 4, self.input_size[1] // 4))
        cond = self.condition(self.vq.lookup(idx))
        return ddim_sample(lambda z, t: self.denoise(z, t, cond, y), (b, *self.input_size, 2), self.schedule,
                           num_inference_steps)

    def get_config(self):
        return {**super().get_config(), "num_bits": self.num_bits, "input_size": list(self.input_size),
                "encoder_channels": list(self.encoder_channels), "cond_channels": self.cond_channels,
                "unet_width": self.unet_width, "unet_mults": list(self.unet_mults),
                "attention_levels": self.attention_levels, "side_info": self.side_info,
                "num_steps": self.num_steps, "codebook_weight": self.codebook_weight,
                "codebook_balance": self.codebook_balance, "codebook_restart": self.codebook_restart,
                "min_loss_weight": self.min_loss_weight, "seed": self.seed}

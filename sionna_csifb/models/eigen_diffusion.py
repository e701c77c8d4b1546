r"""VQ encoder + conditional diffusion decoder on the phase-aligned subband eigenvectors.

The diffusion codec of Kim et al. (:class:`~sionna_csifb.models.diffusion_codec.DiffusionCodec`)
quantises an 8 x 8 grid of local angular-delay latents with a few bits each. On drops whose
geometry changes from one sample to the next (38.901 UMa) that local VQ cannot say where the
energy is, and the codec stays at the level of sending nothing (SGCS 0.13 at 128 bits,
``benchmarks/results/learned_feedback_uma.md``). This codec keeps the paper's decoder (the
shared :class:`~sionna_csifb.layers.blocks.ConditionalUNet`, the cosine schedule, the
deterministic sampler from :math:`z_T = 0`, eq. (7)'s x0-prediction loss) and changes what is
compressed, as eType II and the AI schemes of TR 38.843 do:

* Representation (:class:`~sionna_csifb.layers.subband_eigen.SubbandEigen`, as the ``eigen``
  :class:`~sionna_csifb.models.csinet.QuantizedAutoencoder`): per-subband eigenvectors, phase
  aligned (a common phase carries nothing for precoding), centred on the strongest oversampled
  DFT beam; the L strongest orthogonal beams are sent as a combinatorial index and only their
  coefficients are compressed. The report header is that model's (beam index, kept beams).
* Encoder: MLPs on the kept coefficients to ``num_indices`` latent vectors of ``codeword_dim``
  values, each sent as the index of its nearest codeword (a global VQ, with the usage-balance
  term and dead-codeword restarts of :class:`~sionna_csifb.quantization.vector.VectorQuantizer`).
* Decoder: MLPs from the codewords to a coarse estimate and a conditioning map on the
  (subband x kept beam) grid, concatenated with the noisy coefficients and denoised by the U-Net.
* Loss: eq. (7) on the coefficient grid (step weight floored at ``min_loss_weight``), plus
  ``sgcs_weight`` x (1 - SGCS) of the x0-prediction against the measured CSI (the metric the
  eigen family is trained for; 0 gives the paper's loss), plus the VQ terms.

Task: reconstruction of the measured CSI (the target must be the input; prediction raises).
The UL side information, when enabled, enters the decoder's MLP as the UL's own subband
eigenvectors (angles and delays; its phases are independent of the DL's).
"""

from __future__ import annotations

import math

import keras
from keras import layers, ops

from .._validation import check_positive_int
from ..diffusion.samplers import ddim_sample
from ..diffusion.schedules import CosineSchedule, x0_training_step
from ..layers.blocks import ConditionalUNet
from ..quantization.vector import DEAD_THRESHOLD, VectorQuantizer, bits_to_indices, indices_to_bits
from .codec import eager_true
from .csinet import QuantizedAutoencoder
from .diffusion_codec import DiffusionCodec

__all__ = ["EigenDiffusionCodec"]


@keras.saving.register_keras_serializable(package="sionna_csifb")
class EigenDiffusionCodec(QuantizedAutoencoder):
    """VQ-diffusion codec on the kept beams' subband eigenvectors (see the module docstring), a
    :class:`~sionna_csifb.models.codec.LearnedCodec` (``csifb train --model diffusion
    --architecture eigen``).

    Args:
        num_bits: int. Payload budget; the report is the header (centring beam, kept beams) and
            ``(num_bits - header) // bits_per_index`` codeword indices.
        bits_per_index: int. Bits per codeword index (codebook of 2^b codewords, b <= 12).
        codeword_dim: int. Values per latent vector (and codeword).
        cond_channels: int. Channels of the decoder's conditioning map fed to the U-Net.
        unet_width: int. The :class:`ConditionalUNet`'s width.
        unet_mults: tuple of int. Its channel multipliers (the grid's sides must divide by
            2^(levels - 1)).
        attention_levels: list of int or None. Its levels with linear attention.
        num_steps: int. Diffusion steps T (paper: 4).
        codebook_weight: float. eta, the weight of the VQ codebook/commitment loss.
        min_loss_weight: float. Floor of the eq. (7) step weight.
        codebook_balance: float. Weight of the VQ's usage-balance term.
        codebook_restart: float. The VQ's dead-codeword threshold: during training a codeword
            chosen less often than this fraction of the uniform rate (running average) restarts
            at a random latent of the batch.
        sgcs_weight: float. Weight of 1 - SGCS of the x0-prediction in the loss.
        seed: int or None.
        architecture: str. "eigen" (the only one; the angular-delay codec is ``DiffusionCodec``).
        input_size: tuple (H, W). Angular-delay grid of the packing (antennas, taps).
        side_info: bool. Give the decoder the UL CSI's subband eigenvectors.
        num_subcarriers: int or None. Subcarriers of the CSI.
        window_start: int. First kept delay tap of the crop.
        num_subbands: int. Subbands of the eigenvectors (13).
        hidden_width: int. Width of the encoder's and decoder's MLPs.
        beam_oversampling: int. Oversampling of the centring beam's DFT grid.
        kept_beams: int. L, the strongest orthogonal beams sent (0: all).
        residual_blocks: int. Residual MLP blocks instead of two dense layers.

    Other arguments are those of the ``eigen``
    :class:`~sionna_csifb.models.csinet.QuantizedAutoencoder`, which this class extends.

    Examples:
        >>> import numpy as np
        >>> m = EigenDiffusionCodec(num_bits=40, bits_per_index=4, codeword_dim=4, input_size=(8, 8),
        ...                         num_subcarriers=24, num_subbands=4, hidden_width=16, kept_beams=4,
        ...                         unet_width=8, unet_mults=(1, 2), seed=0)
        >>> h = keras.ops.convert_to_tensor(np.exp(1j * np.arange(8 * 24).reshape(1, 8, 24) ** 1.3)
        ...                                 .astype("complex64"))
        >>> bits = m.compress(h)
        >>> tuple(bits.shape), m.payload_bits, tuple(m.decompress(bits, num_inference_steps=2).shape)
        ((1, 39), 39, (1, 8, 24))
        >>> float(m.training_loss(h)) > 0
        True
    """

    _latent_activation = None

    def __init__(self, num_bits: int = 118, bits_per_index: int = 8, codeword_dim: int = 8, cond_channels: int = 8,
                 unet_width: int = 32, unet_mults=(1, 2, 4), attention_levels=(2,), num_steps: int = 4,
                 codebook_weight: float = 0.25, min_loss_weight: float = 1.0, codebook_balance: float = 1.0,
                 codebook_restart: float = DEAD_THRESHOLD, sgcs_weight: float = 1.0, seed: int | None = None,
                 architecture: str = "eigen",
                 input_size=(32, 32), side_info: bool = False, num_subcarriers: int | None = None,
                 window_start: int = 0, num_subbands: int = 13, hidden_width: int = 512, beam_oversampling: int = 4,
                 kept_beams: int = 8, residual_blocks: int = 0, **kwargs) -> None:
        if architecture != "eigen":
            raise ValueError(f"EigenDiffusionCodec has architecture 'eigen' only, got {architecture!r} (the "
                             "angular-delay codec is DiffusionCodec).")
        self.bits_per_index = check_positive_int(bits_per_index, "bits_per_index")
        if self.bits_per_index > 12:
            raise ValueError(f"`bits_per_index` must be <= 12, got {bits_per_index}.")
        self.codeword_dim = check_positive_int(codeword_dim, "codeword_dim")
        self.cond_channels = check_positive_int(cond_channels, "cond_channels")
        self.unet_width = check_positive_int(unet_width, "unet_width")
        self.unet_mults = tuple(check_positive_int(m, "unet_mults") for m in unet_mults)
        self.attention_levels = None if attention_levels is None else [int(i) for i in attention_levels]
        self.num_steps = check_positive_int(num_steps, "num_steps")
        for name, v in (("codebook_weight", codebook_weight), ("min_loss_weight", min_loss_weight),
                        ("codebook_balance", codebook_balance), ("sgcs_weight", sgcs_weight)):
            if not (math.isfinite(float(v)) and float(v) >= 0):
                raise ValueError(f"`{name}` must be finite and >= 0, got {v!r}.")
        self.codebook_weight, self.min_loss_weight = float(codebook_weight), float(min_loss_weight)
        self.codebook_balance, self.sgcs_weight = float(codebook_balance), float(sgcs_weight)
        self.codebook_restart = float(codebook_restart)
        self.seed = seed
        # the (subband x beam) grid the U-Net sees: both sides divisible by 2^(levels - 1)
        f = 2 ** (len(self.unet_mults) - 1)
        width = kept_beams or int(input_size[0])
        if width % f:
            raise ValueError(f"the U-Net's {len(self.unet_mults)} levels need the kept beams ({width}) to be a "
                             f"multiple of {f}.")
        self.grid = (-(-int(num_subbands) // f) * f, width)
        self.coef_scale = math.sqrt(2.0 * width)  # kept coefficients of a unit vector -> about unit RMS
        super().__init__(architecture="eigen", num_bits=num_bits, bits_per_value=self.bits_per_index,
                         input_size=input_size, side_info=side_info, num_subcarriers=num_subcarriers,
                         window_start=window_start, num_subbands=num_subbands, hidden_width=hidden_width,
                         beam_oversampling=beam_oversampling, kept_beams=kept_beams,
                         residual_blocks=residual_blocks, **kwargs)

    # ---- construction hooks ---------------------------------------------------------------------
    def _make_quantizer(self):
        return VectorQuantizer(2 ** self.bits_per_index, self.codeword_dim, seed=self.seed,
                               balance_weight=self.codebook_balance, dead_threshold=self.codebook_restart)

    @property
    def vq(self) -> VectorQuantizer:
        return self.quantizer

    @property
    def num_indices(self) -> int:
        """Codeword indices per report."""
        return (self.num_bits - self.beam_bits - self.select_bits) // self.bits_per_index

    def _latent_count(self) -> int:
        return self.num_indices * self.codeword_dim

    def _make_extra_layers(self) -> None:
        self.cond_dense = layers.Dense(self.grid[0] * self.grid[1] * self.cond_channels)
        self.unet = ConditionalUNet(self.unet_width, self.unet_mults, out_channels=2,
                                    attention_levels=self.attention_levels)
        self.schedule = CosineSchedule(self.num_steps)
        self._seed_gen = keras.random.SeedGenerator(self.seed)

    @property
    def payload_bits(self) -> int:
        """Header (centring beam, kept beams' index) + ``num_indices`` x ``bits_per_index``."""
        return self.header_bits + self.num_indices * self.bits_per_index

    # ---- pieces -------------------------------------------------------------------------------
    def encode_latent(self, x, training=False):
        """Packed CSI -> latent vectors `[batch, num_indices, codeword_dim]`."""
        return self._encode_parts(x, training)[0]

    def _encode_parts(self, x, training=False):
        self._check(x, "x")
        lat, beam, kept = self._encode_eigen(x)
        return self._latent_vectors(lat), beam, kept

    def _latent_vectors(self, lat):
        return ops.reshape(lat, (ops.shape(lat)[0], self.num_indices, self.codeword_dim))

    def _to_grid(self, flat):
        """Kept coefficients flattened `[batch, S * L * 2]` -> the U-Net's grid (scaled, subbands padded)."""
        b = ops.shape(flat)[0]
        g = ops.reshape(flat, (b, self.num_subbands, self.grid[1], 2)) * self.coef_scale
        return ops.pad(g, [[0, 0], [0, self.grid[0] - self.num_subbands], [0, 0], [0, 0]])

    def _from_grid(self, grid, beam, kept):
        """The U-Net's grid -> the eigen directions the packing turns into CSI (as ``decode_latent``)."""
        d = grid[:, :self.num_subbands] / self.coef_scale
        if kept is not None:
            d = self.selection.scatter(d, kept)
        return d if beam is None else self.eigen.uncentre(d, beam)

    def condition(self, z_hat, y=None, kept=None):
        """Codewords `[batch, num_indices, codeword_dim]` (+ packed UL CSI, kept beams) -> the
        conditioning map `[batch, *grid, 2 + cond_channels]`: a coarse estimate and learned features."""
        b = ops.shape(z_hat)[0]
        h = self._eigen_decoder_features(ops.reshape(z_hat, (b, -1)), y, kept)
        coarse = self._to_grid(self.dec_dense(h) / self.coef_scale)
        feats = ops.reshape(self.cond_dense(h), (b, *self.grid, self.cond_channels))
        return ops.concatenate([coarse, feats], -1)

    def denoise(self, z_t, t, cond):
        return self.unet(ops.concatenate([z_t, cond], -1), t)

    def _sample(self, cond, steps, beam, kept):
        b = ops.shape(cond)[0]
        grid = ddim_sample(lambda z, t: self.denoise(z, t, cond), (b, *self.grid, 2), self.schedule, steps)
        return self._from_grid(grid, beam, kept)

    # ---- the codec contract (packed level) ----------------------------------------------------
    def forward_packed(self, x, y=None, training=False, channel=None, num_inference_steps=None, sample=True):
        """Differentiable pass: VQ with straight-through gradient (or soft bits through ``channel``:
        the header's beams are not sent through it), conditioning, ``num_inference_steps``
        sampler steps (None: 1 when training, all T otherwise; ``sample=False`` skips the sampler)."""
        self._check(x, "x")
        flat, beam, kept = self._kept_coefficients(x)
        lat = self._latent_vectors(self._encode_coefficients(flat, beam, kept)[0])
        q = self.vq(lat, training=training)
        z_hat = q["z_hat"]
        if channel is not None:
            z_hat = self.vq.lookup_soft_bits(channel(self.vq.relaxed_bits(lat)), (self.num_indices,))
        cond = self.condition(z_hat, y, kept)
        steps = num_inference_steps if num_inference_steps is not None else (1 if training else None)
        x_hat = self._sample(cond, steps, beam, kept) if sample else None
        return {"x_hat": x_hat, "aux_loss": self.codebook_weight * q["loss"], "vq_loss": q["loss"], "cond": cond,
                "z0": self._to_grid(flat), "x": x, "beam": beam, "kept": kept}

    def objective(self, outputs, target):
        """Eq. (7) on the coefficient grid at a random step t, + ``sgcs_weight`` (1 - SGCS) of that
        x0-prediction, + eta L_cb. The target must be the measured CSI (reconstruction)."""
        xt, _ = self.pack(target, "target", scale=outputs["scale"])
        if eager_true(ops.max(ops.abs(xt - outputs["x"])) > 1e-4):
            raise ValueError("EigenDiffusionCodec reconstructs the CSI the UE measured: the target must be the "
                             "input (train with --task reconstruction).")
        z0_true, cond = outputs["z0"], outputs["cond"]
        z_t, t, w = x0_training_step(self.schedule, z0_true, self._seed_gen, self.min_loss_weight)
        z0 = self.denoise(z_t, t, cond)
        s = self.num_subbands  # the padded subbands are not part of the target
        mse = ops.mean((z0[:, :s] - z0_true[:, :s]) ** 2, axis=(1, 2, 3))
        loss = ops.mean(w * mse) + outputs["aux_loss"]
        if self.sgcs_weight:
            x_hat = self._from_grid(z0, outputs["beam"], outputs["kept"])
            loss = loss + self.sgcs_weight * ops.mean(self.report_distortion(x_hat, xt))
        return loss

    # the sampler-free eq. (7) loss of the angular-delay codec
    training_loss = DiffusionCodec.training_loss

    # ---- coding: the eigen header, then whole codeword indices (MSB first) ------------------------
    def _latent_bits(self, lat):
        return indices_to_bits(self.vq.nearest(lat), self.bits_per_index)

    def _decode_latent_bits(self, bits, y, beam, kept, num_inference_steps=None):
        z_hat = self.vq.lookup(bits_to_indices(bits, self.bits_per_index))
        return self._sample(self.condition(z_hat, y, kept), num_inference_steps, beam, kept)

    def get_config(self):
        cfg = {**super().get_config(), "bits_per_index": self.bits_per_index, "codeword_dim": self.codeword_dim,
               "cond_channels": self.cond_channels, "unet_width": self.unet_width,
               "unet_mults": list(self.unet_mults), "attention_levels": self.attention_levels,
               "num_steps": self.num_steps, "codebook_weight": self.codebook_weight,
               "min_loss_weight": self.min_loss_weight, "codebook_balance": self.codebook_balance,
               "codebook_restart": self.codebook_restart, "sgcs_weight": self.sgcs_weight, "seed": self.seed}
        for key in ("bits_per_value", "linear_path"):
            cfg.pop(key, None)
        return cfg

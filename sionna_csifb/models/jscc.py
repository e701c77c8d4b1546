r"""Residual-diffusion JSCC (RD-JSCC, Ankireddy et al.) and the deep-JSCC baselines.

An analog :class:`~sionna_csifb.models.codec.LearnedCodec`: the UE maps the CSI to ``k``
complex channel symbols with unit mean power; they cross the uplink (a ``channel`` hook:
the scenario's OFDM fading uplink with MRC in :mod:`sionna_csifb.evaluation.uplink`, or
AWGN by default); the BS decodes a coarse estimate and optionally refines it by diffusion.

* Encoder (``architecture="rdjscc"``, table 1): convolutions 2 (11x11), 32 (9x9), 48 (7x7),
  2 (5x5), no residual connections, an :class:`~sionna_csifb.layers.snr_adaptation.SNRAdaptation`
  after each of the first three, a dense layer to ``2k`` reals, power normalisation
  $\mathbf s \leftarrow \sqrt k\,\mathbf s/\lVert\mathbf s\rVert$.
* Decoder (table 2): dense to the angular-delay grid, a 2-channel 7x7 convolution, five
  residual blocks of convolutions 16 (7x7), 24 (5x5), 2 (3x3), each followed by SNR
  adaptation, a linear 3x3 output convolution: the coarse estimate $\hat H$.
* Refinement (``refinement="residual"``, eqs. 5-11): the residual process uses steps
  $1..N$ (``num_steps``, 20) of a cosine schedule of ``schedule_steps`` (40) steps, so that
  $\bar\alpha_N \approx 0.49$; forward process
  $z_t = \sqrt{\bar\alpha_t}\,z_0 + \sqrt{1-\bar\alpha_t}\,(\lambda r + \epsilon)$ with
  $r = \hat H - z_0$, $\lambda = \sqrt{\bar\alpha_N/(1-\bar\alpha_N)}$; x-prediction
  $f(z_t, \hat H, t) = \hat H + g(z_t, \hat H, t)$ with $g$ the diffusion codec's
  :class:`~sionna_csifb.layers.blocks.ConditionalUNet` on $[z_t, \hat H]$ and $t$, its output
  convolution zero-initialised (our choice: the same function class as predicting $z_0$
  directly, but training starts from "keep the coarse estimate"; with a directly predicting
  U-Net, 1000 CPU steps left the 2-step refinement 1.0-1.4 dB *worse* than the coarse
  estimate on UMa); loss $w_t\lVert z_0 - f(z_t, \hat H, t)\rVert^2$ with
  $w_t = \min(\bar\alpha_t/(1-\bar\alpha_t), w_{max})$ (our choice: ``max_loss_weight`` = 5,
  the min-SNR weighting; None gives eq. 11 exactly, whose weight reaches 400 at $t = 1$);
  sampling by :func:`~sionna_csifb.diffusion.samplers.ddim_sample` from
  $z_N = \sqrt{\bar\alpha_N}\hat H + \sqrt{1-\bar\alpha_N}\epsilon$ in 1..N steps ($\epsilon$
  drawn from a fixed seed, so decoding is deterministic).
* Ablations: ``refinement="generative"`` (GD-JSCC: the same U-Net, standard diffusion over
  ``num_steps`` steps from pure noise, conditioned on $\hat H$), ``"supervised"`` (the
  U-Net applied once to $\hat H$, trained end to end with MSE), None (stage 1 alone).
* Baselines (``refinement=None``): ``architecture="adjscc"`` (ADJSCC's inner encoder/decoder:
  CsiNet+-style 7x7 encoder convolutions and five 8/16/2-channel RefineNet blocks, with SNR
  adaptation in each block) and ``"csinetplus"`` (DJSCC-CsiNet+: the same without SNR
  adaptation).

Training in two stages (algorithms 1 and 2), selected by ``training_stage``: 1 trains encoder
and decoder with the MSE of $\hat H$ through the channel at SNRs drawn from
``train_snr_db``; 2 freezes them and trains the U-Net (``"supervised"``: everything, end to
end). ``csifb train --model jscc`` runs both.

Early exit: :meth:`JSCCCodec.set_refinement_gain` stores the measured NMSE gain of the
refinement per uplink SNR; with ``exit_threshold_db`` set, ``decompress`` refines only the
reports whose SNR promises at least that gain and returns the coarse estimate for the rest.

``keras.ops`` only.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops

from .._validation import check_choice, check_positive_int
from ..diffusion.samplers import ddim_sample
from ..diffusion.schedules import CosineSchedule
from ..layers.blocks import ConditionalUNet
from ..layers.snr_adaptation import SNRAdaptation
from .codec import LearnedCodec, eager_true

__all__ = ["JSCCCodec", "EXIT_SNR_GRID_DB"]

# Uplink SNRs (dB) at which the early-exit policy's refinement gain is stored.
EXIT_SNR_GRID_DB = (-10.0, -5.0, 0.0, 5.0, 10.0, 15.0, 20.0)

_ARCH = {
    # encoder (filters, kernel) per conv; decoder head kernel; residual block (filters, kernel) x 3
    "rdjscc": dict(enc=[(2, 11), (32, 9), (48, 7)], enc_out=(2, 5), head=7, block=[(16, 7), (24, 5), (2, 3)],
                   adapt=True),
    "adjscc": dict(enc=[(2, 7), (2, 7)], enc_out=None, head=5, block=[(8, 7), (16, 5), (2, 3)], adapt=True),
    "csinetplus": dict(enc=[(2, 7), (2, 7)], enc_out=None, head=5, block=[(8, 7), (16, 5), (2, 3)], adapt=False),
}


def _leaky(x):
    return ops.where(x > 0, x, 0.3 * x)


@keras.saving.register_keras_serializable(package="sionna_csifb")
class JSCCCodec(LearnedCodec):
    """Deep JSCC encoder/decoder with optional diffusion refinement (see module docstring).

    Args:
        num_symbols: int. k, complex channel symbols per report (uplink resource elements).
        architecture: "rdjscc", "adjscc" or "csinetplus".
        refinement: "residual" (RD-JSCC), "generative" (GD-JSCC), "supervised" or None.
        input_size: tuple (H, W). Angular-delay grid.
        unet_width: int. U-Net width (as the diffusion codec's).
        unet_mults: tuple of int. U-Net channel multipliers.
        attention_levels: list of int or None. U-Net levels with linear attention.
        num_steps: int. N, steps of the residual (or generative) process.
        schedule_steps: int. T of the cosine schedule the residual process takes its first N
            steps from (ignored by "generative", whose schedule has ``num_steps`` steps).
        max_loss_weight: float or None. Cap of the step weight (None: eq. 11).
        train_snr_db: (low, high). Uplink SNR range drawn per sample in training (dB).
        exit_threshold_db: float or None. Early exit: refine only where the stored gain at
            the report's SNR is at least this many dB (None: always refine).
        seed: int or None.
        num_subcarriers: int or None. Subcarriers of the CSI (see :class:`LearnedCodec`).
        window_start: int. First kept delay tap of the crop.

    Examples:
        >>> import numpy as np
        >>> m = JSCCCodec(num_symbols=8, input_size=(8, 8), unet_width=8, unet_mults=(1, 2),
        ...               num_steps=4, schedule_steps=8, num_subcarriers=24, seed=0)
        >>> h = keras.ops.convert_to_tensor(np.ones((2, 8, 24), dtype="complex64"))
        >>> s = m.compress(h, snr_db=10.0)
        >>> tuple(s.shape), round(float(keras.ops.mean(keras.ops.abs(s) ** 2)), 4)
        ((2, 8), 1.0)
        >>> tuple(m.decompress(s, snr_db=10.0, num_inference_steps=2).shape)
        (2, 8, 24)
        >>> float(m.training_loss(h, snr_db=5.0)) > 0
        True
    """

    kind = "analog"
    side_info = False

    def __init__(self, num_symbols: int = 16, architecture: str = "rdjscc", refinement: str | None = "residual",
                 input_size=(32, 32), unet_width: int = 16, unet_mults=(1, 2, 4), attention_levels=(1, 2),
                 num_steps: int = 20, schedule_steps: int = 40, max_loss_weight: float | None = 5.0,
                 train_snr_db=(-10.0, 20.0), exit_threshold_db: float | None = None, seed: int | None = None,
                 num_subcarriers: int | None = None, window_start: int = 0, **kwargs) -> None:
        super().__init__(num_subcarriers=num_subcarriers, window_start=window_start, **kwargs)
        self.num_symbols = check_positive_int(num_symbols, "num_symbols")
        self.architecture = check_choice(architecture, "architecture", tuple(_ARCH))
        if refinement is not None:
            check_choice(refinement, "refinement", ("residual", "generative", "supervised"))
        self.refinement = refinement
        self.input_size = tuple(check_positive_int(s, "input_size") for s in input_size)
        self.unet_width = check_positive_int(unet_width, "unet_width")
        self.unet_mults = tuple(int(m) for m in unet_mults)
        self.attention_levels = None if attention_levels is None else [int(i) for i in attention_levels]
        self.num_steps = check_positive_int(num_steps, "num_steps")
        self.schedule_steps = check_positive_int(schedule_steps, "schedule_steps")
        if refinement == "residual" and self.num_steps >= self.schedule_steps:
            raise ValueError(f"`num_steps` (N = {num_steps}) must be below `schedule_steps` ({schedule_steps}): the "
                             "residual process starts at a step whose alpha_bar is not ~0.")
        self.max_loss_weight = None if max_loss_weight is None else float(max_loss_weight)
        lo, hi = (float(v) for v in train_snr_db)
        if not lo <= hi:
            raise ValueError(f"`train_snr_db` must be (low, high) with low <= high, got {train_snr_db}.")
        self.train_snr_db = (lo, hi)
        self.exit_threshold_db = None if exit_threshold_db is None else float(exit_threshold_db)
        self.seed = seed
        self.training_stage = 1
        a = _ARCH[self.architecture]
        adapt = a["adapt"]
        self.enc_convs = [(layers.Conv2D(f, k, padding="same"), SNRAdaptation() if adapt else None)
                          for f, k in a["enc"]]
        self.enc_out = layers.Conv2D(a["enc_out"][0], a["enc_out"][1], padding="same") if a["enc_out"] else None
        self.enc_dense = layers.Dense(2 * self.num_symbols)
        h, w = self.input_size
        self.dec_dense = layers.Dense(h * w * 2)
        self.dec_head = layers.Conv2D(2, a["head"], padding="same")
        self.dec_blocks = [([layers.Conv2D(f, k, padding="same") for f, k in a["block"]],
                            SNRAdaptation() if adapt else None) for _ in range(5)]
        self.dec_out = layers.Conv2D(2, 3, padding="same")
        self.unet = None
        if refinement is not None:
            self.unet = ConditionalUNet(self.unet_width, self.unet_mults, out_channels=2,
                                        attention_levels=self.attention_levels, zero_output=True)
        self.schedule = CosineSchedule(self.num_steps if refinement == "generative" else self.schedule_steps)
        self.refine_gain_db = self.add_weight(shape=(len(EXIT_SNR_GRID_DB),), initializer="zeros", trainable=False,
                                              name="refine_gain_db")
        self.gain_calibrated = self.add_weight(shape=(), initializer="zeros", trainable=False, name="gain_calibrated")
        self._seed_gen = keras.random.SeedGenerator(seed)
        self._init_packing()

    def build(self, input_shape=None):
        if self.built:
            return
        x = ops.zeros((1, *self.input_size, 2))
        self.forward_packed(x, snr_db=0.0, num_inference_steps=1)
        self.built = True

    @property
    def payload_bits(self):
        """None: an analog model sends ``num_symbols`` complex symbols, not bits."""
        return None

    # ---- pieces --------------------------------------------------------------------------
    def _snr(self, snr_db, batch):
        if snr_db is None:
            raise ValueError("JSCCCodec needs the uplink SNR `snr_db` (dB; a float or one value per report).")
        s = ops.cast(ops.convert_to_tensor(snr_db), "float32")
        if len(s.shape) == 0:
            s = ops.full((batch,), s)
        if tuple(s.shape) != (batch,):
            raise ValueError(f"`snr_db` must be a float or [batch={batch}] values, got shape {tuple(s.shape)}.")
        if eager_true(ops.any(~ops.isfinite(s))):
            raise ValueError("`snr_db` contains NaN or Inf.")
        return s

    def _check(self, x, name):
        if len(tuple(x.shape)) != 4 or tuple(x.shape)[1:] != (*self.input_size, 2):
            raise ValueError(f"`{name}` must be [batch, {self.input_size[0]}, {self.input_size[1]}, 2], "
                             f"got {tuple(x.shape)}.")

    def encode_symbols(self, x, snr):
        """Packed `[B, H, W, 2]` -> power-normalised symbols `[B, k, 2]` (real, imaginary)."""
        self._check(x, "x")
        h = x
        for conv, adapt in self.enc_convs:
            h = _leaky(conv(h))
            if adapt is not None:
                h = adapt(h, snr)
        if self.enc_out is not None:
            h = self.enc_out(h)
        v = self.enc_dense(ops.reshape(h, (ops.shape(x)[0], -1)))
        v = v * ops.sqrt(float(self.num_symbols)) / ops.sqrt(ops.sum(v ** 2, axis=-1, keepdims=True) + 1e-12)
        return ops.reshape(v, (-1, self.num_symbols, 2))

    def awgn(self, s, snr):
        """The default channel: complex AWGN of variance 10^(-snr/10) per symbol."""
        std = ops.sqrt(0.5 * ops.power(10.0, -snr / 10.0))[:, None, None]
        return s + std * keras.random.normal(ops.shape(s), seed=self._seed_gen)

    def decode_coarse(self, r, snr):
        """Received symbols `[B, k, 2]` -> coarse packed estimate `[B, H, W, 2]`."""
        b = ops.shape(r)[0]
        h = ops.reshape(self.dec_dense(ops.reshape(r, (b, -1))), (b, *self.input_size, 2))
        h = self.dec_head(h)
        for convs, adapt in self.dec_blocks:
            t = h
            for i, conv in enumerate(convs):
                t = conv(t)
                if i < len(convs) - 1:
                    t = _leaky(t)
            if adapt is not None:  # on the residual branch: the identity path keeps its scale
                t = adapt(t, snr)
            h = _leaky(h + t)
        return self.dec_out(h)

    def _denoise(self, z, t, coarse):
        """x-prediction as the coarse estimate plus the U-Net's correction (zero at initialisation)."""
        return coarse + self.unet(ops.concatenate([z, coarse], axis=-1), t)

    def refine(self, coarse, num_inference_steps: int | None = None):
        """Diffusion refinement of a coarse packed estimate (1..N steps; None: N)."""
        if self.unet is None:
            return coarse
        shape = ops.shape(coarse)
        if self.refinement == "supervised":
            return self._denoise(coarse, ops.full((shape[0],), float(self.num_steps)), coarse)
        # a fixed seed: decoding is a deterministic function of the received symbols
        eps = keras.random.normal(shape, seed=0 if self.seed is None else int(self.seed))
        if self.refinement == "generative":
            start, z = self.num_steps, eps
        else:
            start = self.num_steps
            ab = self.schedule.alphas_bar[start]
            z = ab ** 0.5 * coarse + (1 - ab) ** 0.5 * eps
        return ddim_sample(lambda zz, t: self._denoise(zz, t, coarse), tuple(shape), self.schedule,
                           num_inference_steps, start=start, z_start=z)

    def _channel(self, s, snr, channel):
        if channel is None:
            return self.awgn(s, snr)
        r = channel(s)
        if tuple(r.shape)[1:] != (self.num_symbols, 2):
            raise ValueError(f"`channel` must return symbols [batch, {self.num_symbols}, 2], got {tuple(r.shape)}.")
        return r

    # ---- the codec contract (packed level) ---------------------------------------------------
    def forward_packed(self, x, y=None, training=False, channel=None, num_inference_steps=None, snr_db=None):
        """Differentiable pass: encoder, ``channel`` (symbols `[B, k, 2]` -> received, same
        shape; default AWGN at ``snr_db``), coarse decoder, refinement (``num_inference_steps``
        steps; 0 skips it; None: 1 in training, N otherwise)."""
        snr = self._snr(snr_db, ops.shape(x)[0])
        s = self.encode_symbols(x, snr)
        coarse = self.decode_coarse(self._channel(s, snr, channel), snr)
        steps = num_inference_steps if num_inference_steps is not None else (1 if training else None)
        x_hat = coarse if steps == 0 else self.refine(coarse, steps)
        return {"x_hat": x_hat, "coarse": coarse, "symbols": s, "aux_loss": ops.zeros(())}

    def training_loss(self, h, side_info=None, target=None, channel=None, snr_db=None):
        """Stage 1: MSE of the coarse estimate; stage 2: eq. (11) with the encoder and decoder
        frozen (``"supervised"``: MSE of the refined estimate, end to end). ``snr_db`` None
        draws one SNR per sample, uniformly in ``train_snr_db``."""
        h, _ = self._split(h, side_info)
        x, scale = self.pack(h)
        xt = x if target is None else self.pack(target, "target", scale=scale)[0]
        b = ops.shape(x)[0]
        if snr_db is None:
            snr_db = keras.random.uniform((b,), *self.train_snr_db, seed=self._seed_gen)
        snr = self._snr(snr_db, b)
        stage = int(self.training_stage)
        if stage not in (1, 2):
            raise ValueError(f"`training_stage` must be 1 or 2, got {self.training_stage!r}.")
        if stage == 2 and self.unet is None:
            raise ValueError("this JSCCCodec has no refinement: train stage 1 only.")
        s = self.encode_symbols(x, snr)
        coarse = self.decode_coarse(self._channel(s, snr, channel), snr)
        if stage == 1:
            return ops.mean((coarse - xt) ** 2)
        if self.refinement == "supervised":
            return ops.mean((self.refine(coarse) - xt) ** 2)
        coarse = ops.stop_gradient(coarse)
        t = keras.random.randint((b,), 1, self.num_steps + 1, seed=self._seed_gen)
        ab = ops.take(ops.convert_to_tensor(self.schedule.alphas_bar, dtype="float32"), t)[:, None, None, None]
        noise = keras.random.normal(ops.shape(xt), seed=self._seed_gen)
        if self.refinement == "residual":
            noise = noise + self.schedule.residual_scale(self.num_steps) * (coarse - xt)
        z_t = ops.sqrt(ab) * xt + ops.sqrt(1 - ab) * noise
        z0 = self._denoise(z_t, ops.cast(t, "float32"), coarse)
        w = ab / (1 - ab)
        if self.max_loss_weight is not None:
            w = ops.minimum(w, self.max_loss_weight)
        return ops.mean(w[:, 0, 0, 0] * ops.mean((z0 - xt) ** 2, axis=(1, 2, 3)))

    def compress_packed(self, x, snr_db=None):
        """Packed CSI -> complex symbols `[B, k]` (unit mean power)."""
        s = self.encode_symbols(x, self._snr(snr_db, ops.shape(x)[0]))
        return ops.view_as_complex(s)

    def decompress_packed(self, payload, y=None, num_inference_steps=None, snr_db=None):
        """Received complex symbols `[B, k]` -> packed estimate, with the early-exit policy."""
        r = self._as_symbols(payload)
        snr = self._snr(snr_db, ops.shape(r)[0])
        coarse = self.decode_coarse(r, snr)
        if self.unet is None or num_inference_steps == 0:
            return coarse
        mask = self.refine_mask(snr)
        if bool(np.all(mask)):
            return self.refine(coarse, num_inference_steps)
        idx = np.nonzero(mask)[0]
        if len(idx) == 0:
            return coarse
        sel = ops.convert_to_tensor(idx.astype("int32"))
        refined = self.refine(ops.take(coarse, sel, axis=0), num_inference_steps)
        return ops.scatter_update(coarse, ops.reshape(sel, (-1, 1)), refined)

    def _as_symbols(self, payload):
        shape = tuple(payload.shape)
        if "complex" in str(payload.dtype):
            if len(shape) != 2 or shape[1] != self.num_symbols:
                raise ValueError(f"`payload` must be complex symbols [batch, {self.num_symbols}], got {shape}.")
            r = ops.view_as_real(payload)
        else:
            raise ValueError(f"`payload` must be complex channel symbols [batch, {self.num_symbols}] "
                             f"(an analog model), got dtype {payload.dtype}.")
        r = ops.cast(r, "float32")
        if eager_true(ops.any(~ops.isfinite(r))):
            raise ValueError("`payload` contains NaN or Inf.")
        return r

    def objective(self, outputs, target):
        xt, _ = self.pack(target, "target", scale=outputs["scale"])
        return ops.mean((outputs["x_hat"] - xt) ** 2)

    # ---- early exit ---------------------------------------------------------------------------
    def set_refinement_gain(self, gain_db) -> None:
        """Store the refinement's measured NMSE gain (dB, coarse minus refined) at the SNRs of
        :data:`EXIT_SNR_GRID_DB`; the early-exit policy interpolates it."""
        g = np.asarray(gain_db, dtype="float32")
        if g.shape != (len(EXIT_SNR_GRID_DB),) or not np.isfinite(g).all():
            raise ValueError(f"`gain_db` must be {len(EXIT_SNR_GRID_DB)} finite values (at {EXIT_SNR_GRID_DB} dB).")
        self.refine_gain_db.assign(g)
        self.gain_calibrated.assign(1.0)

    def refine_mask(self, snr) -> np.ndarray:
        """Which reports the policy refines (numpy bool `[batch]`)."""
        snr = np.asarray(ops.convert_to_numpy(snr), dtype="float64").reshape(-1)
        if self.exit_threshold_db is None:
            return np.ones(len(snr), dtype=bool)
        if float(ops.convert_to_numpy(self.gain_calibrated)) != 1.0:
            raise ValueError("`exit_threshold_db` is set but no refinement gain is stored: call "
                             "set_refinement_gain() with the gains measured per uplink SNR first.")
        gain = np.interp(snr, EXIT_SNR_GRID_DB, ops.convert_to_numpy(self.refine_gain_db))
        return gain >= self.exit_threshold_db

    def get_config(self):
        return {**super().get_config(), "num_symbols": self.num_symbols, "architecture": self.architecture,
                "refinement": self.refinement, "input_size": list(self.input_size), "unet_width": self.unet_width,
                "unet_mults": list(self.unet_mults), "attention_levels": self.attention_levels,
                "num_steps": self.num_steps, "schedule_steps": self.schedule_steps,
                "max_loss_weight": self.max_loss_weight, "train_snr_db": list(self.train_snr_db),
                "exit_threshold_db": self.exit_threshold_db, "seed": self.seed}

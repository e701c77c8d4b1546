r"""Entropy-coded CSI feedback: a learned transform, a learned entropy model, real bitstreams.

The UE's encoder (CsiNet/CRNet convolutions, or STQENet's spatially separable attention, or
the ``eigen`` MLPs on the phase-aligned subband eigenvectors of the kept beams)
maps the packed angular-delay CSI to ``num_latents`` real values $y$ (a linear output: the
encoder learns their scale, hence the rate). They are rounded to integer symbols
$s = \mathrm{round}(A f(\mathrm{clip}(y/A, -1, 1)))$ in $[-A, A]$, $A = 2^{\text{bits\_per\_value}-1}$,
with $f$ the identity (uniform) or mu-law companding (STQENet); the decoder reads
$A f^{-1}(s/A)$ (straight-through in training). Unlike the fixed-rate CsiNet, each symbol is
then entropy coded: its cost is $-\log_2 P(s)$ bits under a learned entropy model, so likely
symbols are cheap and the report length varies with the channel. Entropy models (:mod:`sionna_csifb.entropy.densities`):

* ``factorized``: one learned density per latent (Ballé et al. 2018's non-parametric model);
* ``hyperprior``: a zero-mean Gaussian per latent whose scale a hyperprior predicts from
  ``hyper_latents`` side values $z = R \tanh(h_a(|u|))$, themselves coded with a factorized
  density (Ballé et al. 2018; the hyperprior of CDM-JSCC). The report carries $z$ first: its
  bits are counted.

Training (``objective``): MSE of the packed estimate + ``rate_weight`` x bits per report
(rate with additive uniform noise on the index axis, the decoder sees the straight-through
rounded latents). Sweeping ``rate_weight`` traces the rate-distortion curve.

Coding. After training, :meth:`EntropyCodec.freeze` turns the entropy models into integer
tables held in the model's (non-trainable) weights, and the hyperprior's scale network into an
integer network (:class:`~sionna_csifb.entropy.coding.IntegerMLP`); ``compress`` then range
codes each report with constriction, bit-granular (:mod:`sionna_csifb.entropy.coding`), and
returns a :class:`VariableLengthBits`; ``decompress`` decodes exactly the UE's symbols. Nothing
the coder sees is a float computed at run time, so UE and BS agree on any device.

Rate-adaptive mode. ``compress(h, max_bits=N)`` keeps each report within ``N`` bits where it
can, as CDM-JSCC lets the estimated entropy set a report's size: of 12 levels (a range-coded
header symbol says which: 0.42 bits for the finest, :data:`LEVEL_PROBABILITIES`), it takes the
finest whose report fits; a level puts the costliest latents
(by their entropy model: integers both sides know) on coarser grids of 3 or 5 symbols per bin,
whose tables are sums of the fine integer tables, so both sides derive them exactly.
``decompress(..., rate_adaptive=True)`` reads it.

Out of scope: a soft-bit ``channel`` in :meth:`call` (a range-coded stream has no per-bit
gradient: train without it, and send the reports over the chain's coded uplink).
"""

from __future__ import annotations

import hashlib
import json
import math
import keras
import numpy as np
from keras import layers, ops

from .._validation import check_choice, check_positive_int
from ..entropy.beam_prior import BeamSetModel
from ..entropy.coding import (CodingError, IntegerMLP, VariableLengthBits, coarse_pmf, decode_sequential, encode_segments,
                              information_bits, integer_pmf)
from ..entropy.densities import SCALE_TABLE, FactorizedDensity, GaussianConditional, bits_from_likelihood
from ..layers.attention import SeparableAttentionBlock
from ..quantization.scalar import MuLawQuantizer, UniformQuantizer, shared_dither
from .csinet import QuantizedAutoencoder
from .refinement import LatentRefinement, budget_candidates, refine_latents

__all__ = ["EntropyCodec", "VariableLengthBits", "RATE_GRIDS", "RATE_LEVELS", "LEVEL_PROBABILITIES", "level_table",
           "level_bits"]

#: Grid steps of the rate-adaptive mode (symbols per bin, odd so that the zero symbol stays a
#: bin centre), and its number of levels (see :meth:`EntropyCodec.grid_steps`).
RATE_GRIDS = (1, 3, 5)
RATE_LEVELS = 12
#: The level symbol's probabilities (range coded with their integer table, :func:`level_table`):
#: level 0 (every latent on the fine grid) 3/4, level 1 1/8, the ten coarser ones 1/80 each, so
#: a report at the finest level pays 0.42 bits for it (a uniform symbol: log2 12 = 3.6) and one
#: at level 1 three. Held to eType II's payloads, 97-99 % of the budget-trained models' reports
#: use level 0 and nearly all the rest level 1 (``share_finest_level`` in their manifest test
#: metrics, ``benchmarks/shipped_weights.py``), and over 99 % of refined ones level 0
#: (``benchmarks/budget_ladder.py``). Report format version 2
#: (:mod:`sionna_csifb.entropy.report_file`); version 1 coded the level uniformly.
LEVEL_PROBABILITIES = (6 / 8, 1 / 8) + (1 / 80,) * (RATE_LEVELS - 2)
#: Bits a budget-trained model (``max_bits``) leaves free in training for the level symbol and
#: the range coder's termination (the models were trained when the level cost 3.6 bits).
CAP_MARGIN_BITS = 4


def level_table() -> np.ndarray:
    """The level symbol's integer table `[1, RATE_LEVELS]` (:data:`LEVEL_PROBABILITIES`).

    Examples:
        >>> t = level_table()
        >>> t.shape, round(level_bits(0), 2), round(level_bits(1), 2), round(level_bits(11), 2)
        ((1, 12), 0.42, 3.0, 6.32)
    """
    return integer_pmf(np.array([LEVEL_PROBABILITIES]))


def level_bits(level: int) -> float:
    """The level symbol's cost in bits, from its integer table (what the range coder spends on
    it, to within the coder's termination)."""
    t = level_table()[0]
    return float(math.log2(t.sum() / t[level]))


@keras.saving.register_keras_serializable(package="sionna_csifb")
class EntropyCodec(QuantizedAutoencoder):
    """Learned transform + learned entropy model + range coding, a digital
    :class:`~sionna_csifb.models.codec.LearnedCodec` with variable-length reports.

    Args:
        architecture: "csinet" or "crnet" (convolutional encoder with ``encoder="cnn"``, and
            decoder), or "eigen": the MLPs on phase-aligned subband eigenvectors of
            :class:`~sionna_csifb.models.csinet.QuantizedAutoencoder` (pass its ``eigen`` arguments,
            e.g. ``kept_beams``), trained for 1 - SGCS; each report then starts with the fixed-length
            centring beam and kept beams' index (``header_bits``), counted in the rate.
        beam_coding: "index" or "entropy" (``eigen`` with ``kept_beams`` >= 2). How a report
            sends its kept beams: a fixed-length combinatorial index, or range coded under a
            :class:`~sionna_csifb.entropy.beam_prior.BeamSetModel` whose integer tables travel
            with the weights (every set equally likely until :meth:`fit_beam_prior` counts the
            sets of training drops: about 10 bits instead of 22 for 8 of 32 beams on UMa).
        encoder: "cnn" or "attention" (STQENet's spatially separable transformer block).
        num_latents: int. Latent values per report.
        bits_per_value: int. Symbols lie in [-A, A], A = ``2**(bits_per_value - 1)``.
        companding: "uniform" or "mulaw".
        entropy_model: "factorized" or "hyperprior".
        rate_weight: float. lambda in loss = MSE + lambda * bits (the initial value if
            ``target_bits`` is set).
        target_bits: float or None. Rate-constrained training: after every training step
            lambda is multiplied by ``exp(0.02 (mean bits / target - 1))``, a dual ascent that
            settles the mean report length near the target (e.g. an eType II payload).
        max_bits: int or None. A fixed budget per report (e.g. an eType II payload): training adds
            ``cap_weight x mean(max(0, bits - (max_bits - 4)))`` (4 bits left for the
            rate-adaptive level symbol), so that few reports need coarsening, and ``compress`` /
            ``decompress`` use the rate-adaptive mode at ``max_bits`` by default: every report
            fits the budget.
        cap_weight: float. Weight per bit over the budget in training (``max_bits`` only).
        dither_seed: int or None. Dithered (universal) quantisation with a dither UE and BS
            draw from this shared seed and the report number (``first_report`` of ``compress``
            / ``decompress``; see :func:`~sionna_csifb.quantization.scalar.shared_dither`); the
            decoder then trains on ``t + noise``, exactly what it receives.
        sgcs_weight: float. Adds ``sgcs_weight * (1 - SGCS)`` to the loss (SGCS of the
            spatial-frequency estimate, per subcarrier): what beamforming needs, rather than
            every entry's amplitude and phase.
        hyper_latents: int. Hyperprior side values (``hyperprior`` only).
        hyper_width: int. Hidden width of the hyperprior's networks.
        hyper_range: int. The side values lie in [-R, R] (2R + 1 symbols).
        attention_dim: int. Channels of the attention encoder.
        attention_window: int. Its LSA window side.
        input_size: tuple (H, W). Angular-delay grid.
        side_info: bool. Give the decoder the UL CSI.
        num_subcarriers: int or None. Subcarriers of the CSI (see :class:`~sionna_csifb.models.codec.LearnedCodec`).
        window_start: int. First kept delay tap of the crop.

    Examples:
        >>> import numpy as np
        >>> m = EntropyCodec(num_latents=6, input_size=(8, 8), num_subcarriers=20, side_info=False)
        >>> h = keras.ops.convert_to_tensor(np.random.default_rng(0).normal(size=(3, 8, 20)).astype("complex64"))
        >>> out = m(h, training=True)
        >>> tuple(out["h_hat"].shape), tuple(out["bits"].shape)
        ((3, 8, 20), (3,))
        >>> m.freeze()
        >>> payload = m.compress(h)
        >>> payload.num_bits.shape, tuple(m.decompress(payload).shape)
        ((3,), (3, 8, 20))
        >>> e = EntropyCodec(architecture="eigen", kept_beams=2, num_latents=4, input_size=(8, 8), num_subcarriers=20,
        ...                  num_subbands=2, hidden_width=8, side_info=False)   # eigenvectors of the 2 strongest beams
        >>> e.freeze()
        >>> r = e.compress(h)
        >>> e.header_bits, bool((r.num_bits > e.header_bits).all()), tuple(e.decompress(r).shape)
        (8, True, (3, 8, 20))
    """

    variable_length = True
    _latent_activation = None

    def __init__(self, architecture: str = "csinet", encoder: str = "cnn", num_latents: int = 32,
                 bits_per_value: int = 6, companding: str = "uniform", entropy_model: str = "hyperprior",
                 rate_weight: float = 3e-4, target_bits: float | None = None, sgcs_weight: float = 0.0,
                 dither_seed: int | None = None, max_bits: int | None = None, cap_weight: float = 0.01,
                 hyper_latents: int = 8, hyper_width: int = 32, hyper_range: int = 8,
                 attention_dim: int = 16, attention_window: int = 8, input_size=(32, 32), side_info: bool = False,
                 num_subcarriers: int | None = None, window_start: int = 0, beam_coding: str = "index",
                 **kwargs) -> None:
        self.beam_coding = check_choice(beam_coding, "beam_coding", ("index", "entropy"))
        self._latent_refinement = None
        if self.beam_coding == "entropy" and (architecture != "eigen" or int(kwargs.get("kept_beams", 0)) < 2):
            raise ValueError("beam_coding='entropy' codes the kept beams of architecture 'eigen': pass "
                             "kept_beams >= 2.")
        self.encoder_type = check_choice(encoder, "encoder", ("cnn", "attention"))
        if architecture == "eigen" and self.encoder_type != "cnn":
            raise ValueError("architecture 'eigen' has its own MLP encoder: leave `encoder` at 'cnn'.")
        if architecture == "eigen" and sgcs_weight:
            raise ValueError("architecture 'eigen' is trained for SGCS already (loss 1 - SGCS + lambda x bits): "
                             "leave `sgcs_weight` at 0.")
        self.num_latents = check_positive_int(num_latents, "num_latents")
        self.companding = check_choice(companding, "companding", ("uniform", "mulaw"))
        self.entropy_model = check_choice(entropy_model, "entropy_model", ("factorized", "hyperprior"))
        if not (math.isfinite(float(rate_weight)) and float(rate_weight) >= 0):
            raise ValueError(f"`rate_weight` must be finite and >= 0, got {rate_weight!r}.")
        self.rate_weight = float(rate_weight)
        if target_bits is not None and not float(target_bits) > 0:
            raise ValueError(f"`target_bits` must be > 0 or None, got {target_bits!r}.")
        self.target_bits = None if target_bits is None else float(target_bits)
        if not (math.isfinite(float(sgcs_weight)) and float(sgcs_weight) >= 0):
            raise ValueError(f"`sgcs_weight` must be finite and >= 0, got {sgcs_weight!r}.")
        self.sgcs_weight = float(sgcs_weight)
        self.dither_seed = None if dither_seed is None else int(dither_seed)
        self.max_bits = None if max_bits is None else check_positive_int(max_bits, "max_bits")
        if not (math.isfinite(float(cap_weight)) and float(cap_weight) >= 0):
            raise ValueError(f"`cap_weight` must be finite and >= 0, got {cap_weight!r}.")
        self.cap_weight = float(cap_weight)
        self.hyper_latents = check_positive_int(hyper_latents, "hyper_latents")
        self.hyper_width = check_positive_int(hyper_width, "hyper_width")
        self.hyper_range = check_positive_int(hyper_range, "hyper_range")
        self.attention_dim = check_positive_int(attention_dim, "attention_dim")
        self.attention_window = check_positive_int(attention_window, "attention_window")
        bpv = check_positive_int(bits_per_value, "bits_per_value")
        if bpv > 12:
            raise ValueError(f"`bits_per_value` must be <= 12 (a {2 ** bpv}-symbol table per latent), got {bpv}.")
        super().__init__(architecture=architecture, num_bits=self.num_latents * bpv, bits_per_value=bpv,
                         input_size=input_size, side_info=side_info, num_subcarriers=num_subcarriers,
                         window_start=window_start, **kwargs)
        if self.beam_coding == "entropy":  # the kept beams go into the range-coded part
            self.select_bits = 0

    # ---- construction hooks -------------------------------------------------------------------
    def _make_quantizer(self):
        return MuLawQuantizer(self.bits_per_value) if self.companding == "mulaw" else UniformQuantizer(
            self.bits_per_value)

    def _make_encoder(self) -> None:
        if self.encoder_type == "cnn":
            return super()._make_encoder()
        self.enc_embed = layers.Conv2D(self.attention_dim, 3, padding="same")
        self.enc_attention = SeparableAttentionBlock(self.attention_dim, num_heads=2, window=self.attention_window)
        self.enc_project = layers.Conv2D(2, 3, padding="same")

    def _make_extra_layers(self) -> None:
        levels, m = self.levels, self.num_latents
        if self.entropy_model == "factorized":
            self.density = FactorizedDensity(m, init_scale=4.0)
            table_shapes = {"y_tables": (m, levels)}
        else:
            self.hyper_a = [layers.Dense(self.hyper_width, activation="relu"), layers.Dense(self.hyper_latents)]
            # initial scale 2: about the latents' spread before training
            self.hyper_s = [layers.Dense(self.hyper_width, activation="relu"),
                            layers.Dense(m, bias_initializer=keras.initializers.Constant(math.log(2.0)))]
            self.z_density = FactorizedDensity(self.hyper_latents, init_scale=self.hyper_range / 2)
            self.gaussian = GaussianConditional()
            hw, s = self.hyper_width, len(SCALE_TABLE)
            table_shapes = {"y_tables": (s, levels), "z_tables": (self.hyper_latents, 2 * self.hyper_range + 1),
                            "int_w1": (self.hyper_latents, hw), "int_b1": (hw,), "int_w2": (hw, m),
                            "int_b2": (m,), "int_thresholds": (s - 1,)}
        table_shapes["frozen"] = ()
        self.beam_model = None
        if self.beam_coding == "entropy":
            self.beam_model = BeamSetModel(self.selection.num_ant, self.selection.num_kept)
            table_shapes["beam_tables"] = self.beam_model.table_shape
        self.lagrange = self.add_weight(shape=(), dtype="float32", trainable=False, name="rate_weight",
                                        initializer=keras.initializers.Constant(self.rate_weight))
        # the frozen integer tables travel with the weights (non-trainable int32)
        self.tables = {k: self.add_weight(shape=v, dtype="int32", initializer="zeros", trainable=False, name=k)
                       for k, v in table_shapes.items()}
        if self.beam_model is not None:
            self.tables["beam_tables"].assign(ops.convert_to_tensor(self.beam_model.uniform().astype("int32")))

    def _latent_count(self) -> int:
        return self.num_latents

    # ---- the transform ------------------------------------------------------------------------
    def encode_latent(self, x, training=False):
        if self.encoder_type == "cnn":
            return super().encode_latent(x, training)
        self._check(x, "x")
        h = self.enc_project(self.enc_attention(self.enc_embed(x)))
        return self.enc_dense(ops.reshape(h, (ops.shape(x)[0], -1)))

    @property
    def amplitude(self) -> int:
        """A: symbols lie in [-A, A]."""
        return 2 ** (self.bits_per_value - 1)

    @property
    def levels(self) -> int:
        """Alphabet size 2A + 1."""
        return 2 * self.amplitude + 1

    def to_axis(self, y):
        """Latents -> the continuous symbol axis (clipped to [-A, A], companded)."""
        a = float(self.amplitude)
        return a * self.quantizer.compand(ops.clip(y / a, -1.0, 1.0))

    def from_axis(self, s):
        """Symbols (or axis values) -> latent values the decoder reads."""
        a = float(self.amplitude)
        return a * self.quantizer.expand(ops.cast(s, "float32") / a)

    @property
    def payload_bits(self):
        """None: the report length varies (see ``compress``)."""
        return None

    def _hyper_analysis(self, t):
        return self.hyper_range * ops.tanh(self.hyper_a[1](self.hyper_a[0](ops.abs(t))))

    def _hyper_log_scale(self, z_hat):
        return self.hyper_s[1](self.hyper_s[0](z_hat))

    def rate_bits(self, y, training=False, kept=None, straight_through=False):
        """Estimated bits per report `[batch]` of latents ``y`` (additive-noise relaxation in
        training, the rounded symbols otherwise, with gradients passed straight through the
        rounding if ``straight_through``), the fixed-length header of ``eigen`` included, and with
        ``beam_coding='entropy'`` the coded kept beams ``kept`` `[batch, L]` (required then)."""
        head = float(self.header_bits)
        if self.beam_model is not None:
            if kept is None:
                raise ValueError("beam_coding='entropy': pass the kept beams (`kept`) to rate_bits, or use "
                                 "estimate_bits(x).")
            head = head + self.beam_model.bits(kept, self.tables["beam_tables"].value)
        t = self.to_axis(y)
        u = (t + keras.random.uniform(ops.shape(t), -0.5, 0.5) if training
             else t + ops.stop_gradient(ops.round(t) - t) if straight_through else ops.round(t))
        if self.entropy_model == "factorized":
            return bits_from_likelihood(self.density(u)) + head
        z = self._hyper_analysis(t)
        z_round = ops.round(z)
        z_ste = z + ops.stop_gradient(z_round - z)
        z_noisy = (z + keras.random.uniform(ops.shape(z), -0.5, 0.5) if training
                   else z_ste if straight_through else z_round)
        scale = ops.exp(self._hyper_log_scale(z_ste))
        return (bits_from_likelihood(self.gaussian(u, scale)) + bits_from_likelihood(self.z_density(z_noisy))
                + head)

    def estimate_bits(self, x):
        """The model's estimate of each report's length `[batch]` for packed CSI ``x``."""
        latent, _, kept = self._report_parts(x)
        return self.rate_bits(latent, kept=kept)

    def kept_beams_of(self, x) -> np.ndarray:
        """``eigen`` with ``kept_beams``: the kept beams `[batch, L]` of packed CSI (numpy int64)."""
        if self.selection is None:
            raise ValueError("kept_beams_of applies to architecture 'eigen' with kept_beams.")
        return ops.convert_to_numpy(self._kept_coefficients(x)[2]).astype(np.int64)

    def fit_beam_prior(self, beams) -> float:
        """Fit the kept-beam entropy model (``beam_coding='entropy'``) to the kept beams `[n, L]`
        of training drops (:meth:`kept_beams_of`); call before training (the rate counts it) and
        before :meth:`freeze`.

        Returns:
            float: the mean bits per set on those drops under the fitted tables.
        """
        if self.beam_model is None:
            raise ValueError("This model sends its kept beams as an index: build it with beam_coding='entropy'.")
        table = self.beam_model.fit(beams)
        self.tables["beam_tables"].assign(ops.convert_to_tensor(table.astype("int32")))
        return float(ops.convert_to_numpy(ops.mean(self.beam_model.bits(ops.convert_to_tensor(
            np.asarray(beams, "int32")), table))))

    def received_axis(self, t, first_report: int = 0):
        """Axis values ``t`` -> what the decoder reads: the rounded (dithered) symbols, with
        gradients passed straight through."""
        if self.dither_seed is None:
            return t + ops.stop_gradient(ops.round(t) - t)
        d = ops.convert_to_tensor(self._dither(int(ops.shape(t)[0]), first_report))
        a = float(self.amplitude)
        return t + ops.stop_gradient(ops.clip(ops.round(t - d), -a, a) + d - t)

    @property
    def latent_refinement(self) -> LatentRefinement | None:
        """UE-side latent refinement (:class:`~sionna_csifb.models.refinement.LatentRefinement`)
        applied by ``compress``, ``estimate_bits`` and ``information_bits``; None (default): the
        encoder's latents as they are. Not part of the config or weights: the BS decodes either."""
        return self._latent_refinement

    @latent_refinement.setter
    def latent_refinement(self, value) -> None:
        if value is not None and not isinstance(value, LatentRefinement):
            raise TypeError(f"`latent_refinement` must be a LatentRefinement or None, got {type(value).__name__}.")
        if value is not None and self.side_info:
            raise ValueError("Latent refinement runs at the UE, which does not hold the UL CSI this model's "
                             "decoder reads: use it with models built with side_info=False.")
        self._latent_refinement = value

    def _report_parts(self, x, first_report: int = 0):
        """Packed CSI -> (latents a report carries, centring beam, kept beams): the encoder's,
        refined if ``latent_refinement`` is set."""
        latent, beam, kept = self._encode_parts(x)
        if self._latent_refinement is not None:
            latent = refine_latents(self, x, latent, beam, kept, self._latent_refinement, first_report)
        return latent, beam, kept

    def _dither(self, batch: int, first_report: int = 0):
        return shared_dither(self.dither_seed, first_report, batch, self.num_latents)

    def forward_packed(self, x, y=None, training=False, channel=None, num_inference_steps=None, first_report=0):
        """Differentiable pass: latent, straight-through rounding for the decoder (with a
        dither: ``t + noise`` in training, the UE's dithered values otherwise), rate estimate;
        ``aux_loss`` = lambda x mean bits, ``bits`` per report."""
        if channel is not None:
            raise NotImplementedError("EntropyCodec sends range-coded variable-length reports, which have no "
                                      "per-bit gradient: train it without `channel`, and send its reports over "
                                      "the chain's coded uplink.")
        latent, beam, kept = self._encode_parts(x, training)
        bits = self.rate_bits(latent, training, kept=kept)
        t = self.to_axis(latent)
        if training and self.dither_seed is not None:
            t_hat = t + keras.random.uniform(ops.shape(t), -0.5, 0.5)
        else:
            t_hat = self.received_axis(t, first_report)
        x_hat = self.decode_latent(self.from_axis(t_hat), y, training, beam=beam, kept=kept)
        lam = ops.convert_to_tensor(self.lagrange.value)
        if training and self.target_bits is not None:  # dual ascent on lambda (no gradient)
            ratio = ops.stop_gradient(ops.mean(bits)) / self.target_bits
            self.lagrange.assign(ops.clip(lam * ops.exp(0.005 * (ratio - 1.0)), 1e-6, 0.05))
        aux = lam * ops.mean(bits)
        if self.max_bits is not None:  # the budget: a hinge on each report's length
            aux = aux + self.cap_weight * ops.mean(ops.relu(bits - float(self.max_bits - CAP_MARGIN_BITS)))
        return {"x_hat": x_hat, "aux_loss": aux, "bits": bits}

    def report_distortion(self, x_hat, x):
        """Per report `[batch]`: as the base class, plus ``sgcs_weight`` x (1 - SGCS) (never set
        for ``eigen``); the training objective adds lambda x bits through ``aux_loss``."""
        d = super().report_distortion(x_hat, x)
        if self.sgcs_weight:
            d = d + self.sgcs_weight * (1.0 - self.packing.sgcs(x_hat, x))
        return d

    # ---- freezing the coder's tables -------------------------------------------------------------
    @property
    def frozen(self) -> bool:
        return bool(int(ops.convert_to_numpy(self.tables["frozen"].value)))

    def freeze(self) -> None:
        """Freeze the entropy models into the integer tables the coder uses (call after
        training, before ``compress``; saved with the weights)."""
        support = np.arange(self.levels) - self.amplitude
        t = {}
        if self.entropy_model == "factorized":
            t["y_tables"] = integer_pmf(self.density.bin_probabilities(support))
        else:
            t["y_tables"] = integer_pmf(GaussianConditional.bin_probabilities(support, SCALE_TABLE))
            r = self.hyper_range
            t["z_tables"] = integer_pmf(self.z_density.bin_probabilities(np.arange(-r, r + 1)))
            (w1, b1), (w2, b2) = ([ops.convert_to_numpy(v) for v in d.weights] for d in self.hyper_s)
            log_s = np.log(SCALE_TABLE)
            mlp = IntegerMLP.from_float(w1, b1, w2, b2, (log_s[1:] + log_s[:-1]) / 2)
            t.update(int_w1=mlp.w1, int_b1=mlp.b1, int_w2=mlp.w2, int_b2=mlp.b2, int_thresholds=mlp.thresholds)
        for k, v in t.items():
            if np.abs(v).max() >= 2 ** 31:
                raise ValueError(f"frozen table {k} overflows int32 (hyperprior weights too large).")
            self.tables[k].assign(ops.convert_to_tensor(v.astype("int32")))
        self.tables["frozen"].assign(ops.convert_to_tensor(np.int32(1)))

    def _table(self, name: str) -> np.ndarray:
        return ops.convert_to_numpy(self.tables[name].value).astype("int64")

    def _require_frozen(self) -> None:
        if not self.frozen:
            raise RuntimeError("The entropy coder's tables are not frozen: call `model.freeze()` after training "
                               "(shipped weights are frozen).")

    def _int_mlp(self) -> IntegerMLP:
        return IntegerMLP(*(self._table(k) for k in ("int_w1", "int_b1", "int_w2", "int_b2", "int_thresholds")))

    def fingerprint(self) -> str:
        """16 hex digits identifying this model (config, weights and frozen tables): a stored
        report names the model that can decode it."""
        cfg = {k: v for k, v in self.get_config().items() if k not in ("name", "trainable", "dtype")}
        h = hashlib.sha256(json.dumps(cfg, sort_keys=True, default=str).encode())
        for v in self.weights:
            h.update(np.ascontiguousarray(ops.convert_to_numpy(v.value)).tobytes())
        return h.hexdigest()[:16]

    # ---- coding ---------------------------------------------------------------------------------
    def _symbols(self, x, first_report: int = 0, with_header: bool = False):
        """Packed CSI -> (table indices s + A [B, M], hyperprior symbols [B, Mz] or None), int64;
        with ``with_header`` also the fixed-length header bits [B, header_bits] uint8 (``eigen``;
        None otherwise) and the kept beams [B, L] int64 (None unless ``eigen`` keeps beams)."""
        return self._symbols_of(*self._report_parts(x, first_report), first_report, with_header)

    def _symbols_of(self, latent, beam, kept, first_report: int = 0, with_header: bool = False):
        """:meth:`_symbols` of given report parts (latents, centring beam, kept beams)."""
        header = ops.convert_to_numpy(self._encode_header(beam, kept)).astype(np.uint8) if self.header_bits else None
        t = self.to_axis(latent)
        tn = ops.convert_to_numpy(t)
        if self.dither_seed is not None:
            tn = tn - self._dither(len(tn), first_report)
        idx = np.clip(np.round(tn).astype("int64") + self.amplitude, 0, self.levels - 1)
        z = None
        if self.entropy_model == "hyperprior":
            z = np.clip(ops.convert_to_numpy(ops.round(self._hyper_analysis(t))).astype("int64"),
                        -self.hyper_range, self.hyper_range)
        kept_np = None if kept is None else ops.convert_to_numpy(kept).astype(np.int64)
        return (idx, z, header, kept_np) if with_header else (idx, z)

    def _coder(self) -> dict:
        """The frozen integer tables as NumPy, read once per coding call: ``y`` tables,
        ``z`` tables and the integer scale network (hyperprior), the rate-adaptive ``header``."""
        self._require_frozen()
        c = {"y": self._table("y_tables"), "header": level_table()}
        if self.entropy_model == "hyperprior":
            c.update(z=self._table("z_tables"), mlp=self._int_mlp())
        if self.beam_model is not None:
            c["beam"] = self._table("beam_tables")
        return c

    def _y_tables(self, z_sym: np.ndarray | None, coder: dict) -> tuple[np.ndarray, np.ndarray]:
        """Per-latent integer tables [M, levels] (from the side symbols for the hyperprior), and
        each latent's rank by cost (0: costliest), from integers only: the scale index (larger
        first) or, for the factorized model, the table's peak count (smaller first)."""
        y = coder["y"]
        if self.entropy_model == "factorized":
            key = y.max(1)
        else:
            sidx = coder["mlp"].indices(z_sym[None])[0]
            y, key = y[sidx], -sidx
        order = np.lexsort((np.arange(len(key)), key))
        ranks = np.empty(len(key), "int64")
        ranks[order] = np.arange(len(key))
        return y, ranks

    def _offset(self, q: int) -> int:
        """Shift of the coarse grid that makes the zero symbol (table index A) a bin centre."""
        return ((q - 1) // 2 - self.amplitude) % q

    def grid_steps(self, level: int, ranks: np.ndarray) -> np.ndarray:
        """Grid step of each latent at a rate-adaptive level (0: all fine): levels 1-6 give
        the costliest sixth, third, ... of the latents 3 symbols per bin, levels 7-11 then move
        the costliest fifths on to 5 per bin."""
        m = self.num_latents
        if level <= 6:
            return np.where(ranks < -(-level * m // 6), 3, 1)
        return np.where(ranks < -(-(level - 6) * m // 5), 5, 3)

    def _y_segments(self, idx, tables, steps):
        """(symbols, tables) per grid step, latents in index order within each."""
        segs = []
        for q in RATE_GRIDS:
            sel = steps == q
            o = self._offset(q)
            segs.append(((idx[sel] + o) // q, coarse_pmf(tables[sel], q, o)))
        return segs

    def compress_packed(self, x, max_bits: int | None = None, first_report: int = 0):
        """Packed CSI -> :class:`VariableLengthBits` (range coded; see the module docstring);
        ``max_bits`` defaults to the model's own budget (``max_bits`` of the config)."""
        coder = self._coder()
        max_bits = self.max_bits if max_bits is None else max_bits
        if max_bits is not None:
            max_bits = check_positive_int(max_bits, "max_bits")
        if max_bits is not None and max_bits <= self.header_bits:
            raise ValueError(f"`max_bits` must exceed the {self.header_bits} header bits, got {max_bits}.")
        if max_bits is not None and self._latent_refinement is not None:  # a ladder of refined candidates
            latent, beam, kept_t = self._encode_parts(x)
            cands, dist = budget_candidates(self, x, latent, beam, kept_t, self._latent_refinement, first_report,
                                           bit_cap=max_bits - level_bits(0))
            syms = [self._symbols_of(y, beam, kept_t, first_report, with_header=True) for y in cands]
        else:
            syms, dist = [self._symbols(x, first_report, with_header=True)], None
        _, _, fixed, kept = syms[0]
        header = coder["header"]
        reports, levels, chosen = [], [], []
        for b in range(len(syms[0][0])):
            bseg = self.beam_model.segments(kept[b], coder["beam"]) if self.beam_model is not None else []
            head_bits = [] if fixed is None else [fixed[b]]
            tables = {}  # per candidate: its side symbols' tables, derived once

            def code(level, c):
                idx, z = syms[c][0][b], None if syms[c][1] is None else syms[c][1][b]
                zseg = [(z + self.hyper_range, coder["z"])] if z is not None else []
                if c not in tables:
                    tables[c] = self._y_tables(z, coder)
                yt, ranks = tables[c]
                if level is None:
                    return np.concatenate(head_bits + [encode_segments(bseg + zseg + [(idx, yt)])])
                head = [(np.array([level]), header)]
                return np.concatenate(head_bits + [encode_segments(
                    bseg + head + zseg + self._y_segments(idx, yt, self.grid_steps(level, ranks)))])

            if max_bits is None:
                reports.append(code(None, 0))
                levels.append(0)
                continue
            report, sent = None, -1
            for c in (np.argsort(dist[:, b], kind="stable") if dist is not None else ()):
                bits = code(0, c)  # the best-decoding candidate whose report fits, at the finest level
                if len(bits) <= max_bits:
                    report, sent = bits, int(c)
                    break
            lo = 0
            if report is None:  # coarsen: the finest level that fits (bits fall with the level)
                c, hi = len(syms) - 1, RATE_LEVELS - 1
                while lo < hi:
                    mid = (lo + hi) // 2
                    if len(code(mid, c)) <= max_bits:
                        hi = mid
                    else:
                        lo = mid + 1
                report = code(lo, c)
            reports.append(report)
            levels.append(lo)
            chosen.append(sent)
        self.last_levels = np.array(levels)
        #: Held to a budget with refinement: the candidate each report sent (0: the encoder's
        #: latents, k: the k-th rung of ``budget_scales``, -1: the highest rung coarsened).
        self.last_candidates = np.array(chosen) if dist is not None else None
        return VariableLengthBits.from_list(reports)

    def compress(self, h, max_bits: int | None = None, first_report: int = 0):
        """UE side: complex CSI -> :class:`VariableLengthBits`; ``max_bits``: rate-adaptive mode;
        ``first_report``: the number of the batch's first report (for the dither)."""
        self._check_finite(h, "h")
        return self.compress_packed(self.pack(h)[0], max_bits=max_bits, first_report=first_report)

    def decode_symbols(self, payload, rate_adaptive: bool | None = None, first_report: int = 0,
                       with_header: bool = False):
        """Reports -> symbol values on the axis `[batch, M]` float (bin centres; -A..A); with
        ``with_header``, also the fixed-length header bits `[batch, header_bits]` (``eigen``) and
        the range-coded kept beams `[batch, L]` (``beam_coding='entropy'``; None otherwise).

        Raises:
            CodingError: a report that is no codeword of this model.
        """
        coder = self._coder()
        rate_adaptive = self.max_bits is not None if rate_adaptive is None else rate_adaptive
        if not isinstance(payload, VariableLengthBits):
            raise TypeError(f"EntropyCodec decodes VariableLengthBits (what compress returns), got "
                            f"{type(payload).__name__}.")
        header, zt = coder["header"], coder.get("z")
        out = np.zeros((len(payload.num_bits), self.num_latents))
        nh = self.header_bits
        heads = np.zeros((len(payload.num_bits), nh), np.int32)
        bm = self.beam_model
        kept = None if bm is None else np.zeros((len(payload.num_bits), bm.num_kept), np.int64)
        for b in range(len(payload.num_bits)):
            report = payload.report(b)
            if len(report) < nh:  # (the range-coded part may be empty: missing bits read as zeros)
                raise CodingError(f"report {b} has {len(report)} bits: shorter than its {nh}-bit header "
                                  "(truncated).")
            heads[b], report = report[:nh], report[nh:]
            fns = [] if bm is None else bm.table_fns(coder["beam"])
            nb = len(fns)  # the kept beams' flags come first
            if rate_adaptive:
                fns.append(lambda prev: header)
            if zt is not None:
                fns.append(lambda prev: zt)
            state = {}

            def y_fn(prev, k):
                if not state:
                    zs = prev[-1] - self.hyper_range if zt is not None else None
                    yt, ranks = self._y_tables(zs, coder)
                    steps = self.grid_steps(int(prev[nb][0]), ranks) if rate_adaptive else np.ones(len(ranks), int)
                    state.update(steps=steps, segs=self._y_segments(np.zeros(len(ranks), "int64"), yt, steps))
                return state["segs"][k][1]

            ks = range(len(RATE_GRIDS)) if rate_adaptive else [0]
            segs = decode_sequential(report, fns + [lambda prev, k=k: y_fn(prev, k) for k in ks])
            steps = state["steps"]
            if bm is not None:
                kept[b] = bm.beams_from_segments(segs)
            for k, q in zip(ks, RATE_GRIDS):
                sel = steps == q
                lo = segs[len(fns) + k] * q - self._offset(q)
                out[b, sel] = (np.maximum(lo, 0) + np.minimum(lo + q - 1, self.levels - 1)) / 2.0 - self.amplitude
        if self.dither_seed is not None:
            out = out + self._dither(len(out), first_report)
        return (out, heads, kept) if with_header else out

    def decompress_packed(self, payload, y=None, num_inference_steps=None, rate_adaptive: bool | None = None,
                          first_report: int = 0):
        s, heads, coded_kept = self.decode_symbols(payload, rate_adaptive, first_report, with_header=True)
        beam = kept = None
        if self.header_bits:
            beam, kept = self._decode_header(ops.convert_to_tensor(heads))
        if coded_kept is not None:
            kept = ops.convert_to_tensor(coded_kept.astype("int32"))
        return self.decode_latent(self.from_axis(ops.convert_to_tensor(s.astype("float32"))), y, beam=beam, kept=kept)

    def decompress(self, payload, side_info=None, num_inference_steps=None, rate_adaptive: bool | None = None,
                   first_report: int = 0):
        """BS side: :class:`VariableLengthBits` (+ UL CSI) -> complex estimate; ``rate_adaptive``
        defaults to whether the model has a budget (``max_bits``)."""
        if side_info is not None:
            self._check_finite(side_info, "side_info")
        return self.to_csi(self.decompress_packed(payload, self.pack_side_info(side_info),
                                                  rate_adaptive=rate_adaptive, first_report=first_report))

    def information_bits(self, x) -> np.ndarray:
        """Ideal code length `[batch]` of each report under the frozen integer tables."""
        coder = self._coder()
        idx, z, _, kept = self._symbols(x, with_header=True)
        out = np.full(idx.shape[0], float(self.header_bits))
        if self.beam_model is not None:
            out += ops.convert_to_numpy(self.beam_model.bits(ops.convert_to_tensor(kept.astype("int32")),
                                                             coder["beam"])).astype("float64")
        for b in range(idx.shape[0]):
            out[b] += information_bits(idx[b], self._y_tables(None if z is None else z[b], coder)[0])
            if z is not None:
                out[b] += information_bits(z[b] + self.hyper_range, coder["z"])
        return out

    def get_config(self):
        cfg = super().get_config()
        for k in ("num_bits",):
            cfg.pop(k, None)
        return {**cfg, "encoder": self.encoder_type, "num_latents": self.num_latents, "companding": self.companding,
                "entropy_model": self.entropy_model, "rate_weight": self.rate_weight, "target_bits": self.target_bits, "sgcs_weight": self.sgcs_weight, "dither_seed": self.dither_seed,
                "max_bits": self.max_bits, "cap_weight": self.cap_weight,
                "hyper_latents": self.hyper_latents, "hyper_width": self.hyper_width,
                "hyper_range": self.hyper_range, "attention_dim": self.attention_dim,
                "attention_window": self.attention_window,
                # (only when not the default: the fingerprints of earlier models stay as they were)
                **({"beam_coding": self.beam_coding} if self.beam_coding != "index" else {})}


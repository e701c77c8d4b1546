"""CsiNet and CRNet with a tanh-bounded latent and uniform quantisation (Kim et al. §IV-B2).

Both as the paper adapted them: the encoder's latent of ``floor(num_bits / bits_per_value)``
values is bounded to [-1, 1] by tanh and quantised with ``bits_per_value`` (6) bits and a
straight-through gradient; the decoder gets the UL CSI (side information) by concatenation
(CsiNet: into every RefineNet block's input; CRNet: after the first dense layer, giving a
32 x 32 x 4 tensor). Trained with MSE to the target. Our choice: a linear output layer
instead of the papers' sigmoid/tanh, since our inputs are scaled to unit variance rather
than into [0, 1].

References: Wen et al., "Deep learning for massive MIMO CSI feedback" (CsiNet), 2018;
Lu et al., "Multi-resolution CSI feedback with deep learning in massive MIMO system"
(CRNet), 2020.
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import layers, ops

from .._validation import check_choice, check_positive_int
from ..layers.csi_packing import AngularDelayPacking, sgcs_parts
from ..layers.beam_selection import BeamSelection
from ..layers.blocks import ResidualMLPBlock
from ..layers.subband_eigen import SubbandEigen
from ..quantization.scalar import UniformQuantizer
from ..quantization.vector import bits_to_indices, indices_to_bits
from .codec import LearnedCodec, as_bits, eager_true

__all__ = ["QuantizedAutoencoder"]


def _conv(filters, kernel, act=True):
    seq = [layers.Conv2D(filters, kernel, padding="same"), layers.BatchNormalization()]
    if act:
        seq.append(layers.LeakyReLU(0.3))
    return seq


def _run(seq, x, training):
    for lyr in seq:
        x = lyr(x, training=training) if isinstance(lyr, layers.BatchNormalization) else lyr(x)
    return x


@keras.saving.register_keras_serializable(package="sionna_csifb")
class QuantizedAutoencoder(LearnedCodec):
    """CsiNet or CRNet with a uniformly quantised latent and optional side information, a
    :class:`~sionna_csifb.models.codec.LearnedCodec`.

    Args:
        architecture: "csinet" or "crnet".
        num_bits: int. Payload budget; the latent has ``num_bits // bits_per_value`` values.
        bits_per_value: int. Uniform quantiser resolution (paper: 6).
        input_size: tuple (H, W). Angular-delay grid.
        side_info: bool. Give the decoder the UL CSI.
        num_subcarriers: int or None. Subcarriers of the CSI (see :class:`~sionna_csifb.models.codec.LearnedCodec`).
        window_start: int. First kept delay tap of the crop.
        num_subbands: int. ``eigen``: subbands of the per-subband eigenvectors (13).
        hidden_width: int. ``eigen``: width of the encoder's and decoder's MLPs (512).
        beam_oversampling: int. ``eigen``: oversampling of the DFT beams the centring beam is
            searched on (4: a 7-bit index for 32 antennas; 0: no centring).
        kept_beams: int. ``eigen``: send the set of the L strongest orthogonal beams and compress
            only their coefficients (0: all beams).
        residual_blocks: int. ``eigen``: pre-norm residual MLP blocks
            (:class:`~sionna_csifb.layers.blocks.ResidualMLPBlock`) in each network instead of two
            dense layers (0).
        linear_path: bool. ``eigen``: add a linear map from the coefficients to the latents and
            one back, beside the MLPs (transform coding's linear transform; initialise it with
            :meth:`init_linear_path`, a KLT of training data, before training).

    Examples:
        >>> import numpy as np
        >>> m = QuantizedAutoencoder("crnet", num_bits=24, input_size=(8, 8), num_subcarriers=20)
        >>> h = keras.ops.convert_to_tensor(np.ones((2, 8, 20), dtype="complex64"))
        >>> bits = m.compress(h)
        >>> tuple(bits.shape), tuple(m.decompress(bits, h).shape)
        ((2, 24), (2, 8, 20))
        >>> out = m(h, h, training=True, channel=lambda b: 0.9 * b + 0.05)   # a soft-bit channel
        >>> tuple(out["h_hat"].shape), tuple(m.training_loss(h, h).shape)
        ((2, 8, 20), ())
    """

    def __init__(self, architecture: str = "csinet", num_bits: int = 128, bits_per_value: int = 6,
                 input_size=(32, 32), side_info: bool = True, num_subcarriers: int | None = None,
                 window_start: int = 0, num_subbands: int = 13, hidden_width: int = 512, beam_oversampling: int = 4,
                 kept_beams: int = 0, residual_blocks: int = 0, linear_path: bool = False, **kwargs) -> None:
        super().__init__(num_subcarriers=num_subcarriers, window_start=window_start, **kwargs)
        self.architecture = check_choice(architecture, "architecture", ("csinet", "crnet", "eigen"))
        self.num_subbands = check_positive_int(num_subbands, "num_subbands")
        self.hidden_width = check_positive_int(hidden_width, "hidden_width")
        if not isinstance(beam_oversampling, int) or beam_oversampling < 0:
            raise ValueError(f"`beam_oversampling` must be an int >= 0, got {beam_oversampling!r}.")
        self.beam_oversampling = beam_oversampling
        if not isinstance(kept_beams, int) or kept_beams < 0:
            raise ValueError(f"`kept_beams` must be an int >= 0, got {kept_beams!r}.")
        if kept_beams and architecture != "eigen":
            raise ValueError("`kept_beams` applies to architecture 'eigen' only.")
        self.kept_beams = kept_beams
        if not isinstance(residual_blocks, int) or residual_blocks < 0:
            raise ValueError(f"`residual_blocks` must be an int >= 0, got {residual_blocks!r}.")
        if residual_blocks and architecture != "eigen":
            raise ValueError("`residual_blocks` applies to architecture 'eigen' only.")
        self.residual_blocks = residual_blocks
        if linear_path and architecture != "eigen":
            raise ValueError("`linear_path` applies to architecture 'eigen' only.")
        self.linear_path = bool(linear_path)
        self.num_bits = check_positive_int(num_bits, "num_bits")
        self.bits_per_value = check_positive_int(bits_per_value, "bits_per_value")
        n_ant = check_positive_int(input_size[0], "input_size")
        self.beam_bits = ((beam_oversampling * n_ant - 1).bit_length()
                          if architecture == "eigen" and beam_oversampling else 0)
        if kept_beams > n_ant:
            raise ValueError(f"`kept_beams` must be <= input_size[0] ({n_ant}), got {kept_beams}.")
        self.selection = BeamSelection(n_ant, kept_beams) if kept_beams else None
        self.select_bits = self.selection.index_bits if kept_beams else 0
        self.latent_dim = self._latent_count()
        if self.latent_dim < 1:
            raise ValueError(f"`num_bits` must be >= bits_per_value ({bits_per_value}), got {num_bits}.")
        self.input_size = tuple(check_positive_int(s, "input_size") for s in input_size)
        self.side_info = bool(side_info)
        h, w = self.input_size
        self.quantizer = self._make_quantizer()
        self.enc_dense = layers.Dense(self.latent_dim, activation=self._latent_activation)
        # (creation order fixes the weight files' layout: the shipped CsiNet/CRNet files rely on it)
        if self.architecture == "eigen":
            self._make_encoder()
            self.dec_mlp = self._eigen_mlp()
            self.dec_dense = layers.Dense(self.num_subbands * (self.kept_beams or h) * 2)
            if self.side_info:
                self.side_mlp = [layers.Dense(self.hidden_width, activation="gelu")]
        else:
            self.dec_dense = layers.Dense(h * w * 2)
            self.out_conv = layers.Conv2D(2, 3, padding="same")
            self._make_encoder()
        if self.architecture == "csinet":
            self.blocks = [[_conv(8, 3), _conv(16, 3), _conv(2, 3, act=False)] for _ in range(2)]
        elif self.architecture == "crnet":
            self.dec_head = _conv(2, 5)
            self.blocks = [[_conv(7, 3) + _conv(7, (1, 9)) + _conv(7, (9, 1)), _conv(7, (1, 5)) + _conv(7, (5, 1)),
                            _conv(2, 1, act=False)] for _ in range(2)]
        if self.linear_path:  # created last: files of models without it keep their layout
            self.enc_linear = layers.Dense(self.latent_dim)
            self.dec_linear = layers.Dense(self.num_subbands * (self.kept_beams or h) * 2)
        self._make_extra_layers()
        self._init_packing()

    def _init_packing(self) -> None:
        if self.architecture == "eigen":  # the eigen layer shares the packing (created first)
            n, t = self.input_size
            self.packing = AngularDelayPacking(n, self.num_subcarriers or t, t, self.window_start)
            self.eigen = SubbandEigen(self.packing, self.num_subbands, oversampling=self.beam_oversampling)
            self.build()
        else:
            super()._init_packing()

    # ---- construction hooks (subclasses: the entropy-coded codec) ---------------------------
    _latent_activation = "tanh"

    def _make_quantizer(self):
        return UniformQuantizer(self.bits_per_value)

    def _make_encoder(self) -> None:
        """The convolutional feature paths before ``enc_dense``."""
        if self.architecture == "eigen":
            self.enc_mlp = self._eigen_mlp()
        elif self.architecture == "csinet":
            self.enc_paths = [_conv(2, 3)]
        else:
            self.enc_paths = [_conv(2, 3) + _conv(2, (1, 9)) + _conv(2, (9, 1)), _conv(2, 3)]
            self.enc_merge = _conv(2, 1)

    def _make_extra_layers(self) -> None:
        """Layers a subclass adds (created before the model is built)."""

    def _eigen_mlp(self) -> list:
        """``eigen``'s hidden layers: two dense GELU layers, or with ``residual_blocks`` = k a dense
        layer, k pre-norm residual blocks and a GELU."""
        w = self.hidden_width
        if not self.residual_blocks:
            return [layers.Dense(w, activation="gelu") for _ in range(2)]
        return [layers.Dense(w), *(ResidualMLPBlock(w) for _ in range(self.residual_blocks)),
                layers.Activation("gelu")]

    def linear_path_features(self, x) -> np.ndarray:
        """The kept beams' phase-aligned coefficients of packed CSI `[batch, H, W, 2]`, flattened
        (`[batch, K]` numpy): what the ``linear_path`` maps to the latents."""
        if self.architecture != "eigen":
            raise ValueError("linear_path_features applies to architecture 'eigen' only.")
        return ops.convert_to_numpy(self._kept_coefficients(x)[0]).astype("float64")

    def init_linear_path(self, features, payload_bits: float | None = None) -> float:
        """Initialise the ``linear_path`` as a Karhunen-Loeve transform coder of the kept beams'
        coefficients (``features``: :meth:`linear_path_features` of training CSI): the latents are
        the principal components divided by one quantiser step, chosen by reverse water-filling
        on the components' variances so that Gaussian sources would cost ``payload_bits`` after
        the header (default: the model's ``target_bits``); the decoder's map is the inverse. The MLPs' output
        layers start at zero, so the model starts as that linear coder and training learns the rest.

        Returns:
            float: the quantiser step, in units of the coefficients.
        """
        if not self.linear_path:
            raise ValueError("This model has no linear path (build it with linear_path=True).")
        if not getattr(self, "variable_length", False):
            raise ValueError("init_linear_path sets a step on the integer latents of the entropy-coded "
                             "EntropyCodec; this fixed-rate model quantises tanh latents.")
        f = np.asarray(features, "float64")
        k = self.enc_linear.kernel.shape[0]
        if f.ndim != 2 or f.shape[1] != k or not np.isfinite(f).all():
            raise ValueError(f"`features` must be finite, [samples, {k}], got shape {f.shape}.")
        if len(f) <= f.shape[1]:
            raise ValueError(f"init_linear_path needs more samples ({len(f)}) than coefficients ({f.shape[1]}).")
        mean = f.mean(0)
        var, vec = np.linalg.eigh(np.cov(f - mean, rowvar=False))
        order = np.argsort(var)[::-1][:self.latent_dim]
        var, vec = np.clip(var[order], 1e-12, None), vec[:, order]
        if payload_bits is None:
            payload_bits = getattr(self, "target_bits", None) or self.num_bits
        budget = float(payload_bits) - self.header_bits
        if budget <= 0:
            raise ValueError(f"`payload_bits` must exceed the header ({self.header_bits} bits).")

        def cost(step):  # bits of a uniform quantiser on Gaussian components (high-rate estimate)
            return np.maximum(0.0, 0.5 * np.log2(2 * np.pi * np.e * var / step ** 2)).sum()

        lo, hi = 1e-6, 10 * float(np.sqrt(var.max()))
        for _ in range(60):
            mid = math.sqrt(lo * hi)
            lo, hi = (mid, hi) if cost(mid) > budget else (lo, mid)
        step = hi
        self.enc_linear.kernel.assign((vec / step).astype("float32"))
        self.enc_linear.bias.assign((-(mean @ vec) / step).astype("float32"))
        self.dec_linear.kernel.assign((vec.T * step).astype("float32"))
        self.dec_linear.bias.assign(mean.astype("float32"))
        for lyr in (self.enc_dense, self.dec_dense):
            lyr.kernel.assign(np.zeros(lyr.kernel.shape, "float32"))
            lyr.bias.assign(np.zeros(lyr.bias.shape, "float32"))
        return step

    def _latent_count(self) -> int:
        """Latent values per report: what the fixed payload leaves after the ``eigen`` header."""
        return (self.num_bits - self.beam_bits - self.select_bits) // self.bits_per_value

    @property
    def header_bits(self) -> int:
        """Fixed-length bits before the latents (``eigen``: the centring beam, then the kept
        beams' index; 0 otherwise)."""
        return self.beam_bits + self.select_bits

    def _encode_header(self, beam, kept):
        """Centring beam and kept beams -> the header bits `[batch, header_bits]` int32."""
        parts = []
        if self.beam_bits:
            parts.append(indices_to_bits(beam[:, None], self.beam_bits))
        if self.select_bits:
            parts.append(indices_to_bits(self.selection.index(kept)[:, None], self.select_bits))
        return ops.concatenate(parts, -1)

    def _decode_header(self, bits):
        """Header bits `[batch, header_bits]` -> (centring beam or None, kept beams or None).

        Raises:
            ValueError: a centring beam or a kept-beam index that no encoder sends (corrupted report).
        """
        beam = kept = None
        if self.beam_bits:
            beam = bits_to_indices(bits[:, :self.beam_bits], self.beam_bits)[:, 0]
            if eager_true(ops.any(beam >= self.eigen.num_beams)):
                raise ValueError(f"corrupted report: centring beam index >= {self.eigen.num_beams}.")
        if self.select_bits:
            kept = self.selection.unindex(bits_to_indices(bits[:, self.beam_bits:self.header_bits],
                                                          self.select_bits)[:, 0])
        return beam, kept

    @property
    def payload_bits(self) -> int:
        """Bits actually sent: latent_dim x bits_per_value (+ the centring beam and the kept beams'
        index of ``eigen``), <= num_bits."""
        return self.latent_dim * self.bits_per_value + self.beam_bits + self.select_bits

    def _check(self, x, name):
        if len(tuple(x.shape)) != 4 or tuple(x.shape)[1:] != (*self.input_size, 2):
            raise ValueError(f"`{name}` must be [batch, {self.input_size[0]}, {self.input_size[1]}, 2], "
                             f"got {tuple(x.shape)}.")

    def encode_latent(self, x, training=False):
        self._check(x, "x")
        if self.architecture == "eigen":
            return self._encode_eigen(x)[0]
        feats = [_run(p, x, training) for p in self.enc_paths]
        h = feats[0] if len(feats) == 1 else _run(self.enc_merge, ops.concatenate(feats, -1), training)
        return self.enc_dense(ops.reshape(h, (ops.shape(x)[0], -1)))

    def _encode_parts(self, x, training=False):
        """Packed CSI -> (latent, centring beam or None, kept beams or None): what a report carries
        (``eigen`` sends the beams in its header)."""
        if self.architecture == "eigen":
            return self._encode_eigen(x)
        return self.encode_latent(x, training), None, None

    def _kept_coefficients(self, x):
        """``eigen``: packed CSI -> (kept beams' coefficients flattened `[batch, K]`, centring beam,
        kept beams or None)."""
        d, beam = self.eigen(x)
        kept = None
        if self.selection is not None:  # the kept beams' coefficients, and where they are
            d, kept = self.selection(d)
        return ops.reshape(d, (ops.shape(x)[0], -1)), beam, kept

    def _encode_eigen(self, x):
        """``eigen``: packed CSI -> (latent, centring beam, kept beams or None)."""
        return self._encode_coefficients(*self._kept_coefficients(x))

    def _encode_coefficients(self, flat, beam, kept):
        """``eigen``: the kept beams' coefficients (:meth:`_kept_coefficients`) -> (latent, centring
        beam, kept beams or None)."""
        h = flat
        if kept is not None:
            h = ops.concatenate([h, self.selection.features(kept)], -1)
        for lyr in self.enc_mlp:
            h = lyr(h)
        y = self.enc_dense(h)
        return (y + self.enc_linear(flat) if self.linear_path else y), beam, kept

    def decode_latent(self, c, y=None, training=False, beam=None, kept=None):
        b = ops.shape(c)[0]
        if self.side_info:
            if y is None:
                raise ValueError("This model was built with side_info=True: pass the UL CSI `y`.")
            self._check(y, "y")
        if self.architecture == "eigen":
            linear = self.dec_linear(c) if self.linear_path else 0.0
            h = self._eigen_decoder_features(c, y, kept)
            d = ops.reshape(self.dec_dense(h) + linear, (b, self.num_subbands, self.kept_beams or self.input_size[0], 2))
            if kept is not None:
                d = self.selection.scatter(d, kept)
            return d if beam is None else self.eigen.uncentre(d, beam)
        h = ops.reshape(self.dec_dense(c), (b, *self.input_size, 2))
        if self.architecture == "csinet":
            for p1, p2, p3 in self.blocks:
                inp = ops.concatenate([h, y], -1) if self.side_info else h
                h = h + _run(p3, _run(p2, _run(p1, inp, training), training), training)
                h = ops.where(h > 0, h, 0.3 * h)
        else:
            h = _run(self.dec_head, ops.concatenate([h, y], -1) if self.side_info else h, training)
            for p1, p2, merge in self.blocks:
                r = _run(merge, ops.concatenate([_run(p1, h, training), _run(p2, h, training)], -1), training)
                h = h + r
                h = ops.where(h > 0, h, 0.3 * h)
        return self.out_conv(h)

    def _eigen_decoder_features(self, c, y=None, kept=None):
        """``eigen``: the decoder MLP's output from the latents `[batch, n]` (+ the kept beams'
        features, + the UL CSI's subband eigenvectors with side information)."""
        h = c
        if self.selection is not None:
            if kept is None:
                raise ValueError("This model keeps a subset of the beams: pass them as `kept`.")
            h = ops.concatenate([h, self.selection.features(kept)], -1)
        if self.side_info:  # the UL's subband eigenvectors: angles and delays, not phases
            if y is None:
                raise ValueError("This model was built with side_info=True: pass the UL CSI `y`.")
            self._check(y, "y")
            s = ops.reshape(self.eigen(y)[0], (ops.shape(c)[0], -1))
            for lyr in self.side_mlp:
                s = lyr(s)
            h = ops.concatenate([h, s], -1)
        for lyr in self.dec_mlp:
            h = lyr(h)
        return h

    def objective(self, outputs, target):
        """The mean :meth:`report_distortion` plus ``aux_loss``: MSE of the packed estimate (CsiNet,
        CRNet); 1 - SGCS for ``eigen``, whose estimate is a direction per subband (precoding is
        blind to its amplitude and phase)."""
        xt, _ = self.pack(target, "target", scale=outputs["scale"])
        return ops.mean(self.report_distortion(outputs["x_hat"], xt)) + outputs["aux_loss"]

    def report_distortion(self, x_hat, x):
        """What the model trains for, per report `[batch]`, between packed estimate and packed CSI:
        1 - SGCS for ``eigen`` (every third subcarrier past 96: a cheaper, unbiased estimate), else
        the mean squared error."""
        if self.architecture != "eigen":
            return ops.mean(ops.reshape((x_hat - x) ** 2, (ops.shape(x)[0], -1)), axis=1)
        stride = 3 if self.packing.num_subcarriers > 96 else 1
        hr, hi = self.packing._unpack_parts(x, stride)
        gr, gi = self.eigen.csi_parts(x_hat, stride)
        return 1.0 - sgcs_parts(hr, hi, gr, gi)

    def to_csi(self, x_hat):
        """Packed angular-delay estimate (CsiNet, CRNet) or per-subband directions (``eigen``) ->
        complex spatial-frequency estimate."""
        return self.eigen.to_csi(x_hat) if self.architecture == "eigen" else self.packing.unpack(x_hat)

    # ---- the codec contract (packed level) ----------------------------------------------
    def forward_packed(self, x, y=None, training=False, channel=None, num_inference_steps=None):
        """Differentiable pass: tanh latent, uniform quantiser with straight-through gradient (or
        its bits, relaxed, through ``channel``), decoder."""
        c, beam, kept = self._encode_parts(x, training)
        if channel is None:
            c_hat = self.quantizer(c)["z_hat"]
        else:  # (eigen: the centring beam's bits are not sent through the hook)
            c_hat = self.quantizer.from_soft_bits(channel(self.quantizer.relaxed_bits(c)))
        return {"x_hat": self.decode_latent(c_hat, y, training, beam=beam, kept=kept), "aux_loss": ops.zeros(())}

    def compress_packed(self, x):
        return self.encode_bits(x)

    def decompress_packed(self, payload, y=None, num_inference_steps=None):
        return self.decode_bits(as_bits(payload, self.payload_bits), y, num_inference_steps=num_inference_steps)

    def encode_bits(self, x):
        """Packed `[batch, H, W, 2]` -> bits `[batch, payload_bits]` int32 (``eigen``: the centring
        beam's index first, then the kept beams' combinatorial index)."""
        c, beam, kept = self._encode_parts(x)
        bits = self._latent_bits(c)
        return ops.concatenate([self._encode_header(beam, kept), bits], -1) if self.header_bits else bits

    def _latent_bits(self, c):
        """Latents -> their bits `[batch, n * bits_per_value]` (a subclass with another quantiser overrides)."""
        return indices_to_bits(self.quantizer.indices(c), self.bits_per_value)

    def _decode_latent_bits(self, bits, y, beam, kept, num_inference_steps=None):
        """The latents' bits (after the header) -> packed estimate (a subclass overrides)."""
        return self.decode_latent(self.quantizer.dequantize(bits_to_indices(bits, self.bits_per_value)), y,
                                  beam=beam, kept=kept)

    def decode_bits(self, bits, y=None, num_inference_steps=None):
        """bits `[batch, payload_bits]` (+ packed UL CSI) -> packed estimate `[batch, H, W, 2]`."""
        if tuple(bits.shape)[1:] != (self.payload_bits,):
            raise ValueError(f"`bits` must be [batch, {self.payload_bits}], got {tuple(bits.shape)}.")
        beam = kept = None
        if self.header_bits:
            beam, kept = self._decode_header(bits[:, :self.header_bits])
            bits = bits[:, self.header_bits:]
        return self._decode_latent_bits(bits, y, beam, kept, num_inference_steps)

    def get_config(self):
        return {**super().get_config(), "architecture": self.architecture, "num_bits": self.num_bits,
                "bits_per_value": self.bits_per_value, "input_size": list(self.input_size),
                "side_info": self.side_info, "num_subbands": self.num_subbands, "hidden_width": self.hidden_width,
                "beam_oversampling": self.beam_oversampling, "kept_beams": self.kept_beams,
                "residual_blocks": self.residual_blocks, "linear_path": self.linear_path}

r"""The one contract every learned feedback model follows (the CompressAI pattern, in Keras 3).

A :class:`LearnedCodec` is a ``keras.Model`` (on the torch backend also a ``torch.nn.Module``)
with three entry points, all on complex spatial-frequency CSI `[batch, num_ant, num_subcarriers]`:

``call(h, side_info=None, training=False, channel=None)``
    Differentiable end to end: crop, normalise and pack (:class:`AngularDelayPacking`), encode,
    relax the quantiser (straight-through / soft bits), optionally pass the payload through a
    user ``channel``, decode, unpack. Returns a dict: ``h_hat`` (complex estimate, normalised so
    that its cropped channel has unit mean power per entry), ``x_hat`` (the packed estimate),
    ``scale`` (the per-sample RMS the UE divided by, never sent), ``aux_loss`` (codebook or rate
    terms training needs) and model-specific entries.
``compress(h)``
    The exact UE side: bits `[batch, payload_bits]` int32 (digital models) or complex channel
    symbols (analog models).
``decompress(payload, side_info=None)``
    The exact BS side: payload (+ UL CSI) -> complex estimate, as ``h_hat`` above.

The channel hook. For a digital model, ``channel`` receives the payload bits as a float tensor
`[batch, payload_bits]` with values 0/1 whose gradient is a straight-through surrogate of the
quantiser, and must return the probability that each bit is 1 (hard bits are a special case;
a Sionna demapper's LLRs give ``sigmoid(llr)``). The decoder reads these soft bits linearly
(scalar quantisers) or as a distribution over codewords (VQ), so gradients flow from the loss,
through the user's Sionna blocks, to the UE encoder. Without a channel the model uses its
usual straight-through estimator (what ``csifb train`` trains).

Training. :meth:`LearnedCodec.training_loss` is the model's objective (MSE of the packed
estimate for autoencoders, eq. (7) for the diffusion codec) and :meth:`compute_loss` makes
``model.compile(optimizer=...)`` + ``model.fit(x=(h, h_uplink), y=target)`` train the same
objective; ``csifb train`` calls :meth:`training_loss` in its own loop. Both save the same
weights format.

Everything here uses ``keras.ops`` only (no torch).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from ..layers.csi_packing import AngularDelayPacking

__all__ = ["LearnedCodec", "as_bits", "eager_true"]


def eager_true(condition) -> bool:
    """``bool(condition)`` for an eager tensor; False for a symbolic one (inside a compiled
    graph, e.g. ``fit`` on the TensorFlow backend without ``run_eagerly``), where the
    input checks that need a value cannot run."""
    try:
        return bool(ops.convert_to_numpy(condition))
    except Exception:  # a graph tensor has no value yet
        return False


def as_bits(bits, width: int):
    """Check a digital payload: `[batch, width]` of 0/1 integers; returns int32.

    Raises:
        ValueError: wrong shape, or values other than 0 and 1.

    Examples:
        >>> tuple(as_bits(keras.ops.ones((2, 5), dtype="uint8"), 5).shape)
        (2, 5)
    """
    shape = tuple(bits.shape)
    if len(shape) != 2 or shape[1] != width:
        raise ValueError(f"`payload` must be bits [batch, {width}], got shape {shape}.")
    b = ops.cast(bits, "int32")
    if eager_true(ops.any((b != 0) & (b != 1))):
        raise ValueError("`payload` must hold only 0 and 1.")
    return b


class LearnedCodec(keras.Model):
    """Base class of the learned feedback models (see the module docstring).

    Subclasses set ``input_size`` (angular-delay grid (N, T)), ``side_info``, ``kind``, call
    :meth:`_init_packing` last in ``__init__``, and implement :meth:`forward_packed`, :meth:`compress_packed`,
    :meth:`decompress_packed` and ``payload_bits``.

    Args:
        num_subcarriers: int or None. Subcarriers F of the spatial-frequency CSI (the
            scenario's); None: F = T (the input is already cropped, e.g. COST2100 ``HT``).
        window_start: int. First kept delay tap of the crop (the scenario's).
    """

    kind = "digital"

    def __init__(self, num_subcarriers: int | None = None, window_start: int = 0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.num_subcarriers = None if num_subcarriers is None else int(num_subcarriers)
        self.window_start = int(window_start)

    def _init_packing(self) -> None:
        """Create the packing layer and every weight (the shapes are fixed by the config, so the
        model is built at construction: ``fit``, optimisers and ``load_weights`` see all weights)."""
        n, t = self.input_size
        self.packing = AngularDelayPacking(n, self.num_subcarriers or t, t, self.window_start)
        self.build()

    def build(self, input_shape=None):
        """Create every weight by one pass on a zero packed batch (the input shape is fixed by
        the config, so ``input_shape`` is ignored)."""
        if self.built:
            return
        n, t = self.input_size
        x = ops.zeros((1, n, t, 2))
        self.forward_packed(x, x if self.side_info else None, num_inference_steps=1)
        self.built = True

    # ---- format --------------------------------------------------------------------------
    @property
    def csi_shape(self) -> tuple[int, int]:
        """(num_ant, num_subcarriers) of the complex CSI the codec takes."""
        return self.packing.num_ant, self.packing.num_subcarriers

    @staticmethod
    def _split(h, side_info):
        """``model.fit`` passes the inputs as one structure: (h, side_info) or a dict."""
        if isinstance(h, dict):
            return h["h"], h.get("side_info", side_info)
        if isinstance(h, (tuple, list)):
            if len(h) not in (1, 2):
                raise ValueError(f"inputs must be h or (h, side_info), got a sequence of {len(h)}.")
            return h[0], (h[1] if len(h) == 2 else side_info)
        return h, side_info

    def pack(self, h, name: str = "h", scale=None):
        """Complex CSI -> (packed `[B, N, T, 2]`, scale `[B]`); an all-zero sample raises."""
        x, s = self.packing(h, scale)
        if scale is None and eager_true(ops.any(s <= 0)):
            raise ValueError(f"`{name}` holds an all-zero sample: there is no channel to feed back.")
        return x, s

    def pack_side_info(self, side_info):
        """UL CSI (normalised by its own RMS) packed, or None for a model without side information."""
        if not self.side_info:
            return None
        if side_info is None:
            raise ValueError(f"{type(self).__name__} was built with side_info=True: pass the UL CSI "
                             "`side_info` (complex [batch, num_ant, num_subcarriers]).")
        return self.pack(side_info, "side_info")[0]

    # ---- the contract ----------------------------------------------------------------------
    def call(self, h, side_info=None, training=False, channel=None, num_inference_steps=None, **kwargs):
        out = self._forward(h, side_info, training=training, channel=channel, num_inference_steps=num_inference_steps,
                            **kwargs)
        out["h_hat"] = self.to_csi(out["x_hat"])
        return out

    def to_csi(self, x_hat):
        """The decoder's output -> complex spatial-frequency estimate `[B, N, F]` (the packed
        angular-delay estimate unpacked; a model with another output format overrides this)."""
        return self.packing.unpack(x_hat)

    def _forward(self, h, side_info, **kwargs) -> dict:
        """Pack ``h`` (and the side information), run :meth:`forward_packed`, add ``scale``."""
        h, side_info = self._split(h, side_info)
        x, scale = self.pack(h)
        out = self.forward_packed(x, self.pack_side_info(side_info), **kwargs)
        out["scale"] = scale
        return out

    def compress(self, h, **kwargs):
        """UE side, exact: complex CSI -> payload (bits `[batch, payload_bits]` int32 for digital models;
        analog models take ``snr_db`` and give complex symbols)."""
        self._check_finite(h, "h")
        return self.compress_packed(self.pack(h)[0], **kwargs)

    def decompress(self, payload, side_info=None, num_inference_steps=None, **kwargs):
        """BS side, exact: payload (+ UL CSI) -> complex estimate `[batch, num_ant, num_subcarriers]`."""
        if side_info is not None:
            self._check_finite(side_info, "side_info")
        y = self.pack_side_info(side_info)
        return self.to_csi(self.decompress_packed(payload, y, num_inference_steps=num_inference_steps, **kwargs))

    @staticmethod
    def _check_finite(h, name):
        if not bool(np.isfinite(ops.convert_to_numpy(ops.view_as_real(h) if "complex" in str(h.dtype)
                                                     else h)).all()):
            raise ValueError(f"`{name}` contains NaN or Inf.")

    # ---- training --------------------------------------------------------------------------
    def objective(self, outputs, target):
        """Loss from :meth:`call`'s outputs and the complex target (default: MSE of the packed
        estimate against the target in the measured CSI's units, plus ``aux_loss``)."""
        xt, _ = self.pack(target, "target", scale=outputs["scale"])
        return ops.mean((outputs["x_hat"] - xt) ** 2) + outputs["aux_loss"]

    def training_loss(self, h, side_info=None, target=None):
        """The model's training objective on one batch (``target`` None: reconstruction of ``h``)."""
        out = self(h, side_info, training=True)
        return self.objective(out, h if target is None else target)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """``model.fit`` hook: x = h or (h, side_info), y = target (None: reconstruction)."""
        if sample_weight is not None:
            raise ValueError(f"{type(self).__name__} does not support sample weights.")
        h, _ = self._split(x, None)
        return self.objective(y_pred, h if y is None else y)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        """Only the loss is tracked (the outputs are a dict of complex and auxiliary tensors)."""
        return {m.name: m.result() for m in self.metrics}

    # ---- to implement ------------------------------------------------------------------------
    def forward_packed(self, x, y=None, training=False, channel=None, num_inference_steps=None) -> dict:
        """Packed input (+ packed UL CSI) -> dict with ``x_hat`` and ``aux_loss``."""
        raise NotImplementedError

    def compress_packed(self, x):
        raise NotImplementedError

    def decompress_packed(self, payload, y=None, num_inference_steps=None):
        raise NotImplementedError

    def get_config(self):
        return {**super().get_config(), "num_subcarriers": self.num_subcarriers, "window_start": self.window_start}

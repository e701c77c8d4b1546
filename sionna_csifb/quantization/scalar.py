r"""Uniform scalar quantisation of a tanh-bounded latent (CsiNet/CRNet as Kim et al. adapted them).

The latent $c \in [-1, 1]$ is quantised to $2^B$ uniform levels, midpoints of equal bins:
$q(c) = (\lfloor (c+1)/2 \cdot 2^B \rfloor + 0.5) \cdot 2/2^B - 1$ (clipped), with the
straight-through estimator $c + \mathrm{sg}[q(c) - c]$.
"""

from __future__ import annotations

import keras
from keras import layers, ops

from .._validation import check_positive_int
from .vector import indices_to_bits

__all__ = ["UniformQuantizer"]


@keras.saving.register_keras_serializable(package="sionna_csifb")
class UniformQuantizer(layers.Layer):
    """B-bit uniform quantiser on [-1, 1] with a straight-through gradient.

    Args:
        num_bits: int. Bits per element (the paper: 6).

    Call arguments:
        c: `[batch, n]`, float32 in [-1, 1].

    Returns:
        dict: ``"z_hat"`` `[batch, n]` float32 (straight-through), ``"indices"`` `[batch, n]` int32.

    Examples:
        >>> q = UniformQuantizer(2)
        >>> keras.ops.convert_to_numpy(q(keras.ops.convert_to_tensor([[-1.0, -0.1, 0.6, 1.0]]))["indices"]).tolist()
        [[0, 1, 3, 3]]
    """

    def __init__(self, num_bits: int = 6, **kwargs) -> None:
        super().__init__(**kwargs)
        self.num_bits = check_positive_int(num_bits, "num_bits")

    @property
    def levels(self) -> int:
        return 2 ** self.num_bits

    def indices(self, c):
        i = ops.floor((ops.clip(c, -1.0, 1.0) + 1.0) / 2.0 * self.levels)
        return ops.cast(ops.clip(i, 0, self.levels - 1), "int32")

    def dequantize(self, indices):
        return (ops.cast(indices, "float32") + 0.5) * 2.0 / self.levels - 1.0

    def _bit_weights(self):
        """Place values of the bits, MSB first: index = sum_k w_k b_k."""
        return 2.0 ** ops.arange(self.num_bits - 1, -1, -1, dtype="float32")

    def relaxed_bits(self, c):
        """Bits of the quantised latent, `[batch, n * num_bits]` float 0/1 (MSB first), with a
        straight-through gradient through the binary expansion: through an identity channel and
        :meth:`from_soft_bits` the latent gets exactly the gradient of :meth:`call`'s estimator."""
        n = self.num_bits
        dv = 2.0 * self._bit_weights() / self.levels                        # d value / d b_k
        a = dv / ops.sum(dv ** 2)                                           # sum_k dv_k a_k = 1
        hard = ops.cast(indices_to_bits(self.indices(c), n), "float32")
        surrogate = ops.reshape(a[None, None, :] * (c - ops.stop_gradient(c))[..., None], (ops.shape(c)[0], -1))
        return hard + surrogate

    def from_soft_bits(self, p):
        """Latent values from bit probabilities `[batch, n * num_bits]` (linear in the bits: the
        expected value; hard bits give :meth:`dequantize`)."""
        idx = ops.sum(ops.reshape(ops.cast(p, "float32"), (ops.shape(p)[0], -1, self.num_bits)) * self._bit_weights(),
                      axis=-1)
        return self.dequantize(idx)

    def call(self, c):
        idx = self.indices(c)
        q = self.dequantize(idx)
        return {"z_hat": c + ops.stop_gradient(q - c), "indices": idx}

    def get_config(self):
        return {**super().get_config(), "num_bits": self.num_bits}

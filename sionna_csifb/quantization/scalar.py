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

__all__ = ["UniformQuantizer", "MuLawQuantizer", "shared_dither"]


def shared_dither(seed: int, first_report: int, batch: int, size: int):
    """Dither of universal (dithered) quantisation, `[batch, size]` float32 in [-0.5, 0.5):
    report ``first_report + i`` gets its own, drawn from ``(seed, report number)`` so that UE and
    BS, sharing the seed and the report count, draw the same (NumPy's PCG64: identical on every
    machine). Quantisation is then ``s = round(t - d)``, reconstruction ``s + d``: the error is
    uniform and independent of the signal, exactly the additive-noise training relaxation.

    Examples:
        >>> import numpy as np
        >>> d = shared_dither(7, 10, 2, 3)
        >>> d.shape, bool(np.all(np.abs(d) <= 0.5)), bool(np.array_equal(d[1], shared_dither(7, 11, 1, 3)[0]))
        ((2, 3), True, True)
    """
    import numpy as np

    rows = [np.random.default_rng([int(seed), int(first_report) + i]).random(size) - 0.5 for i in range(batch)]
    return np.asarray(rows, "float32").reshape(batch, size)


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

    def compand(self, c):
        """The companding curve applied before the uniform grid (identity here)."""
        return c

    def expand(self, v):
        """Inverse of :meth:`compand`."""
        return v

    def continuous_index(self, c):
        """The latent on the index axis: level ``i`` covers ``[i - 0.5, i + 0.5)``, so that
        :meth:`indices` is this value rounded (what entropy models see, with additive noise)."""
        return (self.compand(ops.clip(c, -1.0, 1.0)) + 1.0) / 2.0 * self.levels - 0.5

    def indices(self, c):
        i = ops.floor(self.continuous_index(c) + 0.5)
        return ops.cast(ops.clip(i, 0, self.levels - 1), "int32")

    def dequantize(self, indices):
        """Indices (or continuous index values) -> latent values."""
        return self.expand((ops.cast(indices, "float32") + 0.5) * 2.0 / self.levels - 1.0)

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


@keras.saving.register_keras_serializable(package="sionna_csifb")
class MuLawQuantizer(UniformQuantizer):
    r"""B-bit mu-law companding quantiser (STQENet): the latent is compressed by
    $f(c) = \mathrm{sign}(c) \ln(1 + \mu |c|) / \ln(1 + \mu)$, quantised on the uniform grid of
    :class:`UniformQuantizer`, and expanded by $f^{-1}$; finer steps near zero, where most of a
    latent's mass is. Straight-through gradient as the uniform quantiser.

    Args:
        num_bits: int. Bits per element.
        mu: float. Companding strength (> 0; STQENet: 255 as in G.711 is the usual value; our default 50).

    Examples:
        >>> q = MuLawQuantizer(3, mu=50.0)
        >>> keras.ops.convert_to_numpy(q(keras.ops.convert_to_tensor([[-1.0, 0.01, 0.2, 1.0]]))["indices"]).tolist()   # uniform: 0, 4, 4, 7
        [[0, 4, 6, 7]]
    """

    def __init__(self, num_bits: int = 6, mu: float = 50.0, **kwargs) -> None:
        super().__init__(num_bits, **kwargs)
        if not float(mu) > 0:
            raise ValueError(f"`mu` must be > 0, got {mu!r}.")
        self.mu = float(mu)

    def compand(self, c):
        return ops.sign(c) * ops.log1p(self.mu * ops.abs(c)) / ops.log1p(ops.convert_to_tensor(self.mu))

    def expand(self, v):
        return ops.sign(v) * ops.expm1(ops.abs(v) * ops.log1p(ops.convert_to_tensor(self.mu))) / self.mu

    def get_config(self):
        return {**super().get_config(), "mu": self.mu}

r"""Entropy models as Keras layers: the probability of a quantisation bin, hence the rate.

Both layers return the likelihood $P(\hat u)$ of the unit-width bin around each value
(additive uniform noise $u + \mathcal{U}(-\tfrac12, \tfrac12)$ in training, the rounded value
at test time); the rate of a report is $-\sum \log_2 P$ bits.

* :class:`FactorizedDensity`: one learned univariate density per channel, the non-parametric
  cumulative of Ballé et al. (2018, appendix 6.1): a chain of 1-D affine maps with positive
  (softplus) matrices and tanh gates, whose sigmoid is a valid CDF.
* :class:`GaussianConditional`: a zero-mean Gaussian per element whose scale the hyperprior
  predicts; ``SCALE_TABLE`` holds the scales the coder quantises it to.

All in ``keras.ops``; the integer tables the range coder uses are frozen from these layers by
:mod:`sionna_csifb.entropy.coding`.
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import layers, ops

from .._validation import check_positive_int

__all__ = ["FactorizedDensity", "GaussianConditional", "SCALE_TABLE", "bits_from_likelihood"]

#: The smallest bin likelihood (a symbol costs at most 16 bits): the floor of the coder's
#: 16-bit integer tables, so estimated and actual rates agree in the tails too.
LIKELIHOOD_BOUND = 2.0 ** -16

#: The scales (index units) the coder quantises the hyperprior's predictions to: 64 steps,
#: log-spaced from 0.11 (a bin of almost all mass) to 64 (an entire 64-level alphabet).
SCALE_TABLE = np.exp(np.linspace(math.log(0.11), math.log(64.0), 64))


def bits_from_likelihood(likelihood):
    """Bits per sample: ``-sum(log2(likelihood))`` over every axis but the first."""
    b = -ops.log(likelihood) / math.log(2.0)
    return ops.sum(ops.reshape(b, (ops.shape(b)[0], -1)), axis=-1)


@keras.saving.register_keras_serializable(package="sionna_csifb")
class FactorizedDensity(layers.Layer):
    """Learned per-channel density of ``[batch, channels]`` values; returns bin likelihoods.

    Args:
        channels: int. Number of independent channels (latent elements).
        filters: tuple of int. Hidden widths of the cumulative's 1-D chain (Ballé: (3, 3, 3)).
        init_scale: float. Initial width of the density (in the values' units).

    Call arguments:
        u: `[batch, channels]` float32.

    Returns:
        `[batch, channels]` float32 likelihoods in (0, 1].

    Examples:
        >>> d = FactorizedDensity(4)
        >>> p = d(keras.ops.zeros((2, 4)))
        >>> tuple(p.shape), bool(keras.ops.all(p > 0))
        ((2, 4), True)
    """

    def __init__(self, channels: int, filters=(3, 3, 3), init_scale: float = 10.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.channels = check_positive_int(channels, "channels")
        self.filters = tuple(check_positive_int(f, "filters") for f in filters)
        self.init_scale = float(init_scale)
        dims = (1, *self.filters, 1)
        scale = self.init_scale ** (1.0 / (len(self.filters) + 1))
        self.matrices, self.biases, self.factors = [], [], []
        for i in range(len(self.filters) + 1):
            init = math.log(math.expm1(1.0 / scale / dims[i + 1]))
            self.matrices.append(self.add_weight(shape=(self.channels, dims[i + 1], dims[i]), name=f"matrix{i}",
                                                 initializer=keras.initializers.Constant(init)))
            self.biases.append(self.add_weight(shape=(self.channels, dims[i + 1], 1), name=f"bias{i}",
                                               initializer=keras.initializers.RandomUniform(-0.5, 0.5, seed=i)))
            if i < len(self.filters):
                self.factors.append(self.add_weight(shape=(self.channels, dims[i + 1], 1), name=f"factor{i}",
                                                    initializer="zeros"))

    def _logits_cumulative(self, v):
        """v `[channels, 1, n]` -> logits of the CDF at v, same shape."""
        for i, (m, b) in enumerate(zip(self.matrices, self.biases)):
            v = ops.matmul(ops.softplus(m), v) + b
            if i < len(self.factors):
                v = v + ops.tanh(self.factors[i]) * ops.tanh(v)
        return v

    def call(self, u):
        if len(tuple(u.shape)) != 2 or tuple(u.shape)[1] != self.channels:
            raise ValueError(f"`u` must be [batch, {self.channels}], got {tuple(u.shape)}.")
        v = ops.transpose(ops.cast(u, "float32"))[:, None, :]
        lower = self._logits_cumulative(v - 0.5)
        upper = self._logits_cumulative(v + 0.5)
        sign = -ops.sign(lower + upper)  # evaluate in the tail where the sigmoid is accurate
        lik = ops.abs(ops.sigmoid(sign * upper) - ops.sigmoid(sign * lower))
        return ops.maximum(ops.transpose(lik[:, 0, :]), LIKELIHOOD_BOUND)

    def bin_probabilities(self, support: np.ndarray) -> np.ndarray:
        """`[channels, len(support)]` float64: each channel's likelihood of the bins centred on
        ``support`` (for freezing the coder's tables)."""
        u = ops.convert_to_tensor(np.repeat(np.asarray(support, "float32")[:, None], self.channels, 1))
        return ops.convert_to_numpy(self(u)).astype("float64").T

    def get_config(self):
        return {**super().get_config(), "channels": self.channels, "filters": list(self.filters),
                "init_scale": self.init_scale}


@keras.saving.register_keras_serializable(package="sionna_csifb")
class GaussianConditional(layers.Layer):
    r"""Bin likelihoods of zero-mean Gaussians with given scales:
    $P(u) = \Phi((\tfrac12 - |u|)/\sigma) - \Phi((-\tfrac12 - |u|)/\sigma)$, scales clipped to
    ``SCALE_TABLE``'s range.

    Call arguments:
        u: `[batch, n]` float32. Values (centred).
        scale: `[batch, n]` float32 > 0.

    Examples:
        >>> g = GaussianConditional()
        >>> p = g(keras.ops.zeros((1, 2)), keras.ops.ones((1, 2)))
        >>> [round(float(v), 4) for v in keras.ops.convert_to_numpy(p)[0]]   # Phi(0.5) - Phi(-0.5)
        [0.3829, 0.3829]
    """

    @staticmethod
    def _cdf(v):
        return 0.5 * ops.erfc(-v / math.sqrt(2.0))

    def call(self, u, scale):
        s = ops.clip(ops.cast(scale, "float32"), float(SCALE_TABLE[0]), float(SCALE_TABLE[-1]))
        a = ops.abs(ops.cast(u, "float32"))
        lik = self._cdf((0.5 - a) / s) - self._cdf((-0.5 - a) / s)
        return ops.maximum(lik, LIKELIHOOD_BOUND)

    @staticmethod
    def bin_probabilities(support: np.ndarray, scales: np.ndarray = SCALE_TABLE) -> np.ndarray:
        """`[len(scales), len(support)]` float64 bin probabilities (for freezing the tables)."""
        from scipy.special import ndtr

        a = np.abs(np.asarray(support, "float64"))[None, :]
        s = np.asarray(scales, "float64")[:, None]
        return ndtr((0.5 - a) / s) - ndtr((-0.5 - a) / s)

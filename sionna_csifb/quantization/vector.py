r"""Vector quantisation with a trainable codebook (van den Oord et al.; Kim et al. eq. 2).

Each latent vector $c$ (channels-last) is replaced by its nearest codeword $e$ in L2; the
forward pass uses $e$, the backward pass the straight-through estimate
$c + \mathrm{sg}[e - c]$. The codebook/commitment loss of eq. (2) is
$L_{cb} = \|\mathrm{sg}[c] - e\|^2 + \|c - \mathrm{sg}[e]\|^2$ (mean over elements).
Indices are packed MSB-first into $\log_2 N_v$ bits each.
"""

from __future__ import annotations

import math

import keras
from keras import layers, ops

from .._validation import check_positive_int

__all__ = ["VectorQuantizer", "indices_to_bits", "bits_to_indices"]


def indices_to_bits(indices, bits_per_index: int):
    """`[batch, n]` int -> `[batch, n * bits_per_index]` int (0/1), MSB first.

    Examples:
        >>> keras.ops.convert_to_numpy(indices_to_bits(keras.ops.convert_to_tensor([[2, 1]]), 2)).tolist()
        [[1, 0, 0, 1]]
    """
    shifts = ops.arange(bits_per_index - 1, -1, -1, dtype="int32")
    b = ops.bitwise_and(ops.right_shift(ops.cast(indices, "int32")[..., None], shifts), 1)
    return ops.reshape(b, (ops.shape(indices)[0], -1))


def bits_to_indices(bits, bits_per_index: int):
    """Inverse of :func:`indices_to_bits`."""
    b = ops.reshape(ops.cast(bits, "int32"), (ops.shape(bits)[0], -1, bits_per_index))
    weights = ops.cast(2 ** ops.arange(bits_per_index - 1, -1, -1, dtype="int32"), "int32")
    return ops.sum(b * weights, axis=-1)


# default dead-codeword threshold (fraction of the uniform rate) of the VQ's restart
DEAD_THRESHOLD = 0.03


@keras.saving.register_keras_serializable(package="sionna_csifb")
class VectorQuantizer(layers.Layer):
    r"""Nearest-codeword quantiser with a trainable codebook and straight-through gradient.

    Args:
        num_codewords: int. Codebook size Nv (a power of two, so indices fill whole bits).
        codeword_dim: int. Size of each codeword N_Ebd (the latent's channel count).
        dead_threshold: float. During training, codewords chosen less often than this
            fraction of the uniform rate (running average) are restarted at random latents.
        balance_weight: float. Weight of the usage-balance term added to the loss during
            training, $1 - H(\bar p)/\log N_v$, with $\bar p$ the batch mean of the soft
            assignments $\mathrm{softmax}(-\lVert c_n - e_i\rVert^2/\tau)$ ($\tau$ the mean spread
            of the distances, no gradient): 0 when every codeword is used equally often. Its
            gradient moves the codewords (and the encoder) so that the index entropy approaches
            the bits sent (0: off, the paper's loss).
        seed: int or None.

    Call arguments:
        c: `[batch, ..., codeword_dim]`, float32. Continuous latent.
        training: bool. Track usage and restart dead codewords.

    Returns:
        dict: ``"z_hat"`` (same shape as ``c``, straight-through), ``"indices"``
        `[batch, ...]` int32, ``"loss"`` scalar codebook + commitment loss (eq. 2) (+ the
        weighted balance term when training), ``"balance"`` the balance term (0 when not training).

    Examples:
        >>> vq = VectorQuantizer(4, 3, seed=0)
        >>> out = vq(keras.ops.ones((2, 2, 2, 3)))
        >>> tuple(out["indices"].shape), vq.bits_per_index
        ((2, 2, 2), 2)
    """

    def __init__(self, num_codewords: int, codeword_dim: int, dead_threshold: float = DEAD_THRESHOLD,
                 seed: int | None = None, balance_weight: float = 0.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.num_codewords = check_positive_int(num_codewords, "num_codewords")
        if self.num_codewords & (self.num_codewords - 1):
            raise ValueError(f"`num_codewords` must be a power of two, got {num_codewords}.")
        self.codeword_dim = check_positive_int(codeword_dim, "codeword_dim")
        self.dead_threshold = float(dead_threshold)
        if not (math.isfinite(self.dead_threshold) and 0 <= self.dead_threshold < 1):
            raise ValueError(f"`dead_threshold` must be in [0, 1), got {dead_threshold}.")
        self.balance_weight = float(balance_weight)
        if not math.isfinite(self.balance_weight) or self.balance_weight < 0:
            raise ValueError(f"`balance_weight` must be >= 0, got {balance_weight}.")
        self.seed = seed
        self._seed_gen = keras.random.SeedGenerator(seed)

    @property
    def bits_per_index(self) -> int:
        return max(1, int(math.log2(self.num_codewords)))

    def build(self, c_shape):
        if c_shape[-1] != self.codeword_dim:
            raise ValueError(f"latent channels must equal `codeword_dim`={self.codeword_dim}, got {c_shape[-1]}.")
        self.codebook = self.add_weight(name="codebook", shape=(self.num_codewords, self.codeword_dim),
                                        initializer=keras.initializers.RandomUniform(-1.0, 1.0, seed=self.seed))
        self.usage = self.add_weight(name="usage", shape=(self.num_codewords,), trainable=False,
                                     initializer=keras.initializers.Constant(1.0 / self.num_codewords))

    def _ensure_built(self):
        if not self.built:
            self.build((None, self.codeword_dim))
            self.built = True

    def nearest(self, c):
        """Indices of the nearest codewords, `[batch, ...]` int32."""
        self._ensure_built()
        flat = ops.reshape(c, (-1, self.codeword_dim))
        return ops.reshape(ops.cast(ops.argmin(self._distances(flat), axis=1), "int32"), ops.shape(c)[:-1])

    def lookup(self, indices):
        """Codewords for indices: `[batch, ...]` -> `[batch, ..., codeword_dim]`."""
        self._ensure_built()
        return ops.take(self.codebook, ops.cast(indices, "int32"), axis=0)

    def _distances(self, flat, codebook=None):
        cb = self.codebook if codebook is None else codebook
        return (ops.sum(flat ** 2, axis=1, keepdims=True) - 2 * ops.matmul(flat, ops.transpose(cb))
                + ops.sum(cb ** 2, axis=1)[None, :])

    def _index_bits(self):
        """`[num_codewords, bits_per_index]` float: the bits of every index, MSB first."""
        return ops.cast(indices_to_bits(ops.arange(self.num_codewords, dtype="int32")[:, None],
                                        self.bits_per_index), "float32")

    def relaxed_bits(self, c, temperature: float = 1.0):
        """Bits of the nearest codewords, `[batch, n * bits_per_index]` float 0/1, whose gradient
        is that of the soft assignment ``softmax(-||c - e_i||^2 / temperature)`` (soft-to-hard VQ):
        the relaxation used when the payload crosses a user's differentiable channel."""
        self._ensure_built()
        flat = ops.reshape(c, (-1, self.codeword_dim))
        d = self._distances(flat)
        ib = self._index_bits()
        soft = ops.matmul(ops.softmax(-d / temperature, axis=-1), ib)
        hard = ops.take(ib, ops.argmin(d, axis=1), axis=0)
        return ops.reshape(hard + soft - ops.stop_gradient(soft), (ops.shape(c)[0], -1))

    def lookup_soft_bits(self, p, latent_shape):
        """Expected codewords given bit probabilities `[batch, n * bits_per_index]` (P(bit = 1)):
        each index's probability is the product of its bits'; hard bits give :meth:`lookup`.
        Returns `[batch, *latent_shape, codeword_dim]`."""
        self._ensure_built()
        pb = ops.reshape(ops.cast(p, "float32"), (-1, 1, self.bits_per_index))
        ib = self._index_bits()[None]
        prob = ops.prod(ib * pb + (1 - ib) * (1 - pb), axis=-1)            # [M, num_codewords]
        e = ops.matmul(prob, self.codebook)
        return ops.reshape(e, (ops.shape(p)[0], *latent_shape, self.codeword_dim))

    def call(self, c, training=False):
        idx = self.nearest(c)
        e = self.lookup(idx)
        loss = ops.mean((ops.stop_gradient(c) - e) ** 2) + ops.mean((c - ops.stop_gradient(e)) ** 2)
        balance = ops.zeros(())
        if training:
            if self.balance_weight > 0 and self.num_codewords > 1:
                balance = self.balance(c)
                loss = loss + self.balance_weight * balance
            self._update_usage(c, idx)
        return {"z_hat": c + ops.stop_gradient(e - c), "indices": idx, "loss": loss, "balance": balance}

    def balance(self, c):
        """Usage-balance term of a batch: 1 - H(mean soft assignment) / log(num_codewords), in [0, 1]."""
        self._ensure_built()
        # (on a copy of the codebook: the restart assigns it in place before the backward pass)
        d = self._distances(ops.reshape(c, (-1, self.codeword_dim)), self.codebook + 0.0)
        tau = ops.stop_gradient(ops.mean(ops.abs(d - ops.mean(d, axis=1, keepdims=True)))) + 1e-6
        q = ops.mean(ops.softmax(-d / tau, axis=-1), axis=0)
        marginal = -ops.sum(q * ops.log(q + 1e-12))
        return 1.0 - marginal / math.log(self.num_codewords)

    def _update_usage(self, c, idx):
        counts = ops.sum(ops.one_hot(ops.reshape(idx, (-1,)), self.num_codewords), axis=0)
        frac = counts / ops.maximum(ops.sum(counts), 1.0)
        usage = 0.99 * self.usage + 0.01 * frac
        self.usage.assign(usage)
        dead = usage < self.dead_threshold / self.num_codewords
        # restart dead codewords at random latents of this batch (no Python branch on a tensor
        # value, so it also runs inside a compiled graph)
        flat = ops.stop_gradient(ops.reshape(c, (-1, self.codeword_dim)))
        pick = keras.random.randint((self.num_codewords,), 0, ops.shape(flat)[0], seed=self._seed_gen)
        self.codebook.assign(ops.where(dead[:, None], ops.take(flat, pick, axis=0), self.codebook))
        self.usage.assign(ops.where(dead, 1.0 / self.num_codewords, usage))

    def get_config(self):
        return {**super().get_config(), "num_codewords": self.num_codewords, "codeword_dim": self.codeword_dim,
                "dead_threshold": self.dead_threshold, "seed": self.seed, "balance_weight": self.balance_weight}



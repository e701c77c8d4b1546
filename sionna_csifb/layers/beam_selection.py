r"""Keep the L strongest orthogonal beams of centred per-subband directions, as eType II does,
and give their set a combinatorial index (``keras.ops`` only).

The centred beam-domain directions of :class:`~sionna_csifb.layers.subband_eigen.SubbandEigen`
hold most of their energy in a few of the N orthogonal DFT beams, but which ones changes from
drop to drop. A dense network cannot learn that support well (it then behaves like a linear
projection); eType II sends the support instead: the indices of its L beams. This layer does
the same for a learned codec: bin 0 (the centring beam, the strongest oversampled one) is always
kept, the other ``L - 1`` are the strongest by wideband power, and their set is sent as a
combinatorial index of ``ceil(log2 C(N - 1, L - 1))`` bits. The kept beams are put in an order
both ends know (circular distance from bin 0, then index), so the network always sees the beam
nearest the dominant path first.
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import layers, ops

from .._validation import check_positive_int

__all__ = ["BeamSelection"]


@keras.saving.register_keras_serializable(package="sionna_csifb")
class BeamSelection(layers.Layer):
    r"""The ``num_kept`` strongest of ``num_ant`` orthogonal beams of centred directions.

    Args:
        num_ant: int. Beams N (the antennas of the ULA).
        num_kept: int. Beams kept L, ``1 <= L <= N`` (bin 0 always among them).

    Call arguments:
        d: `[batch, num_subbands, num_ant, 2]` float. Centred beam-domain directions.

    Returns:
        tuple: the kept coefficients `[batch, num_subbands, num_kept, 2]` and their beams
        `[batch, num_kept]` int32 (bin 0 first, then by circular distance from it).

    Examples:
        >>> import numpy as np
        >>> sel = BeamSelection(8, 3)
        >>> d = np.zeros((1, 2, 8, 2), "float32"); d[0, :, 5, 0] = 2.0; d[0, :, 1, 1] = 1.0
        >>> coef, beams = sel(keras.ops.convert_to_tensor(d))
        >>> keras.ops.convert_to_numpy(beams).tolist(), sel.index_bits
        ([[0, 1, 5]], 5)
        >>> r = sel.index(beams)
        >>> keras.ops.convert_to_numpy(sel.unindex(r)).tolist()
        [[0, 1, 5]]
        >>> bool(keras.ops.all(sel.scatter(coef, beams) == keras.ops.convert_to_tensor(d)))
        True
    """

    def __init__(self, num_ant: int, num_kept: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.num_ant = check_positive_int(num_ant, "num_ant")
        self.num_kept = check_positive_int(num_kept, "num_kept")
        if self.num_kept > self.num_ant:
            raise ValueError(f"`num_kept` must be <= num_ant ({num_ant}), got {num_kept}.")
        n, k = self.num_ant - 1, self.num_kept - 1
        self.num_sets = math.comb(n, k)
        if self.num_sets >= 2 ** 31:
            raise ValueError(f"C({n}, {k}) beam sets do not fit a 31-bit index; keep fewer beams.")
        dist = np.minimum(np.arange(num_ant), num_ant - np.arange(num_ant))
        self._key = (dist * num_ant + np.arange(num_ant)).astype("int32")  # circular distance, then index
        # binomials C(x, i + 1) for x in [0, N - 2], i in [0, L - 2]
        self._binom = np.array([[math.comb(x, i + 1) for i in range(max(k, 1))] for x in range(max(n, 1))],
                               dtype="int32")

    @property
    def index_bits(self) -> int:
        """Bits of the beam-set index: ``ceil(log2 C(N - 1, L - 1))``."""
        return (self.num_sets - 1).bit_length()

    def build(self, input_shape=None):
        self.built = True

    def _canonical(self, beams):
        order = ops.argsort(ops.take(ops.convert_to_tensor(self._key), beams), axis=-1)
        return ops.take_along_axis(beams, order, axis=-1)

    def _onehot(self, beams):
        return ops.one_hot(beams, self.num_ant)  # [B, L, N]

    def call(self, d):
        shape = tuple(d.shape)
        if len(shape) != 4 or shape[2:] != (self.num_ant, 2):
            raise ValueError(f"`d` must be [batch, num_subbands, {self.num_ant}, 2], got {shape}.")
        p = ops.sum(ops.stop_gradient(d) ** 2, axis=(1, 3))  # wideband power per beam [B, N]
        p = ops.where(ops.arange(self.num_ant)[None] == 0, ops.max(p, axis=-1, keepdims=True) + 1.0, p)
        beams = self._canonical(ops.cast(ops.top_k(p, self.num_kept)[1], "int32"))
        return ops.einsum("bln,bsnc->bslc", self._onehot(beams), d), beams

    def scatter(self, coef, beams):
        """Kept coefficients `[B, S, L, 2]` back on their beams: `[B, S, N, 2]`, zeros elsewhere."""
        return ops.einsum("bln,bslc->bsnc", self._onehot(beams), coef)

    def features(self, beams):
        """What both ends know of the kept beams: the cosine and sine of their angle offsets from
        the centring beam, `[B, 2 L]`."""
        a = (2 * math.pi / self.num_ant) * ops.cast(beams, "float32")
        return ops.concatenate([ops.cos(a), ops.sin(a)], -1)

    def index(self, beams):
        """Beams `[B, L]` (bin 0 among them) -> combinatorial index `[B]` int32 of the other L - 1."""
        if self.num_kept == 1:
            return ops.zeros((ops.shape(beams)[0],), "int32")
        x = ops.sort(ops.cast(beams, "int32"), axis=-1)[:, 1:] - 1  # ascending, in [0, N - 2]
        k = self.num_kept - 1
        flat = ops.reshape(ops.convert_to_tensor(self._binom), (-1,))
        return ops.sum(ops.take(flat, x * k + ops.arange(k, dtype="int32")[None]), axis=-1)

    def unindex(self, r):
        """Combinatorial index `[B]` -> beams `[B, L]` in the canonical order. Raises
        ``ValueError`` for an index that names no beam set (a corrupted report)."""
        from ..models.codec import eager_true

        r = ops.cast(r, "int32")
        if eager_true(ops.any((r < 0) | (r >= self.num_sets))):
            raise ValueError(f"corrupted report: beam-set index outside [0, {self.num_sets}).")
        out = [ops.zeros_like(r)]
        binom = ops.convert_to_tensor(self._binom)
        for i in range(self.num_kept - 2, -1, -1):  # greedy: the largest x with C(x, i + 1) <= r
            col = binom[:, i]
            x = ops.sum(ops.cast(col[None] <= r[:, None], "int32"), axis=-1) - 1
            r = r - ops.take(col, x)
            out.append(x + 1)
        return self._canonical(ops.stack(out, -1))

    def compute_output_spec(self, d):
        return (keras.KerasTensor((d.shape[0], d.shape[1], self.num_kept, 2), "float32"),
                keras.KerasTensor((d.shape[0], self.num_kept), "int32"))

    def get_config(self):
        return {**super().get_config(), "num_ant": self.num_ant, "num_kept": self.num_kept}

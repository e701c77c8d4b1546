r"""An entropy model for the set of kept beams: the eType II-style beam index, range coded.

:class:`~sionna_csifb.layers.beam_selection.BeamSelection` keeps bin 0 (the centring beam) and
the ``L - 1`` strongest of the other ``N - 1`` orthogonal beams. A combinatorial index spends
``ceil(log2 C(N - 1, L - 1))`` bits on that set (22 bits for 8 of 32 beams) as if every set were
equally likely, but on 3GPP channels the kept beams crowd around the centring beam: the beam next
to it is kept in most drops, one half-way round in few. This model codes the set as ``N - 1``
binary flags, one per bin in the canonical order (circular distance from bin 0, then index: 1,
N-1, 2, N-2, ...). Flag ``j``'s probability depends on ``j``, on the number of beams kept so far
and on the flag of the same-side neighbour nearer bin 0 (flag ``j - 2``); a flag the count
already decides (none left to keep, or as many left as bins) costs nothing. On the UMa test set
this costs 10.3 bits for 8 of 32 beams instead of 22 (``benchmarks/beam_set_bits.py``).

The probabilities are integer tables (:func:`~sionna_csifb.entropy.coding.integer_pmf`), so UE
and BS code exactly alike; :meth:`BeamSetModel.uniform` is the combinatorial index's own
distribution (every set equally likely) and :meth:`BeamSetModel.fit` counts the sets of training
drops. Any table codes any set: an unusual set only costs more bits.
"""

from __future__ import annotations

import numpy as np
from keras import ops

from .coding import integer_pmf

__all__ = ["BeamSetModel"]


class BeamSetModel:
    """The coding of a kept-beam set (bin 0 and ``num_kept - 1`` others of ``num_ant``).

    Args:
        num_ant: int. Beams N.
        num_kept: int. Beams kept L (bin 0 among them), ``2 <= L <= N``.

    Examples:
        >>> import numpy as np
        >>> from sionna_csifb.entropy.coding import encode_segments, decode_sequential
        >>> bm = BeamSetModel(8, 3)
        >>> tab = bm.fit(np.array([[0, 1, 7]] * 50 + [[0, 1, 2]] * 10))
        >>> tab.shape
        (7, 3, 2, 2)
        >>> bits = encode_segments(bm.segments(np.array([0, 1, 7]), tab))
        >>> len(bits) < 3   # the common set: a bit or two (5 bits as an index)
        True
        >>> out = decode_sequential(bits, bm.table_fns(tab))
        >>> bm.beams_from_segments(out).tolist()
        [0, 1, 7]
    """

    def __init__(self, num_ant: int, num_kept: int) -> None:
        if not 2 <= num_kept <= num_ant:
            raise ValueError(f"a beam-set model needs 2 <= num_kept <= num_ant ({num_ant}), got {num_kept}.")
        self.num_ant, self.num_kept = int(num_ant), int(num_kept)
        dist = np.minimum(np.arange(num_ant), num_ant - np.arange(num_ant))
        self.order = np.argsort(dist * num_ant + np.arange(num_ant), kind="stable")[1:]  # bins 1.. canonical
        self.table_shape = (num_ant - 1, num_kept, 2, 2)  # position, kept so far, neighbour flag, symbol

    @property
    def num_flags(self) -> int:
        return self.num_ant - 1

    # ---- tables ---------------------------------------------------------------------------------
    def uniform(self) -> np.ndarray:
        """Integer tables under which every set is equally likely (the combinatorial index's
        distribution; about ``log2 C(N - 1, L - 1)`` bits per set)."""
        j = np.arange(self.num_flags)[:, None]
        c = np.arange(self.num_kept)[None]
        need, rem = self.num_kept - 1 - c, self.num_flags - j
        p1 = np.clip(np.where(rem > 0, need / np.maximum(rem, 1), 0.5), 0.0, 1.0)
        p = np.stack([1 - p1, p1], -1)[:, :, None, :].repeat(2, 2)
        return integer_pmf(np.clip(p, 1e-3, 1.0))

    def fit(self, beams, smoothing: float = 0.5) -> np.ndarray:
        """Integer tables from the kept beams of training drops (`[n, L]`): symbol counts per
        context plus ``smoothing``, mixed with the uniform model where a context was never seen."""
        f = self.flags(beams)
        counts = np.zeros(self.table_shape)
        c = np.zeros(len(f), np.int64)
        for j in range(self.num_flags):
            v, nb, live = f[:, j], self._neighbour(f, j), ~self._decided(j, c)
            np.add.at(counts, (j, c[live], nb[live], v[live]), 1.0)
            c += v
        uni = self.uniform()
        uni = uni / uni.sum(-1, keepdims=True)
        return integer_pmf((counts + smoothing * 2 * uni) / (counts.sum(-1, keepdims=True) + smoothing * 2))

    # ---- the flags ------------------------------------------------------------------------------
    def flags(self, beams) -> np.ndarray:
        """Kept beams `[n, L]` (bin 0 among them) -> flags `[n, N - 1]` int64 in canonical order."""
        b = np.asarray(beams, np.int64)
        if b.ndim != 2 or b.shape[1] != self.num_kept:
            raise ValueError(f"`beams` must be [n, {self.num_kept}], got shape {b.shape}.")
        onehot = np.zeros((len(b), self.num_ant), np.int64)
        np.put_along_axis(onehot, b, 1, axis=1)
        if not (onehot[:, 0] == 1).all() or not (onehot.sum(1) == self.num_kept).all():
            raise ValueError("`beams` must hold bin 0 and num_kept distinct beams per row.")
        return onehot[:, self.order]

    @staticmethod
    def _neighbour(f, j):
        return f[:, j - 2] if j >= 2 else np.ones(len(f), np.int64)

    def _decided(self, j, c):
        need = self.num_kept - 1 - c
        return (need == 0) | (need == self.num_flags - j)

    # ---- costs and coding ---------------------------------------------------------------------
    def bits(self, beams, table) -> "ops.Tensor":
        """Information content (bits) of each kept set `[B, L]` (a tensor) under ``table``: `[B]`
        float32, in ``keras.ops`` (the rate a training step counts; no gradient)."""
        onehot = ops.sum(ops.one_hot(ops.cast(beams, "int32"), self.num_ant), axis=1)  # [B, N]
        f = ops.cast(ops.take(onehot, ops.convert_to_tensor(self.order.astype("int32")), axis=1), "int32")
        t = ops.cast(ops.convert_to_tensor(table), "float32")  # (numpy, or the weights' tensor on any device)
        logp = ops.log2(t / ops.sum(t, -1, keepdims=True))
        logp = ops.reshape(logp, (-1,))
        c = ops.cumsum(f, axis=1) - f  # kept before position j
        nb = ops.concatenate([ops.ones_like(f[:, :2]), f[:, :-2]], 1)
        j = ops.arange(self.num_flags, dtype="int32")[None]
        need = self.num_kept - 1 - c
        live = ops.logical_not((need == 0) | (need == self.num_flags - j))
        L = self.num_kept
        flat = ((j * L + ops.minimum(c, L - 1)) * 2 + nb) * 2 + f
        return ops.sum(ops.where(live, -ops.take(logp, flat), 0.0), axis=1)

    def segments(self, beams, table) -> list[tuple[np.ndarray, np.ndarray]]:
        """One set `[L]` -> its ``(symbols, tables)`` segments for
        :func:`~sionna_csifb.entropy.coding.encode_segments` (a flag the count decides: empty)."""
        f = self.flags(np.asarray(beams)[None])[0]
        out, c = [], 0
        for j in range(self.num_flags):
            if self._decided(j, np.array([c]))[0]:
                out.append((np.zeros(0, np.int64), np.zeros((0, 2), np.int64)))
            else:
                nb = f[j - 2] if j >= 2 else 1
                out.append((f[j:j + 1], table[j, c, nb][None]))
            c += int(f[j])
        return out

    def _flags_of(self, decoded) -> list[int]:
        f, c = [], 0
        for j, s in enumerate(decoded):
            if self._decided(j, np.array([c]))[0]:
                v = int(self.num_kept - 1 - c > 0)
            else:
                v = int(s[0])
            f.append(v)
            c += v
        return f

    def table_fns(self, table) -> list:
        """The decoder's side: one function per flag for
        :func:`~sionna_csifb.entropy.coding.decode_sequential`, each giving the flag's table from
        the flags decoded before it (the beam segments must come first in the report)."""

        def fn(prev, j):
            f = self._flags_of(prev[:j])
            c = sum(f)
            if self._decided(j, np.array([c]))[0]:
                return np.zeros((0, 2), np.int64)
            nb = f[j - 2] if j >= 2 else 1
            return table[j, c, nb][None]

        return [lambda prev, j=j: fn(prev, j) for j in range(self.num_flags)]

    def beams_from_segments(self, decoded) -> np.ndarray:
        """The ``N - 1`` decoded flag segments -> kept beams `[L]` in the canonical order."""
        f = np.array(self._flags_of(decoded[:self.num_flags]), bool)
        return np.concatenate([[0], self.order[f]]).astype(np.int64)

r"""Exact entropy coding of reports: integer tables, range coding, bit-granular termination.

What the coder sees is integer, so the UE and the BS build bit-identical models whatever
device or library computed the network (the known desync of learned codecs comes from float
differences in the tables):

* :func:`integer_pmf` freezes probabilities into integer counts summing to
  ``2**PRECISION`` with every symbol at least 1 (every symbol stays encodable). The coder
  gets ``counts / 2**PRECISION``: exact dyadic floats, identical on every machine.
* :class:`IntegerMLP` is the hyperprior's scale network as an integer network (Ballé,
  Johnston and Minnen, "Integer networks for data compression with latent-variable models",
  2019): fixed-point weights, int64 arithmetic, the scale-table index by integer comparison.
* :func:`encode_segments` / :func:`decode_segments` run constriction's range coder
  (``constriction.stream.queue``, 32-bit words) over a report's segments, each a block of
  symbols with one table per symbol.

Bit-granular termination. A range coder emits whole 32-bit words, and its final flush is a
full word or two: for reports of tens to hundreds of bits that costs 10-30%. The decoder
reads missing bits as zeros, and an arithmetic codeword decodes correctly iff its value lies
in the final interval, and if an ``L``-bit value lies there so does an ``(L+1)``-bit one.
So the encoder finds the shortest ``L`` whose truncation
(or that prefix plus one unit in its last place: the two ``L``-bit values nearest the
coder's point) still decodes to the same symbols, by bisection, and sends exactly ``L`` bits;
the cost over the ideal information content is then about 1-2 bits per report.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

__all__ = ["CodingError", "VariableLengthBits", "PRECISION", "decode_sequential", "integer_pmf", "coarse_pmf", "IntegerMLP", "encode_segments", "decode_segments",
           "information_bits"]

class CodingError(ValueError):
    """A bitstream that cannot be decoded: corrupted, truncated, or made by another model."""


class VariableLengthBits(NamedTuple):
    """Variable-length reports: ``bits [batch, max_len]`` uint8 (zero-padded) and ``num_bits
    [batch]`` int64; report ``b`` is ``bits[b, :num_bits[b]]``."""

    bits: np.ndarray
    num_bits: np.ndarray

    @classmethod
    def from_list(cls, reports: list[np.ndarray]) -> "VariableLengthBits":
        n = np.array([len(r) for r in reports], "int64")
        out = np.zeros((len(reports), int(n.max()) if len(n) else 0), np.uint8)
        for i, r in enumerate(reports):
            out[i, : len(r)] = r
        return cls(out, n)

    def report(self, i: int) -> np.ndarray:
        return self.bits[i, : int(self.num_bits[i])]


#: Bits of the integer probability tables.
PRECISION = 16


def integer_pmf(prob: np.ndarray, precision: int = PRECISION) -> np.ndarray:
    """Freeze probabilities (last axis) into int64 counts that sum to ``2**precision``, each >= 1.

    Examples:
        >>> integer_pmf(np.array([0.5, 0.5, 0.0]), 4).tolist()
        [8, 7, 1]
    """
    p = np.asarray(prob, "float64")
    if p.ndim < 1 or not np.isfinite(p).all() or (p < 0).any():
        raise ValueError("`prob` must hold finite non-negative probabilities.")
    n = p.shape[-1]
    total = 1 << precision
    if n > total:
        raise ValueError(f"{n} symbols do not fit a {precision}-bit table.")
    s = p.sum(-1, keepdims=True)
    p = np.where(s > 0, p / np.where(s > 0, s, 1), 1.0 / n)
    counts = np.floor(p * (total - n)).astype("int64") + 1
    deficit = total - counts.sum(-1)  # in [0, n)
    order = np.argsort(-p, axis=-1, kind="stable")  # the largest probabilities take the rest
    rank = np.argsort(order, axis=-1, kind="stable")
    counts += (rank < deficit[..., None]).astype("int64")
    return counts


def coarse_pmf(counts: np.ndarray, step: int, offset: int = 0) -> np.ndarray:
    """Counts of the bins of ``step`` consecutive symbols (symbol ``i`` -> ``(i + offset) //
    step``): integer sums, so UE and BS derive identical coarse tables (rate-adaptive mode).

    Examples:
        >>> coarse_pmf(np.array([1, 2, 3, 4, 5]), 3, offset=1).tolist()
        [3, 12]
    """
    n = counts.shape[-1]
    m = -(-(n + offset) // step)
    pad_l = np.zeros((*counts.shape[:-1], offset), "int64")
    pad_r = np.zeros((*counts.shape[:-1], m * step - n - offset), "int64")
    return np.concatenate([pad_l, counts, pad_r], -1).reshape(*counts.shape[:-1], m, step).sum(-1)


class IntegerMLP:
    """Dense(relu) -> Dense in fixed point: exact, device-independent.

    ``w1 [n_in, hidden]``, ``b1 [hidden]``, ``w2 [hidden, n_out]``, ``b2 [n_out]`` are int64
    (from :meth:`from_float`): the hidden layer is at scale ``2**frac``, the output at
    ``2**(2 frac)``. ``thresholds`` (same scale as the output) map an output to a table index.

    Examples:
        >>> mlp = IntegerMLP.from_float(np.eye(2), np.zeros(2), np.eye(2), np.zeros(2), np.array([0.0]))
        >>> mlp.indices(np.array([[-1, 2]])).tolist()   # outputs 0 and 2 against threshold 0
        [[1, 1]]
    """

    def __init__(self, w1, b1, w2, b2, thresholds, frac: int = 12) -> None:
        self.w1, self.b1, self.w2, self.b2, self.thresholds = (np.asarray(a, "int64") for a in
                                                               (w1, b1, w2, b2, thresholds))
        self.frac = int(frac)

    @classmethod
    def from_float(cls, w1, b1, w2, b2, thresholds, frac: int = 12) -> "IntegerMLP":
        f = float(1 << frac)
        q = lambda a, s: np.round(np.asarray(a, "float64") * s).astype("int64")  # noqa: E731
        return cls(q(w1, f), q(b1, f), q(w2, f), q(b2, f * f), q(thresholds, f * f), frac)

    def output(self, z: np.ndarray) -> np.ndarray:
        """Integer inputs `[batch, n_in]` -> outputs at scale ``2**(2 frac)``, int64."""
        a = np.maximum(np.asarray(z, "int64") @ self.w1 + self.b1, 0)
        return a @ self.w2 + self.b2

    def indices(self, z: np.ndarray) -> np.ndarray:
        """Table index of each output: the number of thresholds it reaches."""
        return np.searchsorted(self.thresholds, self.output(z), side="right").astype("int64")


def information_bits(symbols: np.ndarray, counts: np.ndarray) -> float:
    """Ideal code length in bits of ``symbols [n]`` under integer tables ``counts [n, m]``."""
    c = counts[np.arange(len(symbols)), symbols]
    return float(-(np.log2(c) - np.log2(counts.sum(-1))).sum())


def _model():
    import constriction

    return constriction.stream.model.Categorical(perfect=False)


def _probabilities(counts: np.ndarray) -> np.ndarray:
    return np.asarray(counts, "float64") / float(counts.sum(-1)[0]) if len(counts) else np.zeros((0, 1))


def _check_segment(symbols, counts):
    symbols = np.asarray(symbols)
    counts = np.asarray(counts)
    if symbols.ndim != 1 or counts.ndim != 2 or counts.shape[0] != symbols.shape[0]:
        raise ValueError(f"a segment needs symbols [n] and tables [n, m], got {symbols.shape} and {counts.shape}.")
    if len(symbols) and (symbols.min() < 0 or symbols.max() >= counts.shape[1]):
        raise ValueError(f"symbols must lie in [0, {counts.shape[1]}).")
    return symbols.astype("int32"), counts


def _words_to_bits(words: np.ndarray) -> np.ndarray:
    return np.unpackbits(np.asarray(words, ">u4").view(np.uint8))


def _bits_to_words(bits: np.ndarray, num_words: int) -> np.ndarray:
    b = np.zeros(32 * num_words, np.uint8)
    b[: min(len(bits), len(b))] = bits[: len(b)]
    return np.packbits(b).view(">u4").astype(np.uint32)


def encode_segments(segments: Sequence[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Range-code one report: ``segments`` = [(symbols [n], integer tables [n, m]), ...].

    Returns:
        np.ndarray: the report's bits, uint8 0/1, bit-granular (see the module docstring).

    Examples:
        >>> t = integer_pmf(np.array([[0.7, 0.2, 0.1]] * 5))
        >>> bits = encode_segments([(np.array([0, 0, 1, 0, 2]), t)])
        >>> round(information_bits(np.array([0, 0, 1, 0, 2]), t), 1), len(bits) <= 10
        (7.2, True)
        >>> decode_segments(bits, [t])[0].tolist()
        [0, 0, 1, 0, 2]
    """
    import constriction

    segs = [_check_segment(s, c) for s, c in segments]
    enc = constriction.stream.queue.RangeEncoder()
    model = _model()
    for s, c in segs:
        if len(s):
            enc.encode(s, model, _probabilities(c))
    words = enc.get_compressed()
    bits = _words_to_bits(words)
    want = [s for s, _ in segs]
    tables = [c for _, c in segs]

    def decodes(candidate: np.ndarray) -> bool:  # exactly what the receiver runs
        try:
            got = decode_segments(candidate, tables)
        except CodingError:
            return False
        return all(np.array_equal(g, w) for g, w in zip(got, want))

    def shortest(n: int) -> np.ndarray | None:
        """An n-bit codeword that decodes correctly, if any: the nearest n-bit values below and
        above the coder's own point (if any n-bit value lies in the final interval, one of
        these two does)."""
        down = bits[:n].copy()
        if decodes(down):
            return down
        zeros = np.flatnonzero(down == 0)
        if len(zeros):
            up = down.copy()
            up[zeros[-1]] = 1
            up[zeros[-1] + 1:] = 0
            if decodes(up):
                return up
        return None

    lo, hi = 0, len(bits)  # a codeword of hi bits exists; the lengths that have one are upward closed
    while lo < hi:
        mid = (lo + hi) // 2
        if shortest(mid) is not None:
            hi = mid
        else:
            lo = mid + 1
    n = lo
    while (best := shortest(n)) is None:  # never taken for a true arithmetic code; a guard
        n += 1
    return best


def decode_segments(bits: np.ndarray, tables: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Decode a report whose segments have the given integer tables (known to the decoder
    before each segment: pass a callable per segment via :func:`decode_sequential` when a
    table depends on earlier segments). Missing bits read as zeros."""
    return decode_sequential(bits, [lambda _prev, c=c: c for c in tables])


def decode_sequential(bits: np.ndarray, table_fns) -> list[np.ndarray]:
    """Decode segment by segment; ``table_fns[k](decoded_so_far)`` gives segment k's tables.

    Raises:
        ValueError: ``bits`` is not a 1-D array of 0/1.
        CodingError: the bits are no codeword of these tables (a corrupted or foreign report).
    """
    import constriction

    b = np.asarray(bits)
    if b.ndim != 1 or (b.size and (b.min() < 0 or b.max() > 1)):
        raise ValueError("`bits` must be a 1-D array of 0/1.")
    b = b.astype(np.uint8)
    num_words = -(-len(b) // 32) + 2  # the decoder's 64-bit state reads two words beyond
    dec = constriction.stream.queue.RangeDecoder(_bits_to_words(b, num_words))
    model = _model()
    out: list[np.ndarray] = []
    for fn in table_fns:
        c = fn(out)
        try:
            out.append(dec.decode(model, _probabilities(c)).astype(np.int64) if len(c) else np.zeros(0, np.int64))
        except AssertionError as e:  # constriction's check of an impossible code point
            raise CodingError(f"the bitstream cannot be decoded with this model ({e}).") from None
    return out

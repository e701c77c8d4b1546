r"""Per-subband eigenvectors, phase-aligned, in the beam domain, in ``keras.ops`` only.

What a precoder needs from the CSI of a single-antenna UE is one direction per subband: the
principal eigenvector $v_t$ of $R_t = \sum_{k \in t} h_k h_k^H$ (the input of Rel-16 eType II
and of the AI-based CSI compression of 3GPP TR 38.843). Its common phase carries no
information for precoding, so it is fixed, not fed back: every $v_t$ is rotated so that
$v_{wb}^H v_t$ is real and positive, with $v_{wb}$ the principal eigenvector of the wideband
covariance $\sum_t R_t$ (the subbands then vary smoothly, which is what makes them compressible,
as eType II's phase alignment across subbands). The vectors are returned in the beam domain
($A v_t$ with the unitary IDFT over the antennas of
:class:`~sionna_csifb.layers.csi_packing.AngularDelayPacking`), where a few paths hold most of
the energy.

The eigenvectors come from power iterations in real arithmetic (any Keras backend; no
``eigh`` of a complex matrix): the wideband vector from the strongest DFT beam, each subband's
from the wideband vector. :meth:`SubbandEigen.to_csi` maps per-subband directions back to a
spatial-frequency estimate, interpolating between subband centres. (Not through the
angular-delay crop: cropping a per-subband staircase to 32 taps costs SGCS, 0.81 instead of
0.90 for the exact eigenvectors on UMa.)
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import layers, ops

from .._validation import check_positive_int
from .csi_packing import AngularDelayPacking

__all__ = ["SubbandEigen", "subband_edges"]


def subband_edges(num_subcarriers: int, num_subbands: int) -> list[int]:
    """Edges of ``num_subbands`` contiguous subbands whose sizes differ by at most one
    (the codebooks' subbands).

    Examples:
        >>> subband_edges(10, 3)
        [0, 3, 7, 10]
    """
    if not 1 <= num_subbands <= num_subcarriers:
        raise ValueError(f"`num_subbands` must be in [1, {num_subcarriers}], got {num_subbands}.")
    return [int(round(x)) for x in np.linspace(0, num_subcarriers, num_subbands + 1)]


def _cmatvec(mr, mi, vr, vi):
    """(M v) for complex M `[..., N, N]` and v `[..., N]` given as real and imaginary parts."""
    mv = lambda m, v: ops.einsum("...nm,...m->...n", m, v)  # noqa: E731
    return mv(mr, vr) - mv(mi, vi), mv(mr, vi) + mv(mi, vr)


def _normalize(vr, vi, eps=1e-12):
    n = ops.sqrt(ops.sum(vr ** 2 + vi ** 2, axis=-1, keepdims=True) + eps)
    return vr / n, vi / n


@keras.saving.register_keras_serializable(package="sionna_csifb")
class SubbandEigen(layers.Layer):
    r"""Packed angular-delay CSI -> phase-aligned per-subband eigenvectors in the beam domain.

    Args:
        packing: :class:`~sionna_csifb.layers.csi_packing.AngularDelayPacking`. The codec's packing
            (its crop, DFTs and gain).
        num_subbands: int. Subbands (13: 10 MHz at 15 kHz, the codebooks' value).
        iterations: int. Power iterations per subband (the wideband vector gets twice as many).
        stride: int. The covariances sum every ``stride``-th subcarrier (the crop keeps
            ``num_taps`` taps, so the channel varies slowly across subcarriers; 4 is 4x cheaper
            and changes the eigenvectors little).
        oversampling: int. 0: no centring. O > 0: find the strongest of the O N oversampled DFT
            beams $s_b$ (for the wideband eigenvector; Type I's wideband beam search) and centre
            the vectors on it, $v_t \odot s_b^*$, so that the dominant path lies at angle 0 for
            every channel; ``beam`` (``ceil(log2(O N))`` bits) undoes it (:meth:`uncentre`).

    Call arguments:
        x: `[batch, num_ant, num_taps, 2]` float. Packed CSI.

    Returns:
        tuple: ``d`` `[batch, num_subbands, num_ant, 2]` float32, $\sqrt{N} A v_t$ (real,
        imaginary; centred if ``oversampling``), unit mean power per entry, and ``beam``
        `[batch]` int32, the centring beam (zeros without centring).

    Examples:
        >>> import numpy as np
        >>> p = AngularDelayPacking(8, 24, 8)
        >>> e = SubbandEigen(p, num_subbands=3)
        >>> h = (np.random.default_rng(0).standard_normal((2, 8, 24, 2)) @ [1, 1j]).astype("complex64")
        >>> x, _ = p(keras.ops.convert_to_tensor(h))
        >>> v, beam = e(x)
        >>> tuple(v.shape), round(float(keras.ops.mean(v ** 2)) * 2, 4)
        ((2, 3, 8, 2), 1.0)
        >>> tuple(e.to_csi(v).shape)
        (2, 8, 24)
    """

    def __init__(self, packing: AngularDelayPacking, num_subbands: int = 13, iterations: int = 8, stride: int = 4,
                 oversampling: int = 0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.packing = packing
        self.num_subbands = check_positive_int(num_subbands, "num_subbands")
        self.iterations = check_positive_int(iterations, "iterations")
        self.stride = check_positive_int(stride, "stride")
        if not isinstance(oversampling, int) or oversampling < 0:
            raise ValueError(f"`oversampling` must be an int >= 0, got {oversampling!r}.")
        self.oversampling = oversampling
        self.num_beams = oversampling * packing.num_ant
        n, f, t = packing.num_ant, packing.num_subcarriers, packing.num_taps
        self.edges = subband_edges(f, self.num_subbands)
        # linear interpolation between subband centres, `[S, F]`
        centres = np.array([(a + b - 1) / 2 for a, b in zip(self.edges[:-1], self.edges[1:])])
        interp = np.zeros((self.num_subbands, f))
        for k in range(f):
            j = int(np.searchsorted(centres, k))
            if j == 0 or j == self.num_subbands:
                interp[min(j, self.num_subbands - 1), k] = 1.0
            else:
                w = (k - centres[j - 1]) / (centres[j] - centres[j - 1])
                interp[j - 1, k], interp[j, k] = 1.0 - w, w
        consts = {"interp": interp.astype("float32")}
        if oversampling:  # phase of s_b: -2 pi n b / (O N), `[N, O N]`
            ph = -2 * np.pi * np.outer(np.arange(n), np.arange(self.num_beams)) / self.num_beams
            consts.update(sr=np.cos(ph).astype("float32"), si=np.sin(ph).astype("float32"))
        self._np = consts

    @property
    def beam_bits(self) -> int:
        """Bits of the centring beam index (0 without centring)."""
        return (self.num_beams - 1).bit_length() if self.oversampling else 0

    def _ramp(self, beam, c):
        """s_b `[B, N]` (real, imag) for beam indices `[B]`."""
        sel = ops.one_hot(beam, self.num_beams)
        return ops.matmul(sel, ops.transpose(c["sr"])), ops.matmul(sel, ops.transpose(c["si"]))

    def _c(self):
        return {**self.packing._c(), **{k: ops.convert_to_tensor(v) for k, v in self._np.items()}}

    def build(self, input_shape=None):
        self.built = True

    def call(self, x):
        c = self._c()
        n = self.packing.num_ant
        hr, hi = self.packing._unpack_parts(x, self.stride)  # [B, N, ceil(F / stride)]
        rr, ri = [], []
        for a, b in zip(self.edges[:-1], self.edges[1:]):
            a, b = -(-a // self.stride), max(-(-b // self.stride), -(-a // self.stride) + 1)
            sr, si = hr[..., a:b], hi[..., a:b]
            srt, sit = ops.transpose(sr, (0, 2, 1)), ops.transpose(si, (0, 2, 1))
            rr.append(ops.matmul(sr, srt) + ops.matmul(si, sit))
            ri.append(ops.matmul(si, srt) - ops.matmul(sr, sit))
        rr, ri = ops.stack(rr, 1), ops.stack(ri, 1)  # [B, S, N, N]
        # start: the strongest DFT beam (angular power profile of the packed crop)
        beam = ops.one_hot(ops.argmax(ops.sum(x ** 2, axis=(2, 3)), axis=-1), n)  # [B, N]
        vr, vi = ops.matmul(beam, c["ar"]), -ops.matmul(beam, c["ai"])  # conj of A's row: a_b
        wr, wi = ops.sum(rr, 1), ops.sum(ri, 1)
        for _ in range(2 * self.iterations):
            vr, vi = _normalize(*_cmatvec(wr, wi, vr, vi))
        ur = ops.repeat(vr[:, None], self.num_subbands, 1)
        ui = ops.repeat(vi[:, None], self.num_subbands, 1)
        for _ in range(self.iterations):
            ur, ui = _normalize(*_cmatvec(rr, ri, ur, ui))
        # phase alignment: v_wb^H v_t real and positive
        pr = ops.sum(vr[:, None] * ur + vi[:, None] * ui, -1, keepdims=True)
        pi = ops.sum(vr[:, None] * ui - vi[:, None] * ur, -1, keepdims=True)
        mag = ops.sqrt(pr ** 2 + pi ** 2) + 1e-12
        cr, ci = pr / mag, -pi / mag  # multiply by exp(-j phase)
        ur, ui = ur * cr - ui * ci, ur * ci + ui * cr
        beam = ops.zeros((ops.shape(x)[0],), "int32")
        if self.oversampling:  # strongest oversampled beam of v_wb, then v_t * conj(s_b)
            cr_, ci_ = c["sr"], c["si"]
            pr_ = ops.matmul(vr, cr_) + ops.matmul(vi, ci_)   # s_b^H v = sum conj(s) v
            pi_ = ops.matmul(vi, cr_) - ops.matmul(vr, ci_)
            beam = ops.cast(ops.argmax(pr_ ** 2 + pi_ ** 2, axis=-1), "int32")
            rr_, ri_ = self._ramp(beam, c)
            rr_, ri_ = rr_[:, None], ri_[:, None]
            ur, ui = ur * rr_ + ui * ri_, ui * rr_ - ur * ri_
        # beam domain: A v
        dr = ops.einsum("mn,bsn->bsm", c["ar"], ur) - ops.einsum("mn,bsn->bsm", c["ai"], ui)
        di = ops.einsum("mn,bsn->bsm", c["ar"], ui) + ops.einsum("mn,bsn->bsm", c["ai"], ur)
        return math.sqrt(n) * ops.stack([dr, di], -1), beam

    def uncentre(self, d, beam):
        """Centred beam-domain directions `[B, S, N, 2]` -> the same directions before centring
        on ``beam`` `[B]` (``A (A^H d_t \\odot s_b)``); ``d`` itself without centring."""
        if not self.oversampling:
            return d
        c = self._c()
        dr, di = d[..., 0], d[..., 1]
        ur = ops.einsum("mn,bsm->bsn", c["ar"], dr) + ops.einsum("mn,bsm->bsn", c["ai"], di)
        ui = ops.einsum("mn,bsm->bsn", c["ar"], di) - ops.einsum("mn,bsm->bsn", c["ai"], dr)
        rr_, ri_ = self._ramp(ops.cast(beam, "int32"), c)
        rr_, ri_ = rr_[:, None], ri_[:, None]
        ur, ui = ur * rr_ - ui * ri_, ur * ri_ + ui * rr_
        return ops.stack([ops.einsum("mn,bsn->bsm", c["ar"], ur) - ops.einsum("mn,bsn->bsm", c["ai"], ui),
                          ops.einsum("mn,bsn->bsm", c["ar"], ui) + ops.einsum("mn,bsn->bsm", c["ai"], ur)], -1)

    def csi_parts(self, d, stride: int = 1):
        """Per-subband beam-domain directions `[B, S, N, 2]` -> (real, imag) parts `[B, N, F]` of
        the channel estimate on every ``stride``-th subcarrier: the antenna-domain vectors
        ``A^H d_t``, linearly interpolated between subband centres (constant beyond the outer
        centres). The phase alignment makes neighbouring subbands' vectors close, so the
        interpolation follows the channel inside a subband instead of a staircase."""
        shape = tuple(d.shape)
        want = (self.num_subbands, self.packing.num_ant, 2)
        if len(shape) != 4 or shape[1:] != want:
            raise ValueError(f"`d` must be [batch, {', '.join(map(str, want))}], got {shape}.")
        c = self._c()
        dr, di = d[..., 0], d[..., 1]
        # A^H d: the antenna-domain vectors [B, S, N]
        ur = ops.einsum("mn,bsm->bsn", c["ar"], dr) + ops.einsum("mn,bsm->bsn", c["ai"], di)
        ui = ops.einsum("mn,bsm->bsn", c["ar"], di) - ops.einsum("mn,bsm->bsn", c["ai"], dr)
        p = c["interp"] if stride == 1 else c["interp"][:, ::stride]
        return ops.einsum("bsn,sf->bnf", ur, p), ops.einsum("bsn,sf->bnf", ui, p)

    def to_csi(self, d):
        """Per-subband beam-domain directions `[B, S, N, 2]` -> complex channel estimate
        `[B, N, F]` (see :meth:`csi_parts`), unit mean power per entry."""
        hr, hi = self.csi_parts(d)
        h = ops.view_as_complex(ops.stack([hr, hi], -1))
        p = ops.mean(hr ** 2 + hi ** 2, axis=(1, 2), keepdims=True)
        return h / ops.cast(ops.sqrt(p + 1e-12), h.dtype)

    def compute_output_spec(self, x):
        return (keras.KerasTensor((x.shape[0], self.num_subbands, self.packing.num_ant, 2), "float32"),
                keras.KerasTensor((x.shape[0],), "int32"))

    def get_config(self):
        raise NotImplementedError("SubbandEigen is built by its codec (it shares the codec's packing layer).")

r"""Complex spatial-frequency CSI <-> the learned models' input format, in ``keras.ops`` only.

Every learned codec takes complex CSI `[batch, num_ant, num_subcarriers]` and internally works
on a real, channels-last angular-delay tensor `[batch, num_ant, num_taps, 2]`. This layer does
that conversion both ways, as matrix products with constant DFT matrices (real arithmetic, so it
runs on any Keras backend and is differentiable):

1. angular-delay crop: $\mathbf G = \mathbf F_{N}^{H}\,\mathbf H\,\mathbf W$ with the unitary
   IDFT over the antennas and the ``num_taps`` kept columns $\mathbf W$ of the unitary IDFT over
   the subcarriers (the same transform as :func:`sionna_csifb.csi.transforms.to_angular_delay`);
2. per-sample normalisation by the RMS per entry $s$ of the *cropped* channel,
   $s^2 = \|\mathbf G\|_F^2/(NF)$, so that each real entry of the packed tensor has unit mean
   power: $\mathbf x = \sqrt{2T/F}\,[\Re\mathbf G, \Im\mathbf G] / s$.
   Training data (stored crops) and deployment (full channels) are then normalised identically,
   and every estimate is invariant to the input's scale; $s$ is returned, never needed by the BS
   (precoding is scale-free) and never sent;
3. the inverse zero-pads the taps and applies the DFTs, giving a complex spatial-frequency
   estimate whose cropped channel has unit mean power per entry.
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import layers, ops

from .._validation import check_positive_int

__all__ = ["AngularDelayPacking", "sgcs_parts"]


def sgcs_parts(hr, hi, gr, gi, eps: float = 1e-9):
    r"""Mean over subcarriers of $|h_f^H \hat h_f|^2 / (\lVert h_f\rVert^2 \lVert \hat h_f\rVert^2)$,
    `[batch]`, from the real and imaginary parts `[B, N, F]` of ``h`` and ``h_hat`` (real
    arithmetic, differentiable)."""
    re = ops.sum(hr * gr + hi * gi, axis=1)
    im = ops.sum(hr * gi - hi * gr, axis=1)
    p_h = ops.sum(hr ** 2 + hi ** 2, axis=1)
    p_g = ops.sum(gr ** 2 + gi ** 2, axis=1)
    return ops.mean((re ** 2 + im ** 2) / (p_h * p_g + eps), axis=-1)


@keras.saving.register_keras_serializable(package="sionna_csifb")
class AngularDelayPacking(layers.Layer):
    """Crop to the angular-delay domain, normalise and pack channels-last (and back).

    Args:
        num_ant: int. BS antennas N (rows of the CSI matrix).
        num_subcarriers: int. Subcarriers F of the spatial-frequency CSI.
        num_taps: int. Delay taps T kept by the crop.
        window_start: int. First kept tap (negative: taps before 0, wrapped).

    Call arguments:
        h: complex `[batch, num_ant, num_subcarriers]`. Spatial-frequency CSI.
        scale: `[batch]` float or None. Normalise by this instead of ``h``'s own cropped RMS
            (e.g. a target channel in the units of the measured one).

    Returns:
        tuple: ``x`` `[batch, num_ant, num_taps, 2]` float32 and ``scale`` `[batch]` float32.

    Examples:
        >>> import numpy as np
        >>> p = AngularDelayPacking(4, 16, 8, window_start=-2)
        >>> h = (np.random.default_rng(0).standard_normal((2, 4, 16, 2)) @ [1, 1j]).astype("complex64")
        >>> x, s = p(keras.ops.convert_to_tensor(h))
        >>> tuple(x.shape), round(float(keras.ops.mean(x ** 2)), 4)
        ((2, 4, 8, 2), 1.0)
        >>> x2, _ = p(keras.ops.convert_to_tensor(1e-6 * h))
        >>> bool(np.allclose(keras.ops.convert_to_numpy(x), keras.ops.convert_to_numpy(x2), atol=1e-5))
        True
        >>> tuple(p.unpack(x).shape)
        (2, 4, 16)
    """

    def __init__(self, num_ant: int, num_subcarriers: int, num_taps: int, window_start: int = 0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.num_ant = check_positive_int(num_ant, "num_ant")
        self.num_subcarriers = check_positive_int(num_subcarriers, "num_subcarriers")
        self.num_taps = check_positive_int(num_taps, "num_taps")
        if self.num_taps > self.num_subcarriers:
            raise ValueError(f"`num_taps` ({num_taps}) must be <= num_subcarriers ({num_subcarriers}).")
        if not isinstance(window_start, int) or abs(window_start) >= self.num_subcarriers:
            raise ValueError(f"`window_start` must be an int with |window_start| < {num_subcarriers}, "
                             f"got {window_start!r}.")
        self.window_start = window_start
        n, f, t = self.num_ant, self.num_subcarriers, self.num_taps
        idx = (np.arange(t) + window_start) % f
        a = np.exp(2j * np.pi * np.outer(np.arange(n), np.arange(n)) / n) / math.sqrt(n)   # IDFT over antennas
        w = np.exp(2j * np.pi * np.outer(np.arange(f), idx) / f) / math.sqrt(f)           # kept IDFT columns
        # Constants (not weights: nothing is saved, old weight files stay valid). Kept as NumPy
        # and converted per call: tensors cached on a layer are tracked (and altered) by Keras.
        self._np = {k: v.astype("float32") for k, v in (("ar", a.real), ("ai", a.imag), ("wr", w.real),
                                                         ("wi", w.imag))}
        # A cropped channel with unit mean power per spatial-frequency entry has angular-delay
        # entries of mean power F / T, real parts F / (2T): this gain makes them unit variance.
        self._gain = math.sqrt(2 * t / f)

    def _c(self):
        return {k: ops.convert_to_tensor(v) for k, v in self._np.items()}

    def _check(self, h, name):
        shape = tuple(h.shape)
        if len(shape) != 3 or shape[1:] != (self.num_ant, self.num_subcarriers):
            raise ValueError(f"`{name}` must be complex [batch, {self.num_ant}, {self.num_subcarriers}], "
                             f"got shape {shape}.")
        if "complex" not in keras.backend.standardize_dtype(h.dtype):
            raise ValueError(f"`{name}` must be complex, got dtype {h.dtype}.")

    def crop(self, h):
        """Complex `[B, N, F]` -> cropped angular-delay (real, imag) pair, each `[B, N, T]`."""
        c = self._c()
        hr, hi = ops.cast(ops.real(h), "float32"), ops.cast(ops.imag(h), "float32")
        # H W, then A (H W): complex products in real arithmetic.
        gr = ops.matmul(hr, c["wr"]) - ops.matmul(hi, c["wi"])
        gi = ops.matmul(hr, c["wi"]) + ops.matmul(hi, c["wr"])
        return (ops.einsum("mn,bnt->bmt", c["ar"], gr) - ops.einsum("mn,bnt->bmt", c["ai"], gi),
                ops.einsum("mn,bnt->bmt", c["ar"], gi) + ops.einsum("mn,bnt->bmt", c["ai"], gr))

    def call(self, h, scale=None):
        self._check(h, "h")
        gr, gi = self.crop(h)
        x = ops.stack([gr, gi], axis=-1)
        if scale is None:  # RMS per entry of the cropped spatial-frequency channel (Parseval)
            scale = ops.sqrt(ops.sum(x ** 2, axis=(1, 2, 3)) / (self.num_ant * self.num_subcarriers))
        s = ops.reshape(ops.cast(scale, "float32"), (-1, 1, 1, 1))
        return x * (self._gain / s), ops.cast(scale, "float32")

    def unpack(self, x):
        """Packed `[B, N, T, 2]` -> complex spatial-frequency `[B, N, F]` (zero-padded taps)."""
        return ops.view_as_complex(ops.stack(self._unpack_parts(x), axis=-1))

    def _unpack_parts(self, x, stride: int = 1):
        """Packed -> (real, imag) parts of the spatial-frequency CSI, each `[B, N, F]` (every
        ``stride``-th subcarrier: `[B, N, ceil(F / stride)]`)."""
        shape = tuple(x.shape)
        if len(shape) != 4 or shape[1:] != (self.num_ant, self.num_taps, 2):
            raise ValueError(f"`x` must be [batch, {self.num_ant}, {self.num_taps}, 2], got {shape}.")
        c = self._c()
        gr, gi = x[..., 0] / self._gain, x[..., 1] / self._gain
        # H = A^H G W^H (A, W have orthonormal columns).
        ur = ops.einsum("nm,bmt->bnt", c["ar"], gr) + ops.einsum("nm,bmt->bnt", c["ai"], gi)
        ui = ops.einsum("nm,bmt->bnt", c["ar"], gi) - ops.einsum("nm,bmt->bnt", c["ai"], gr)
        wr, wi = (c["wr"], c["wi"]) if stride == 1 else (c["wr"][::stride], c["wi"][::stride])
        hr = ops.matmul(ur, ops.transpose(wr)) + ops.matmul(ui, ops.transpose(wi))
        hi = ops.matmul(ui, ops.transpose(wr)) - ops.matmul(ur, ops.transpose(wi))
        return hr, hi

    def sgcs(self, x_hat, x, eps: float = 1e-9, stride: int = 1):
        r"""Mean over subcarriers of the squared generalised cosine similarity
        $|h_f^H \hat h_f|^2 / (\lVert h_f\rVert^2 \lVert \hat h_f\rVert^2)$ of two packed batches, `[batch]`,
        in real arithmetic (differentiable; a training loss for beamforming quality). ``stride``
        > 1 averages over every ``stride``-th subcarrier only (a cheaper training loss)."""
        return sgcs_parts(*self._unpack_parts(x, stride), *self._unpack_parts(x_hat, stride), eps)

    def compute_output_spec(self, h, scale=None):
        b = h.shape[0]
        return (keras.KerasTensor((b, self.num_ant, self.num_taps, 2), "float32"), keras.KerasTensor((b,), "float32"))

    def get_config(self):
        return {**super().get_config(), "num_ant": self.num_ant, "num_subcarriers": self.num_subcarriers,
                "num_taps": self.num_taps, "window_start": self.window_start}

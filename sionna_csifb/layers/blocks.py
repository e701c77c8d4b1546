"""Building blocks of the diffusion codec (Kim et al. §III-D, after Yang & Mandt's CDC), and the
residual MLP block of the eigen codec's networks.

Every layer uses ``keras.ops`` only (backend-portable), works channels-last
(`[batch, height, width, channels]`) and round-trips through ``get_config``.
"""

from __future__ import annotations

import math

import keras
from keras import layers, ops

from .._validation import check_positive_int

__all__ = ["SinusoidalTimeEmbedding", "ResnetBlock", "ResidualMLPBlock", "Downsample", "Upsample", "LinearAttention", "ConditionalUNet"]

_PKG = "sionna_csifb"


def _groups(channels: int) -> int:
    """Largest of 8, 4, 2, 1 groups that divides ``channels`` (GroupNorm)."""
    return next(g for g in (8, 4, 2, 1) if channels % g == 0)


@keras.saving.register_keras_serializable(package=_PKG)
class SinusoidalTimeEmbedding(layers.Layer):
    """Transformer-style sinusoidal embedding of the diffusion step.

    Args:
        dim: int. Embedding size (even).

    Call arguments:
        t: `[batch]`, float. Diffusion steps.

    Returns:
        `[batch, dim]`, float32.

    Examples:
        >>> tuple(SinusoidalTimeEmbedding(8)(keras.ops.convert_to_tensor([1.0, 2.0])).shape)
        (2, 8)
    """

    def __init__(self, dim: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.dim = check_positive_int(dim, "dim")
        if self.dim % 2:
            raise ValueError(f"`dim` must be even, got {dim}.")

    def call(self, t):
        half = self.dim // 2
        freqs = ops.exp(-math.log(10000.0) * ops.arange(half, dtype="float32") / max(half - 1, 1))
        args = ops.cast(ops.reshape(t, (-1, 1)), "float32") * ops.reshape(freqs, (1, -1))
        return ops.concatenate([ops.sin(args), ops.cos(args)], axis=-1)

    def get_config(self):
        return {**super().get_config(), "dim": self.dim}


@keras.saving.register_keras_serializable(package=_PKG)
class ResnetBlock(layers.Layer):
    """GroupNorm-SiLU-Conv residual block with an optional time-embedding scale/shift.

    Args:
        filters: int. Output channels.
        time_conditioned: bool. Expect a time embedding as second input.

    Call arguments:
        x: `[batch, H, W, C]`, float32.
        t_emb: `[batch, E]`, float32 or None.

    Returns:
        `[batch, H, W, filters]`, float32.

    Examples:
        >>> blk = ResnetBlock(8, time_conditioned=True)
        >>> tuple(blk(keras.ops.zeros((2, 4, 4, 3)), keras.ops.zeros((2, 16))).shape)
        (2, 4, 4, 8)
    """

    def __init__(self, filters: int, time_conditioned: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self.filters = check_positive_int(filters, "filters")
        self.time_conditioned = bool(time_conditioned)

    def build(self, x_shape, t_emb_shape=None):
        c_in = x_shape[-1]
        self.norm1 = layers.GroupNormalization(_groups(c_in), epsilon=1e-5)
        self.conv1 = layers.Conv2D(self.filters, 3, padding="same")
        self.norm2 = layers.GroupNormalization(_groups(self.filters), epsilon=1e-5)
        self.conv2 = layers.Conv2D(self.filters, 3, padding="same")
        self.skip = layers.Conv2D(self.filters, 1) if c_in != self.filters else None
        self.time_proj = layers.Dense(2 * self.filters) if self.time_conditioned else None

    def call(self, x, t_emb=None):
        h = self.conv1(ops.silu(self.norm1(x)))
        h = self.norm2(h)
        if self.time_proj is not None:
            if t_emb is None:
                raise ValueError("ResnetBlock(time_conditioned=True) needs `t_emb`.")
            ss = self.time_proj(ops.silu(t_emb))[:, None, None, :]
            scale, shift = ops.split(ss, 2, axis=-1)
            h = h * (1 + scale) + shift
        h = self.conv2(ops.silu(h))
        return h + (self.skip(x) if self.skip is not None else x)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "time_conditioned": self.time_conditioned}


@keras.saving.register_keras_serializable(package=_PKG)
class ResidualMLPBlock(layers.Layer):
    """Pre-norm residual MLP block: ``x + Dense(GELU(Dense(LayerNorm(x))))``, width kept.

    Args:
        width: int. Feature width (input and output).

    Call arguments:
        x: `[batch, width]`, float32.

    Returns:
        `[batch, width]`, float32.

    Examples:
        >>> blk = ResidualMLPBlock(16)
        >>> tuple(blk(keras.ops.zeros((2, 16))).shape)
        (2, 16)
    """

    def __init__(self, width: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.width = check_positive_int(width, "width")
        self.norm = layers.LayerNormalization(epsilon=1e-5)
        self.dense1 = layers.Dense(self.width, activation="gelu")
        self.dense2 = layers.Dense(self.width)

    def build(self, x_shape):
        if x_shape[-1] != self.width:
            raise ValueError(f"ResidualMLPBlock({self.width}) got {x_shape[-1]} features.")
        self.norm.build(x_shape)
        self.dense1.build(x_shape)
        self.dense2.build((*x_shape[:-1], self.width))

    def call(self, x):
        return x + self.dense2(self.dense1(self.norm(x)))

    def get_config(self):
        return {**super().get_config(), "width": self.width}


@keras.saving.register_keras_serializable(package=_PKG)
class Downsample(layers.Layer):
    """Halve height and width with a stride-2 convolution (a DU of the paper).

    Examples:
        >>> tuple(Downsample(6)(keras.ops.zeros((1, 8, 8, 3))).shape)
        (1, 4, 4, 6)
    """

    def __init__(self, filters: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.filters = check_positive_int(filters, "filters")
        self.conv = layers.Conv2D(self.filters, 4, strides=2, padding="same")

    def call(self, x):
        return self.conv(x)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters}


@keras.saving.register_keras_serializable(package=_PKG)
class Upsample(layers.Layer):
    """Double height and width: nearest-neighbour upsampling then a 3x3 convolution (a UU).

    Examples:
        >>> tuple(Upsample(4)(keras.ops.zeros((1, 4, 4, 3))).shape)
        (1, 8, 8, 4)
    """

    def __init__(self, filters: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.filters = check_positive_int(filters, "filters")
        self.up = layers.UpSampling2D(2)
        self.conv = layers.Conv2D(self.filters, 3, padding="same")

    def call(self, x):
        return self.conv(self.up(x))

    def get_config(self):
        return {**super().get_config(), "filters": self.filters}


@keras.saving.register_keras_serializable(package=_PKG)
class LinearAttention(layers.Layer):
    """Linear (efficient) attention over the spatial positions, with a residual connection.

    Queries are softmax-normalised over channels and keys over positions, so the cost is
    linear in H x W.

    Args:
        heads: int. Attention heads.
        head_dim: int. Channels per head.

    Examples:
        >>> tuple(LinearAttention(2, 4)(keras.ops.zeros((2, 4, 4, 6))).shape)
        (2, 4, 4, 6)
    """

    def __init__(self, heads: int = 4, head_dim: int = 16, **kwargs) -> None:
        super().__init__(**kwargs)
        self.heads = check_positive_int(heads, "heads")
        self.head_dim = check_positive_int(head_dim, "head_dim")

    def build(self, x_shape):
        c = x_shape[-1]
        self.norm = layers.GroupNormalization(_groups(c), epsilon=1e-5)
        self.qkv = layers.Conv2D(3 * self.heads * self.head_dim, 1, use_bias=False)
        self.out = layers.Conv2D(c, 1)

    def call(self, x):
        b, hh, ww = ops.shape(x)[0], ops.shape(x)[1], ops.shape(x)[2]
        qkv = ops.reshape(self.qkv(self.norm(x)), (b, hh * ww, 3, self.heads, self.head_dim))
        q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]  # [B, P, heads, d]
        q = ops.softmax(q, axis=-1) * self.head_dim ** -0.5
        k = ops.softmax(k, axis=1)
        context = ops.einsum("bphd,bphe->bhde", k, v)
        o = ops.einsum("bhde,bphd->bphe", context, q)
        return x + self.out(ops.reshape(o, (b, hh, ww, self.heads * self.head_dim)))

    def get_config(self):
        return {**super().get_config(), "heads": self.heads, "head_dim": self.head_dim}


@keras.saving.register_keras_serializable(package=_PKG)
class ConditionalUNet(layers.Layer):
    """U-Net denoiser conditioned on the diffusion step (and on inputs concatenated to it).

    Per resolution level: two time-conditioned ResNet blocks and linear attention, then a
    downsampling (all but the last level); a middle block; the mirror image with skip
    connections on the way up. The paper uses ``width=64``, ``channel_mults=(1, 2, 3, 4)``.

    Args:
        width: int. Channels at the first level.
        channel_mults: tuple of int. Channel multiplier per level.
        out_channels: int. Output channels.
        attention: bool. Linear attention (at the levels in ``attention_levels``).
        attention_levels: list of int or None. Levels (0 = full resolution) with attention;
            None means every level, as in the paper.
        zero_output: bool. Zero-initialise the output convolution (the network starts as the
            zero function: for a U-Net that predicts a correction, training starts from "no change").

    Call arguments:
        x: `[batch, H, W, C]`, float32 (noisy target concatenated with the conditions);
            H and W divisible by 2^(levels - 1).
        t: `[batch]`, float32. Diffusion step.

    Returns:
        `[batch, H, W, out_channels]`, float32.

    Examples:
        >>> net = ConditionalUNet(width=8, channel_mults=(1, 2), out_channels=2)
        >>> tuple(net(keras.ops.zeros((2, 8, 8, 5)), keras.ops.ones((2,))).shape)
        (2, 8, 8, 2)
    """

    def __init__(self, width: int = 64, channel_mults=(1, 2, 3, 4), out_channels: int = 2,
                 attention: bool = True, attention_levels=None, zero_output: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self.width = check_positive_int(width, "width")
        self.channel_mults = tuple(check_positive_int(m, "channel_mults") for m in channel_mults)
        if not self.channel_mults:
            raise ValueError("`channel_mults` must not be empty.")
        self.out_channels = check_positive_int(out_channels, "out_channels")
        self.attention = bool(attention)
        self.attention_levels = None if attention_levels is None else [int(i) for i in attention_levels]
        att = lambda i: self.attention and (self.attention_levels is None or i in self.attention_levels)  # noqa: E731
        w = self.width
        self.t_embed = SinusoidalTimeEmbedding(w)
        self.t_mlp = [layers.Dense(4 * w, activation="gelu"), layers.Dense(4 * w)]
        self.inp = layers.Conv2D(w, 3, padding="same")
        dims = [w * m for m in self.channel_mults]
        self.down, self.up = [], []
        for i, d in enumerate(dims):
            last = i == len(dims) - 1
            self.down.append([ResnetBlock(d, True), ResnetBlock(d, True),
                              LinearAttention(4, max(d // 4, 8)) if att(i) else None,
                              None if last else Downsample(dims[i + 1])])
        self.mid = [ResnetBlock(dims[-1], True), LinearAttention(4, max(dims[-1] // 4, 8)) if self.attention else None,
                    ResnetBlock(dims[-1], True)]
        for i, d in reversed(list(enumerate(dims))):
            first = i == 0
            self.up.append([ResnetBlock(d, True), ResnetBlock(d, True),
                            LinearAttention(4, max(d // 4, 8)) if att(i) else None,
                            None if first else Upsample(dims[i - 1])])
        self.final = ResnetBlock(w, True)
        self.zero_output = bool(zero_output)
        self.out = layers.Conv2D(self.out_channels, 1, kernel_initializer="zeros" if self.zero_output else "glorot_uniform")

    def call(self, x, t):
        te = self.t_embed(t)
        for lyr in self.t_mlp:
            te = lyr(te)
        h = self.inp(x)
        skips = []
        for r1, r2, att, down in self.down:
            h = r1(h, te)
            skips.append(h)
            h = r2(h, te)
            if att is not None:
                h = att(h)
            skips.append(h)
            if down is not None:
                h = down(h)
        r1, att, r2 = self.mid
        h = r1(h, te)
        if att is not None:
            h = att(h)
        h = r2(h, te)
        for r1, r2, att, up in self.up:
            h = r1(ops.concatenate([h, skips.pop()], axis=-1), te)
            h = r2(ops.concatenate([h, skips.pop()], axis=-1), te)
            if att is not None:
                h = att(h)
            if up is not None:
                h = up(h)
        return self.out(self.final(h, te))

    def get_config(self):
        return {**super().get_config(), "width": self.width, "channel_mults": list(self.channel_mults),
                "out_channels": self.out_channels, "attention": self.attention,
                "attention_levels": self.attention_levels, "zero_output": self.zero_output}

r"""Spatially separable attention (STQENet, after Twins-SVT): locally grouped self-attention
within windows, global sub-sampled attention against one token per window, and an MLP.

On a `[batch, H, W, C]` feature map with windows of ``w x w``: LSA costs
$O(HW w^2 C)$ instead of $O((HW)^2 C)$ for full attention; GSA lets every position attend to
the $HW / w^2$ window summaries (a stride-``w`` convolution), which restores global context.
Pre-norm residual blocks. ``keras.ops`` only.
"""

from __future__ import annotations

import keras
from keras import layers, ops

from .._validation import check_positive_int

__all__ = ["SeparableAttentionBlock"]


@keras.saving.register_keras_serializable(package="sionna_csifb")
class SeparableAttentionBlock(layers.Layer):
    """LSA -> GSA -> MLP, each a pre-norm residual branch.

    Args:
        dim: int. Channels C of the feature map.
        num_heads: int. Attention heads (``dim`` must be divisible by it).
        window: int. Window side ``w`` (H and W must be divisible by it).
        mlp_ratio: int. Hidden width of the MLP in units of ``dim``.

    Call arguments:
        x: `[batch, H, W, dim]` float32.

    Returns:
        Same shape.

    Examples:
        >>> blk = SeparableAttentionBlock(8, num_heads=2, window=4)
        >>> tuple(blk(keras.ops.zeros((2, 8, 8, 8))).shape)
        (2, 8, 8, 8)
    """

    def __init__(self, dim: int, num_heads: int = 2, window: int = 8, mlp_ratio: int = 2, **kwargs) -> None:
        super().__init__(**kwargs)
        self.dim = check_positive_int(dim, "dim")
        self.num_heads = check_positive_int(num_heads, "num_heads")
        self.window = check_positive_int(window, "window")
        self.mlp_ratio = check_positive_int(mlp_ratio, "mlp_ratio")
        if self.dim % self.num_heads:
            raise ValueError(f"`dim` ({dim}) must be divisible by `num_heads` ({num_heads}).")
        kd = self.dim // self.num_heads
        self.norm_lsa, self.norm_gsa, self.norm_mlp = (layers.LayerNormalization(epsilon=1e-5) for _ in range(3))
        self.lsa = layers.MultiHeadAttention(self.num_heads, kd)
        self.gsa = layers.MultiHeadAttention(self.num_heads, kd)
        self.summary = layers.Conv2D(self.dim, self.window, strides=self.window)
        self.mlp_in = layers.Dense(self.dim * self.mlp_ratio, activation="gelu")
        self.mlp_out = layers.Dense(self.dim)

    def call(self, x):
        shape = tuple(x.shape)
        if len(shape) != 4 or shape[-1] != self.dim:
            raise ValueError(f"`x` must be [batch, H, W, {self.dim}], got {shape}.")
        _, h, w, c = shape
        k = self.window
        if h % k or w % k:
            raise ValueError(f"H and W ({h}, {w}) must be multiples of the window ({k}).")
        b = ops.shape(x)[0]
        # locally grouped self-attention: [B, H/k, k, W/k, k, C] -> [B * windows, k*k, C]
        t = self.norm_lsa(x)
        t = ops.reshape(ops.transpose(ops.reshape(t, (b, h // k, k, w // k, k, c)), (0, 1, 3, 2, 4, 5)),
                        (-1, k * k, c))
        t = self.lsa(t, t)
        t = ops.transpose(ops.reshape(t, (b, h // k, w // k, k, k, c)), (0, 1, 3, 2, 4, 5))
        x = x + ops.reshape(t, (b, h, w, c))
        # global sub-sampled attention: every position attends to one summary token per window
        t = self.norm_gsa(x)
        kv = ops.reshape(self.summary(t), (b, (h // k) * (w // k), c))
        x = x + ops.reshape(self.gsa(ops.reshape(t, (b, h * w, c)), kv), (b, h, w, c))
        return x + self.mlp_out(self.mlp_in(self.norm_mlp(x)))

    def get_config(self):
        return {**super().get_config(), "dim": self.dim, "num_heads": self.num_heads, "window": self.window,
                "mlp_ratio": self.mlp_ratio}

"""SNR adaptation by feature scaling (ADJSCC's attention-feature module; RD-JSCC fig. 1b).

The channel-wise mean of a feature map and the uplink SNR go through a small MLP whose
sigmoid output scales each channel, so one encoder/decoder serves every SNR of the range it
was trained on. ``keras.ops`` only.
"""

from __future__ import annotations

import keras
from keras import layers, ops

from .._validation import check_positive_int

__all__ = ["SNRAdaptation"]


@keras.saving.register_keras_serializable(package="sionna_csifb")
class SNRAdaptation(layers.Layer):
    """Scale the channels of a feature map by a function of its mean and the SNR.

    Args:
        hidden: int. Width of the MLP's hidden layer.

    Call arguments:
        x: `[batch, H, W, C]` or `[batch, C]`, float32. Features.
        snr_db: `[batch]`, float32. Uplink SNR in dB (fed to the MLP as ``snr_db / 10``).

    Returns:
        ``x`` with each channel scaled by a factor in (0, 1), same shape.

    Examples:
        >>> lyr = SNRAdaptation(8)
        >>> y = lyr(keras.ops.ones((2, 4, 4, 3)), keras.ops.convert_to_tensor([0.0, 20.0]))
        >>> tuple(y.shape), bool(keras.ops.all(y < 1))
        ((2, 4, 4, 3), True)
    """

    def __init__(self, hidden: int = 16, **kwargs) -> None:
        super().__init__(**kwargs)
        self.hidden = check_positive_int(hidden, "hidden")

    def build(self, x_shape, snr_db_shape=None):
        self.fc1 = layers.Dense(self.hidden, activation="relu")
        self.fc2 = layers.Dense(x_shape[-1], activation="sigmoid")

    def call(self, x, snr_db):
        rank = len(x.shape)
        pooled = ops.mean(x, axis=tuple(range(1, rank - 1))) if rank > 2 else x
        ctx = ops.concatenate([pooled, ops.reshape(ops.cast(snr_db, "float32"), (-1, 1)) / 10.0], axis=-1)
        scale = self.fc2(self.fc1(ctx))
        return x * ops.reshape(scale, (-1,) + (1,) * (rank - 2) + (x.shape[-1],))

    def get_config(self):
        return {**super().get_config(), "hidden": self.hidden}

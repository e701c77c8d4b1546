r"""Noise schedules (diffusers-style: small, pure, serialisable).

The cosine schedule (Nichol & Dhariwal) gives $\bar\alpha_t = f(t)/f(0)$ with
$f(t) = \cos^2\!\big(\frac{t/T + s}{1 + s}\frac{\pi}{2}\big)$, $s = 0.008$, and
$\beta_t = 1 - \bar\alpha_t/\bar\alpha_{t-1}$ clipped at 0.999. For $T = 4$ this gives the
values Kim et al. list: $\bar\alpha_{1..4}$ = 0.847, 0.493, 0.144, 1.44e-4.
"""

from __future__ import annotations

import math

import numpy as np

from .._validation import check_positive_int

__all__ = ["CosineSchedule", "x0_training_step"]


class CosineSchedule:
    """Cosine noise schedule with T steps.

    Args:
        num_steps: int. T.
        s: float. Offset.
        max_beta: float. Clip of beta_t.

    Examples:
        >>> [round(a, 4) for a in CosineSchedule(4).alphas_bar[1:]]
        [0.847, 0.4938, 0.1443, 0.0001]
    """

    def __init__(self, num_steps: int = 4, s: float = 0.008, max_beta: float = 0.999) -> None:
        self.num_steps = check_positive_int(num_steps, "num_steps")
        self.s, self.max_beta = float(s), float(max_beta)
        f = lambda t: math.cos((t / self.num_steps + self.s) / (1 + self.s) * math.pi / 2) ** 2  # noqa: E731
        ab = [1.0]
        for t in range(1, self.num_steps + 1):
            beta = min(1 - (f(t) / f(0)) / (f(t - 1) / f(0)), self.max_beta)
            ab.append(ab[-1] * (1 - beta))
        self.alphas_bar = ab  # index 0 = 1 (clean), 1..T

    def get_config(self) -> dict:
        return {"num_steps": self.num_steps, "s": self.s, "max_beta": self.max_beta}

    def loss_weights(self) -> np.ndarray:
        r"""$\bar\alpha_t / (1 - \bar\alpha_t)$ for t = 1..T (eq. 7)."""
        ab = np.asarray(self.alphas_bar[1:])
        return ab / (1 - ab)

    def timesteps(self, num_inference_steps: int | None = None, start: int | None = None) -> list[int]:
        """Decreasing timesteps used by the sampler: ``start`` (default T) down to 1, evenly thinned.

        Examples:
            >>> CosineSchedule(4).timesteps(2)
            [4, 1]
            >>> CosineSchedule(40).timesteps(3, start=20)
            [20, 10, 1]
        """
        top = self.num_steps if start is None else check_positive_int(start, "start")
        if top > self.num_steps:
            raise ValueError(f"`start` must be <= {self.num_steps}, got {start}.")
        n = top if num_inference_steps is None else check_positive_int(num_inference_steps, "num_inference_steps")
        if n > top:
            raise ValueError(f"`num_inference_steps` must be <= {top}, got {n}.")
        return sorted({int(round(x)) for x in np.linspace(top, 1, n)}, reverse=True)

    def residual_scale(self, start: int) -> float:
        r"""$\lambda = \sqrt{\bar\alpha_N/(1-\bar\alpha_N)}$ of the residual process started at step
        $N$ = ``start`` (RD-JSCC eq. 8), so that $\eta_N = 1$.

        Examples:
            >>> round(CosineSchedule(40).residual_scale(20), 3)
            0.988
        """
        ab = self.alphas_bar[check_positive_int(start, "start")]
        return math.sqrt(ab / (1 - ab))


def x0_training_step(schedule: CosineSchedule, z0, seed_generator, min_loss_weight: float = 0.0):
    r"""One draw of eq. (7)'s training step for an x0-predicting denoiser (both diffusion codecs):
    $t \sim U\{1..T\}$ per sample, $z_t = \sqrt{\bar\alpha_t} z_0 + \sqrt{1-\bar\alpha_t}\,\epsilon$
    and the step weight $\max(\bar\alpha_t/(1-\bar\alpha_t), w_{min})$ (``keras.ops``).

    Args:
        schedule: CosineSchedule.
        z0: `[batch, ...]` float32. Clean target.
        seed_generator: keras.random.SeedGenerator.
        min_loss_weight: float. Floor of the step weight.

    Returns:
        tuple: ``z_t`` (like ``z0``), ``t`` `[batch]` float32, ``weight`` `[batch]` float32.

    Examples:
        >>> import keras
        >>> z_t, t, w = x0_training_step(CosineSchedule(4), keras.ops.ones((3, 2)), keras.random.SeedGenerator(0), 1.0)
        >>> tuple(z_t.shape), bool(keras.ops.all((t >= 1) & (t <= 4))), bool(keras.ops.all(w >= 1.0))
        ((3, 2), True, True)
    """
    import keras
    from keras import ops

    b = ops.shape(z0)[0]
    t = keras.random.randint((b,), 1, schedule.num_steps + 1, seed=seed_generator)
    ab = ops.take(ops.convert_to_tensor(schedule.alphas_bar, dtype="float32"), t)
    noise = keras.random.normal(ops.shape(z0), seed=seed_generator)
    bshape = (-1,) + (1,) * (len(tuple(z0.shape)) - 1)
    z_t = ops.reshape(ops.sqrt(ab), bshape) * z0 + ops.reshape(ops.sqrt(1 - ab), bshape) * noise
    return z_t, ops.cast(t, "float32"), ops.maximum(ab / (1 - ab), min_loss_weight)

r"""Deterministic x0-prediction sampler (DDIM with eta = 0), for both diffusion schemes.

Kim et al. eq. (6) starts from $z_T = 0$; RD-JSCC's residual process (eqs. 5-10) starts at
step $N < T$ from $z_N = \sqrt{\bar\alpha_N}\,\hat H + \sqrt{1-\bar\alpha_N}\,\epsilon$ (pass
``start`` and ``z_start``): the update below is the same, because it keeps the residual
$\lambda r + \epsilon$ implied by the current estimate. For each selected step $t$ with next step $t'$ (0 at the end):
$z_{t'} = \sqrt{\bar\alpha_{t'}}\,\hat z_0 + \sqrt{1-\bar\alpha_{t'}}\,
\frac{z_t - \sqrt{\bar\alpha_t}\,\hat z_0}{\sqrt{1-\bar\alpha_t}}$, $\hat z_0 = D_\theta(z_t, t)$.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from keras import ops

from .schedules import CosineSchedule

__all__ = ["ddim_sample"]


def ddim_sample(denoise: Callable, shape, schedule: CosineSchedule, num_inference_steps: int | None = None,
                start: int | None = None, z_start=None):
    """Run the sampler.

    Args:
        denoise: callable ``(z_t, t_batch) -> z0_hat``; ``t_batch`` is `[batch]` float32.
        shape: tuple. Shape of the sample.
        schedule: CosineSchedule.
        num_inference_steps: int or None. Steps (<= start); None uses all.
        start: int or None. First step (None: T).
        z_start: tensor or None. The sample at ``start`` (None: zeros).

    Returns:
        The final :math:`\\hat z_0`, `shape`, float32.

    Examples:
        >>> z = ddim_sample(lambda z, t: z * 0 + 1.0, (2, 3), CosineSchedule(4), 2)
        >>> keras.ops.convert_to_numpy(z).tolist()
        [[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]
    """
    steps = schedule.timesteps(num_inference_steps, start)
    ab = schedule.alphas_bar
    z = ops.zeros(shape, dtype="float32") if z_start is None else z_start
    z0 = z
    for i, t in enumerate(steps):
        z0 = denoise(z, ops.full((shape[0],), float(t), dtype="float32"))
        t_next = steps[i + 1] if i + 1 < len(steps) else 0
        if t_next == 0:
            return z0
        eps = (z - math.sqrt(ab[t]) * z0) / math.sqrt(1 - ab[t])
        z = math.sqrt(ab[t_next]) * z0 + math.sqrt(1 - ab[t_next]) * eps
    return z0

"""Latent refinement at the UE: better reports from the same model, at the UE's expense.

The UE holds the CSI it measured and the decoder the BS runs (the model is shared), so before
it codes a report it can search for the latents that decoder reconstructs best from, at the
rate they cost. :func:`refine_latents` starts from the encoder's latents ``y`` and takes Adam
steps on each report's

    distortion(decode(Q(y)), x) + rate_scale x lambda x bits(Q(y))

(the model's own training objective: 1 - SGCS for ``eigen``, its trained rate weight lambda),
with gradients passed straight through the rounding ``Q`` (and the shared dither, if the model
has one), and keeps each report's best latents. The straight-through gradient does not see which
side of a rounding boundary a latent falls, so ``search_sweeps`` sweeps of a coordinate search
follow on the symbols themselves: for each latent in turn, the symbol one step down and one step
up, each scored on the exact objective of the report it makes (decoder and rate model, no
relaxation), kept where it lowers it. The report's format, its decoding and the BS are
unchanged: only the UE spends compute (``steps`` decoder passes forward and back, and
``2 x search_sweeps x M`` forward passes for ``M`` latents, per report). The encoder is
an amortised guess of these latents; the search closes part of that gap, as it does for learned
image codecs (Campos et al., "Content adaptive optimization for neural image compression",
2019; Yang et al., "Improving inference for neural image compression", 2020).

``rate_scale`` trades bits for quality: at 1 the refined reports spend a few more bits than the
encoder's, and :func:`calibrate_rate_scale` finds the scale that holds the mean report length
at a target on drops the caller chooses (training drops, not the test set).

Held to a budget in every report (``compress(h, max_bits=N)``, the rate-adaptive mode), one rate
weight cannot serve every report: at the weight that holds the mean, the long reports overrun
and the short ones leave bits unused. :func:`budget_candidates` refines each report at a ladder
of rate scales (``budget_scales`` x ``rate_scale``; by default one rung, at half the rate
weight), with a steep hinge on the estimated bits over what the budget leaves: a report under
it spends bits at the lower rate weight, one over it is pushed back under. The encoder's own
latents are a candidate too; the codec sends, of the candidates whose exact coded length fits,
the one its decoder reconstructs best, and coarsens the highest rung's symbols (the
rate-adaptive levels) only when none fits. The format is the rate-adaptive one, so the BS
decodes it unchanged; the UE spends ``len(budget_scales)`` times the refinement's compute.

The loss is written in ``keras.ops``; its gradient comes from the backend's own autodiff
(torch, TensorFlow or JAX), in :func:`_value_and_grad`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import keras
import numpy as np
from keras import ops

__all__ = ["LatentRefinement", "refine_latents", "calibrate_rate_scale", "budget_candidates"]


#: Held to a budget: the refinement's cap on a report's estimated bits sits this far below what
#: the budget leaves for it (the range coder's termination costs a bit or so over the estimate).
BUDGET_MARGIN_BITS = 1.0
#: Held to a budget: the weight per estimated bit over the cap, in units of the rate weight.
CAP_WEIGHT = 20.0


@dataclass(frozen=True)
class LatentRefinement:
    """How the UE refines a report's latents (see the module docstring).

    Args:
        steps: int. Adam steps per report (each a decoder pass forward and back).
        learning_rate: float. Adam's step size, in latent units.
        rate_scale: float. Multiplies the model's trained rate weight lambda: above 1, the refined
            reports trade quality for fewer bits.
        search_sweeps: int. Sweeps of the coordinate search on the symbols after the Adam steps
            (0: none); a sweep stops the search early when it changes no report.
        budget_scales: tuple of floats. Held to a budget per report (``compress(h, max_bits=N)``):
            the ladder of factors on ``rate_scale`` each report is refined at (see
            :func:`budget_candidates`); unused without a budget.

    Examples:
        >>> r = LatentRefinement(steps=20, rate_scale=1.5)
        >>> LatentRefinement.from_dict(r.to_dict()) == r
        True
        >>> LatentRefinement(steps=0)
        Traceback (most recent call last):
        ...
        ValueError: LatentRefinement: `steps` must be a positive int, got 0.
    """

    steps: int = 100
    learning_rate: float = 0.05
    rate_scale: float = 1.0
    search_sweeps: int = 3
    budget_scales: tuple = (0.5,)

    def __post_init__(self) -> None:
        if isinstance(self.steps, bool) or not isinstance(self.steps, (int, np.integer)) or self.steps < 1:
            raise ValueError(f"LatentRefinement: `steps` must be a positive int, got {self.steps!r}.")
        sw = self.search_sweeps
        if isinstance(sw, bool) or not isinstance(sw, (int, np.integer)) or sw < 0:
            raise ValueError(f"LatentRefinement: `search_sweeps` must be an int >= 0, got {sw!r}.")
        for k in ("learning_rate", "rate_scale"):
            v = getattr(self, k)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
                raise ValueError(f"LatentRefinement: `{k}` must be a positive finite number, got {v!r}.")
        scales = self.budget_scales
        if (isinstance(scales, (str, bytes)) or not hasattr(scales, "__len__") or not len(scales)
                or any(isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0
                       for v in scales)):
            raise ValueError(f"LatentRefinement: `budget_scales` must be a non-empty sequence of positive finite "
                             f"numbers, got {scales!r}.")
        object.__setattr__(self, "budget_scales", tuple(float(v) for v in scales))

    def to_dict(self) -> dict:
        d = asdict(self)
        d["budget_scales"] = list(self.budget_scales)
        return d

    @classmethod
    def from_manifest(cls, block: dict) -> "LatentRefinement":
        """The setting a manifest's ``ue_refinement`` block was calibrated and measured with (its
        other keys ignored; a block without ``search_sweeps`` predates the search: 0)."""
        return cls.from_dict({"search_sweeps": 0, **{k: block[k] for k in cls.__dataclass_fields__ if k in block}})

    @classmethod
    def from_dict(cls, d: dict) -> "LatentRefinement":
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"LatentRefinement: unknown keys {sorted(unknown)}.")
        return cls(**d)


def _value_and_grad(fn, v):
    """(fn(v) `[batch]`, d sum(fn(v)) / dv) with the active backend's autodiff."""
    backend = keras.backend.backend()
    if backend == "torch":
        import torch

        with torch.enable_grad():
            w = v.detach().requires_grad_(True)
            val = fn(w)
            (g,) = torch.autograd.grad(val.sum(), w)
        return val.detach(), g
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            tape.watch(v)
            val = fn(v)
        return val, tape.gradient(tf.reduce_sum(val), v)
    if backend == "jax":
        import jax

        val, vjp = jax.vjp(fn, v)
        (g,) = vjp(ops.ones_like(val))
        return val, g
    raise NotImplementedError(f"Latent refinement needs autodiff; backend {backend!r} is not supported.")


def _no_grad():
    """A context without autodiff bookkeeping (torch records none under it; the other backends
    record only inside an explicit tape or trace)."""
    if keras.backend.backend() == "torch":
        import torch

        return torch.no_grad()
    import contextlib

    return contextlib.nullcontext()


def _coordinate_search(model, objective, y, sweeps: int, first_report: int = 0):
    """``sweeps`` sweeps over the latents of ``y`` `[batch, M]`: each latent's symbol moved one
    step down and one step up (the shared dither kept, the clip range respected), each candidate
    report scored by ``objective`` (exact, per report) and kept where it scores lower. A sweep
    that changes no report ends the search."""
    a = float(model.amplitude)
    batch, m = (int(d) for d in ops.shape(y))
    dither = (ops.convert_to_tensor(model._dither(batch, first_report)) if model.dither_seed is not None
              else ops.zeros((batch, m)))
    columns = ops.arange(m)
    with _no_grad():
        best = objective(y)
        for _ in range(sweeps):
            changed = 0
            for j in range(m):
                mask = ops.expand_dims(ops.equal(columns, j), 0)
                t_j = model.to_axis(y)[:, j]
                q = ops.round(t_j - dither[:, j])
                for step in (-1.0, 1.0):
                    q_new = ops.clip(q + step, -a, a)
                    y_j = model.from_axis(q_new + dither[:, j])
                    cand = ops.where(mask, ops.expand_dims(y_j, 1), y)
                    val = objective(cand)
                    better = val < best
                    changed += int(ops.convert_to_numpy(ops.sum(ops.cast(better, "int32"))))
                    best = ops.where(better, val, best)
                    y = ops.where(ops.expand_dims(better, 1), cand, y)
            if changed == 0:
                break
    return y


def _decoded_distortion(model, x, y, beam, kept, first_report: int = 0):
    """Per report `[batch]`: the model's distortion of what its decoder reconstructs from the
    rounded (dithered) latents ``y``, gradients passed straight through the rounding."""
    t_hat = model.received_axis(model.to_axis(y), first_report)
    return model.report_distortion(model.decode_latent(model.from_axis(t_hat), None, beam=beam, kept=kept), x)


def refine_latents(model, x, latent, beam=None, kept=None, refinement: LatentRefinement | None = None,
                   first_report: int = 0, bit_cap: float | None = None):
    """Refined latents `[batch, M]` for packed CSI ``x`` (see the module docstring).

    Args:
        model: a frozen or trained :class:`~sionna_csifb.models.entropy_codec.EntropyCodec` without
            side information (the UE does not hold the BS's UL CSI).
        x: packed CSI `[batch, ...]` the reports describe.
        latent: the encoder's latents `[batch, M]` (the start).
        beam: ``eigen``: the centring beam the report carries.
        kept: ``eigen``: the kept beams the report carries.
        refinement: :class:`LatentRefinement` (None: the defaults).
        first_report: the number of the first report (the shared dither).
        bit_cap: float or None. A cap on each report's estimated bits: the objective adds
            ``CAP_WEIGHT x rate weight x max(0, bits - bit_cap)``, so a report under the cap pays
            the plain rate and one over it is pushed back (:func:`budget_candidates`).

    Returns:
        The latents whose report scored best, each report on its own (then the coordinate
        search's, which only ever lowers a report's objective).
    """
    r = refinement or LatentRefinement()
    if getattr(model, "side_info", False):
        raise ValueError("Latent refinement runs at the UE, which does not hold the UL CSI this model's decoder "
                         "reads: use it with models built with side_info=False.")
    lam = float(ops.convert_to_numpy(model.lagrange.value)) * r.rate_scale

    def loss(y):  # its value is the exact objective of the report; its gradient passes the rounding
        bits = model.rate_bits(y, kept=kept, straight_through=True)
        val = _decoded_distortion(model, x, y, beam, kept, first_report) + lam * bits
        if bit_cap is not None:
            val = val + CAP_WEIGHT * lam * ops.relu(bits - bit_cap)
        return val

    y = ops.convert_to_tensor(latent)
    m, v = ops.zeros_like(y), ops.zeros_like(y)
    b1, b2, eps = 0.9, 0.999, 1e-8
    best, best_y = None, y
    for k in range(r.steps + 1):
        val, g = _value_and_grad(loss, y)
        if best is None:
            best = val
        else:
            better = val < best
            best = ops.where(better, val, best)
            best_y = ops.where(better[:, None], y, best_y)
        if k == r.steps:
            break
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        y = y - r.learning_rate * (m / (1 - b1 ** (k + 1))) / (ops.sqrt(v / (1 - b2 ** (k + 1))) + eps)
    if r.search_sweeps:
        best_y = _coordinate_search(model, loss, best_y, r.search_sweeps, first_report)
    return best_y


def calibrate_rate_scale(model, h, target_bits: float, refinement: LatentRefinement | None = None,
                         iterations: int = 7, bounds: tuple[float, float] = (0.25, 8.0)) -> tuple[float, float]:
    """The ``rate_scale`` at which refined reports of the complex CSI ``h`` have a mean length
    near ``target_bits`` (bisection on log scale, on the model's rate estimate).

    Returns:
        (rate_scale, mean estimated bits at it).
    """
    r = refinement or LatentRefinement()
    saved = model.latent_refinement
    lo, hi = math.log(bounds[0]), math.log(bounds[1])
    x = model.pack(h)[0]
    found = None
    try:
        for _ in range(iterations):
            s = math.exp((lo + hi) / 2)
            model.latent_refinement = replace(r, rate_scale=s)
            bits = float(np.mean(ops.convert_to_numpy(model.estimate_bits(x))))
            if found is None or abs(bits - target_bits) < abs(found[1] - target_bits):
                found = (s, bits)
            lo, hi = (lo, math.log(s)) if bits < target_bits else (math.log(s), hi)
    finally:
        model.latent_refinement = saved
    return found


def budget_candidates(model, x, latent, beam=None, kept=None, refinement: LatentRefinement | None = None,
                      first_report: int = 0, bit_cap: float | None = None):
    """Candidate latents for reports held to a budget: the encoder's ``latent`` and the refined
    latents at each rung of ``refinement.budget_scales`` (factors on its ``rate_scale``), refined
    with the cap ``bit_cap - BUDGET_MARGIN_BITS`` on each report's estimated bits, each with the
    distortion its report decodes to (the refinement's distortion term, exact, through the real
    rounding).

    Args:
        model: the entropy-coded model, as :func:`refine_latents`.
        x: tensor. The codec input, as :func:`refine_latents`.
        latent: tensor `[batch, M]`. The encoder's latents, as :func:`refine_latents`.
        beam: as :func:`refine_latents`.
        kept: as :func:`refine_latents`.
        refinement: :class:`LatentRefinement` (None: the defaults).
        first_report: int. As :func:`refine_latents`.
        bit_cap: float or None. What the budget leaves for the report's estimated bits (the
            budget less the codec's own per-report overhead); None: no cap.

    Returns:
        (list of ``1 + len(budget_scales)`` latents `[batch, M]`, the encoder's first, then the
        rungs by rising rate scale; distortions `[candidates, batch]` NumPy).
    """
    r = refinement or LatentRefinement()
    cands = [ops.convert_to_tensor(latent)]
    cap = None if bit_cap is None else float(bit_cap) - BUDGET_MARGIN_BITS
    for f in sorted(r.budget_scales):
        rung = replace(r, rate_scale=r.rate_scale * f)
        cands.append(refine_latents(model, x, latent, beam, kept, rung, first_report, cap))
    with _no_grad():
        dist = [ops.convert_to_numpy(_decoded_distortion(model, x, y, beam, kept, first_report)) for y in cands]
    return cands, np.stack(dist)

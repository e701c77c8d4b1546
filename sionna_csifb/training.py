"""Training loop for the learned feedback models: progress, checkpoints, resume, seeds.

The Keras models run on the torch backend, so a plain torch optimiser trains them
(``model.parameters()`` are torch Parameters). A run is reproducible from its seed; an
interrupted run resumes from the last checkpoint in ``out_dir`` (model weights in Keras'
HDF5 format, optimiser state via ``torch.save``, loaded with ``weights_only=True``: loading
never executes code from a file).

Examples:
    >>> TrainingConfig(steps=10).batch_size
    64
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from . import require_torch_backend
from ._validation import check_choice, check_positive_int
from .config import config
from .csi.scenario import Scenario
from .csi.transforms import from_angular_delay, to_angular_delay
from .data.hdf5 import CSIDataset

require_torch_backend("sionna_csifb.training")

__all__ = ["TrainingConfig", "train", "evaluate_model", "batch_to_csi", "packed_batch", "analog_uplink_kwargs",
           "unit_power", "calibrate_early_exit"]


@dataclass
class TrainingConfig:
    """Hyper-parameters of a run (not part of any layer config).

    Args:
        steps: int. Optimiser steps.
        batch_size: int.
        learning_rate: float. Adam (the paper: 1e-3), cosine-decayed to 5% at the end.
        seed: int.
        task: "prediction" (target Z, the paper's task) or "reconstruction" (target X).
        checkpoint_every: int. Steps between checkpoints.
    """

    steps: int = 12000
    batch_size: int = 64
    learning_rate: float = 1e-3
    seed: int = 0
    task: str = "prediction"
    checkpoint_every: int = 500

    def __post_init__(self) -> None:
        check_positive_int(self.steps, "steps")
        check_positive_int(self.batch_size, "batch_size")
        check_choice(self.task, "task", ("prediction", "reconstruction"))


def batch_to_csi(batch: dict, scenario: Scenario) -> dict:
    """A dataset batch's cropped angular-delay ``x``, ``y``, ``z`` as the complex
    spatial-frequency CSI the codecs take (the crop is exact, so a codec's own crop returns them)."""
    f, ws = scenario.num_subcarriers, scenario.window_start
    return {k: from_angular_delay(batch[k], f, ws) for k in ("x", "y", "z")}


def packed_batch(model, batch: dict, scenario: Scenario) -> dict:
    """A dataset batch as the codec's packed tensors: ``x`` (normalised by its own crop RMS),
    ``z`` in the units of ``x``, ``y`` by its own RMS; for diagnostics at the packed level."""
    c = batch_to_csi(batch, scenario)
    x, s = model.pack(c["x"])
    return {"x": x, "z": model.pack(c["z"], scale=s)[0], "y": model.pack(c["y"])[0]}


def _lr(step: int, cfg: TrainingConfig) -> float:
    return cfg.learning_rate * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(step / cfg.steps, 1.0))))


class _Objective(torch.nn.Module):
    """The model's training loss as a forward pass, so that DistributedDataParallel wraps it."""

    def __init__(self, model) -> None:
        super().__init__()
        self.model = model

    def forward(self, h, side_info, target, **kwargs):
        return self.model.training_loss(h, side_info, target, **kwargs)


def unit_power(h: torch.Tensor) -> torch.Tensor:
    """Each sample scaled to unit mean power per entry (how the uplink sees a power-controlled UE)."""
    p = h.abs().pow(2).mean(dim=tuple(range(1, h.ndim)), keepdim=True)
    if bool((p <= 0).any()):
        raise ValueError("an all-zero UL channel: no uplink to send over.")
    return h / p.sqrt()


def analog_uplink_kwargs(model, h_ul: torch.Tensor, snr_db=None) -> dict:
    """The training channel of an analog (JSCC) model: each sample's own fading UL channel
    (Sionna, MRC at the BS; :class:`~sionna_csifb.evaluation.uplink.FadingUplinkChannel`) at an
    SNR drawn uniformly in the model's ``train_snr_db`` (or ``snr_db``)."""
    from .evaluation.uplink import FadingUplinkChannel

    if snr_db is None:
        lo, hi = model.train_snr_db
        snr_db = lo + (hi - lo) * torch.rand(h_ul.shape[0], device=h_ul.device)
    return {"channel": FadingUplinkChannel(unit_power(h_ul), snr_db), "snr_db": snr_db}


def distributed_context() -> tuple[int, int]:
    """(rank, world size): initialises torch.distributed when launched by ``torchrun`` with
    more than one process (NCCL on CUDA devices, gloo on CPU); (0, 1) otherwise."""
    import os

    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        dist.init_process_group("nccl" if config.device.startswith("cuda") else "gloo")
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def leave_distributed() -> int:
    """This process's rank; under ``torchrun``, all processes wait for each other and leave the
    process group (gloo's threads torn down at interpreter exit can otherwise abort a worker)."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return 0
    rank = dist.get_rank()
    dist.barrier()
    dist.destroy_process_group()
    return rank


def train(model, dataset: CSIDataset, cfg: TrainingConfig, out_dir: str | Path, progress: bool = True) -> dict:
    """Train ``model`` on ``dataset``; checkpoints in ``out_dir``; resumes if one is there.

    The same call runs under ``torchrun --nproc-per-node N``: each process takes its
    ``batch_size`` slice of a global batch of ``N * batch_size`` (the batches a single process
    with that batch size would see), gradients are averaged by PyTorch's
    DistributedDataParallel, non-trainable state (VQ codebook restarts, normalisation
    statistics) is broadcast from rank 0 after every step, and rank 0 alone writes checkpoints
    and shows progress. Resuming works the same way.

    Returns:
        dict: ``steps`` done, ``losses`` (mean per logging window), ``seconds``,
        ``step_losses`` (the loss of every step of this call, averaged over processes).
    """
    import keras
    from tqdm.auto import tqdm

    rank, world = distributed_context()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    scen = dataset.scenario
    objective = _Objective(model)
    if world > 1:
        import torch.distributed as dist
        from torch.nn.parallel import DistributedDataParallel

        objective = DistributedDataParallel(objective)  # broadcasts rank 0's initial weights
        shared = [v.value for v in model.variables if not v.trainable]
        shared += [lyr.codebook.value for lyr in model._flatten_layers() if hasattr(lyr, "codebook")]
    # the trainable variables in creation order: the same order in every instance of the model, so a
    # resumed run's optimizer state fits it (torch's parameters() follows Keras' auto-generated names)
    opt = torch.optim.Adam([v.value for v in model.trainable_variables], lr=cfg.learning_rate)
    state_file, weights_file, opt_file = out / "state.json", out / "checkpoint.weights.h5", out / "optimizer.pt"
    step, history = 0, {"losses": [], "seconds": 0.0}
    if state_file.exists():
        state = json.loads(state_file.read_text())
        if state["training_config"] != asdict(cfg):
            raise ValueError(f"{out} holds a run with another training config: {state['training_config']}; "
                             "use another out_dir or the same arguments.")
        model.load_weights(weights_file)
        opt.load_state_dict(torch.load(opt_file, weights_only=True))
        step, history = state["step"], state["history"]
    keras.utils.set_random_seed(cfg.seed + step)
    use_side = bool(getattr(model, "side_info", False))
    bar = tqdm(total=cfg.steps, initial=step, desc="train", disable=not progress or rank > 0, unit="step")
    t0, window, step_losses = time.time(), [], []
    global_batch = cfg.batch_size * world
    if global_batch > len(dataset):
        raise ValueError(f"the global batch ({world} x {cfg.batch_size}) exceeds the dataset ({len(dataset)}).")
    epoch = step * global_batch // len(dataset)
    it = dataset.batches(global_batch, seed=cfg.seed * 100_003 + epoch, drop_last=True, real=False)
    model.train()
    while step < cfg.steps:
        try:
            b = next(it)
        except StopIteration:
            epoch += 1
            it = dataset.batches(global_batch, seed=cfg.seed * 100_003 + epoch, drop_last=True, real=False)
            continue
        if world > 1:  # this process's slice of the global batch
            b = {k: v[rank * cfg.batch_size:(rank + 1) * cfg.batch_size] for k, v in b.items()}
        c = batch_to_csi(b, scen)
        for g in opt.param_groups:
            g["lr"] = _lr(step, cfg)
        extra = analog_uplink_kwargs(model, c["y"]) if getattr(model, "kind", "") == "analog" else {}
        loss = objective(c["x"], c["y"] if use_side else None, c["z"] if cfg.task == "prediction" else None,
                         **extra)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss became {float(loss)} at step {step}; lower the learning rate.")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        loss = loss.detach()
        if world > 1:
            dist.all_reduce(loss)
            loss = loss / world
            for v in shared:
                dist.broadcast(v.data, 0)
        window.append(float(loss))
        step_losses.append(float(loss))
        bar.update(1)
        if step % 100 == 0 or step == cfg.steps:
            history["losses"].append([step, float(np.mean(window))])
            bar.set_postfix(loss=f"{np.mean(window):.4f}")
            window = []
        if (step % cfg.checkpoint_every == 0 or step == cfg.steps) and rank == 0:
            model.save_weights(weights_file)
            torch.save(opt.state_dict(), opt_file)
            history["seconds"] += time.time() - t0
            t0 = time.time()
            state_file.write_text(json.dumps({"step": step, "history": history, "training_config": asdict(cfg)}))
    bar.close()
    model.eval()
    return {"steps": step, **history, "step_losses": step_losses}


@torch.no_grad()
def evaluate_model(model, dataset: CSIDataset, task: str = "prediction", batch_size: int = 256,
                   num_inference_steps: int | None = None, max_samples: int | None = None,
                   ul_snr_db: float = 0.0, seed: int = 0) -> dict:
    """NMSE of the model's decoded estimate (through the real bits: packing and
    ``compress_packed``, i.e. ``compress``, then ``decompress``) on a dataset.

    Returns:
        dict: ``nmse_ad_db`` (cropped angular-delay domain, as the paper), ``nmse_sf_db``
        (spatial-frequency domain against the full channel, truncation included), ``sgcs``
        (per subcarrier, against the cropped target),
        ``num_samples``, ``payload_bits`` (None for analog models, which are evaluated over
        the fading uplink at ``ul_snr_db`` and report ``num_symbols`` and ``ul_snr_db``; the
        mean for variable-length reports, then also
        ``payload_bits_p95``, ``payload_bits_max``, ``estimated_bits`` (the entropy model's
        estimate) and ``actual_over_estimated``, and for a model held to a budget
        (``max_bits``) ``share_finest_level``, the share of reports at rate-adaptive level 0),
        ``decode_samples_per_s``.
    """
    from .evaluation.metrics import nmse, nmse_sf_from_ad, sgcs, to_db

    scen = dataset.scenario
    use_side = bool(getattr(model, "side_info", False))
    ad, sf, sg, t_dec, lengths, estimated, levels = [], [], [], 0.0, [], [], []
    variable = bool(getattr(model, "variable_length", False))
    analog = getattr(model, "kind", "") == "analog"
    if variable:
        model._require_frozen()
    torch.manual_seed(seed)
    for b in dataset.batches(batch_size, shuffle=False, real=False):
        if max_samples is not None and sum(len(a) for a in ad) >= max_samples:
            break
        c = batch_to_csi(b, scen)
        x, scale = model.pack(c["x"])  # what compress() does, keeping the UE's scale (never sent)
        if analog:  # symbols over each sample's fading UL channel; the BS knows the SNR
            from .evaluation.uplink import fading_mrc

            payload = fading_mrc(torch.as_tensor(model.compress_packed(x, snr_db=ul_snr_db)), unit_power(c["y"]),
                                 ul_snr_db)
            kwargs = {"snr_db": ul_snr_db}
            lengths.append(np.zeros(len(x)))
        else:
            payload, kwargs = model.compress_packed(x), {}
            if variable:  # real report lengths, and the model's own estimate of them
                lengths.append(np.asarray(payload.num_bits, "float64"))
                estimated.append(np.asarray(model.estimate_bits(x), "float64"))
                levels.append(np.asarray(model.last_levels))
            else:
                lengths.append(np.full(len(x), float(payload.shape[1])))
        t0 = time.perf_counter()
        est = model.decompress(payload, c["y"] if use_side else None, num_inference_steps=num_inference_steps,
                               **kwargs)
        t_dec += time.perf_counter() - t0
        sg.append(sgcs(c["z"] if task == "prediction" else c["x"], est).mean(-1))
        est = to_angular_delay(est, scen.num_taps, scen.window_start) * scale[:, None, None]  # dataset units
        target = b["z"] if task == "prediction" else b["x"]
        e = b["energy"][:, 2] if task == "prediction" else b["energy"][:, 0]
        ad.append(nmse(target, est.to(target.dtype)))
        sf.append(nmse_sf_from_ad(target, est.to(target.dtype), e))
    ad, sf, lengths = torch.cat(ad), torch.cat(sf), np.concatenate(lengths)
    out = {"nmse_ad_db": to_db(ad), "nmse_sf_db": to_db(sf), "sgcs": float(torch.cat(sg).mean()),
           "num_samples": len(ad),
           "payload_bits": None if analog else float(lengths.mean()) if variable else int(lengths[0]),
           "decode_samples_per_s": len(ad) / max(t_dec, 1e-9), "device": config.device}
    if analog:
        out.update(num_symbols=model.num_symbols, ul_snr_db=float(ul_snr_db))
    if variable:
        est = np.concatenate(estimated)
        out.update(payload_bits_p95=float(np.percentile(lengths, 95)), payload_bits_max=int(lengths.max()),
                   estimated_bits=float(est.mean()),
                   actual_over_estimated=float(lengths.mean() / est.mean()))
        if getattr(model, "max_bits", None) is not None:  # held to a budget: the share of reports at the finest level
            out.update(share_finest_level=float(np.mean(np.concatenate(levels) == 0)))
    return out


@torch.no_grad()
def calibrate_early_exit(model, dataset: CSIDataset, num_samples: int = 256, num_inference_steps: int = 2,
                         seed: int = 0) -> list[float]:
    """Measure an analog model's refinement gain (NMSE of the coarse estimate minus NMSE of
    the refined one, dB, packed domain, reconstruction) at each SNR of
    :data:`~sionna_csifb.models.jscc.EXIT_SNR_GRID_DB` on the first ``num_samples`` samples of
    ``dataset`` (``csifb train`` uses training samples, never the test set) and store it in the
    model for its early-exit policy. Returns the gains."""
    from .evaluation.uplink import fading_mrc
    from .models.jscc import EXIT_SNR_GRID_DB

    torch.manual_seed(seed)
    b = next(dataset.batches(min(num_samples, len(dataset)), shuffle=False, real=False))
    c = batch_to_csi(b, dataset.scenario)
    x, _ = model.pack(c["x"])
    h_ul = unit_power(c["y"])
    gains = []
    for snr in EXIT_SNR_GRID_DB:
        r = fading_mrc(torch.as_tensor(model.compress_packed(x, snr_db=snr)), h_ul, snr)
        sym = torch.view_as_real(r).float()
        s = model._snr(snr, len(x))
        coarse = model.decode_coarse(sym, s)
        refined = model.refine(coarse, num_inference_steps)
        err = lambda e: 10 * math.log10(float(((e - x) ** 2).sum()) / float((x ** 2).sum()))  # noqa: E731
        gains.append(err(coarse) - err(refined))
    model.set_refinement_gain(gains)
    return gains

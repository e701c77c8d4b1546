"""What every benchmark result file records (see ../shared/benchmarking.md)."""

from __future__ import annotations

import json
import platform
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch


def environment() -> dict:
    """Device string, library versions, git commit, thread count."""
    import keras
    import sionna

    import sionna_csifb

    dev = sionna_csifb.config.device
    if dev.startswith("cuda"):
        name = torch.cuda.get_device_name(int(dev.split(":")[1]))
    else:
        name = platform.processor() or platform.machine()
        try:
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith("model name"):
                    name = line.split(":", 1)[1].strip()
                    break
        except OSError:
            pass
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=Path(__file__).parent).stdout.strip()
    except OSError:
        commit = ""
    return {
        "device": dev, "device_name": name, "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__, "keras": keras.__version__, "sionna": sionna.__version__,
        "sionna_csifb": sionna_csifb.__version__, "git_commit": commit, "precision": sionna_csifb.config.precision,
        "date": time.strftime("%Y-%m-%d"),
    }


def best_time(fn, repeats: int = 3, warmup: int = 1) -> tuple[float, list[float]]:
    """Minimum and all wall times of ``fn()`` after ``warmup`` calls (synchronised on GPU)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return min(times), times


@dataclass(frozen=True)
class ShippedRun:
    """Weights shipped in ``sionna_csifb/weights`` standing in for a run folder (``load_run``,
    ``shipped_result``), so that a benchmark reproduces from a clean clone without the runs.
    ``<name>-refined``: the weights with the manifest's calibrated UE-side latent refinement."""

    name: str

    @property
    def weights(self) -> str:
        return self.name.removesuffix(REFINED) if self.refined else self.name

    @property
    def refined(self) -> bool:
        from sionna_csifb.weights.registry import list_bundled

        return self.name.endswith(REFINED) and self.name not in list_bundled()


REFINED = "-refined"


def shipped_result(name: str) -> dict:
    """The fields of a run's ``result.json`` that the benchmarks read, from the manifest entry."""
    from sionna_csifb.weights.registry import manifest_entry

    run = ShippedRun(name)
    e = manifest_entry(run.weights)
    if run.refined and "ue_refinement" not in e:
        raise ValueError(f"{run.weights!r} has no calibrated `ue_refinement` in the manifest, so no {name!r}.")
    return {**({"ue_refinement": e["ue_refinement"]} if run.refined else {}), "model": e["model"], "model_config": e["model_config"], "scenario": e["scenario"],
            **({"scenarios": e["scenarios"]} if "scenarios" in e else {}),
            "training_config": {"task": e["task"], **e["training"]}, "steps": e["training"]["steps"],
            **({"init_from": {"total_steps": e["training"]["init_from_steps"]}} if "init_from_steps" in e["training"] else {}),
            "train_data": e["train_data"], "test_data": e["test_data"], "shipped": True}


def run_result(run: Path | ShippedRun) -> dict:
    """A run's ``result.json`` (a ``ShippedRun``: the same fields from the manifest), with
    ``total_steps``: its steps plus those of the runs it started from (``--init-from``)."""
    res = shipped_result(run.name) if isinstance(run, ShippedRun) else json.loads((run / "result.json").read_text())
    return {**res, "total_steps": res.get("init_from", {}).get("total_steps", 0) + res["steps"]}


def load_run(run: Path | ShippedRun, scenario=None):
    """A finished ``csifb train`` run: (model with its final weights, result.json, weights path);
    a ``ShippedRun``: the shipped weights, after the registry's sha256 and config checks."""
    from sionna_csifb.models.sizes import build_model

    res = run_result(run)
    if isinstance(run, ShippedRun):
        from sionna_csifb.weights.registry import WEIGHTS_DIR, load_model

        model, entry = load_model(run.weights)
        if run.refined:
            from sionna_csifb.models.refinement import LatentRefinement

            block = res["ue_refinement"]
            model.latent_refinement = LatentRefinement.from_manifest(block)
        return model, res, WEIGHTS_DIR / entry["file"]
    model = build_model(res["model"], res["model_config"])
    weights = run / res.get("weights", "checkpoint.weights.h5")
    model.load_weights(weights)
    if hasattr(model, "freeze") and not model.frozen:
        model.freeze()
    return model, res, weights


def csi_metrics(x, h_hat) -> dict:
    """NMSE (dB) and mean per-subcarrier SGCS of an estimate."""
    import torch

    from sionna_csifb.evaluation.metrics import nmse, sgcs, to_db

    h_hat = torch.as_tensor(h_hat).to(x.dtype)
    return {"nmse_db": to_db(nmse(x, h_hat)), "sgcs": float(sgcs(x, h_hat).mean())}


def codebook_usage(model, x_packed) -> dict:
    """How much of the VQ capacity the encoder uses on packed inputs: index entropy vs log2(Nv),
    latent vs codeword RMS."""
    import keras
    import torch

    with torch.no_grad():
        lat = model.encode_latent(x_packed)
        idx = keras.ops.convert_to_numpy(model.vq.nearest(lat)).ravel()
    p = np.bincount(idx, minlength=model.vq.num_codewords) / idx.size
    ent = float(-(p[p > 0] * np.log2(p[p > 0])).sum())
    cb = keras.ops.convert_to_numpy(model.vq.codebook)
    return {"usage": p.tolist(), "index_entropy_bits": ent, "bits_per_index": model.bits_per_index,
            "index_entropy_fraction": ent / model.bits_per_index,
            "latent_rms": float(lat.pow(2).mean().sqrt()), "codeword_rms": float(np.sqrt((cb ** 2).mean()))}


def eval_codec(model, x, batch: int = 500, side_info=None) -> dict:
    """Through the real payload: compress -> decompress (with the UL CSI ``side_info`` for a model
    that uses it), timed."""
    import torch

    est, lengths, t_enc, t_dec, est_bits, info_bits = [], [], 0.0, 0.0, [], []
    variable = bool(getattr(model, "variable_length", False))
    with torch.no_grad():
        for lo in range(0, len(x), batch):
            h = x[lo:lo + batch]
            t0 = time.perf_counter()
            p = model.compress(h)
            t_enc += time.perf_counter() - t0
            t0 = time.perf_counter()
            y = side_info[lo:lo + batch] if getattr(model, "side_info", False) else None
            est.append(torch.as_tensor(model.decompress(p, y)))
            t_dec += time.perf_counter() - t0
            if variable:
                lengths.append(p.num_bits)
                xp, _ = model.pack(h)
                est_bits.append(np.asarray(model.estimate_bits(xp)))
                info_bits.append(model.information_bits(xp))
            else:
                lengths.append(np.full(len(h), p.shape[1]))
    n = np.concatenate(lengths).astype("float64")
    row = {**csi_metrics(x, torch.cat(est)), "mean_bits": float(n.mean()),
           "encode_reports_per_s": len(x) / t_enc, "decode_reports_per_s": len(x) / t_dec}
    if variable:
        e, i = np.concatenate(est_bits), np.concatenate(info_bits)
        row.update(p95_bits=float(np.percentile(n, 95)), max_bits=int(n.max()), min_bits=int(n.min()),
                   estimated_bits=float(e.mean()), ideal_bits=float(i.mean()),
                   actual_over_estimated=float(n.mean() / e.mean()),
                   termination_bits=float((n - i).mean()))
    return row


def rate_adaptive(model, x, budgets) -> list[dict]:
    """An entropy-coded model in its rate-adaptive mode (``compress(max_bits=budget)``, decoded
    with ``rate_adaptive=True``) at each budget: SGCS/NMSE, report lengths, the share of reports
    within the budget and the coarsening levels used."""
    rows = []
    with torch.no_grad():
        for budget in budgets:
            p = model.compress(x, max_bits=budget)
            h_hat = torch.as_tensor(model.decompress(p, rate_adaptive=True))
            levels = model.last_levels
            rows.append({"budget_bits": budget, **csi_metrics(x, h_hat), "mean_bits": float(p.num_bits.mean()),
                         "p95_bits": float(np.percentile(p.num_bits, 95)), "max_bits": int(p.num_bits.max()),
                         "share_within_budget": float((p.num_bits <= budget).mean()),
                         "share_level0": float((levels == 0).mean()), "mean_level": float(levels.mean())})
    return rows

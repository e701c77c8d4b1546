"""The ``csifb`` command line.

Examples:
    >>> main(["presets"])  # doctest: +ELLIPSIS
    paper-cdl-c ...
    0
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

from .csi.scenario import PRESETS, Scenario, get_scenario

__all__ = ["main"]


def _presets_text() -> str:
    width = max(len(k) for k in PRESETS)
    return "\n".join(f"  {k:<{width}}  {v.description}" for k, v in PRESETS.items())


def _parse_override(text: str) -> tuple[str, object]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"--set expects FIELD=VALUE, got {text!r}")
    key, raw = text.split("=", 1)
    fields = {f.name: f for f in dataclasses.fields(Scenario)}
    if key not in fields:
        raise argparse.ArgumentTypeError(f"unknown scenario field {key!r}; fields: {', '.join(fields)}")
    typ = type(getattr(PRESETS["paper-cdl-c"], key))
    try:
        return key, typ(raw)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--set {key}: expected {typ.__name__}, got {raw!r}") from exc


def _build_parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    p = argparse.ArgumentParser(prog="csifb", description="Learned CSI feedback for Sionna.",
                                epilog="scenario presets:\n" + _presets_text(), formatter_class=fmt)
    sub = p.add_subparsers(dest="command", required=True)
    g = sub.add_parser("generate", help="generate a paired FDD CSI dataset (HDF5), resumable",
                       epilog="scenario presets:\n" + _presets_text()
                       + "\n\nAn interrupted run resumes when the same command is run again.",
                       formatter_class=fmt)
    g.add_argument("--preset", required=True, choices=list(PRESETS), metavar="NAME", help="scenario preset")
    g.add_argument("--n", type=int, required=True, help="number of samples")
    g.add_argument("--out", required=True, help="output HDF5 file")
    g.add_argument("--seed", type=int, default=0, help="dataset seed (default 0)")
    g.add_argument("--chunk-size", type=int, default=64, help="samples per chunk (default 64)")
    g.add_argument("--set", type=_parse_override, action="append", default=[], metavar="FIELD=VALUE",
                   help="override a scenario field, e.g. --set ul_phases=independent")
    g.add_argument("--device", default=None, help="torch device (default: sionna_csifb.config.device)")
    g.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    g.add_argument("--shard", default=None, metavar="I/N",
                   help="write only shard I of N (chunks I, I+N, ...); join the shards with `csifb merge`")
    mg = sub.add_parser("merge", help="join the shard files of a sharded `csifb generate` into one dataset")
    mg.add_argument("--out", required=True, help="output HDF5 file (new)")
    mg.add_argument("shards", nargs="+", help="the N shard files")
    t = sub.add_parser("train", help="train a learned feedback model (resumable), then test it")
    t.add_argument("--model", required=True, choices=["diffusion", "csinet", "crnet", "entropy", "jscc"])
    t.add_argument("--bits", type=int, default=None,
                   help="payload bits (entropy: the target mean report length); required except for jscc")
    t.add_argument("--symbols", type=int, default=None, help="jscc: complex channel symbols k per report (default 16)")
    t.add_argument("--architecture", default=None, choices=["rdjscc", "adjscc", "csinetplus", "eigen"],
                   help="jscc: encoder/decoder (default rdjscc, the paper's tables 1-2); csinet/entropy: eigen = "
                        "MLPs on phase-aligned subband eigenvectors, trained for SGCS; diffusion: eigen = the VQ-diffusion "
                        "codec on those eigenvectors (reconstruction)")
    t.add_argument("--bits-per-value", type=int, default=None,
                   help="csinet/crnet/entropy: quantiser bits per latent value (default 6)")
    t.add_argument("--kept-beams", type=int, default=None,
                   help="csinet/entropy --architecture eigen: send the set of the L strongest orthogonal beams "
                        "(combinatorial index, as eType II) and compress only their coefficients (default 0: all)")
    t.add_argument("--hidden-width", type=int, default=None,
                   help="csinet/entropy --architecture eigen: width of the encoder's and decoder's MLPs (default 512)")
    t.add_argument("--residual-blocks", type=int, default=None,
                   help="csinet/entropy --architecture eigen: pre-norm residual MLP blocks in the encoder and "
                        "decoder instead of two dense layers (default 0)")
    t.add_argument("--linear-path", action="store_true", default=None,
                   help="entropy --architecture eigen: a linear map to the latents and back beside the MLPs, "
                        "initialised as a KLT transform coder of the first 8192 training samples")
    t.add_argument("--beam-coding", default=None, choices=["index", "entropy"],
                   help="entropy --architecture eigen --kept-beams L: send the kept beams as a combinatorial index "
                        "(default) or range coded under a model of beam sets counted on the first 20000 training "
                        "samples (about 10 bits instead of 22 for 8 of 32 beams on UMa)")
    t.add_argument("--refinement", default=None, choices=["residual", "generative", "supervised", "none"],
                   help="jscc: diffusion refinement (default residual = RD-JSCC; none = stage 1 only)")
    t.add_argument("--refine-steps", type=int, default=None,
                   help="jscc: optimiser steps of stage 2 (the refinement; default = --steps)")
    t.add_argument("--refine-lr", type=float, default=3e-4, help="jscc: stage-2 learning rate (default 3e-4)")
    t.add_argument("--ul-snr-db", type=float, default=10.0,
                   help="jscc: per-antenna uplink SNR of the test metrics (default 10 dB)")
    t.add_argument("--entropy-model", default=None, choices=["factorized", "hyperprior"],
                   help="entropy: the entropy model (default hyperprior)")
    t.add_argument("--encoder", default=None, choices=["cnn", "attention"], help="entropy: the encoder")
    t.add_argument("--companding", default=None, choices=["uniform", "mulaw"], help="entropy: the quantiser grid")
    t.add_argument("--rate-weight", type=float, default=None,
                   help="entropy: a fixed lambda (loss = MSE + lambda * bits) instead of the --bits target")
    t.add_argument("--max-bits", type=int, default=None,
                   help="entropy: a budget per report (e.g. an eType II payload): trained with a hinge on "
                        "each report's length, coded in the rate-adaptive mode so every report fits")
    t.add_argument("--cap-weight", type=float, default=None,
                   help="entropy --max-bits: weight per bit over the budget in training (default 0.01; smaller "
                        "lets more reports use the whole budget, more of them then coarsened to fit)")
    t.add_argument("--sgcs-weight", type=float, default=None, help="entropy: add w * (1 - SGCS) to the loss")
    t.add_argument("--size", default="small", choices=["small", "paper"])
    t.add_argument("--no-side-info", action="store_true", help="decoder without the UL CSI")
    t.add_argument("--task", default="prediction", choices=["prediction", "reconstruction"])
    t.add_argument("--train", required=True, nargs="+",
                   help="training dataset (csifb generate); several files: a mix of scenarios (one CSI format), "
                        "listed in the weights' manifest")
    t.add_argument("--test", required=True, help="test dataset, generated with another seed")
    t.add_argument("--steps", type=int, default=12000)
    t.add_argument("--batch-size", type=int, default=64)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--codebook-weight", type=float, default=None,
                   help="diffusion only: eta, the weight of the VQ codebook/commitment loss (default: the size "
                        "preset's, 0.25; the paper's value is 4.5e-4)")
    t.add_argument("--codebook-balance", type=float, default=None,
                   help="diffusion only: weight of the VQ usage-balance term (default: the size preset's, 1.0; "
                        "0 is the paper's loss)")
    t.add_argument("--codebook-restart", type=float, default=None,
                   help="diffusion only: the VQ's dead-codeword threshold, a fraction of the uniform rate below "
                        "which a codeword restarts at a random latent during training (default 0.03)")
    t.add_argument("--min-loss-weight", type=float, default=None,
                   help="diffusion only: floor of the eq. (7) step weight alpha_bar/(1-alpha_bar) (default: the size "
                        "preset's, 1.0; the paper has none)")
    t.add_argument("--unet-width", type=int, default=None,
                   help="diffusion --architecture eigen: the U-Net's width (default: the size preset's, 16 for small)")
    t.add_argument("--device", default=None, help="torch device (default: sionna_csifb.config.device)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--init-from", default=None, metavar="RUN",
                   help="start from the weights of a finished run folder, or of shipped weights by name "
                        "(`csifb weights`), of the same model and config except for --max-bits: fine-tuning "
                        "on your scenario, training on with a new learning-rate schedule, or for a budget; "
                        "recorded in result.json, whose scenarios then include those the start was trained on")
    t.add_argument("--out", required=True, help="run folder: checkpoints, result.json")
    t.add_argument("--no-progress", action="store_true")
    sub.add_parser("presets", help="list the scenario presets")
    sub.add_parser("weights", help="list the shipped weights: model, payload, task, scenarios trained on, steps")
    i = sub.add_parser("info", help="describe a dataset file")
    i.add_argument("file")
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``csifb``; returns the exit status."""
    args = _build_parser().parse_args(argv)
    if args.command == "presets":
        print("\n".join(f"{k}  {v.description}" for k, v in PRESETS.items()))
        return 0
    if args.command == "weights":
        from .weights.registry import list_bundled, manifest_entry

        for name in list_bundled():
            e = manifest_entry(name)
            cfg, scen = e["model_config"], [s["name"] for s in e.get("scenarios") or [e["scenario"]]]
            size = (f"{cfg['max_bits']} b max" if cfg.get("max_bits") else f"{cfg['num_bits']} b" if "num_bits" in cfg
                    else f"{cfg['target_bits']:g} b mean" if cfg.get("target_bits") else f"{cfg.get('num_symbols')} symbols")
            print(f"{name:28s} {e['model']:9s} {size:12s} {e['task']:14s} {', '.join(scen):32s} "
                  f"{e['training'].get('total_steps', e['training']['steps'])} steps")
        return 0
    if args.command == "info":
        from .data.hdf5 import CSIDataset

        ds = CSIDataset(args.file, in_memory=False)
        print(json.dumps({"file": str(ds.path), "num_samples": ds.num_samples, "seed": ds.seed,
                          "scenario": ds.scenario.to_dict()}, indent=2))
        return 0
    if args.command == "train":
        return _train(args)
    if args.command == "merge":
        from .data.hdf5 import DatasetError, merge_shards

        try:
            path = merge_shards(args.shards, args.out)
        except (ValueError, DatasetError, OSError) as exc:
            print(f"csifb merge: error: {exc}", file=sys.stderr)
            return 2
        print(f"wrote {path} from {len(args.shards)} shards")
        return 0
    from .config import config
    from .data.hdf5 import DatasetError, generate_dataset

    try:
        if args.device:
            config.device = args.device
        scenario = get_scenario(args.preset, **dict(args.set))
        shard = None
        if args.shard:
            try:
                i, n = (int(v) for v in args.shard.split("/"))
            except ValueError:
                raise ValueError(f"--shard must be I/N (e.g. 0/4), got {args.shard!r}") from None
            shard = (i, n)
        path = generate_dataset(args.out, scenario, args.n, seed=args.seed, chunk_size=args.chunk_size,
                                progress=not args.no_progress, shard=shard)
    except KeyboardInterrupt:
        print(f"\ninterrupted: rerun the same command to resume {args.out}", file=sys.stderr)
        return 130
    except (ValueError, DatasetError) as exc:
        print(f"csifb generate: error: {exc}", file=sys.stderr)
        return 2
    what = f"shard {args.shard} of " if args.shard else ""
    print(f"wrote {path} ({what}{args.n} samples, scenario {scenario.name})")
    return 0


def _train(args) -> int:
    from .config import config
    from .data.hdf5 import CSIDataset, MixedDataset
    from .models.sizes import build_model, csi_format, model_config
    from .training import TrainingConfig, evaluate_model, train

    import os

    config.seed = args.seed
    if args.device:  # under torchrun, one GPU per process: cuda -> cuda:LOCAL_RANK
        local = os.environ.get("LOCAL_RANK")
        config.device = f"cuda:{local}" if args.device == "cuda" and local is not None else args.device
    parts = [CSIDataset(p) for p in args.train]
    train_ds = parts[0] if len(parts) == 1 else MixedDataset(parts)
    test_ds = CSIDataset(args.test)
    if test_ds.scenario.name not in [p.scenario.name for p in parts] or any(
            p.scenario.differences(test_ds.scenario) for p in parts if p.scenario.name == test_ds.scenario.name):
        print(f"csifb train: error: the test set {args.test} is of scenario {test_ds.scenario.name!r}, not one the "
              f"model trains on ({', '.join(p.scenario.name for p in parts)})", file=sys.stderr)
        return 2
    if test_ds.seed in [p.seed for p in parts]:
        print("csifb train: error: the test set must be generated with another seed than the training set",
              file=sys.stderr)
        return 2
    scen = train_ds.scenario
    if (args.bits is None) == (args.model != "jscc"):
        print("csifb train: error: " + ("--bits is required" if args.bits is None else
                                        "--model jscc sends symbols: give --symbols, not --bits"), file=sys.stderr)
        return 2
    eigen_diffusion = args.model == "diffusion" and args.architecture == "eigen"
    if eigen_diffusion and args.task != "reconstruction":
        print("csifb train: error: --model diffusion --architecture eigen reconstructs the measured CSI: "
              "pass --task reconstruction", file=sys.stderr)
        return 2
    mcfg = model_config(args.model, args.size, args.symbols or 16 if args.model == "jscc" else args.bits,
                        side_info=not args.no_side_info, input_size=(scen.num_bs_ant, scen.num_taps),
                        architecture="eigen" if eigen_diffusion else None)
    if args.model == "jscc":
        mcfg.pop("side_info", None)
        if args.refinement == "none":
            args.refinement = None
            mcfg["refinement"] = None
    mcfg.update(csi_format(scen))
    # model-specific flags: each applies to one model class
    only = {"codebook_weight": "diffusion", "min_loss_weight": "diffusion", "codebook_balance": "diffusion",
            "codebook_restart": "diffusion", "entropy_model": "entropy",
            "encoder": "entropy", "companding": "entropy", "rate_weight": "entropy", "sgcs_weight": "entropy", "max_bits": "entropy",
            "cap_weight": "entropy", "hidden_width": ("csinet", "entropy", "diffusion"), "unet_width": "diffusion",
            "symbols": "jscc", "architecture": "jscc", "refinement": "jscc", "refine_steps": "jscc",
            "bits_per_value": ("csinet", "entropy"), "kept_beams": ("csinet", "entropy", "diffusion"),
            "residual_blocks": ("csinet", "entropy", "diffusion"), "linear_path": "entropy", "beam_coding": "entropy"}
    if args.architecture == "eigen":
        only["architecture"] = ("csinet", "entropy", "diffusion")
    for key in ("kept_beams", "residual_blocks", "hidden_width", "linear_path", "beam_coding", "unet_width"):
        if getattr(args, key) is not None and args.architecture != "eigen":
            print(f"csifb train: error: --{key.replace('_', '-')} applies to --architecture eigen", file=sys.stderr)
            return 2
    if args.cap_weight is not None and args.max_bits is None:
        print("csifb train: error: --cap-weight applies with --max-bits (a budget per report)", file=sys.stderr)
        return 2
    for key, owner in only.items():
        value = getattr(args, key)
        if value is None:
            continue
        if args.model not in ((owner,) if isinstance(owner, str) else owner):
            owner = " or ".join((owner,) if isinstance(owner, str) else owner)
            print(f"csifb train: error: --{key.replace('_', '-')} applies to --model {owner}", file=sys.stderr)
            return 2
        if key == "symbols":
            continue
        if key != "refine_steps":
            mcfg[key] = value
        if key == "rate_weight":  # a fixed lambda instead of the rate target
            mcfg["target_bits"] = None
    model = build_model(args.model, mcfg)
    init = None
    if args.init_from:
        try:
            init = _init_from(model, args.model, mcfg, args.init_from)
        except ValueError as exc:
            print(f"csifb train: error: {exc}", file=sys.stderr)
            return 2
    if getattr(model, "beam_coding", "index") == "entropy" and (init or {}).get("beam_coding") != "entropy":
        beam_bits = _fit_beam_prior(model, train_ds)
    else:
        beam_bits = 0.0
    if getattr(model, "linear_path", False) and not args.init_from:  # (a resumed run then loads its checkpoint)
        _init_linear_path(model, train_ds, beam_bits=beam_bits)
    tcfg = TrainingConfig(steps=args.steps, batch_size=args.batch_size, learning_rate=args.lr, seed=args.seed,
                          task=args.task)
    try:
        if args.model == "jscc":
            hist, tcfg = _train_jscc(model, train_ds, tcfg, args)
        else:
            hist = train(model, train_ds, tcfg, args.out, progress=not args.no_progress)
    except KeyboardInterrupt:
        print(f"\ninterrupted: rerun the same command to resume from {args.out}", file=sys.stderr)
        return 130
    from .training import leave_distributed

    if leave_distributed() > 0:  # rank 0 evaluates and writes result.json
        return 0
    from pathlib import Path

    if hasattr(model, "freeze"):  # entropy coder: integer tables from the trained densities
        model.freeze()
    model.save_weights(Path(args.out) / "final.weights.h5")
    steps = 2 if args.model == "jscc" and model.refinement is not None else None  # RD-JSCC's inference default
    metrics = evaluate_model(model, test_ds, task=args.task, ul_snr_db=args.ul_snr_db, num_inference_steps=steps)
    if steps is not None:
        metrics["num_inference_steps"] = steps

    if mcfg.get("architecture") == "eigen":  # its defaults too, so a later default cannot change the weights' model
        full = model.get_config()
        mcfg.update({k: full[k] for k in ("num_subbands", "hidden_width", "beam_oversampling",
                                          "kept_beams", "residual_blocks", "linear_path") if k in full})
        if mcfg.get("beam_coding", "index") == "index":
            mcfg.pop("beam_coding", None)
    scenarios = [p.scenario.to_dict() for p in parts]  # after those of the weights it started from
    names = {s["name"] for s in scenarios}
    scenarios = [s for s in (init or {}).pop("scenarios", []) if s["name"] not in names] + scenarios
    (init or {}).pop("beam_coding", None)
    result = {"model": args.model, "size": args.size, "model_config": mcfg,
              "training_config": tcfg if isinstance(tcfg, dict) else tcfg.__dict__,
              "scenario": test_ds.scenario.to_dict(),
              "train_data": {"path": [str(p) for p in args.train] if len(parts) > 1 else str(args.train[0]),
                             "seed": train_ds.seed, "num_samples": len(train_ds)},
              "test_data": {"path": str(args.test), "seed": test_ds.seed, "num_samples": len(test_ds)},
              **({"scenarios": scenarios} if len(scenarios) > 1 else {}),
              **({"init_from": init} if init else {}),
              "weights": "final.weights.h5", "steps": hist["steps"], "train_seconds": hist["seconds"], "loss_history": hist["losses"],
              "test_metrics": metrics}
    Path(args.out, "result.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(metrics))
    return 0


def _first_samples(model, dataset, fn, num_samples: int, batch_size: int = 512):
    """``fn(packed x)`` (numpy) over the first ``num_samples`` training samples, concatenated."""
    import numpy as np

    from .training import batch_to_csi

    out, seen = [], 0
    for b in dataset.batches(batch_size, shuffle=False, real=False):
        out.append(fn(model.pack(batch_to_csi(b, dataset.scenario)["x"])[0]))
        seen += len(out[-1])
        if seen >= num_samples:
            break
    return np.concatenate(out)[:num_samples]


def _init_linear_path(model, dataset, num_samples: int = 8192, beam_bits: float = 0.0) -> None:
    """KLT initialisation of an ``eigen`` model's linear path from the first training samples
    (for the target rate less ``beam_bits``, the mean cost of range-coded kept beams)."""
    feats = _first_samples(model, dataset, model.linear_path_features, num_samples)
    target = getattr(model, "target_bits", None) or model.num_bits
    step = model.init_linear_path(feats, payload_bits=target - beam_bits)
    print(f"linear path: KLT of {len(feats)} training samples, step {step:.3g}", file=sys.stderr)


def _fit_beam_prior(model, dataset, num_samples: int = 20000) -> float:
    """Fit the kept-beam entropy model of ``beam_coding='entropy'`` to the first training samples."""
    beams = _first_samples(model, dataset, model.kept_beams_of, num_samples)
    bits = model.fit_beam_prior(beams)
    print(f"kept beams: entropy model of {len(beams)} training samples, {bits:.1f} bits per set "
          f"(index: {model.selection.index_bits})", file=sys.stderr)
    return bits


def _init_from(model, kind: str, mcfg: dict, run: str) -> dict:
    """Load a finished run's final weights, or shipped weights by manifest name, into ``model``
    (built from ``kind``/``mcfg``).

    Returns:
        dict: what ``result.json`` records (``run`` or ``weights`` and its sha256, its steps, the
        total steps of the chain) and the scenarios the weights were trained on.

    Raises:
        ValueError: no finished run or shipped weights of that name, a corrupted file, another
            model, or another model config.
    """
    from pathlib import Path

    from .weights.registry import WeightsError, list_bundled, verified_file

    path = Path(run)
    if (path / "result.json").exists():
        res = json.loads((path / "result.json").read_text())
        weights, steps = path / res.get("weights", "final.weights.h5"), res["steps"]
        prior = res.get("init_from", {}).get("total_steps", 0)
        record = {"run": str(path)}
    elif not path.exists() and run in list_bundled():
        try:
            weights, res = verified_file(run)
        except WeightsError as exc:
            raise ValueError(f"--init-from {run}: {exc}") from exc
        steps, prior = res["training"]["steps"], res["training"].get("init_from_steps", 0)
        record = {"weights": run, "sha256": res["sha256"]}
    else:
        raise ValueError(f"--init-from {run}: neither a finished `csifb train` run folder (with result.json) "
                         f"nor shipped weights (`csifb weights`: {', '.join(list_bundled())})")
    if res["model"] != kind:
        raise ValueError(f"--init-from {run}: a --model {res['model']} model, this is --model {kind}")
    have = {**model.get_config(), **mcfg}
    # a budget changes the loss and the coding mode, the beam coding the header: not the networks
    free = ("max_bits", "cap_weight", "beam_coding")
    diff = {k: (v, have.get(k)) for k, v in res["model_config"].items() if k not in free and have.get(k, v) != v}
    if diff:
        raise ValueError(f"--init-from {run}: another model config (" + "; ".join(
            f"{k}: there {a!r}, here {b!r}" for k, (a, b) in diff.items()) + ")")
    theirs = res["model_config"].get("beam_coding", "index")
    try:
        if theirs == getattr(model, "beam_coding", "index"):
            model.load_weights(weights)
        else:  # the networks of a model that codes its kept beams otherwise
            _load_networks(model, kind, {**res["model_config"], "beam_coding": theirs}, weights)
    except Exception as exc:  # a file whose layout does not fit the config
        raise ValueError(f"--init-from {run}: {weights} does not fit this model config: {exc}") from exc
    return {**record, "steps": steps, "total_steps": prior + steps, "beam_coding": theirs,
            "scenarios": res.get("scenarios") or [res["scenario"]]}


def _load_networks(model, kind: str, config: dict, weights) -> None:
    """Load ``weights`` of an entropy-coded model built with ``config`` into ``model``, which
    differs in its beam coding only: every variable but the kept-beam tables, in order."""
    from .models.sizes import build_model

    def networks(m):
        tables = getattr(m, "tables", {}).get("beam_tables")
        return [v for v in m.weights if v is not tables]

    src = build_model(kind, config)
    src.load_weights(weights)
    dst, srcw = networks(model), networks(src)
    if len(dst) != len(srcw) or any(tuple(a.shape) != tuple(b.shape) for a, b in zip(dst, srcw)):
        raise ValueError("the networks differ")
    for a, b in zip(dst, srcw):
        a.assign(b.value)


def _train_jscc(model, train_ds, tcfg, args):
    """The two stages of RD-JSCC (algorithms 1 and 2), each a resumable run in its own folder
    (``stage1``, ``stage2``), then the early-exit calibration on 256 training samples."""
    from dataclasses import asdict, replace
    from pathlib import Path

    from .training import calibrate_early_exit, train

    out = Path(args.out)
    model.training_stage = 1
    h1 = train(model, train_ds, tcfg, out / "stage1", progress=not args.no_progress)
    steps, seconds, losses = h1["steps"], h1["seconds"], [["stage1", *x] for x in h1["losses"]]
    record = {**asdict(tcfg), "stage1_steps": tcfg.steps, "stage2_steps": 0}
    if model.refinement is not None:
        t2 = replace(tcfg, steps=args.refine_steps or tcfg.steps, learning_rate=args.refine_lr)
        model.training_stage = 2
        h2 = train(model, train_ds, t2, out / "stage2", progress=not args.no_progress)
        steps, seconds = steps + h2["steps"], seconds + h2["seconds"]
        losses += [["stage2", *x] for x in h2["losses"]]
        record.update(stage2_steps=t2.steps, stage2_learning_rate=t2.learning_rate)
        calibrate_early_exit(model, train_ds)
    record["steps"] = record["stage1_steps"] + record["stage2_steps"]
    return {"steps": steps, "seconds": seconds, "losses": losses}, record


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""Train the runs behind the rate-distortion benchmark, several at a time, resumable.

Each run is one ``csifb train`` command (see ``PLANS``) writing ``<runs>/<plan>/<name>/``.
A run whose ``result.json`` exists is skipped, an interrupted one resumes from its
checkpoint, and the datasets are generated first if missing (on the CPU, so the same seeds
give the same data on any machine: train seed 100, test seed 200). Small models are
launch-bound on a GPU, so ``--jobs`` runs several processes side by side.

Usage:
    python benchmarks/train_runs.py --plan paper-cdl-c --jobs 2            # CPU, hours
    python benchmarks/train_runs.py --plan paper-cdl-c --jobs 15 --device cuda:0
    python benchmarks/train_runs.py --plan paper-cdl-c --list              # show the commands
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

TRAIN_SEED, TEST_SEED, TRAIN_N, TEST_N = 100, 200, 20000, 2000
# plans whose data differ from the defaults: (train seed, test seed, train size, test size)
DATA = {"uma": (11, 12, 40000, 2000)}
# further files a run may name with ``--train FILE...`` / ``--test FILE`` among its extra flags
# (relative to --data): preset, samples, seed
DATA_FILES = {
    "uma_train100k.h5": ("uma", 100000, 13),
    "umi_train40k.h5": ("umi", 40000, 21), "umi_test.h5": ("umi", 2000, 12),
    "realistic-cdl-c_train40k.h5": ("realistic-cdl-c", 40000, 21), "realistic-cdl-c_test.h5": ("realistic-cdl-c", 2000, 12),
    "tr38843-uma_test.h5": ("tr38843-uma", 2000, 12),
}

# name: (model, size, bits, side info, steps, batch, extra csifb train flags). "floor0.1" runs use
# the eq. (7) weight floor of the first experiments; the size presets now use 1.0 (see
# sizes.MIN_LOSS_WEIGHT), which gave better models with and without side information.
_DIFF = ("diffusion", "small")
_F01, _F1 = ["--min-loss-weight", "0.1"], ["--min-loss-weight", "1.0"]
_REC = ["--task", "reconstruction"]
_EIG = [*_REC, "--architecture", "eigen", "--bits-per-value", "3"]
PLANS: dict[str, dict[str, tuple]] = {
    "paper-cdl-c": {
        **{f"diffusion-{b}-si-floor0.1": (*_DIFF, b, True, 1200, 128, _F01) for b in (64, 128, 192, 256)},
        **{f"diffusion-{b}-si-floor1": (*_DIFF, b, True, 1200, 128, _F1) for b in (64, 128)},
        **{f"diffusion-{b}-nosi-floor1": (*_DIFF, b, False, 1200, 128, _F1) for b in (64, 128, 192, 256)},
        "diffusion-128-nosi-floor0.1": (*_DIFF, 128, False, 1200, 128, _F01),
        "diffusion-128-nosi-floor5": (*_DIFF, 128, False, 1200, 128, ["--min-loss-weight", "5.0"]),
        **{f"paper-diffusion-{b}-si-floor0.1": ("diffusion", "paper", b, True, 800, 64, _F01) for b in (64, 128, 256)},
        **{f"csinet-{b}-si": ("csinet", "small", b, True, 2000, 64, []) for b in (64, 128, 192, 256)},
        "csinet-128-nosi": ("csinet", "small", 128, False, 2000, 64, []),
        **{f"crnet-{b}-si": ("crnet", "small", b, True, 1500, 64, []) for b in (64, 128, 192, 256)},
        # RD-JSCC and ADJSCC on the reproduction preset (reconstruction, as in the RD-JSCC paper)
        "rdjscc-64": ("jscc", "small", 64, False, 1500, 64, [*_REC, "--refine-steps", "1000"]),
        "adjscc-64": ("jscc", "small", 64, False, 1500, 64, [*_REC, "--architecture", "adjscc", "--refinement", "none"]),
    },
    # entropy-coded feedback (reconstruction of the measured CSI, no side information), the same
    # CsiNet network with 6-bit uniform quantisation, at eType II's pc1/pc3/pc6 payloads
    "uma": {
        **{f"entropy-{b}": ("entropy", "small", b, False, 2000, 64, _REC) for b in (65, 118, 286)},
        "entropy-118-sgcs": ("entropy", "small", 118, False, 2000, 64, [*_REC, "--sgcs-weight", "1.0"]),
        **{f"csinet-{b}-uniform6": ("csinet", "small", b, False, 2000, 64, _REC) for b in (66, 114, 126, 288)},
        "entropy-118-factorized": ("entropy", "small", 118, False, 1000, 64, [*_REC, "--entropy-model", "factorized"]),
        "entropy-118-mulaw": ("entropy", "small", 118, False, 1000, 64, [*_REC, "--companding", "mulaw"]),
        "entropy-118-attention": ("entropy", "small", 118, False, 1000, 64, [*_REC, "--encoder", "attention"]),
        # RD-JSCC (k = 64 complex symbols = 64 uplink REs): stage 1 then stage 2; the ablations
        # (GD-JSCC, supervised U-Net) and the baselines (ADJSCC, DJSCC-CsiNet+) at the same k.
        # Runs with the same seed and stage-1 settings train bit-identical stage-1 weights on the
        # same machine, so a copy of rdjscc-64/stage1 may stand in for theirs.
        "rdjscc-64": ("jscc", "small", 64, False, 1500, 64, [*_REC, "--refine-steps", "1000"]),
        "gdjscc-64": ("jscc", "small", 64, False, 1500, 64, [*_REC, "--refinement", "generative",
                                                              "--refine-steps", "1000"]),
        "supjscc-64": ("jscc", "small", 64, False, 1500, 64, [*_REC, "--refinement", "supervised",
                                                               "--refine-steps", "500"]),
        "adjscc-64": ("jscc", "small", 64, False, 1500, 64, [*_REC, "--architecture", "adjscc", "--refinement", "none"]),
        "csinetplus-64": ("jscc", "small", 64, False, 1500, 64, [*_REC, "--architecture", "csinetplus",
                                                                  "--refinement", "none"]),
        # learned eigenvector feedback (issue 9) at eType II's pc1/pc3/pc6 payloads on 1e5 UMa
        # drops, with UL side information at pc3, and for generalisation: trained on UMi alone, on the
        # realistic CDL-C alone and on a mix of UMa, UMi and the realistic CDL-C
        **{f"eigen-{b}": ("csinet", "small", b, False, 4000, 128, [*_EIG, "--train", "uma_train100k.h5"])
           for b in (65, 118, 286)},
        **{f"eigen-{b}-si": ("csinet", "small", b, True, 4000, 128, [*_EIG, "--train", "uma_train100k.h5"])
           for b in (65, 118)},
        # the same with eType II's beam selection: the L strongest orthogonal beams' set is sent
        # (combinatorial index) and only their coefficients are compressed
        **{f"eigen-{b}-kb{k}": ("csinet", "small", b, False, 4000, 128, [
            *_EIG, "--kept-beams", str(k), "--train", "uma_train100k.h5"]) for b, k in ((65, 4), (118, 8), (286, 12))},
        # the same beam selection with a learned entropy model: variable-length range-coded reports,
        # --bits the target mean length (header included), rate-constrained training
        **{f"eigen-ent-{b}-kb{k}": ("entropy", "small", b, False, 4000, 128, [
            *_REC, "--architecture", "eigen", "--kept-beams", str(k), "--train", "uma_train100k.h5"])
           for b, k in ((65, 4), (118, 8), (286, 12))},
        # ... with two pre-norm residual MLP blocks in each network instead of two dense layers
        **{f"eigen-ent-{b}-kb{k}-res2": ("entropy", "small", b, False, 4000, 128, [
            *_REC, "--architecture", "eigen", "--kept-beams", str(k), "--residual-blocks", "2",
            "--train", "uma_train100k.h5"]) for b, k in ((65, 4), (118, 8), (286, 12))},
        # ... with MLPs twice as wide (1024): is the 4000-step model capacity-bound? (against
        # eigen-ent-118-kb8 / eigen-ent-286-kb12 at the same steps)
        **{f"eigen-ent-{b}-kb{k}-w1024": ("entropy", "small", b, False, 4000, 128, [
            *_REC, "--architecture", "eigen", "--kept-beams", str(k), "--hidden-width", "1024",
            "--train", "uma_train100k.h5"]) for b, k in ((118, 8), (286, 12))},
        # ... trained on for 8000 more steps (12000 in all, as the shipped -long ones). Outcome: +0.005
        # and +0.011 SGCS at 4000 steps, +0.000 and +0.003 at 12000 (0.709, 0.785): not shipped
        **{f"eigen-ent-{b}-kb{k}-w1024-long2": ("entropy", "small", b, False, 8000, 128, [
            *_REC, "--architecture", "eigen", "--kept-beams", str(k), "--hidden-width", "1024",
            "--train", "uma_train100k.h5", "--init-from", f"eigen-ent-{b}-kb{k}-w1024", "--lr", "5e-4"])
           for b, k in ((118, 8), (286, 12))},
        # ... with a linear path beside the MLPs, initialised as a KLT transform coder of the 8 kept
        # beams' coefficients (--linear-path): the linear coder alone (ideal entropy) beats the
        # shipped MLP model at 286 bits; against eigen-ent-118-kb8 at the same 4000 steps
        **{f"eigen-ent-{b}-kb8-lin": ("entropy", "small", b, False, 4000, 128, [
            *_REC, "--architecture", "eigen", "--kept-beams", "8", "--linear-path", "--train", "uma_train100k.h5"])
           for b in (118, 286)},
        # ... trained on from there for 5000 more steps from half the learning rate (9000 in all)
        **{f"eigen-ent-{b}-kb8-lin-long": ("entropy", "small", b, False, 5000, 128, [
            *_REC, "--architecture", "eigen", "--kept-beams", "8", "--linear-path", "--train", "uma_train100k.h5",
            "--init-from", f"eigen-ent-{b}-kb8-lin", "--lr", "5e-4"]) for b in (118, 286)},
        # ... the shipped 118-bit MLP model and 286-bit linear-path model trained on for 5000 steps
        # (half the learning rate) with their kept beams range coded (--beam-coding entropy: ~10
        # bits instead of 22 per set), the bits saved going to the latents at the same target
        "eigen-ent-118-kb8-bc": ("entropy", "small", 118, False, 5000, 128, [
            *_REC, "--architecture", "eigen", "--kept-beams", "8", "--beam-coding", "entropy",
            "--train", "uma_train100k.h5", "--init-from", "ship:eigen-ent-118b-uma", "--lr", "5e-4"]),
        "eigen-ent-286-kb8-lin-bc": ("entropy", "small", 286, False, 5000, 128, [
            *_REC, "--architecture", "eigen", "--kept-beams", "8", "--linear-path", "--beam-coding", "entropy",
            "--train", "uma_train100k.h5", "--init-from", "ship:eigen-ent-lin-286b-uma", "--lr", "5e-4"]),
        # ... trained three times as long (12000 steps, ~12 epochs of the 1e5 drops): do the
        # high-rate models underfit at 4000 steps? (yes: +0.015 SGCS at 118 and 286 bits; shipped)
        **{f"eigen-ent-{b}-kb{k}-long": ("entropy", "small", b, False, 12000, 128, [
            *_REC, "--architecture", "eigen", "--kept-beams", str(k), "--train", "uma_train100k.h5"])
           for b, k in ((118, 8), (286, 12))},
        # ... and the 286-bit one trained on from there (--init-from) for 10000 more steps with a
        # new cosine schedule from half the learning rate: is it still rising after 12000 steps?
        "eigen-ent-286-kb12-long2": ("entropy", "small", 286, False, 10000, 128, [
            *_REC, "--architecture", "eigen", "--kept-beams", "12", "--train", "uma_train100k.h5",
            "--init-from", "eigen-ent-286-kb12-long", "--lr", "5e-4"]),
        # held to eType II's payload in every report (--max-bits: a hinge on each report's length in
        # training, the rate-adaptive mode in coding): the mean-rate models trained on for 3000 steps
        **{f"eigen-ent-{b}-kb{k}-cap": ("entropy", "small", b, False, 3000, 128, [
            *_REC, "--architecture", "eigen", "--kept-beams", str(k), "--train", "uma_train100k.h5",
            "--max-bits", str(b), "--init-from", init, "--lr", "3e-4"])
           for b, k, init in ((65, 4, "eigen-ent-65-kb4"), (118, 8, "eigen-ent-118-kb8-long"),
                              (286, 12, "eigen-ent-286-kb12-long2"))},
        # ... and the range-coded-beam models (eigen-ent-*-bc) held to the budget the same way (2000 steps)
        **{f"eigen-ent-{b}-kb8{lin}-bc-cap": ("entropy", "small", b, False, 2000, 128, [
            *_REC, "--architecture", "eigen", "--kept-beams", "8", *(["--linear-path"] if lin else []),
            "--beam-coding", "entropy", "--train", "uma_train100k.h5", "--max-bits", str(b),
            "--init-from", f"eigen-ent-{b}-kb8{lin}-bc", "--lr", "3e-4"]) for b, lin in ((118, ""), (286, "-lin"))},
        # ... trained on from those with a gentler budget weight, about the SGCS a bit buys at that rate
        # (0.0036, 0.0016, 0.0004 per bit between the mean-rate and the -cap models): the -cap models
        # left 14-22% of the budget unused; now more reports use it, a few more are coarsened to fit
        # (not shipped; their results were lost with their run folders, no benchmark JSON)
        **{f"eigen-ent-{b}-kb{k}-cap2": ("entropy", "small", b, False, 1500, 128, [
            *_REC, "--architecture", "eigen", "--kept-beams", str(k), "--train", "uma_train100k.h5",
            "--max-bits", str(b), "--cap-weight", str(w), "--init-from", f"eigen-ent-{b}-kb{k}-cap", "--lr", "2e-4"])
           for b, k, w in ((65, 4, 0.003), (118, 8, 0.0015), (286, 12, 0.0005))},
        # generalisation of the entropy-coded model (as eigen-ent-118-kb8, 4000 steps): trained on
        # UMi alone, on the realistic CDL-C alone, and on a mix of UMa, UMi and the realistic CDL-C
        "eigen-ent-118-kb8-umi": ("entropy", "small", 118, False, 4000, 128, [
            *_REC, "--architecture", "eigen", "--kept-beams", "8", "--train", "umi_train40k.h5",
            "--test", "umi_test.h5"]),
        "eigen-ent-118-kb8-cdl": ("entropy", "small", 118, False, 4000, 128, [
            *_REC, "--architecture", "eigen", "--kept-beams", "8", "--train", "realistic-cdl-c_train40k.h5",
            "--test", "realistic-cdl-c_test.h5"]),
        "eigen-ent-118-kb8-mix": ("entropy", "small", 118, False, 4000, 128, [
            *_REC, "--architecture", "eigen", "--kept-beams", "8",
            "--train", "uma_train100k.h5", "umi_train40k.h5", "realistic-cdl-c_train40k.h5"]),
        # fine-tuning the shipped UMa model (eigen-ent-118b-uma, 12000 steps) on 4e4 drops of UMi or
        # of the realistic CDL-C for 1000 steps (4 minutes) or 4000: how much of the matched model's
        # gain does a fine-tune recover? (against the UMa model out of distribution and
        # eigen-ent-118-kb8-umi/-cdl, 4000 steps on that scenario alone)
        **{f"eigen-ent-118-kb8-ft-{tag}{'' if n == 1000 else '-4k'}": ("entropy", "small", 118, False, n, 128, [
            *_REC, "--architecture", "eigen", "--kept-beams", "8", "--train", f"{preset}_train40k.h5",
            "--test", f"{preset}_test.h5", "--init-from", "ship:eigen-ent-118b-uma", "--lr", "3e-4"])
           for tag, preset in (("umi", "umi"), ("cdl", "realistic-cdl-c")) for n in (1000, 4000)},
        # ... and on the mix of UMa, UMi and the realistic CDL-C for 4000 steps (against
        # eigen-ent-118-kb8-mix, 4000 steps on the mix from scratch): one model for all three
        "eigen-ent-118-kb8-ft-mix-4k": ("entropy", "small", 118, False, 4000, 128, [
            *_REC, "--architecture", "eigen", "--kept-beams", "8",
            "--train", "uma_train100k.h5", "umi_train40k.h5", "realistic-cdl-c_train40k.h5",
            "--init-from", "ship:eigen-ent-118b-uma", "--lr", "3e-4"]),
        # prediction (the DL CSI 5 ms after the UE measured it) with and without the UL CSI at the BS
        **{f"eigen-118-kb8-pred{'-si' if si else ''}": ("csinet", "small", 118, si, 2000, 128, [
            "--task", "prediction", *_EIG[2:], "--kept-beams", "8", "--train", "uma_train100k.h5"])
           for si in (False, True)},
        "eigen-118-umi": ("csinet", "small", 118, False, 2000, 128, [*_EIG, "--train", "umi_train40k.h5",
                                                                      "--test", "umi_test.h5"]),
        "eigen-118-cdl": ("csinet", "small", 118, False, 2000, 128, [
            *_EIG, "--train", "realistic-cdl-c_train40k.h5", "--test", "realistic-cdl-c_test.h5"]),
        # the diffusion codec on UMa with the usage-balanced VQ (sizes.CODEBOOK_BALANCE), without
        # side information, against CsiNet without it at 126 b, on the same 1e5 drops
        "diffusion-128-nosi": (*_DIFF, 128, False, 1000, 64, [*_REC, "--train", "uma_train100k.h5"]),
        # A/B of the VQ usage-balance term (diffusion-128-nosi's loss rose after step 500)
        **{f"diffusion-128-nosi-balance{b:g}": (*_DIFF, 128, False, 800, 64, [
            *_REC, "--train", "uma_train100k.h5", "--codebook-balance", str(b)]) for b in (0.0, 1.0)},
        "csinet-126-nosi": ("csinet", "small", 126, False, 2000, 64, [*_REC, "--train", "uma_train100k.h5"]),
        # the diffusion codec on the kept beams' subband eigenvectors (EigenDiffusionCodec: a global VQ
        # of 11 8-bit indices after the eigen header), against the fixed-rate eigen autoencoder at 116 b
        # (eigen-118b-uma) and CsiNet above, without side information, on the same 1e5 drops
        # (the 118-bit run has a U-Net twice as wide as the small preset's: 19 MB of weights instead of 9)
        **{f"diffusion-eigen-{b}-nosi": (*_DIFF, b, False, 1500 if b == 118 else 1200, 128, [
            *_REC, "--architecture", "eigen", "--train", "uma_train100k.h5",
            *(["--unet-width", "32"] if b == 118 else [])]) for b in (65, 118, 286)},
        # ... with more VQ restarts (codewords below a quarter of the uniform rate restart: the 65-bit
        # run above uses 88% of its indices' bits, one codeword 19 times as often as uniform) and, at
        # 118 b, the small preset's U-Net (half the weights of the run above). The 65-bit run is the
        # shipped diffusion-eigen-65b-uma (96% index entropy, SGCS 0.557 vs 0.546); the 118-bit one
        # was not shipped (0.607 vs 0.613 with the wider U-Net; results in
        # benchmarks/results/runs_cpu/uma)
        **{f"diffusion-eigen-{b}-nosi-restart": (*_DIFF, b, False, 1500 if b == 118 else 1200, 128, [
            *_REC, "--architecture", "eigen", "--train", "uma_train100k.h5", "--codebook-restart", "0.25"])
           for b in (65, 118)},
        "eigen-118-mix": ("csinet", "small", 118, False, 2000, 128, [
            *_EIG, "--train", "uma_train100k.h5", "umi_train40k.h5", "realistic-cdl-c_train40k.h5"]),
    },
    "realistic-cdl-c": {
        **{f"diffusion-{b}-si-floor1": (*_DIFF, b, True, 1000, 128, _F1) for b in (64, 128, 256)},
        "diffusion-128-nosi-floor1": (*_DIFF, 128, False, 1000, 128, _F1),
        "csinet-128-si": ("csinet", "small", 128, True, 2000, 64, []),
        "csinet-128-nosi": ("csinet", "small", 128, False, 2000, 64, []),
        "crnet-128-si": ("crnet", "small", 128, True, 1500, 64, []),
    },
}
# rough relative cost of a step, to start the longest runs first
_COST = {("diffusion", "small"): 1.0, ("diffusion", "paper"): 1.5, ("csinet", "small"): 0.15,
         ("crnet", "small"): 0.25, ("entropy", "small"): 0.2, ("jscc", "small"): 1.5}


def data_paths(data: Path, plan: str) -> tuple[Path, Path]:
    return data / f"{plan}_train.h5", data / f"{plan}_test.h5"


def test_set(preset: str) -> tuple[int, int]:
    """(samples, seed) of ``<preset>_test.h5``: a named ``DATA_FILES`` entry, else the plan's."""
    if f"{preset}_test.h5" in DATA_FILES:
        return DATA_FILES[f"{preset}_test.h5"][1:]
    _, te_seed, _, te_n = DATA.get(preset, (TRAIN_SEED, TEST_SEED, TRAIN_N, TEST_N))
    return te_n, te_seed


def generate(path: Path, preset: str, n: int, seed: int) -> None:
    """``csifb generate`` on the CPU (it resumes an interrupted file and leaves a complete one alone)."""
    subprocess.run([sys.executable, "-m", "sionna_csifb.cli", "generate", "--preset", preset, "--n", str(n),
                    "--seed", str(seed), "--out", str(path), "--device", "cpu", "--no-progress"], check=True)


def ensure_data(data: Path, plan: str, files=(), default_train: bool = True, default_test: bool = True) -> None:
    """Generate the plan's train/test files (where a run uses them) and the named ``DATA_FILES``."""
    train, test = data_paths(data, plan)
    tr_seed, _, tr_n, _ = DATA.get(plan, (TRAIN_SEED, TEST_SEED, TRAIN_N, TEST_N))
    jobs = [(train, plan, tr_n, tr_seed)] if default_train else []
    jobs += [(test, plan, *test_set(plan))] if default_test else []
    jobs += [(data / f, *DATA_FILES[f]) for f in files]
    for job in jobs:
        generate(*job)


def _files(extra: list[str], flag: str) -> list[str]:
    """The file names after ``flag`` in a run's extra flags (up to the next flag)."""
    if flag not in extra:
        return []
    rest = extra[extra.index(flag) + 1:]
    return rest[:next((i for i, a in enumerate(rest) if a.startswith("--")), len(rest))]


def command(plan: str, name: str, spec: tuple, data: Path, runs: Path, device: str | None) -> list[str]:
    model, size, bits, side, steps, batch, extra = spec
    train, test = data_paths(data, plan)
    trains = [str(data / f) for f in _files(extra, "--train")] or [str(train)]
    test = str(data / _files(extra, "--test")[0]) if _files(extra, "--test") else str(test)
    own = {i for flag in ("--train", "--test") if flag in extra
           for i in range(extra.index(flag), extra.index(flag) + 1 + len(_files(extra, flag)))}
    extra = [a for i, a in enumerate(extra) if i not in own]
    if "--init-from" in extra:  # a run of the same plan by name, or shipped weights (``ship:NAME``)
        i = extra.index("--init-from") + 1
        start = extra[i][5:] if extra[i].startswith("ship:") else str(runs / plan / extra[i])
        extra = [*extra[:i], start, *extra[i + 1:]]
    size_flag = ["--symbols" if model == "jscc" else "--bits", str(bits)]  # jscc: complex symbols k
    cmd = [sys.executable, "-m", "sionna_csifb.cli", "train", "--model", model, "--size", size, *size_flag,
           "--steps", str(steps), "--batch-size", str(batch), "--train", *trains, "--test", test,
           "--out", str(runs / plan / name), "--no-progress", *extra]
    if not side and model != "jscc":
        cmd.append("--no-side-info")
    if device:
        cmd += ["--device", device]
    return cmd


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--plan", required=True, choices=list(PLANS))
    ap.add_argument("--data", type=Path, default=Path("data"))
    ap.add_argument("--runs", type=Path, default=Path("runs"))
    ap.add_argument("--jobs", type=int, default=1, help="runs side by side")
    ap.add_argument("--device", default=None, help="torch device of the training processes")
    ap.add_argument("--only", default=None, help="comma-separated run names")
    ap.add_argument("--steps", type=int, default=None, help="override the plan's steps (recorded in result.json)")
    ap.add_argument("--batch-size", type=int, default=None, help="override the plan's batch size")
    ap.add_argument("--list", action="store_true", help="print the commands and exit")
    args = ap.parse_args()

    plan = PLANS[args.plan]
    names = list(plan) if args.only is None else args.only.split(",")
    unknown = [n for n in names if n not in plan]
    if unknown:
        ap.error(f"unknown run(s) {unknown}; plan {args.plan} has {list(plan)}")
    plan = {n: (*spec[:4], args.steps or spec[4], args.batch_size or spec[5], spec[6]) for n, spec in plan.items()}
    names.sort(key=lambda n: -plan[n][4] * _COST[plan[n][:2]])
    cmds = {n: command(args.plan, n, plan[n], args.data, args.runs, args.device) for n in names}
    if args.list:
        print("\n".join(" ".join(c) for c in cmds.values()))
        return 0
    ensure_data(args.data, args.plan, sorted({f for n in names for flag in ("--train", "--test")
                                              for f in _files(plan[n][6], flag)}),
                default_train=any(not _files(plan[n][6], "--train") for n in names),
                default_test=any(not _files(plan[n][6], "--test") for n in names))
    threads = str(max(1, (os.cpu_count() or 1) // args.jobs))
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", threads)}

    def run(name: str) -> tuple[str, int, float]:
        out = args.runs / args.plan / name
        if (out / "result.json").exists():
            return name, 0, 0.0
        out.mkdir(parents=True, exist_ok=True)
        t0 = time.time()
        with open(out / "train.log", "a") as log:
            rc = subprocess.run(cmds[name], stdout=log, stderr=subprocess.STDOUT, env=env).returncode
        dt = time.time() - t0
        status = "ok" if rc == 0 else f"FAILED rc={rc} (see {out / 'train.log'})"
        if rc == 0:
            m = json.loads((out / "result.json").read_text())["test_metrics"]
            status += f" NMSE AD {m['nmse_ad_db']:.2f} dB"
        print(f"[{time.strftime('%H:%M:%S')}] {name}: {status}, {dt:.0f} s", flush=True)
        return name, rc, dt

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(run, names))
    return int(any(rc for _, rc, _ in results))


if __name__ == "__main__":
    sys.exit(main())

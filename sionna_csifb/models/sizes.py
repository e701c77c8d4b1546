"""Model size presets: ``small`` (trains on 2 CPU cores in about an hour) and ``paper``.

Examples:
    >>> model_config("diffusion", "small", 128)["unet_width"]
    16
"""

from __future__ import annotations

from typing import Any

from .._validation import check_choice

__all__ = ["model_config", "build_model", "csi_format", "MODEL_CLASSES"]

MODEL_CLASSES = ("diffusion", "csinet", "crnet", "entropy", "jscc")

_DIFFUSION = {
    # small: attention only below full resolution (at 32 x 32 it costs ~40% of a CPU step)
    "small": dict(encoder_channels=[16, 64], cond_channels=8, unet_width=16, unet_mults=[1, 2, 4],
                  attention_levels=[1, 2]),
    "paper": dict(encoder_channels=[64, 128], cond_channels=8, unet_width=64, unet_mults=[1, 2, 3, 4]),
}


# The VQ codebook/commitment weight. With the paper's eta = 4.5e-4 (and our unit-variance
# inputs) the encoder's latents drift far from the codebook (latent RMS 16-48 vs codewords
# below 1); eta = 0.25, the usual VQ-VAE commitment weight, keeps them at the codebook's scale.
# See the codebook table of benchmarks/results/rate_distortion_paper-cdl-c.md.
CODEBOOK_WEIGHT = 0.25

# Floor of the eq. (7) step weight alpha_bar/(1 - alpha_bar). The paper's weight is ~1e-4 at
# t = T, where the sampler starts from z_T = 0 and the U-Net must decode the codeword alone;
# the codec's default floor is 0.1. A floor of 1 trained better models on the GPU runs of
# benchmarks/train_runs.py (paper-cdl-c, 128 b, 1200 steps x 128): -19.22 vs -18.19 dB with
# UL side information, -2.50 vs -1.53 dB without.
MIN_LOSS_WEIGHT = 1.0

# Weight of the VQ's usage-balance term (VectorQuantizer ``balance_weight``; inside eta's term).
# Without it the shipped paper-cdl-c models' indices carry 0.77 of 2 bits (128 b) and 0.30 of
# 1 bit (64 b) (benchmarks/results/rate_distortion_paper-cdl-c.md): the payload was mostly
# wasted. With it: the codebook table of benchmarks/results/learned_feedback_uma.md.
CODEBOOK_BALANCE = 1.0


# the diffusion codec on the kept beams' subband eigenvectors (EigenDiffusionCodec): the U-Net
# sees a 16 x 8 (subband x kept beam) grid, so it is far cheaper than at 32 x 32 (small: about
# 0.8 s per step of 128 on 2 CPU cores; 2.2M weights, 9 MB)
_EIGEN_DIFFUSION = {
    "small": dict(unet_width=16, unet_mults=[1, 2, 4], attention_levels=[2], hidden_width=512),
    "paper": dict(unet_width=64, unet_mults=[1, 2, 4], attention_levels=[1, 2], hidden_width=512),
}


_ENTROPY = {
    # small: CsiNet's convolutions (trains on 2 CPU cores); paper: STQENet's attention encoder
    # and CRNet's decoder
    "small": dict(architecture="csinet", encoder="cnn"),
    "paper": dict(architecture="crnet", encoder="attention", attention_dim=32),
}


_JSCC = {
    # the encoder and decoder are the paper's tables 1-2 at both sizes; the U-Net differs
    "small": dict(unet_width=16, unet_mults=[1, 2, 4], attention_levels=[1, 2]),
    "paper": dict(unet_width=64, unet_mults=[1, 2, 3, 4], attention_levels=None),
}


def model_config(model: str, size: str, num_bits: int, side_info: bool = True,
                 input_size=(32, 32), architecture: str | None = None) -> dict[str, Any]:
    """Constructor arguments of a model at a size preset. For ``entropy``, ``num_bits`` is the
    target mean report length (rate-constrained training) and sets the latent count; for
    ``jscc`` it is the number of complex channel symbols k (analog: no bits). ``architecture``
    "eigen" with ``diffusion``: the :class:`~sionna_csifb.models.eigen_diffusion.EigenDiffusionCodec`
    (8 kept beams, 8-bit codeword indices)."""
    check_choice(model, "model", MODEL_CLASSES)
    check_choice(size, "size", ("small", "paper"))
    if architecture is not None and (model, architecture) != ("diffusion", "eigen"):
        raise ValueError(f"model_config's `architecture` selects the eigen diffusion codec (model 'diffusion', "
                         f"architecture 'eigen'), got {model!r}, {architecture!r}.")
    if architecture == "eigen":
        return {"architecture": "eigen", "num_bits": num_bits, "input_size": list(input_size),
                "side_info": side_info, "kept_beams": 8, "bits_per_index": 8, "codeword_dim": 8,
                "codebook_weight": CODEBOOK_WEIGHT, "min_loss_weight": MIN_LOSS_WEIGHT,
                "codebook_balance": CODEBOOK_BALANCE, "sgcs_weight": 1.0, **_EIGEN_DIFFUSION[size]}
    if model == "jscc":
        return {"num_symbols": num_bits, "architecture": "rdjscc", "refinement": "residual",
                "input_size": list(input_size), **_JSCC[size]}
    if model == "entropy":
        return {**_ENTROPY[size], "num_latents": max(32, min(256, num_bits // 2)), "bits_per_value": 6,
                "entropy_model": "hyperprior", "target_bits": float(num_bits), "rate_weight": 3e-4,
                "input_size": list(input_size), "side_info": side_info}
    if model == "diffusion":
        return {"num_bits": num_bits, "input_size": list(input_size), "side_info": side_info,
                "codebook_weight": CODEBOOK_WEIGHT, "min_loss_weight": MIN_LOSS_WEIGHT,
                "codebook_balance": CODEBOOK_BALANCE, **_DIFFUSION[size]}
    # CsiNet and CRNet are small networks at the papers' widths already: one size.
    return {"architecture": model, "num_bits": num_bits, "bits_per_value": 6, "input_size": list(input_size),
            "side_info": side_info}


def csi_format(scenario) -> dict[str, int]:
    """The crop arguments of a model for a scenario's CSI (``num_subcarriers``, ``window_start``)."""
    return {"num_subcarriers": int(scenario.num_subcarriers), "window_start": int(scenario.window_start)}


def build_model(model: str, config: dict[str, Any], scenario=None):
    """Instantiate and build a model from its class name and config (+ the scenario's crop)."""
    from .csinet import QuantizedAutoencoder
    from .diffusion_codec import DiffusionCodec
    from .eigen_diffusion import EigenDiffusionCodec
    from .entropy_codec import EntropyCodec
    from .jscc import JSCCCodec

    check_choice(model, "model", MODEL_CLASSES)
    config = {**config, **(csi_format(scenario) if scenario is not None else {})}
    cls = {"diffusion": DiffusionCodec, "entropy": EntropyCodec, "jscc": JSCCCodec}.get(model, QuantizedAutoencoder)
    if model == "diffusion" and config.get("architecture") == "eigen":
        cls = EigenDiffusionCodec
    m = cls(**config)
    m.build()
    return m

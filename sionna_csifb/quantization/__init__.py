"""Quantisers: vector (trainable codebook) and scalar (uniform)."""

"""3GPP codebook baselines adapted to a single-polarised 1 x N ULA (TS 38.214)."""

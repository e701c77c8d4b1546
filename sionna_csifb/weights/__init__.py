"""Trained weights shipped with the package, with a manifest (see :mod:`sionna_csifb.weights.registry`)."""

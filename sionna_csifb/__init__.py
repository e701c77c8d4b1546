"""Learned CSI feedback for NVIDIA Sionna.

Importing this package selects the PyTorch backend for Keras when the user has not
chosen one (``KERAS_BACKEND`` unset), so that Keras layers are ``torch.nn.Module``
objects that plug into Sionna 2 blocks. If Keras was already imported with another
backend, the import fails with an :class:`ImportError` that says how to fix it.

Examples:
    >>> import sionna_csifb
    >>> sionna_csifb.config.precision
    'single'
"""

from __future__ import annotations

import os
import sys

__version__ = "0.1.0"


def _select_keras_backend() -> None:
    """Make Keras use torch, or fail clearly when that is no longer possible."""
    if "keras" in sys.modules:
        import keras

        backend = keras.backend.backend()
        if backend != "torch":
            raise ImportError(
                "sionna_csifb needs Keras on the 'torch' backend (Sionna 2 is PyTorch-based), "
                f"but Keras was already imported with the '{backend}' backend. Set "
                "KERAS_BACKEND=torch in the environment, or import sionna_csifb before keras."
            )
        return
    chosen = os.environ.get("KERAS_BACKEND")
    if chosen is None:
        os.environ["KERAS_BACKEND"] = "torch"
    elif chosen != "torch":
        raise ImportError(
            f"KERAS_BACKEND={chosen!r} is set, but sionna_csifb needs the 'torch' backend "
            "(Sionna 2 is PyTorch-based). Unset KERAS_BACKEND or set it to 'torch'."
        )
    # Place Keras variables on the device sionna_csifb will use (see config.py).
    dev = os.environ.get("SIONNA_CSIFB_DEVICE")
    if dev and "KERAS_TORCH_DEVICE" not in os.environ:
        os.environ["KERAS_TORCH_DEVICE"] = dev


_select_keras_backend()

from .config import config  # noqa: E402

__all__ = ["config", "__version__"]

"""Learned CSI feedback for NVIDIA Sionna.

Importing this package selects the PyTorch backend for Keras when the user has not
chosen one (``KERAS_BACKEND`` unset), so that Keras layers are ``torch.nn.Module``
objects that plug into Sionna 2 blocks. Import it before ``keras`` (or export
``KERAS_BACKEND=torch``): a bare ``import keras`` first falls back to Keras' default
TensorFlow backend.

The codec layers (``sionna_csifb.models``, ``.layers``, ``.quantization``, ``.diffusion``) use
``keras.ops`` only and also run on another Keras backend (e.g. TensorFlow, for a Sionna 1.x
user). The torch glue (``sionna_csifb.schemes``, ``.evaluation``, ``.training``) then raises an
:class:`ImportError` that says how to fix it.

Examples:
    >>> import sionna_csifb
    >>> sionna_csifb.config.precision, sionna_csifb.keras_backend()
    ('single', 'torch')
"""

from __future__ import annotations

import importlib.util
import os
import sys

__version__ = "0.1.0"


def _select_keras_backend() -> None:
    """Make Keras use torch unless the user chose another backend (or already imported Keras)."""
    if "keras" in sys.modules or os.environ.get("KERAS_BACKEND") is not None:
        return
    os.environ["KERAS_BACKEND"] = "torch"
    # Place Keras variables on the device sionna_csifb will use (see config.py).
    dev = os.environ.get("SIONNA_CSIFB_DEVICE")
    if dev and "KERAS_TORCH_DEVICE" not in os.environ:
        os.environ["KERAS_TORCH_DEVICE"] = dev


def keras_backend() -> str:
    """The Keras backend in use (or about to be: Keras reads ``KERAS_BACKEND`` at its import)."""
    if "keras" in sys.modules:
        return sys.modules["keras"].backend.backend()
    return os.environ.get("KERAS_BACKEND", "torch")


def require_torch_backend(module: str) -> None:
    """Raise an ImportError naming the fix when torch glue is imported on another Keras backend."""
    backend = keras_backend()
    if backend != "torch":
        raise ImportError(
            f"{module} is torch glue: it needs Keras on the 'torch' backend (Sionna 2 is PyTorch-based), "
            f"but Keras uses the '{backend}' backend. Set KERAS_BACKEND=torch in the environment, or import "
            "sionna_csifb before keras. The codec layers (sionna_csifb.models, .layers, .quantization, "
            ".diffusion) work on any Keras backend."
        )


_select_keras_backend()

if importlib.util.find_spec("torch") is not None:
    from .config import config  # noqa: E402

__all__ = ["config", "__version__", "keras_backend", "require_torch_backend"]

"""One place for the runtime settings: torch device, precision and seed.

Everything in ``sionna_csifb`` (data generation, metrics, Keras layers and the Sionna
blocks they drive) follows :data:`config`. Setting a field pushes it to Sionna's own
``sionna.phy.config`` and to Keras' torch backend, so the three never disagree.

Device resolution, first match wins:

1. an explicit assignment, ``config.device = "cuda:0"``;
2. the environment variable ``SIONNA_CSIFB_DEVICE`` (read once, at import);
3. ``"cuda:0"`` when torch sees a GPU, else ``"cpu"``.

Examples:
    >>> from sionna_csifb import config
    >>> config.device = "cpu"
    >>> config.device, config.precision, config.cdtype
    ('cpu', 'single', torch.complex64)
"""

from __future__ import annotations

import os

import torch

__all__ = ["Config", "config", "normalize_device"]

_PRECISIONS = {"single": (torch.float32, torch.complex64), "double": (torch.float64, torch.complex128)}


def normalize_device(device: str | torch.device) -> str:
    """Return a device string in Sionna's form (``"cpu"`` or ``"cuda:N"``).

    Args:
        device: str or torch.device. ``"cuda"`` is read as ``"cuda:0"``.

    Returns:
        str: the normalised device string.

    Raises:
        ValueError: if the device is unknown or not available on this machine.

    Examples:
        >>> normalize_device("cpu")
        'cpu'
    """
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"`device` must be 'cpu' or 'cuda[:N]', got {device!r}.") from exc
    if dev.type == "cpu":
        return "cpu"
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"`device` {device!r} was requested but torch sees no CUDA device.")
        idx = 0 if dev.index is None else dev.index
        if idx >= torch.cuda.device_count():
            raise ValueError(
                f"`device` {device!r}: only {torch.cuda.device_count()} CUDA device(s) present."
            )
        return f"cuda:{idx}"
    raise ValueError(f"`device` must be 'cpu' or 'cuda[:N]', got {device!r}.")


class Config:
    """Runtime settings shared by Sionna, Keras and ``sionna_csifb``.

    Use the module-level singleton :data:`config` rather than creating instances.

    Attributes:
        device: str. ``"cpu"`` or ``"cuda:N"``.
        precision: str. ``"single"`` (float32/complex64) or ``"double"``.
        seed: int or None. Setting it seeds Sionna (Python, NumPy and Sionna's torch
            generators), Keras and torch's default generator.
    """

    def __init__(self) -> None:
        env = os.environ.get("SIONNA_CSIFB_DEVICE")
        self._device = normalize_device(env) if env else ("cuda:0" if torch.cuda.is_available() else "cpu")
        self._precision = "single"
        self._seed: int | None = None
        self._push()

    def _push(self) -> None:
        from sionna.phy import config as sn_config

        sn_config.device = self._device
        sn_config.precision = self._precision
        try:  # Keras' torch backend keeps its device in a global attribute
            from keras.src.backend.common import global_state

            global_state.set_global_attribute("torch_device", self._device)
        except ImportError:  # pragma: no cover - keras is a hard dependency
            pass

    @property
    def device(self) -> str:
        return self._device

    @device.setter
    def device(self, value: str | torch.device) -> None:
        self._device = normalize_device(value)
        self._push()

    @property
    def precision(self) -> str:
        return self._precision

    @precision.setter
    def precision(self, value: str) -> None:
        if value not in _PRECISIONS:
            raise ValueError(f"`precision` must be 'single' or 'double', got {value!r}.")
        self._precision = value
        self._push()

    @property
    def dtype(self) -> torch.dtype:
        """Real torch dtype of the current precision."""
        return _PRECISIONS[self._precision][0]

    @property
    def cdtype(self) -> torch.dtype:
        """Complex torch dtype of the current precision."""
        return _PRECISIONS[self._precision][1]

    @property
    def seed(self) -> int | None:
        return self._seed

    @seed.setter
    def seed(self, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"`seed` must be a non-negative int, got {value!r}.")
        import keras
        from sionna.phy import config as sn_config

        self._seed = value
        sn_config.seed = value
        keras.utils.set_random_seed(value)
        torch.manual_seed(value)


config = Config()

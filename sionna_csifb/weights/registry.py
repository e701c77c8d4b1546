"""Trained weights: the manifest, integrity checks and loading.

``sionna_csifb/weights/manifest.json`` maps a name to the file and everything needed to
trust and rebuild it: the model class and config, the scenario, the task, the training and
test datasets (seed, size), the training steps, the test metrics and the file's sha256.
Loading checks the sha256, refuses a manifest whose config differs from the one asked for
(naming the fields), builds the model from its config and reads the weights from Keras'
HDF5 format: no code from a file is ever executed.

Examples:
    >>> isinstance(list_bundled(), list)
    True
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

__all__ = ["WEIGHTS_DIR", "list_bundled", "manifest_entry", "verified_file", "load_model", "package_run", "sha256_of", "WeightsError"]

WEIGHTS_DIR = Path(__file__).parent


class WeightsError(ValueError):
    """A weights file that is missing, corrupted, or made for another configuration."""


def sha256_of(path: str | Path) -> str:
    """Hex sha256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _manifest(directory: Path = WEIGHTS_DIR) -> dict[str, Any]:
    p = directory / "manifest.json"
    return json.loads(p.read_text()) if p.exists() else {}


def list_bundled() -> list[str]:
    """Names of the shipped weights."""
    return sorted(_manifest())


def manifest_entry(name: str, directory: Path = WEIGHTS_DIR) -> dict[str, Any]:
    """The manifest entry of ``name``; unknown names list the known ones."""
    m = _manifest(directory)
    if name not in m:
        raise WeightsError(f"No weights named {name!r}; available: {sorted(m)}.")
    return m[name]


def verified_file(name: str, directory: Path = WEIGHTS_DIR) -> tuple[Path, dict[str, Any]]:
    """The weights file of a manifest entry, after checking that it exists and its sha256.

    Returns:
        tuple: the file's path and its manifest entry.

    Raises:
        WeightsError: unknown name, missing file, or sha256 mismatch.
    """
    entry = manifest_entry(name, directory)
    path = directory / entry["file"]
    if not path.exists():
        raise WeightsError(f"weights file {path} for {name!r} is missing.")
    digest = sha256_of(path)
    if digest != entry["sha256"]:
        raise WeightsError(f"weights file {path} is corrupted or modified: sha256 {digest} != manifest "
                           f"{entry['sha256']}.")
    return path, entry


def load_model(name: str, expected_config: dict[str, Any] | None = None, directory: Path = WEIGHTS_DIR):
    """Build the model of a manifest entry and load its weights, after the checks above.

    Args:
        name: str. Manifest name.
        expected_config: dict or None. If given, every key must match the stored model config.
        directory: Path. Folder with ``manifest.json`` and the weights.

    Returns:
        tuple: the model (eval mode) and its manifest entry.

    Raises:
        WeightsError: unknown name, missing file, sha256 mismatch, or config mismatch.
    """
    from ..models.sizes import build_model

    path, entry = verified_file(name, directory)
    if expected_config is not None:
        diff = {k: (entry["model_config"].get(k), v) for k, v in expected_config.items()
                if entry["model_config"].get(k) != v}
        if diff:
            detail = "; ".join(f"{k}: weights have {a!r}, expected {b!r}" for k, (a, b) in diff.items())
            raise WeightsError(f"weights {name!r} were made for another config ({detail}).")
    from ..csi.scenario import Scenario

    scenario = Scenario.from_dict(entry["scenario"]) if "scenario" in entry else None
    model = build_model(entry["model"], entry["model_config"], scenario)
    try:
        model.load_weights(path)
    except Exception as exc:  # a file whose layout does not match the config
        raise WeightsError(f"weights file {path} does not fit the model config of {name!r}: {exc}") from exc
    if getattr(model, "variable_length", False) and not model.frozen:
        raise WeightsError(f"weights {name!r} hold an entropy coder whose tables were never frozen "
                           "(package the run's final.weights.h5, written after model.freeze()).")
    model.eval()
    return model, entry


def package_run(run: str | Path, name: str, directory: str | Path = WEIGHTS_DIR) -> Path:
    """Copy a finished ``csifb train`` run's weights into ``directory`` with a manifest entry
    (model config, scenario, task, datasets, steps, test metrics, sha256): the package's own
    ``sionna_csifb/weights`` by default, or a folder of yours for
    ``LearnedScheme(name, directory=...)``.

    Raises:
        WeightsError: the run is unfinished or has no result.
    """
    import shutil

    run, directory = Path(run), Path(directory)
    if not (run / "result.json").exists():
        raise WeightsError(f"{run} has no result.json: is it a finished `csifb train` run?")
    res = json.loads((run / "result.json").read_text())
    if res["steps"] != res["training_config"]["steps"]:
        raise WeightsError(f"{run} is not finished ({res['steps']} of {res['training_config']['steps']} steps).")
    directory.mkdir(parents=True, exist_ok=True)
    dst = directory / f"{name}.weights.h5"
    shutil.copyfile(run / res.get("weights", "checkpoint.weights.h5"), dst)
    manifest = _manifest(directory)
    manifest[name] = {
        "file": dst.name, "sha256": sha256_of(dst), "model": res["model"], "size": res["size"],
        "model_config": res["model_config"], "task": res["training_config"]["task"], "scenario": res["scenario"],
        **({"scenarios": res["scenarios"]} if "scenarios" in res else {}),
        "train_data": {k: res["train_data"][k] for k in ("seed", "num_samples")},
        "test_data": {k: res["test_data"][k] for k in ("seed", "num_samples")},
        "training": {"steps": res["steps"], "batch_size": res["training_config"]["batch_size"],
                     "learning_rate": res["training_config"]["learning_rate"], "seed": res["training_config"]["seed"],
                     "cpu_seconds": round(res["train_seconds"], 1),
                     **({"init_from": res["init_from"].get("weights") or Path(res["init_from"]["run"]).name,
                         "init_from_steps": res["init_from"]["total_steps"],
                         "total_steps": res["init_from"]["total_steps"] + res["steps"]} if "init_from" in res else {})},
        "test_metrics": res["test_metrics"],
    }
    (directory / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return dst

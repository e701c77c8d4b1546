"""Trained weights: the manifest, integrity checks and loading.

``sionna_csifb/weights/manifest.json`` maps a name to the file and everything needed to
trust and rebuild it: the model class and config, the scenario, the task, the training and
test datasets (seed, size), the training steps, the test metrics and the file's sha256.
Loading checks the sha256, refuses a manifest whose config differs from the one asked for
(naming the fields), builds the model from its config and reads the weights from Keras'
HDF5 format: no code from a file is ever executed. Shipped files store their large float32
arrays (kernels, codebooks: at least ``FLOAT16_MIN_SIZE`` values) in float16, which halves the
package; Keras casts them back to the float32 variables on loading. Biases, normalisation
statistics, integer entropy-coding tables and any array that float16 would not hold to
``FLOAT16_MAX_REL_ERROR`` stay as they are (:func:`store_float16`); the manifest records this and
the float32 file's sha256.

Examples:
    >>> isinstance(list_bundled(), list)
    True
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

__all__ = ["WEIGHTS_DIR", "list_bundled", "manifest_entry", "verified_file", "load_model", "package_run",
           "store_float16", "restore_float16", "sha256_of", "WeightsError", "FLOAT16_MIN_SIZE",
           "FLOAT16_MAX_REL_ERROR"]

WEIGHTS_DIR = Path(__file__).parent
# arrays with fewer values stay float32 (biases, norms, statistics: a few kB in all)
FLOAT16_MIN_SIZE = 4096
# an array whose float16 copy is further than this from it (relative Frobenius norm) stays float32;
# float16's own rounding is at most 2**-11 per value, so this only catches under- and overflow
FLOAT16_MAX_REL_ERROR = 2.0 ** -10


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


def store_float16(src: str | Path, dst: str | Path, min_size: int = FLOAT16_MIN_SIZE) -> dict[str, Any]:
    """Write a copy of the Keras weights file ``src`` to ``dst`` with its float32 arrays of at least
    ``min_size`` values in float16; every other array, group and attribute is copied unchanged.
    ``dst`` may be ``src``: the copy is written beside it and then replaces it.

    Returns:
        dict: the storage record for the manifest (``dtype``, ``min_size``, how many arrays were
        converted and kept, the largest relative error of a converted array, the float32 file's
        sha256).
    """
    import h5py
    import numpy as np

    src, dst = Path(src), Path(dst)
    record = {"dtype": "float16", "min_size": int(min_size), "float16_arrays": 0, "kept_arrays": 0,
              "max_relative_error": 0.0, "source_sha256": sha256_of(src)}

    def copy(gs, gd):
        for k, v in gs.attrs.items():
            gd.attrs[k] = v
        for key, obj in gs.items():
            if isinstance(obj, h5py.Group):
                copy(obj, gd.create_group(key))
                continue
            a = obj[()]
            if isinstance(a, np.ndarray) and a.dtype == np.float32 and a.size >= min_size:
                half = a.astype(np.float16)
                norm = float(np.linalg.norm(a))
                err = float(np.linalg.norm(half.astype(np.float32) - a)) / norm if norm > 0 else 0.0
                if np.isfinite(half).all() and err <= FLOAT16_MAX_REL_ERROR:
                    a = half
                    record["float16_arrays"] += 1
                    record["max_relative_error"] = max(record["max_relative_error"], err)
                else:
                    record["kept_arrays"] += 1
            elif isinstance(a, np.ndarray) and a.size:
                record["kept_arrays"] += 1
            d = gd.create_dataset(key, data=a)
            for k, v in obj.attrs.items():
                d.attrs[k] = v

    tmp = dst.with_name(dst.name + ".part")
    with h5py.File(src, "r") as fs, h5py.File(tmp, "w") as fd:
        copy(fs, fd)
    tmp.replace(dst)
    return record


def restore_float16(name: str, directory: str | Path = WEIGHTS_DIR, min_size: int = FLOAT16_MIN_SIZE) -> dict[str, Any]:
    """Re-store a manifest entry's float32 weights file in float16 (:func:`store_float16`), in
    place, and record it in the manifest (``storage``, the new sha256). An entry already stored in
    float16 is left alone.

    Returns:
        dict: the entry's ``storage`` record.
    """
    directory = Path(directory)
    path, entry = verified_file(name, directory)
    if entry.get("storage", {}).get("dtype") == "float16":
        return entry["storage"]
    record = store_float16(path, path, min_size)
    manifest = _manifest(directory)
    manifest[name].update(sha256=sha256_of(path), storage=record)
    (directory / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return record


def package_run(run: str | Path, name: str, directory: str | Path = WEIGHTS_DIR, float16: bool = True) -> Path:
    """Copy a finished ``csifb train`` run's weights into ``directory`` with a manifest entry
    (model config, scenario, task, datasets, steps, test metrics, sha256): the package's own
    ``sionna_csifb/weights`` by default, or a folder of yours for
    ``LearnedScheme(name, directory=...)``. ``float16``: store the large arrays in float16
    (:func:`store_float16`, the default for shipped weights); the manifest's test metrics are the
    run's, measured with its float32 weights.

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
    src = run / res.get("weights", "checkpoint.weights.h5")
    if float16:
        storage = store_float16(src, dst)
    else:
        storage = None
        shutil.copyfile(src, dst)
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
        **({"storage": storage} if storage else {}),
    }
    (directory / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return dst

"""Paired FDD CSI datasets on disk (HDF5): generation in resumable chunks, and a loader.

File layout (``format = "sionna_csifb.csi_dataset"``, ``format_version = 1``):

=================  ====================================  =====================================
name               shape, dtype                          meaning
=================  ====================================  =====================================
``x``              `[N, num_bs_ant, num_taps]` complex64  DL CSI now, angular-delay, normalised
``y``              `[N, num_bs_ant, num_taps]` complex64  UL CSI at +horizon, AD, normalised
``z``              `[N, num_bs_ant, num_taps]` complex64  DL CSI at +horizon, AD, normalised
``energy``         `[N, 3]` float32                       full spatial-frequency energy of the
                                                          normalised x, y, z (before the crop)
``scale``          `[N, 2]` float32                       RMS removed: s_x (x and z), s_y (y)
``chunk_done``     `[num_chunks]` bool                    chunk fully written
attrs              ``scenario`` (JSON), ``seed``, ``num_samples``, ``chunk_size``, ``complete``
=================  ====================================  =====================================

Normalisation: x and z are divided by the RMS of x (known at the UE), y by its own RMS
(known at the BS), so every spatial-frequency entry of x and y has unit mean power. The
crop keeps ``energy_kept = ||g||^2`` of ``energy``, which is what the spatial-frequency NMSE
(:func:`sionna_csifb.evaluation.metrics.nmse_sf_from_ad`) needs to count the truncation.

Chunk ``i`` is drawn with seed ``derive_seed(seed, i)``, so the file is the same whatever
order or how many interruptions it took to write it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np
import torch

from .. import __version__
from .._validation import check_positive_int
from ..config import config
from ..csi.generator import CSIGenerator, derive_seed
from ..csi.scenario import Scenario

__all__ = ["MixedDataset", "generate_dataset", "merge_shards", "CSIDataset", "DatasetError", "FORMAT", "FORMAT_VERSION"]

FORMAT = "sionna_csifb.csi_dataset"
FORMAT_VERSION = 1


class DatasetError(ValueError):
    """A dataset file that is incomplete, corrupted, or made for another scenario."""


def _progress(total: int, initial: int, desc: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit="sample", disable=not enabled)


def _check_header(f: h5py.File, path: Path) -> None:
    if f.attrs.get("format") != FORMAT:
        raise DatasetError(f"{path} is not a sionna_csifb CSI dataset (attribute `format` missing or wrong).")
    if int(f.attrs.get("format_version", -1)) != FORMAT_VERSION:
        raise DatasetError(
            f"{path} has format_version {f.attrs.get('format_version')!r}; this package reads {FORMAT_VERSION}."
        )


def _shard_of(f: h5py.File) -> tuple[int, int]:
    """(shard index, shard count) of a file; (0, 1) for an unsharded one (and files made before sharding)."""
    return int(f.attrs.get("shard_index", 0)), int(f.attrs.get("num_shards", 1))


def _shard_chunks(num_chunks: int, shard_index: int, num_shards: int) -> np.ndarray:
    """Mask of the chunks shard ``shard_index`` of ``num_shards`` writes: i, i + n, i + 2n, ..."""
    return np.arange(num_chunks) % num_shards == shard_index


def _scenario_mismatch(stored: Scenario, expected: Scenario, path: Path) -> DatasetError:
    diff = stored.differences(expected)
    detail = "; ".join(f"{k}: file has {getattr(stored, k)!r}, expected {getattr(expected, k)!r}" for k in diff)
    return DatasetError(f"{path} was made for another scenario ({detail}).")


def generate_dataset(
    path: str | os.PathLike,
    scenario: Scenario,
    num_samples: int,
    *,
    seed: int = 0,
    chunk_size: int = 64,
    progress: bool = True,
    device: str | None = None,
    shard: tuple[int, int] | None = None,
) -> Path:
    """Generate (or resume generating) a paired FDD CSI dataset in HDF5.

    Sharded generation: with ``shard=(i, n)`` this process writes only chunks ``i, i + n,
    i + 2n, ...`` of the dataset (same seeds as a single process), to a shard file that
    :func:`merge_shards` joins with the other ``n - 1`` into a file identical, array for array,
    to a single-process run with the same seed. Each shard resumes on its own.

    If ``path`` exists and was started with the same scenario, seed, size and chunk size,
    only the missing chunks are generated; a finished file is left as it is. An
    interruption (Ctrl-C, a killed job) loses at most the chunk in flight.

    Args:
        path: str or PathLike. Output file.
        scenario: Scenario. What to simulate.
        num_samples: int. Number of samples N.
        seed: int. Dataset seed; chunk i uses ``derive_seed(seed, i)``.
        chunk_size: int. Samples per chunk (one Sionna batch).
        progress: bool. Show a progress bar.
        device: str or None. Torch device for generation.
        shard: (index, count) or None. Write only this shard's chunks (see above).

    Returns:
        Path: the file.

    Raises:
        DatasetError: if an existing file differs in scenario, seed, size or chunk size.

    Examples:
        >>> import tempfile, os
        >>> from sionna_csifb.csi.scenario import get_scenario
        >>> p = os.path.join(tempfile.mkdtemp(), "d.h5")
        >>> _ = generate_dataset(p, get_scenario("cpu-small"), 8, chunk_size=4, progress=False)
        >>> len(CSIDataset(p))
        8
    """
    path = Path(path)
    num_samples = check_positive_int(num_samples, "num_samples")
    chunk_size = check_positive_int(chunk_size, "chunk_size")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"`seed` must be a non-negative int, got {seed!r}.")
    if not isinstance(scenario, Scenario):
        raise ValueError(f"`scenario` must be a Scenario, got {type(scenario).__name__}.")
    num_chunks = -(-num_samples // chunk_size)
    n_ant, n_taps = scenario.shape_ad
    shard_index, num_shards = (0, 1) if shard is None else shard
    if (isinstance(shard_index, bool) or not isinstance(shard_index, int) or not isinstance(num_shards, int)
            or num_shards < 1 or not 0 <= shard_index < num_shards):
        raise ValueError(f"`shard` must be (index, count) with 0 <= index < count, got {shard!r}.")

    if path.exists():
        try:
            f = h5py.File(path, "a")
        except OSError as exc:
            raise DatasetError(f"{path} exists but cannot be opened as HDF5 ({exc}); delete it and rerun.") from exc
        with f:
            _check_header(f, path)
            stored = Scenario.from_json(f.attrs["scenario"])
            if stored.differences(scenario):
                raise _scenario_mismatch(stored, scenario, path)
            have = {k: int(f.attrs[k]) for k in ("seed", "num_samples", "chunk_size")}
            have["shard_index"], have["num_shards"] = _shard_of(f)
            for key, want in (("seed", seed), ("num_samples", num_samples), ("chunk_size", chunk_size),
                              ("shard_index", shard_index), ("num_shards", num_shards)):
                if have[key] != want:
                    raise DatasetError(
                        f"{path} was started with {key}={have[key]}, not {want}; "
                        "use the same arguments to resume, or another file name."
                    )
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        with h5py.File(path, "w") as f:
            f.attrs.update(format=FORMAT, format_version=FORMAT_VERSION, scenario=scenario.to_json(),
                           seed=seed, num_samples=num_samples, chunk_size=chunk_size, complete=False,
                           package_version=__version__, shard_index=shard_index, num_shards=num_shards)
            rows = min(chunk_size, num_samples)
            for name in ("x", "y", "z"):
                f.create_dataset(name, (num_samples, n_ant, n_taps), dtype=np.complex64, chunks=(rows, n_ant, n_taps))
            f.create_dataset("energy", (num_samples, 3), dtype=np.float32)
            f.create_dataset("scale", (num_samples, 2), dtype=np.float32)
            f.create_dataset("chunk_done", (num_chunks,), dtype=bool)

    mine = _shard_chunks(num_chunks, shard_index, num_shards)
    with h5py.File(path, "a") as f:
        done = f["chunk_done"][()]
        if done[mine].all():
            f.attrs["complete"] = bool(done.all())
            return path
        todo = np.flatnonzero(~done & mine)
        gen = CSIGenerator(scenario, device=device or config.device)
        size = lambda i: min(chunk_size, num_samples - int(i) * chunk_size)  # noqa: E731
        initial = int(sum(size(i) for i in np.flatnonzero(done & mine)))
        total = int(sum(size(i) for i in np.flatnonzero(mine)))
        bar = _progress(total, initial, f"generate {scenario.name}"
                        + (f" shard {shard_index}/{num_shards}" if num_shards > 1 else ""), progress)
        try:
            for i in todo:
                lo, hi = int(i) * chunk_size, min(num_samples, (int(i) + 1) * chunk_size)
                trip, scale = gen(hi - lo, derive_seed(seed, int(i))).normalized()
                energy = trip.energy()
                ad = trip.angular_delay(scenario.num_taps, scenario.window_start)
                for name in ("x", "y", "z"):
                    f[name][lo:hi] = getattr(ad, name).to(torch.complex64).cpu().numpy()
                f["energy"][lo:hi] = energy.float().cpu().numpy()
                f["scale"][lo:hi] = scale.float().cpu().numpy()
                f.flush()
                f["chunk_done"][i] = True  # marked only after the data are written
                f.flush()
                bar.update(hi - lo)
        finally:
            bar.close()
        f.attrs["complete"] = bool(f["chunk_done"][()].all())
    return path


def merge_shards(shards, out: str | os.PathLike) -> Path:
    """Join the shard files of one sharded :func:`generate_dataset` run into one dataset.

    The result is the file a single process would have written with the same scenario, seed,
    size and chunk size (every array identical). Refuses shards that are incomplete, come from
    different runs, repeat an index, or do not cover every chunk.

    Examples:
        >>> import tempfile, os
        >>> from sionna_csifb.csi.scenario import get_scenario
        >>> d = tempfile.mkdtemp()
        >>> parts = [generate_dataset(os.path.join(d, f"s{i}.h5"), get_scenario("cpu-small"), 6, chunk_size=2,
        ...                           shard=(i, 2), progress=False) for i in range(2)]
        >>> len(CSIDataset(merge_shards(parts, os.path.join(d, "all.h5"))))
        6
    """
    paths = [Path(p) for p in shards]
    if not paths:
        raise ValueError("`shards` is empty.")
    out = Path(out)
    if out.exists():
        raise DatasetError(f"{out} exists; merge into a new file.")
    heads = []
    for p in paths:
        with h5py.File(p, "r") as f:
            _check_header(f, p)
            i, n = _shard_of(f)
            heads.append({"scenario": f.attrs["scenario"], "seed": int(f.attrs["seed"]), "shard_index": i,
                          "num_samples": int(f.attrs["num_samples"]), "chunk_size": int(f.attrs["chunk_size"]),
                          "num_shards": n, "mine": _shard_chunks(len(f["chunk_done"]), i, n)})
            if not f["chunk_done"][()][heads[-1]["mine"]].all():
                raise DatasetError(f"shard {p} is incomplete: rerun its generate command to resume it.")
    keys = ("scenario", "seed", "num_samples", "chunk_size", "num_shards")
    for p, h in zip(paths[1:], heads[1:], strict=True):
        diff = [k for k in keys if h[k] != heads[0][k]]
        if diff:
            raise DatasetError(f"{p} is from another run than {paths[0]} (differs in {diff}).")
    idx = sorted(h["shard_index"] for h in heads)
    if idx != list(range(heads[0]["num_shards"])):
        raise DatasetError(f"shards must be indices 0..{heads[0]['num_shards'] - 1} once each, got {idx}.")
    h0 = heads[0]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".partial")
    first = [h["shard_index"] for h in heads].index(0)
    shutil.copyfile(paths[first], tmp)  # shard 0 holds the header and its own chunks
    with h5py.File(tmp, "a") as f:
        for p, h in zip(paths, heads, strict=True):
            if h["shard_index"] == 0:
                continue
            with h5py.File(p, "r") as src:
                for c in np.flatnonzero(h["mine"]):
                    lo, hi = int(c) * h0["chunk_size"], min(h0["num_samples"], (int(c) + 1) * h0["chunk_size"])
                    for name in ("x", "y", "z", "energy", "scale"):
                        f[name][lo:hi] = src[name][lo:hi]
                    f["chunk_done"][c] = True
        if not f["chunk_done"][()].all():
            raise DatasetError("the shards do not cover every chunk.")
        f.attrs.update(shard_index=0, num_shards=1, complete=True)
    tmp.replace(out)
    return out


class CSIDataset:
    """A paired FDD CSI dataset written by :func:`generate_dataset`.

    Args:
        path: str or PathLike. The HDF5 file.
        scenario: Scenario or None. If given, a file made for another scenario is refused
            with a message naming each field that differs.
        in_memory: bool. Read all arrays at once (fast batches) or per batch.

    Raises:
        DatasetError: if the file is not a dataset, is incomplete (interrupted: rerun the
            same ``csifb generate`` command to resume), or was made for another scenario.

    Examples:
        >>> import tempfile, os
        >>> from sionna_csifb.csi.scenario import get_scenario
        >>> p = os.path.join(tempfile.mkdtemp(), "d.h5")
        >>> _ = generate_dataset(p, get_scenario("cpu-small"), 6, progress=False)
        >>> ds = CSIDataset(p, scenario=get_scenario("cpu-small"))
        >>> b = next(ds.batches(4, shuffle=False))
        >>> tuple(b["z"].shape), b["z"].dtype
        ((4, 8, 8, 2), torch.float32)
    """

    def __init__(self, path: str | os.PathLike, scenario: Scenario | None = None, in_memory: bool = True) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise FileNotFoundError(f"Dataset file {self.path} does not exist.")
        try:
            f = h5py.File(self.path, "r")
        except OSError as exc:
            raise DatasetError(f"{self.path} cannot be opened as HDF5 ({exc}).") from exc
        with f:
            _check_header(f, self.path)
            self.scenario = Scenario.from_json(f.attrs["scenario"])
            self.seed = int(f.attrs["seed"])
            self.num_samples = int(f.attrs["num_samples"])
            done = f["chunk_done"][()]
            shard_index, num_shards = _shard_of(f)
            if num_shards > 1:
                raise DatasetError(f"{self.path} is shard {shard_index} of {num_shards}: join the shards with "
                                   "merge_shards "
                                   "(csifb merge) first.")
            if not (bool(f.attrs["complete"]) and done.all()):
                raise DatasetError(
                    f"{self.path} is incomplete ({int(done.sum())} of {len(done)} chunks written): "
                    "rerun the same `csifb generate` command to resume it."
                )
            if scenario is not None and self.scenario.differences(scenario):
                raise _scenario_mismatch(self.scenario, scenario, self.path)
            self._arrays = {k: f[k][()] for k in ("x", "y", "z", "energy", "scale")} if in_memory else None

    def __len__(self) -> int:
        return self.num_samples

    def _read(self, idx: np.ndarray) -> dict[str, np.ndarray]:
        if self._arrays is not None:
            return {k: v[idx] for k, v in self._arrays.items()}
        order = np.argsort(idx)
        inv = np.empty_like(order)
        inv[order] = np.arange(len(order))
        with h5py.File(self.path, "r") as f:
            return {k: f[k][np.sort(idx)][inv] for k in ("x", "y", "z", "energy", "scale")}

    def arrays(self, indices=None, device: str | None = None) -> dict[str, torch.Tensor]:
        """Complex angular-delay tensors ``x``, ``y``, ``z`` `[n, num_bs_ant, num_taps]`
        plus ``energy`` `[n, 3]` and ``scale`` `[n, 2]`, on ``device`` (default: config)."""
        idx = np.arange(self.num_samples) if indices is None else np.asarray(indices, dtype=np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= self.num_samples):
            raise IndexError(f"`indices` must lie in [0, {self.num_samples}), got min {idx.min()} max {idx.max()}.")
        dev = device or config.device
        return {k: torch.from_numpy(np.ascontiguousarray(v)).to(dev) for k, v in self._read(idx).items()}

    def batches(
        self, batch_size: int, *, shuffle: bool = True, seed: int = 0, drop_last: bool = False,
        real: bool = True, device: str | None = None,
    ) -> Iterator[dict[str, torch.Tensor]]:
        """Iterate once over the dataset in batches (one epoch).

        Args:
            batch_size: int.
            shuffle: bool. Random order, reproducible from ``seed``.
            seed: int. Shuffling seed (use the epoch number for a new order each epoch).
            drop_last: bool. Drop a last, smaller batch.
            real: bool. Return ``x``, ``y``, ``z`` as real `[B, num_bs_ant, num_taps, 2]`
                float32 (channels-last, for Keras layers) instead of complex.
            device: str or None. Defaults to ``sionna_csifb.config.device``.

        Yields:
            dict: ``x``, ``y``, ``z``, ``energy`` `[B, 3]`, ``scale`` `[B, 2]`, ``index`` `[B]`.
        """
        batch_size = check_positive_int(batch_size, "batch_size")
        order = np.random.default_rng(derive_seed(seed, 17)).permutation(self.num_samples) if shuffle \
            else np.arange(self.num_samples)
        for lo in range(0, self.num_samples, batch_size):
            idx = order[lo:lo + batch_size]
            if drop_last and len(idx) < batch_size:
                return
            b = self.arrays(idx, device=device)
            if real:
                for k in ("x", "y", "z"):
                    b[k] = torch.view_as_real(b[k]).contiguous()
            b["index"] = torch.from_numpy(idx)
            yield b


class MixedDataset:
    """Several datasets of one CSI format (antennas, subcarriers, crop) as one training set: a
    model trained on a mix of scenarios (``csifb train --train a.h5 b.h5``).

    Batches draw from the union of the samples in one shuffled order, so every batch mixes the
    scenarios in proportion to their sizes. ``scenario`` is the first dataset's (its CSI
    format is every dataset's); ``scenarios`` lists them all.

    Args:
        datasets: list of :class:`CSIDataset`.

    Raises:
        DatasetError: fewer than two datasets, or datasets of different CSI formats (naming the
            fields that differ).

    Examples:
        >>> import tempfile, os
        >>> from sionna_csifb.csi.scenario import get_scenario
        >>> d = tempfile.mkdtemp()
        >>> a, b = os.path.join(d, "a.h5"), os.path.join(d, "b.h5")
        >>> _ = generate_dataset(a, get_scenario("cpu-small"), 4, progress=False, seed=1)
        >>> _ = generate_dataset(b, get_scenario("cpu-small", ul_phases="independent"), 6, progress=False, seed=2)
        >>> mix = MixedDataset([CSIDataset(a), CSIDataset(b)])
        >>> len(mix), [s.name for s in mix.scenarios], len(next(mix.batches(10))["x"])
        (10, ['cpu-small', 'cpu-small+custom'], 10)
    """

    _CSI_FIELDS = ("num_bs_ant", "num_subcarriers", "num_taps", "window_start")

    def __init__(self, datasets) -> None:
        self.datasets = list(datasets)
        if len(self.datasets) < 2:
            raise DatasetError("a MixedDataset needs at least two datasets.")
        first = self.datasets[0]
        for ds in self.datasets[1:]:
            diff = [f"{k}: {getattr(first.scenario, k)!r} vs {getattr(ds.scenario, k)!r}" for k in self._CSI_FIELDS
                    if getattr(first.scenario, k) != getattr(ds.scenario, k)]
            if diff:
                raise DatasetError(f"{ds.path} has another CSI format than {first.path} ({'; '.join(diff)}): "
                                   "only datasets of one format can be mixed.")
        self.scenario = first.scenario
        self.scenarios = [ds.scenario for ds in self.datasets]
        self.seed = [ds.seed for ds in self.datasets]
        self.path = [str(ds.path) for ds in self.datasets]
        self._offsets = np.cumsum([0] + [len(ds) for ds in self.datasets])

    def __len__(self) -> int:
        return int(self._offsets[-1])

    def batches(self, batch_size: int, *, shuffle: bool = True, seed: int = 0, drop_last: bool = False,
                real: bool = True, device: str | None = None) -> Iterator[dict[str, torch.Tensor]]:
        """As :meth:`CSIDataset.batches`, over the union; ``index`` is the position in the union."""
        batch_size = check_positive_int(batch_size, "batch_size")
        n = len(self)
        order = np.random.default_rng(derive_seed(seed, 17)).permutation(n) if shuffle else np.arange(n)
        for lo in range(0, n, batch_size):
            idx = order[lo:lo + batch_size]
            if drop_last and len(idx) < batch_size:
                return
            which = np.searchsorted(self._offsets, idx, side="right") - 1
            parts, pos = [], []
            for k, ds in enumerate(self.datasets):
                sel = np.nonzero(which == k)[0]
                if len(sel):
                    parts.append(ds.arrays(idx[sel] - self._offsets[k], device=device))
                    pos.append(sel)
            perm = torch.from_numpy(np.argsort(np.concatenate(pos)))
            b = {key: torch.cat([p[key] for p in parts])[perm.to(parts[0][key].device)] for key in parts[0]}
            if real:
                for key in ("x", "y", "z"):
                    b[key] = torch.view_as_real(b[key]).contiguous()
            b["index"] = torch.from_numpy(idx)
            yield b

import h5py
import numpy as np
import pytest
import torch

from sionna_csifb.cli import main
from sionna_csifb.csi.generator import CSIGenerator, derive_seed
from sionna_csifb.csi.scenario import get_scenario
from sionna_csifb.data import hdf5
from sionna_csifb.data.hdf5 import CSIDataset, DatasetError, generate_dataset


@pytest.fixture(scope="module")
def small():
    return get_scenario("cpu-small")


@pytest.fixture
def ds_path(tmp_path, small):
    return generate_dataset(tmp_path / "d.h5", small, 10, seed=7, chunk_size=4, progress=False)


class TestCLI:
    @pytest.mark.parametrize("preset,shape", [("cpu-small", (8, 8)), ("paper-cdl-c", (32, 32))])
    def test_generate_loads_back(self, tmp_path, preset, shape):
        out = tmp_path / f"{preset}.h5"
        assert main(["generate", "--preset", preset, "--n", "6", "--out", str(out), "--no-progress"]) == 0
        ds = CSIDataset(out, scenario=get_scenario(preset))
        assert ds.scenario == get_scenario(preset) and ds.scenario.name == preset
        a = ds.arrays()
        for k in ("x", "y", "z"):
            assert a[k].shape == (6, *shape) and a[k].dtype == torch.complex64
        assert a["energy"].shape == (6, 3) and a["scale"].shape == (6, 2)

    def test_help_lists_presets(self, capsys):
        with pytest.raises(SystemExit):
            main(["generate", "--help"])
        out = capsys.readouterr().out
        assert "paper-cdl-c" in out and "cpu-small" in out and "umi" in out

    def test_set_override_and_bad_value(self, tmp_path, capsys):
        out = tmp_path / "o.h5"
        assert main(["generate", "--preset", "cpu-small", "--n", "2", "--out", str(out), "--no-progress",
                     "--set", "ul_phases=independent"]) == 0
        assert CSIDataset(out).scenario.ul_phases == "independent"
        assert main(["generate", "--preset", "cpu-small", "--n", "2", "--out", str(tmp_path / "p.h5"),
                     "--no-progress", "--set", "ue_speed=-3"]) == 2
        assert "ue_speed" in capsys.readouterr().err


class TestGenerateDataset:
    def test_content_matches_generator(self, ds_path, small):
        a = CSIDataset(ds_path).arrays()
        trip, scale = CSIGenerator(small)(4, derive_seed(7, 1)).normalized()
        ad = trip.angular_delay(small.num_taps)
        np.testing.assert_allclose(a["z"][4:8].numpy(), ad.z.numpy(), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(a["scale"][4:8].numpy(), scale.numpy(), rtol=1e-5)
        # normalisation: x has unit mean power per spatial-frequency entry
        np.testing.assert_allclose(a["energy"][:, 0].numpy(), 8 * 72, rtol=1e-4)
        assert bool((a["energy"][:, 2] >= a["z"].abs().pow(2).sum((1, 2)) * (1 - 1e-5)).all())

    def test_interrupted_run_is_detected_and_resumed(self, tmp_path, small, ds_path, monkeypatch):
        path = tmp_path / "r.h5"
        calls = {"n": 0}
        real_call = CSIGenerator.__call__

        def flaky(self, batch_size, seed):
            calls["n"] += 1
            if calls["n"] == 2:
                raise KeyboardInterrupt
            return real_call(self, batch_size, seed)

        monkeypatch.setattr(CSIGenerator, "__call__", flaky)
        with pytest.raises(KeyboardInterrupt):
            generate_dataset(path, small, 10, seed=7, chunk_size=4, progress=False)
        with pytest.raises(DatasetError, match="incomplete .1 of 3 chunks"):
            CSIDataset(path)
        generate_dataset(path, small, 10, seed=7, chunk_size=4, progress=False)
        assert calls["n"] == 4  # only the two missing chunks were generated
        a, b = CSIDataset(path).arrays(), CSIDataset(ds_path).arrays()
        for k in ("x", "y", "z", "energy", "scale"):
            assert torch.equal(a[k], b[k]), k

    def test_other_scenario_refused_naming_field(self, ds_path, small):
        with pytest.raises(DatasetError, match="num_taps: file has 8, expected 4"):
            CSIDataset(ds_path, scenario=small.replace(num_taps=4))
        with pytest.raises(DatasetError, match="ue_speed"):
            generate_dataset(ds_path, small.replace(ue_speed=3.0), 10, seed=7, chunk_size=4, progress=False)
        with pytest.raises(DatasetError, match="seed=7"):
            generate_dataset(ds_path, small, 10, seed=8, chunk_size=4, progress=False)

    def test_not_a_dataset(self, tmp_path):
        p = tmp_path / "junk.h5"
        p.write_bytes(b"not hdf5 at all")
        with pytest.raises(DatasetError, match="cannot be opened"):
            CSIDataset(p)
        q = tmp_path / "other.h5"
        with h5py.File(q, "w") as f:
            f["x"] = np.zeros(3)
        with pytest.raises(DatasetError, match="not a sionna_csifb CSI dataset"):
            CSIDataset(q)
        with pytest.raises(FileNotFoundError):
            CSIDataset(tmp_path / "missing.h5")

    def test_bad_arguments(self, tmp_path, small):
        with pytest.raises(ValueError, match="num_samples"):
            generate_dataset(tmp_path / "a.h5", small, 0)
        with pytest.raises(ValueError, match="scenario"):
            generate_dataset(tmp_path / "a.h5", "cpu-small", 4)


class TestBatches:
    def test_epoch_covers_all_and_is_reproducible(self, ds_path):
        ds = CSIDataset(ds_path)
        idx = torch.cat([b["index"] for b in ds.batches(3, seed=1)])
        assert sorted(idx.tolist()) == list(range(10))
        idx2 = torch.cat([b["index"] for b in ds.batches(3, seed=1)])
        idx3 = torch.cat([b["index"] for b in ds.batches(3, seed=2)])
        assert torch.equal(idx, idx2) and not torch.equal(idx, idx3)

    def test_real_layout_and_values(self, ds_path):
        ds = CSIDataset(ds_path)
        b = next(ds.batches(4, shuffle=True, seed=0))
        assert b["x"].shape == (4, 8, 8, 2) and b["x"].dtype == torch.float32
        ref = ds.arrays(b["index"].numpy())["x"]
        assert torch.equal(torch.view_as_complex(b["x"]), ref)

    def test_out_of_core_matches_in_memory(self, ds_path):
        a = CSIDataset(ds_path).arrays([5, 1, 7])
        b = CSIDataset(ds_path, in_memory=False).arrays([5, 1, 7])
        assert torch.equal(a["y"], b["y"])

    def test_drop_last(self, ds_path):
        sizes = [len(b["index"]) for b in CSIDataset(ds_path).batches(4, drop_last=True)]
        assert sizes == [4, 4]


def test_module_has_format_constants():
    assert hdf5.FORMAT_VERSION == 1


class TestShards:
    """Sharded generation: N shard files merged = the single-process file, array for array."""

    def test_sharded_equals_single_process(self, tmp_path):
        import h5py

        from sionna_csifb.cli import main
        from sionna_csifb.data.hdf5 import DatasetError, merge_shards

        scen = get_scenario("cpu-small")
        single = generate_dataset(tmp_path / "single.h5", scen, 10, seed=7, chunk_size=3, progress=False)
        shards = [tmp_path / f"s{i}.h5" for i in range(3)]
        for i, p in enumerate(shards):
            assert main(["generate", "--preset", "cpu-small", "--n", "10", "--seed", "7", "--chunk-size", "3",
                         "--shard", f"{i}/3", "--out", str(p), "--no-progress"]) == 0
        with pytest.raises(DatasetError, match="shard 1 of 3"):
            CSIDataset(shards[1])
        with pytest.raises(DatasetError, match="indices 0..2 once each"):
            merge_shards(shards[:2], tmp_path / "bad.h5")
        assert main(["merge", "--out", str(tmp_path / "merged.h5"), *map(str, shards[::-1])]) == 0
        with h5py.File(single, "r") as a, h5py.File(tmp_path / "merged.h5", "r") as b:
            for k in ("x", "y", "z", "energy", "scale", "chunk_done"):
                assert np.array_equal(a[k][()], b[k][()]), k
        assert len(CSIDataset(tmp_path / "merged.h5", scenario=scen)) == 10

    def test_incomplete_shard_refused(self, tmp_path):
        from sionna_csifb.data.hdf5 import DatasetError, merge_shards

        scen = get_scenario("cpu-small")
        a = generate_dataset(tmp_path / "a.h5", scen, 4, seed=1, chunk_size=2, shard=(0, 2), progress=False)
        b = generate_dataset(tmp_path / "b.h5", scen, 4, seed=2, chunk_size=2, shard=(1, 2), progress=False)
        with pytest.raises(DatasetError, match="another run"):
            merge_shards([a, b], tmp_path / "m.h5")
        with pytest.raises(ValueError, match="shard"):
            generate_dataset(tmp_path / "c.h5", scen, 4, shard=(2, 2), progress=False)

import json
import shutil

import pytest
import torch

from sionna_csifb.csi.scenario import get_scenario
from sionna_csifb.data.hdf5 import CSIDataset, generate_dataset
from sionna_csifb.models.sizes import build_model, model_config
from sionna_csifb.training import TrainingConfig, evaluate_model, train
from sionna_csifb.weights.registry import WeightsError, load_model, sha256_of


@pytest.fixture(scope="module")
def ds(tmp_path_factory):
    p = tmp_path_factory.mktemp("d") / "small.h5"
    return CSIDataset(generate_dataset(p, get_scenario("cpu-small"), 64, seed=5, progress=False))


def _model(kind="csinet"):
    return build_model(kind, model_config(kind, "small", 24 if kind != "diffusion" else 8, input_size=(8, 8)),
                       get_scenario("cpu-small"))


class TestTraining:
    def test_train_evaluate_and_resume(self, ds, tmp_path):
        cfg = TrainingConfig(steps=6, batch_size=16, checkpoint_every=3)
        full = train(_model(), ds, cfg, tmp_path / "a", progress=False)
        assert full["steps"] == 6
        # an interrupted run: stop after the first checkpoint, then resume
        short = TrainingConfig(steps=6, batch_size=16, checkpoint_every=3)
        m = _model()
        import sionna_csifb.training as tr

        calls = {"n": 0}
        orig = tr._lr

        def boom(step, c):
            calls["n"] += 1
            if calls["n"] == 5:
                raise KeyboardInterrupt
            return orig(step, c)

        tr._lr = boom
        try:
            with pytest.raises(KeyboardInterrupt):
                train(m, ds, short, tmp_path / "b", progress=False)
        finally:
            tr._lr = orig
        state = json.loads((tmp_path / "b" / "state.json").read_text())
        assert state["step"] == 3
        resumed = train(_model(), ds, short, tmp_path / "b", progress=False)
        assert resumed["steps"] == 6
        with pytest.raises(ValueError, match="another training config"):
            train(_model(), ds, TrainingConfig(steps=9, batch_size=16), tmp_path / "b", progress=False)

    def test_evaluate_through_bits(self, ds):
        r = evaluate_model(_model("diffusion"), ds, num_inference_steps=1)
        assert r["payload_bits"] == 8 and r["num_samples"] == 64 and r["nmse_sf_db"] >= r["nmse_ad_db"] - 0.5


class TestWeightsRegistry:
    @pytest.fixture
    def bundle(self, tmp_path):
        m = _model()
        f = tmp_path / "tiny.weights.h5"
        m.save_weights(f)
        cfg = model_config("csinet", "small", 24, input_size=(8, 8))
        (tmp_path / "manifest.json").write_text(json.dumps({"tiny": {
            "file": f.name, "sha256": sha256_of(f), "model": "csinet", "model_config": cfg}}))
        return tmp_path, m

    def test_load_ok(self, bundle):
        d, m = bundle
        loaded, _ = load_model("tiny", directory=d)
        x = torch.randn(2, 8, 8, 2)
        assert torch.equal(torch.as_tensor(loaded.encode_bits(x)), torch.as_tensor(m.encode_bits(x)))

    def test_corrupted_file(self, bundle):
        d, _ = bundle
        with open(d / "tiny.weights.h5", "r+b") as f:
            f.seek(200)
            f.write(b"\x00\x01\x02")
        with pytest.raises(WeightsError, match="corrupted or modified"):
            load_model("tiny", directory=d)

    def test_other_config_refused(self, bundle):
        d, _ = bundle
        with pytest.raises(WeightsError, match="num_bits: weights have 24, expected 64"):
            load_model("tiny", expected_config={"num_bits": 64}, directory=d)

    def test_float16_storage_halves_the_file_and_loads_into_float32(self, bundle, tmp_path):
        import h5py
        import keras
        import numpy as np

        from sionna_csifb.weights.registry import manifest_entry, restore_float16

        d, m = bundle
        f = d / "tiny.weights.h5"
        before, sha32 = f.stat().st_size, sha256_of(f)
        rec = restore_float16("tiny", directory=d, min_size=256)  # (the shipped default is for larger models)
        assert rec["min_size"] == 256 and rec["float16_arrays"] >= 2 and rec["kept_arrays"] >= 1
        assert rec["source_sha256"] == sha32
        assert rec["max_relative_error"] <= 2.0 ** -11
        big32 = sum(4 * int(np.prod(v.shape)) for v in m.weights if int(np.prod(v.shape)) >= 256)
        assert before - f.stat().st_size >= 0.45 * big32  # half of those arrays' bytes saved
        e = manifest_entry("tiny", d)
        assert e["storage"] == rec and e["sha256"] == sha256_of(f) != sha32
        with h5py.File(f, "r") as h:  # large arrays in float16, small ones (biases) as they were
            dtypes = []
            h.visititems(lambda n, o: dtypes.append((o.size, o.dtype)) if isinstance(o, h5py.Dataset) else None)
        assert all(dt == (np.float16 if n >= 256 else np.float32) for n, dt in dtypes if dt.kind == "f")
        loaded, _ = load_model("tiny", directory=d)  # sha256 of the new file checked, float32 variables
        assert all(v.dtype == "float32" for v in loaded.weights)
        for a, b in zip(m.weights, loaded.weights):
            a, b = keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b)
            np.testing.assert_allclose(b, a, rtol=2.0 ** -10, atol=1e-7)
        bits = m.encode_bits(torch.randn(4, 8, 8, 2))
        y = torch.randn(4, 8, 8, 2)
        y0, y1 = (torch.as_tensor(k.decode_bits(bits, y)) for k in (m, loaded))
        assert float((y1 - y0).norm() / y0.norm()) < 1e-2
        assert restore_float16("tiny", directory=d) == rec  # already float16: left alone

    def test_missing(self, bundle, tmp_path):
        d, _ = bundle
        with pytest.raises(WeightsError, match="available"):
            load_model("nope", directory=d)
        shutil.move(d / "tiny.weights.h5", tmp_path / "elsewhere.h5")
        with pytest.raises(WeightsError, match="missing"):
            load_model("tiny", directory=d)


def test_cli_trains_an_entropy_coded_model(ds, tmp_path):
    """csifb train --model entropy: the rate target, frozen final weights, variable-length metrics."""
    from sionna_csifb.cli import main

    test = generate_dataset(tmp_path / "test.h5", get_scenario("cpu-small"), 32, seed=6, progress=False)
    out = tmp_path / "run"
    assert main(["train", "--model", "entropy", "--bits", "40", "--train", str(ds.path), "--test", str(test),
                 "--steps", "4", "--batch-size", "16", "--task", "reconstruction", "--no-side-info",
                 "--out", str(out), "--no-progress"]) == 0
    res = json.loads((out / "result.json").read_text())
    m = res["test_metrics"]
    assert res["model_config"]["target_bits"] == 40.0 and res["weights"] == "final.weights.h5"
    assert m["payload_bits_p95"] >= m["payload_bits"] > 0 and m["estimated_bits"] > 0
    model = build_model("entropy", res["model_config"])
    model.load_weights(out / "final.weights.h5")
    assert model.frozen
    assert main(["train", "--model", "csinet", "--bits", "24", "--train", str(ds.path), "--test", str(test),
                 "--steps", "1", "--out", str(tmp_path / "c"), "--rate-weight", "0.1", "--no-progress"]) == 2
    assert main(["train", "--model", "entropy", "--bits", "40", "--max-bits", "48", "--train", str(ds.path),
                 "--test", str(test), "--steps", "2", "--batch-size", "16", "--task", "reconstruction",
                 "--no-side-info", "--out", str(tmp_path / "cap"), "--no-progress"]) == 0
    cap = json.loads((tmp_path / "cap" / "result.json").read_text())
    assert cap["model_config"]["max_bits"] == 48 and cap["test_metrics"]["payload_bits"] > 0
    assert main(["train", "--model", "csinet", "--bits", "24", "--train", str(ds.path), "--test", str(test),
                 "--steps", "1", "--out", str(tmp_path / "c2"), "--max-bits", "30", "--no-progress"]) == 2


def test_cli_init_from_continues_a_finished_run(ds, tmp_path):
    """--init-from loads a finished run's weights (its first loss is the trained model's, not a fresh
    one's), records the chain of runs, and refuses an unfinished run or another config."""
    from sionna_csifb.cli import main

    test = generate_dataset(tmp_path / "test.h5", get_scenario("cpu-small"), 16, seed=6, progress=False)
    args = ["train", "--model", "entropy", "--architecture", "eigen", "--kept-beams", "4", "--bits", "40",
            "--train", str(ds.path), "--test", str(test), "--batch-size", "16", "--task", "reconstruction",
            "--no-side-info", "--no-progress", "--lr", "3e-3"]
    assert main([*args, "--steps", "100", "--out", str(tmp_path / "a")]) == 0
    assert main([*args, "--steps", "100", "--out", str(tmp_path / "b"), "--init-from", str(tmp_path / "a")]) == 0
    a, b = (json.loads((tmp_path / r / "result.json").read_text()) for r in "ab")
    assert b["init_from"] == {"run": str(tmp_path / "a"), "steps": 100, "total_steps": 100}
    assert b["loss_history"][0][1] < a["loss_history"][0][1]
    assert main([*args, "--steps", "1", "--out", str(tmp_path / "c"), "--init-from", str(tmp_path / "b")]) == 0
    assert json.loads((tmp_path / "c" / "result.json").read_text())["init_from"]["total_steps"] == 200
    from sionna_csifb.weights.registry import manifest_entry, package_run

    package_run(tmp_path / "c", "c", directory=tmp_path / "w")
    training = manifest_entry("c", tmp_path / "w")["training"]
    assert (training["steps"], training["init_from_steps"], training["total_steps"]) == (1, 200, 201)
    (tmp_path / "a" / "result.json").unlink()
    assert main([*args, "--steps", "1", "--out", str(tmp_path / "d"), "--init-from", str(tmp_path / "a")]) == 2
    other = [*args[:6], "8", *args[7:]]  # 8 kept beams
    assert main([*other, "--steps", "1", "--out", str(tmp_path / "e"), "--init-from", str(tmp_path / "b")]) == 2
    # a budget may be set or changed: it changes the loss and the coding mode, not the weights
    assert main([*args, "--steps", "1", "--max-bits", "60", "--out", str(tmp_path / "f"), "--init-from",
                 str(tmp_path / "b")]) == 0
    assert main([*args, "--steps", "1", "--max-bits", "50", "--cap-weight", "0.002", "--out", str(tmp_path / "g"),
                 "--init-from", str(tmp_path / "f")]) == 0
    assert json.loads((tmp_path / "g" / "result.json").read_text())["model_config"]["cap_weight"] == 0.002
    # --cap-weight needs a budget; the eigen flags need --architecture eigen; a width is a new model
    assert main([*args, "--steps", "1", "--cap-weight", "0.002", "--out", str(tmp_path / "h")]) == 2
    noeig = [a for a in args if a not in ("--architecture", "eigen")]
    assert main([*noeig, "--steps", "1", "--out", str(tmp_path / "i")]) == 2
    assert main([*args, "--steps", "1", "--hidden-width", "64", "--out", str(tmp_path / "j"), "--init-from",
                 str(tmp_path / "b")]) == 2


def test_cli_trains_eigen_on_a_mix_of_scenarios(ds, tmp_path):
    """csifb train with two --train files: an eigen model on a mix, the manifest lists both scenarios,
    the scheme accepts each and refuses a third; a test set of another scenario is refused."""
    from sionna_csifb.cli import main
    from sionna_csifb.schemes.learned import LearnedScheme
    from sionna_csifb.weights.registry import package_run

    other = get_scenario("cpu-small", ul_phases="independent")
    ds2 = generate_dataset(tmp_path / "b.h5", other, 32, seed=7, progress=False)
    test = generate_dataset(tmp_path / "test.h5", get_scenario("cpu-small"), 16, seed=6, progress=False)
    out = tmp_path / "mix"
    args = ["train", "--model", "csinet", "--architecture", "eigen", "--bits", "20", "--bits-per-value", "3",
            "--train", str(ds.path), str(ds2), "--steps", "2", "--batch-size", "8", "--task",
            "reconstruction", "--no-side-info", "--out", str(out), "--no-progress"]
    assert main([*args, "--test", str(test)]) == 0
    res = json.loads((out / "result.json").read_text())
    assert [s["name"] for s in res["scenarios"]] == ["cpu-small", "cpu-small+custom"]
    assert res["train_data"]["num_samples"] == len(ds) + 32 and res["test_metrics"]["payload_bits"] == 20
    assert 0 <= res["test_metrics"]["sgcs"] <= 1
    assert {"num_subbands": 13, "hidden_width": 512, "beam_oversampling": 4,
            "kept_beams": 0}.items() <= res["model_config"].items()
    package_run(out, "mix", directory=tmp_path / "w")
    scheme = LearnedScheme("mix", directory=tmp_path / "w")
    assert scheme.trained_scenarios == ["cpu-small", "cpu-small+custom"]
    assert scheme.trained_for(other) and not scheme.trained_for(get_scenario("cpu-small", ul_phases="shared-offset"))
    tdl = generate_dataset(tmp_path / "t2.h5", get_scenario("cpu-small", ul_phases="shared-offset"), 8, seed=9,
                           progress=False)
    assert main([*args[:-3], "--out", str(tmp_path / "bad"), "--no-progress", "--test", str(tdl)]) == 2


@pytest.fixture(scope="module")
def umi_sets(tmp_path_factory):
    """Tiny sets of the UMi preset (the shipped UMa weights' geometry: 32 antennas, 667 subcarriers)."""
    d = tmp_path_factory.mktemp("umi")
    return [generate_dataset(d / f"{n}.h5", get_scenario("umi"), 32, seed=s, progress=False)
            for n, s in (("train", 5), ("test", 6))]


def test_cli_fine_tunes_shipped_weights_on_another_scenario(umi_sets, tmp_path):
    """--init-from a shipped weights name: checked against its sha256 and config, recorded with the
    steps it already had, and the result lists the scenarios of both trainings (so a scheme built from
    it accepts UMa and UMi without the out-of-distribution opt-in)."""
    from sionna_csifb.cli import main
    from sionna_csifb.weights.registry import manifest_entry

    train_set, test_set = umi_sets
    args = ["train", "--model", "entropy", "--architecture", "eigen", "--kept-beams", "4", "--bits", "65",
            "--train", str(train_set), "--test", str(test_set), "--batch-size", "8", "--task",
            "reconstruction", "--no-side-info", "--no-progress", "--steps", "2"]
    shipped = manifest_entry("eigen-ent-65b-uma")
    assert main([*args, "--residual-blocks", "2", "--out", str(tmp_path / "ft"),
                 "--init-from", "eigen-ent-65b-uma"]) == 0
    res = json.loads((tmp_path / "ft" / "result.json").read_text())
    assert res["init_from"] == {"weights": "eigen-ent-65b-uma", "sha256": shipped["sha256"],
                                "steps": shipped["training"]["steps"],
                                "total_steps": shipped["training"]["steps"]}
    assert [s["name"] for s in res["scenarios"]] == ["uma", "umi"] and res["scenario"]["name"] == "umi"
    assert res["test_metrics"]["sgcs"] > 0.3  # the trained UMa model, not a fresh one
    # an unknown name, or a config the weights were not trained with (default residual blocks), is refused
    assert main([*args, "--residual-blocks", "2", "--out", str(tmp_path / "x"), "--init-from", "no-such"]) == 2
    assert main([*args, "--out", str(tmp_path / "y"), "--init-from", "eigen-ent-65b-uma"]) == 2


def test_cli_lists_shipped_weights(capsys):
    from sionna_csifb.cli import main

    assert main(["weights"]) == 0
    out = capsys.readouterr().out
    line = next(l for l in out.splitlines() if l.startswith("eigen-ent-118b-uma"))
    assert "entropy" in line and "118 b mean" in line and "uma" in line and "12000 steps" in line


def test_cli_beam_coding_fits_its_tables_and_fine_tunes_an_index_model(ds, tmp_path, capsys):
    """--beam-coding entropy fits the kept-beam tables on the training samples before the first
    step; --init-from a model that sends an index loads its networks (every variable but the
    tables) and fits the tables; the flag applies to the entropy eigen codec only."""
    import numpy as np

    from sionna_csifb.cli import _load_networks, main
    from sionna_csifb.models.sizes import build_model

    test = generate_dataset(tmp_path / "test.h5", get_scenario("cpu-small"), 16, seed=6, progress=False)
    args = ["train", "--model", "entropy", "--architecture", "eigen", "--kept-beams", "3", "--bits", "40",
            "--train", str(ds.path), "--test", str(test), "--batch-size", "16", "--task", "reconstruction",
            "--no-side-info", "--no-progress", "--steps", "2"]
    assert main([*args, "--out", str(tmp_path / "index")]) == 0
    capsys.readouterr()
    assert main([*args, "--beam-coding", "entropy", "--init-from", str(tmp_path / "index"),
                 "--out", str(tmp_path / "coded")]) == 0
    assert "kept beams: entropy model of 64 training samples" in capsys.readouterr().err
    r = json.loads((tmp_path / "coded" / "result.json").read_text())
    assert r["model_config"]["beam_coding"] == "entropy" and r["init_from"]["run"] == str(tmp_path / "index")
    assert "beam_coding" not in r["init_from"] and r["test_metrics"]["payload_bits"] > 0
    assert "beam_coding" not in json.loads((tmp_path / "index" / "result.json").read_text())["model_config"]
    # the networks, variable for variable
    cfg = json.loads((tmp_path / "index" / "result.json").read_text())["model_config"]
    coded = build_model("entropy", {**cfg, "beam_coding": "entropy"})
    _load_networks(coded, "entropy", cfg, tmp_path / "index" / "final.weights.h5")
    src = build_model("entropy", cfg)
    src.load_weights(tmp_path / "index" / "final.weights.h5")
    np.testing.assert_array_equal(np.asarray(coded.enc_dense.kernel.numpy()), np.asarray(src.enc_dense.kernel.numpy()))
    assert main([*args[:2], "csinet", *args[3:], "--beam-coding", "entropy", "--out", str(tmp_path / "c")]) == 2


def test_cli_linear_path_is_initialised_from_training_data(ds, tmp_path, capsys):
    """--linear-path builds the eigen entropy codec with a linear path, initialises it as a KLT coder
    of the training samples before the first step, and records it in the model config; it applies to
    --model entropy --architecture eigen only."""
    from sionna_csifb.cli import main

    test = generate_dataset(tmp_path / "test.h5", get_scenario("cpu-small"), 16, seed=6, progress=False)
    args = ["train", "--model", "entropy", "--architecture", "eigen", "--kept-beams", "2", "--bits", "40",
            "--train", str(ds.path), "--test", str(test), "--batch-size", "16", "--task", "reconstruction",
            "--no-side-info", "--no-progress", "--steps", "2", "--linear-path"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    assert "linear path: KLT of 64 training samples" in capsys.readouterr().err
    r = json.loads((tmp_path / "a" / "result.json").read_text())
    assert r["model_config"]["linear_path"] is True and r["test_metrics"]["sgcs"] > 0
    noeig = [*args[:3], *args[7:]]  # without --architecture eigen --kept-beams 2
    assert main([*noeig, "--out", str(tmp_path / "b")]) == 2
    csinet = [*args[:2], "csinet", *args[3:]]
    assert main([*csinet, "--out", str(tmp_path / "c")]) == 2


def test_cli_trains_the_eigen_diffusion_codec(ds, tmp_path):
    """csifb train --model diffusion --architecture eigen: the EigenDiffusionCodec, its eigen config
    recorded, weights that load into the model the config builds; prediction is refused."""
    from sionna_csifb.cli import main
    from sionna_csifb.models.eigen_diffusion import EigenDiffusionCodec

    test = generate_dataset(tmp_path / "test.h5", get_scenario("cpu-small"), 16, seed=6, progress=False)
    base = ["train", "--model", "diffusion", "--architecture", "eigen", "--bits", "40", "--kept-beams", "4",
            "--hidden-width", "32", "--train", str(ds.path), "--test", str(test), "--steps", "3",
            "--batch-size", "16", "--no-side-info", "--no-progress"]
    assert main([*base, "--task", "reconstruction", "--out", str(tmp_path / "run")]) == 0
    res = json.loads((tmp_path / "run" / "result.json").read_text())
    cfg = res["model_config"]
    assert res["model"] == "diffusion" and cfg["architecture"] == "eigen" and cfg["kept_beams"] == 4
    model = build_model("diffusion", cfg)
    assert isinstance(model, EigenDiffusionCodec) and res["test_metrics"]["payload_bits"] == model.payload_bits
    model.load_weights(tmp_path / "run" / "final.weights.h5")
    assert main([*base, "--task", "prediction", "--out", str(tmp_path / "pred")]) == 2
    assert main([*base[:5], "--bits-per-value", "3", *base[5:], "--task", "reconstruction",
                 "--out", str(tmp_path / "bpv")]) == 2  # (csinet/entropy only)

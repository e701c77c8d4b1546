"""An entropy-coded model as a registered-style scheme in the chain: variable-length reports
over the coded uplink, their mean / 95th percentile and REs in the row."""

import json

import keras
import numpy as np
import pytest
import torch

from sionna_csifb.csi.scenario import get_scenario
from sionna_csifb.evaluation.chain import ChainConfig, draw_samples, evaluate_scheme
from sionna_csifb.models.sizes import build_model, model_config
from sionna_csifb.schemes.learned import LearnedScheme
from sionna_csifb.weights.registry import WeightsError, sha256_of


def _package(tmp_path, scen, freeze=True):
    cfg = model_config("entropy", "small", 40, side_info=False, input_size=(scen.num_bs_ant, scen.num_taps))
    keras.utils.set_random_seed(0)
    m = build_model("entropy", cfg, scen)
    if freeze:
        m.freeze()
    m.save_weights(tmp_path / "e.weights.h5")
    entry = {"file": "e.weights.h5", "sha256": sha256_of(tmp_path / "e.weights.h5"), "model": "entropy",
             "size": "small", "model_config": cfg, "task": "reconstruction", "scenario": scen.to_dict(),
             "test_metrics": {"payload_bits": 40.0, "nmse_ad_db": 0.0}}
    (tmp_path / "manifest.json").write_text(json.dumps({"entropy-test": entry}))


def test_entropy_scheme_over_the_coded_uplink(tmp_path):
    scen = get_scenario("cpu-small")
    _package(tmp_path, scen)
    s = LearnedScheme("entropy-test", directory=tmp_path)
    s.name = "entropy-test"
    assert s.variable_length and s.nominal_payload_bits is None and "variable" in s.description
    data = draw_samples(scen, 16, seed=3)
    row = evaluate_scheme(s, data, scen, ChainConfig(snr_dbs=[0.0], uplink="coded", ul_snr_db=10.0))
    assert row["variable_length"] and row["payload_bits_p95"] >= row["payload_bits"] > 0
    assert row["payload_bits_max"] >= row["payload_bits_p95"]
    assert row["uplink_res_p95"] >= row["uplink_res"] > 0 and row["reports_lost"] == 0.0
    assert -1.0 <= row["sgcs"] <= 1.0


def test_unfrozen_entropy_weights_are_refused(tmp_path):
    scen = get_scenario("cpu-small")
    _package(tmp_path, scen, freeze=False)
    with pytest.raises(WeightsError, match="frozen"):
        LearnedScheme("entropy-test", directory=tmp_path)


def test_ue_refinement_from_the_manifest_or_a_dict(tmp_path):
    scen = get_scenario("cpu-small")
    _package(tmp_path, scen)
    with pytest.raises(ValueError, match="no calibrated `ue_refinement`"):
        LearnedScheme("entropy-test", directory=tmp_path, ue_refinement=True)
    m = json.loads((tmp_path / "manifest.json").read_text())
    m["entropy-test"]["ue_refinement"] = {"steps": 4, "learning_rate": 0.1, "rate_scale": 1.0, "target_bits": 40.0,
                                          "test_metrics": {"payload_bits": 37.5, "sgcs": 0.5}}
    (tmp_path / "manifest.json").write_text(json.dumps(m))
    plain = LearnedScheme("entropy-test", directory=tmp_path)
    s = LearnedScheme("entropy-test", directory=tmp_path, ue_refinement=True)
    assert s.model.latent_refinement.steps == 4 and plain.model.latent_refinement is None
    assert s.mean_payload_bits == 37.5 and plain.mean_payload_bits == 40.0 and "UE-refined" in s.description
    assert s.get_config()["ue_refinement"]["rate_scale"] == 1.0 and "ue_refinement" not in plain.get_config()
    own = LearnedScheme("entropy-test", directory=tmp_path, ue_refinement={"steps": 2})
    assert own.mean_payload_bits == 40.0  # a setting of one's own: the manifest's refined metrics do not apply
    data = draw_samples(scen, 8, seed=3)
    msg_s, msg_p = s.encode(data.x), plain.encode(data.x)
    assert not np.array_equal(msg_s.bits.numpy(), msg_p.bits.numpy())  # the refined reports differ ...
    assert s.decode(msg_s).shape == data.x.shape  # ... and the same decoder reads them
    with pytest.raises(ValueError, match="unknown keys"):
        LearnedScheme("entropy-test", directory=tmp_path, ue_refinement={"iterations": 3})


def test_reports_held_to_a_budget_fit_it_decode_and_say_so(tmp_path):
    scen = get_scenario("cpu-small")
    _package(tmp_path, scen)
    with pytest.raises(ValueError, match="calibrated to"):  # True takes the refinement's target: none here
        LearnedScheme("entropy-test", directory=tmp_path, max_bits=True)
    m = json.loads((tmp_path / "manifest.json").read_text())
    m["entropy-test"]["ue_refinement"] = {"steps": 3, "learning_rate": 0.1, "rate_scale": 1.0, "target_bits": 80.0,
                                          "test_metrics": {"payload_bits": 81.0, "sgcs": 0.5}}
    (tmp_path / "manifest.json").write_text(json.dumps(m))
    s = LearnedScheme("entropy-test", directory=tmp_path, ue_refinement=True, max_bits=True)
    s.name = "entropy-test-refined-held"
    assert s.budget_bits == 80 and s.get_config()["max_bits"] == 80 and "at most 80)" in s.description
    assert s.mean_payload_bits == 40.0  # the refined metrics were measured without the budget: not claimed
    free = LearnedScheme("entropy-test", directory=tmp_path, ue_refinement=True)
    assert free.budget_bits is None and "max_bits" not in free.get_config()
    data = draw_samples(scen, 8, seed=3)
    msg, loose = s.encode(data.x), free.encode(data.x)
    assert int(msg.num_bits.max()) <= 80 < int(loose.num_bits.max())  # the budget binds, and holds
    est = s.decode(msg)
    assert est.shape == data.x.shape and bool(torch.isfinite(torch.view_as_real(est)).all())
    row = evaluate_scheme(s, data, scen, ChainConfig(snr_dbs=[0.0], uplink="coded", ul_snr_db=10.0))
    assert row["budget_bits"] == 80 and row["payload_bits_max"] <= 80
    with pytest.raises(ValueError, match="cannot hold that budget"):  # never a report silently over it
        LearnedScheme("entropy-test", directory=tmp_path, max_bits=20).encode(data.x)
    m["entropy-test"]["ue_refinement"].update(budget_scales=[0.25, 0.5], held_test_metrics={
        "budget_bits": 80, "payload_bits": 77.5, "sgcs": 0.45})
    (tmp_path / "manifest.json").write_text(json.dumps(m))
    s = LearnedScheme("entropy-test", directory=tmp_path, ue_refinement=True, max_bits=True)
    assert s.model.latent_refinement.budget_scales == (0.25, 0.5) and s.mean_payload_bits == 77.5
    assert s.test_metrics["sgcs"] == 0.45 and "test SGCS 0.450" in s.description
    other = LearnedScheme("entropy-test", directory=tmp_path, ue_refinement=True, max_bits=35)
    assert other.mean_payload_bits == 40.0  # measured at another budget: not claimed
    with pytest.raises(TypeError, match="int, True or None"):
        LearnedScheme("entropy-test", directory=tmp_path, max_bits=30.5)
    with pytest.raises(ValueError, match="exceed"):
        LearnedScheme("entropy-test", directory=tmp_path, max_bits=0)


def test_a_budget_needs_an_entropy_coded_model():
    with pytest.raises(ValueError, match="variable-length"):
        LearnedScheme("csinet-128b-si", max_bits=100)


def test_ue_refinement_needs_an_entropy_coded_model():
    with pytest.raises(ValueError, match="entropy-coded"):
        LearnedScheme("csinet-128b-si", ue_refinement={"steps": 2})

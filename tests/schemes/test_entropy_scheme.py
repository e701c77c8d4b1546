"""An entropy-coded model as a registered-style scheme in the chain: variable-length reports
over the coded uplink, their mean / 95th percentile and REs in the row."""

import json

import keras
import numpy as np
import pytest

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


def test_ue_refinement_needs_an_entropy_coded_model():
    with pytest.raises(ValueError, match="entropy-coded"):
        LearnedScheme("csinet-128b-si", ue_refinement={"steps": 2})

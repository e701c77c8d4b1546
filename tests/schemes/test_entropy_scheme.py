"""An entropy-coded model as a registered-style scheme in the chain: variable-length reports
over the coded uplink, their mean / 95th percentile and REs in the row."""

import json

import keras
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

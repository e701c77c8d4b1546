"""RD-JSCC through Sionna: training over the fading uplink, the two-stage CLI run, the early-exit
calibration, packaging, and the analog scheme in the chain."""

import json

import pytest
import torch

from sionna_csifb.cli import main as cli
from sionna_csifb.csi.scenario import get_scenario
from sionna_csifb.data.hdf5 import CSIDataset, generate_dataset
from sionna_csifb.evaluation.chain import ChainConfig, draw_samples, evaluate_scheme
from sionna_csifb.evaluation.uplink import AnalogUplink, FadingUplinkChannel, fading_mrc
from sionna_csifb.models.jscc import JSCCCodec
from sionna_csifb.schemes.base import FeedbackMessage, SideInfo
from sionna_csifb.schemes.learned import LearnedScheme
from sionna_csifb.training import analog_uplink_kwargs, batch_to_csi, unit_power
from sionna_csifb.weights.registry import package_run


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("jscc")
    scen = get_scenario("cpu-small")
    tr = generate_dataset(d / "train.h5", scen, 64, seed=1, progress=False)
    te = generate_dataset(d / "test.h5", scen, 32, seed=2, progress=False)
    return scen, CSIDataset(tr), tr, te


def _tiny(scen, **kw):
    return JSCCCodec(num_symbols=12, input_size=(scen.num_bs_ant, scen.num_taps), unet_width=8, unet_mults=(1, 2),
                     attention_levels=[1], num_steps=4, schedule_steps=8, num_subcarriers=scen.num_subcarriers, seed=0,
                     **kw)


def test_gradients_flow_through_the_sionna_uplink(data):
    scen, ds, _, _ = data
    m = _tiny(scen)
    c = batch_to_csi(next(ds.batches(8, real=False)), scen)
    loss = m.training_loss(c["x"], None, None, **analog_uplink_kwargs(m, c["y"]))
    loss.backward()
    g = m.enc_convs[0][0].kernel.value.grad
    assert g is not None and float(g.abs().sum()) > 0  # UE encoder trained through the fading channel
    assert all(v.value.grad is None for v in m.unet.trainable_variables)  # stage 1 leaves the U-Net alone


def test_fading_mrc_is_unbiased_with_noise_no_over_array_gain(data):
    scen, ds, _, _ = data
    c = batch_to_csi(next(ds.batches(32, real=False)), scen)
    h = unit_power(c["y"])
    z = torch.randn(32, 40, dtype=torch.complex64)
    err = fading_mrc(z, h, 10.0) - z
    ratio = float(err.abs().pow(2).mean()) / (0.1 / scen.num_bs_ant)
    assert 0.5 < ratio < 3.0  # no / ||h||^2, with ||h||^2 ~ N on average
    s = torch.view_as_real(z).requires_grad_(True)
    FadingUplinkChannel(h, torch.full((32,), 5.0))(s).sum().backward()
    assert s.grad is not None
    with pytest.raises(ValueError, match="symbols"):
        AnalogUplink().transmit(FeedbackMessage.from_bits(torch.ones(32, 4, dtype=torch.uint8)), h, 0.0)


def test_two_stage_cli_run_package_and_chain(data, tmp_path):
    scen, _, tr, te = data
    out = tmp_path / "run"
    args = ["train", "--model", "jscc", "--symbols", "12", "--train", str(tr), "--test", str(te), "--steps", "2",
            "--refine-steps", "2", "--batch-size", "8", "--task", "reconstruction", "--out", str(out), "--no-progress"]
    assert cli(args) == 0
    res = json.loads((out / "result.json").read_text())
    assert res["steps"] == 4 == res["training_config"]["steps"]
    assert res["training_config"]["stage1_steps"] == 2 and res["training_config"]["stage2_steps"] == 2
    assert res["test_metrics"]["payload_bits"] is None and res["test_metrics"]["num_symbols"] == 12
    assert res["test_metrics"]["num_inference_steps"] == 2
    assert {"stage1", "stage2"} <= {p.name for p in out.iterdir()}
    assert cli(args) == 0  # a finished run resumes to the end at once
    assert cli(args[:3] + ["--bits", "12"] + args[3:]) == 2  # analog: symbols, not bits
    d = tmp_path / "w"
    package_run(out, "jscc-test", directory=d)
    s = LearnedScheme("jscc-test", directory=d)
    s.name = "jscc-test"
    assert s.kind == "analog" and s.nominal_payload_bits is None and s.num_symbols == 12
    assert float(s.model.gain_calibrated.value) == 1.0  # early-exit gains measured after stage 2
    data16 = draw_samples(scen, 16, seed=3)
    with pytest.raises(ValueError, match="uplink SNR"):
        s.encode(data16.x)
    msg = s.encode(data16.x, snr_db=0.0)
    assert msg.bits is None and tuple(msg.symbols.shape) == (16, 12)
    with pytest.raises(ValueError, match="snr_db"):
        s.decode(msg, side_info=SideInfo())
    rows = [evaluate_scheme(s, data16, scen, ChainConfig(snr_dbs=[0.0], ul_snr_db=u)) for u in (-10.0, 20.0)]
    for r, u in zip(rows, (-10.0, 20.0), strict=True):
        assert r["kind"] == "analog" and r["uplink_res"] == 12 and r["payload_bits"] is None
        assert r["ul_snr_db"] == u and r["reports_lost"] == 0.0 and -1 <= r["sgcs"] <= 1


def test_baseline_trains_stage_one_only(data, tmp_path):
    scen, _, tr, te = data
    out = tmp_path / "adj"
    assert cli(["train", "--model", "jscc", "--symbols", "8", "--architecture", "adjscc", "--refinement", "none",
                "--train", str(tr), "--test", str(te), "--steps", "2", "--batch-size", "8", "--task",
                "reconstruction", "--out", str(out), "--no-progress"]) == 0
    res = json.loads((out / "result.json").read_text())
    assert res["model_config"]["refinement"] is None and res["training_config"]["stage2_steps"] == 0
    assert not (out / "stage2").exists() and "num_inference_steps" not in res["test_metrics"]


def test_example_ul_sweep_analog_vs_digital_at_equal_res(data, tmp_path):
    import importlib.util
    from pathlib import Path

    from sionna_csifb.schemes.base import get_scheme, scheme_overrides

    scen, _, tr, te = data
    out = tmp_path / "run"
    assert cli(["train", "--model", "jscc", "--symbols", "48", "--train", str(tr), "--test", str(te), "--steps", "2",
                "--refine-steps", "1", "--batch-size", "8", "--task", "reconstruction", "--out", str(out),
                "--no-progress"]) == 0
    package_run(out, "jscc-test", directory=tmp_path / "w")
    a = LearnedScheme("jscc-test", directory=tmp_path / "w")
    a.name = "jscc-test"
    d = get_scheme("type1-wb", **scheme_overrides("type1-wb", scen.num_bs_ant))
    spec = importlib.util.spec_from_file_location("fdd", Path(__file__).parents[2] / "examples" / "fdd_precoding.py")
    ex = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ex)
    samples = draw_samples(scen, 8, seed=4)
    res = ex.ul_sweep([a, d], samples, scen, ChainConfig(snr_dbs=[0.0]), [-30.0, 20.0], 0.0)
    (entry,) = res
    assert entry["uplink_res"] == 48 and entry["digital"]["type1-wb"]["bits_per_symbol"] == 2
    rows = {(r["scheme"], r["ul_snr_db"]): r for r in entry["rows"]}
    assert rows[("type1-wb", -30.0)]["uplink_res"] == 48 == rows[("type1-wb", 20.0)]["uplink_res"]
    assert rows[("type1-wb", -30.0)]["reports_lost"] > 0.5 and rows[("type1-wb", 20.0)]["reports_lost"] == 0.0
    assert rows[("jscc-test", -30.0)]["reports_lost"] == 0.0  # analog: degraded, never lost

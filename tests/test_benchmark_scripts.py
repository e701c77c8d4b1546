"""The learned-feedback benchmark end to end on tiny runs: every family it reads, the targets,
the codebook use and the out-of-distribution marks land in its JSON and Markdown."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sionna_csifb.cli import main as csifb
from sionna_csifb.csi.scenario import get_scenario
from sionna_csifb.data.hdf5 import generate_dataset

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    d = tmp_path_factory.mktemp("lf")
    sc = get_scenario("cpu-small")
    train = generate_dataset(d / "data" / "train.h5", sc, 32, seed=1, progress=False)
    generate_dataset(d / "data" / "cpu-small_test.h5", sc, 24, seed=2, progress=False)
    other = get_scenario("cpu-small", ul_phases="independent")
    generate_dataset(d / "data" / f"{other.name}_test.h5", other, 16, seed=3, progress=False)
    base = ["--train", str(train), "--test", str(d / "data" / "cpu-small_test.h5"), "--steps", "2",
            "--batch-size", "8", "--task", "reconstruction", "--no-progress"]
    eigen = ["--model", "csinet", "--architecture", "eigen", "--bits", "20", "--bits-per-value", "3"]
    runs = {"eigen-20": [*eigen, "--no-side-info"], "eigen-20-si": eigen,  # (the UL CSI at the decoder)
            "eigen-20-kb2": [*eigen, "--no-side-info", "--kept-beams", "2"],
            "eigen-ent-30-kb2": ["--model", "entropy", "--architecture", "eigen", "--bits", "30", "--kept-beams", "2",
                                 "--no-side-info"],
            "eigen-ent-cap-kb2": ["--model", "entropy", "--architecture", "eigen", "--bits", "30", "--kept-beams", "2",
                                  "--max-bits", "120", "--no-side-info"],
            "csinet-24": ["--model", "csinet", "--bits", "24", "--no-side-info"],
            "diffusion-16": ["--model", "diffusion", "--size", "small", "--bits", "16", "--no-side-info"],
            "diffusion-eigen-40": ["--model", "diffusion", "--architecture", "eigen", "--bits", "40", "--kept-beams", "4",
                                   "--hidden-width", "32", "--no-side-info"]}
    for name, flags in runs.items():
        assert csifb(["train", *flags, *base, "--out", str(d / "runs" / "cpu-small" / name)]) == 0
    for name, flags in {"eigen-20-pred": [*eigen, "--no-side-info"], "eigen-20-pred-si": eigen}.items():
        assert csifb(["train", *flags, *base, "--task", "prediction", "--out", str(d / "runs" / "cpu-small" / name)]) == 0
    return d, other


def test_learned_feedback_benchmark(tiny, tmp_path):
    d, other = tiny
    out = tmp_path / "lf.json"
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "learned_feedback.py"), "--plan", "cpu-small",
                        "--runs", str(d / "runs"), "--data", str(d / "data"), "--ood", other.name,
                        "--out", str(out), "--plot", str(tmp_path / "lf.png"), "--samples", "16"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(out.read_text())
    rows = {row["name"]: row for row in res["test_sets"]["cpu-small"]["rows"]}
    assert {"etype2-pc1", "type1-wb", "eigen-20", "eigen-20-si", "csinet-24", "diffusion-16"} <= set(rows)
    assert rows["eigen-20-si"]["family"].endswith("+ UL SI")
    ed = rows["diffusion-eigen-40"]  # the VQ-diffusion codec on the eigen representation: whole 8-bit indices
    assert ed["family"] == "VQ-diffusion (eigen, L strongest beams)" and ed["mean_bits"] == 35  # 11-bit header + 3 x 8
    assert 0 < ed["codebook"]["index_entropy_fraction"] <= 1 and ed["codebook"]["bits_per_index"] == 8
    assert "L strongest beams" in rows["eigen-20-kb2"]["family"] and rows["eigen-20-kb2"]["mean_bits"] <= 20
    ent = rows["eigen-ent-30-kb2"]  # variable length: the mean of its real range-coded reports
    assert "learned entropy model" in ent["family"] and ent["mean_bits"] > 5 + 2 and ent["mean_bits"] != int(ent["mean_bits"])
    cap = {c["name"]: c for c in res["capped"]}  # held to eType II's payload in the rate-adaptive mode
    assert ("eigen-ent-30-kb2" in cap) == bool(ent.get("etype2_ref"))
    if ent.get("etype2_ref"):
        c = cap["eigen-ent-30-kb2"]
        assert c["budget_bits"] == int(rows[ent["etype2_ref"]]["mean_bits"]) and 0 <= c["share_within_budget"] <= 1
        assert c["max_bits"] <= c["budget_bits"] or c["share_within_budget"] < 1
    held = rows["eigen-ent-cap-kb2"]  # trained for a budget: compared at it, coded within it
    assert "held to a budget" in held["family"] and held["budget_bits"] == 120 and held["max_bits"] <= 120
    assert ("eigen-ent-cap-kb2" in cap) == bool(held.get("etype2_ref"))
    assert all(g["best"] in cap for g in res["targets"]["held_to_payload"].values())
    assert "(<= 120)" in out.with_suffix(".md").read_text()
    assert "eigen-20-pred" not in rows  # prediction runs: only in the prediction table, against the future CSI
    pred = {row["name"]: row for row in res["prediction"]["rows"]}
    assert {"measured DL CSI, uncompressed", "etype2-pc3", "eigen-20", "eigen-20-pred", "eigen-20-pred-si"} <= set(pred)
    assert pred["eigen-20-pred-si"]["side_info"] and pred["eigen-20-pred"]["task"] == "prediction"
    assert all(0 <= row["sgcs"] <= 1 for row in pred.values())
    bounds = {b["kept_beams"]: b["sgcs"] for b in res["bounds"]}
    assert sorted(bounds) == [4, 8]  # cpu-small: 8 antennas, all of them and the 4 strongest
    assert bounds[4] <= bounds[8] + 1e-6 and "### Bounds" in out.with_suffix(".md").read_text()
    assert rows["eigen-20"]["mean_bits"] == 20 and 0 <= rows["eigen-20"]["sgcs"] <= 1
    assert 0 <= rows["diffusion-16"]["codebook"]["index_entropy_fraction"] <= 1
    assert all(row["ood"] for row in res["test_sets"][other.name]["rows"] if "trained_on" in row)
    t = res["targets"]
    assert set(t["sgcs_vs_etype2"]) == {"etype2-pc1", "etype2-pc3", "etype2-pc6"}
    assert "diffusion-16" in t["codebook"]
    assert t["diffusion_vs_csinet_nosi"] and t["diffusion_vs_csinet_nosi"][0]["csinet"] == "csinet-24"
    md = out.with_suffix(".md").read_text()
    (tmp_path / "lf.png").unlink()  # --replot: the figure and the Markdown again from the JSON alone
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "learned_feedback.py"), "--plan", "cpu-small",
                        "--out", str(out), "--plot", str(tmp_path / "lf.png"), "--replot"], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0 and out.with_suffix(".md").read_text() == md and (tmp_path / "lf.png").exists()
    assert "(OOD)" in md and "VQ codebook use" in md and "### Prediction" in md and (tmp_path / "lf.png").exists()


def test_learned_feedback_shipped_weights(tmp_path):
    """Shipped weights reproduce from a clean clone: no runs folder, the missing test set generated."""
    out = tmp_path / "lf.json"
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "learned_feedback.py"), "--plan", "uma",
                        "--runs", str(tmp_path / "no-runs"), "--data", str(tmp_path / "data"),
                        "--weights", "eigen-ent-65b-uma", "eigen-ent-65b-uma-refined", "--out", str(out),
                        "--plot", str(tmp_path / "lf.png"),
                        "--samples", "16"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert (tmp_path / "data" / "uma_test.h5").exists()
    res = json.loads(out.read_text())
    assert res["test_sets"]["uma"]["seed"] == 12
    row = next(row for row in res["test_sets"]["uma"]["rows"] if row["name"] == "eigen-ent-65b-uma")
    assert row["shipped"] and row["trained_on"] == ["uma"] and not row["ood"]
    assert "learned entropy model" in row["family"] and 0 < row["sgcs"] <= 1 and row["mean_bits"] > 20
    assert "`eigen-ent-65b-uma` (shipped)" in out.with_suffix(".md").read_text()
    refined = next(row for row in res["test_sets"]["uma"]["rows"] if row["name"] == "eigen-ent-65b-uma-refined")
    assert refined["family"] == row["family"] + " + UE-side latent refinement" and not refined["ood"]
    # the refinement benchmark on the same drops: calibrated on training drops (the manifest's train seed)
    out = tmp_path / "lr.json"
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "latent_refinement.py"), "--data",
                        str(tmp_path / "data"), "--samples", "16", "--calibration-samples", "8", "--steps", "3",
                        "--weights", "eigen-ent-65b-uma:65", "--out", str(out)], capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(out.read_text())
    plain, ref = (row for row in res["rows"] if row.get("weights") == "eigen-ent-65b-uma")
    assert plain["refinement"] is None and ref["refinement"]["steps"] == 3 and ref["etype2_ref"] == "etype2-pc1"
    assert ref["calibration"]["seed"] == 13 and ref["calibration"]["num_samples"] == 8
    assert (tmp_path / "data" / "uma_calib_seed13_8.h5").exists() and "`eigen-ent-65b-uma`" in out.with_suffix(".md").read_text()
    # the budget ladder on the same drops: chosen on the training drops, the held reports fit eType II's payload
    out = tmp_path / "bl.json"
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "budget_ladder.py"), "--data", str(tmp_path / "data"),
                        "--samples", "8", "--calibration-samples", "8", "--scales", "0.5", "1.0",
                        "--weights", "eigen-ent-65b-uma:65", "--out", str(out)], capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    (m,) = json.loads(out.read_text())["models"]
    assert m["budget_bits"] == 65 and m["etype2"] == "etype2-pc1" and len(m["ladders"]) >= 3
    chosen = max(m["ladders"][:3], key=lambda c: c["sgcs"])
    assert m["test"][0]["chosen"] and m["test"][0]["budget_scales"] == chosen["budget_scales"]
    assert all(t["max_bits"] <= 65 for t in m["test"]) and "(chosen)" in out.with_suffix(".md").read_text()
    sp = m["length_spread"]  # the mean-payload refined reports' lengths on the calibration drops
    assert sp["p5_bits"] <= sp["p50_bits"] <= sp["p95_bits"] and 0 <= sp["share_over_budget"] <= 1
    assert (sp["mean_bits_over_budget"] > 0) == (sp["share_over_budget"] > 0)
    # a calibration-only study writes nothing into the manifest
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "budget_ladder.py"), "--calibration-only",
                        "--update-manifest", "--out", str(tmp_path / "x.json")], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2 and "drop --update-manifest" in r.stderr


def test_learned_feedback_matched_from_an_earlier_json(tmp_path):
    """--matched-from: models trained on a test set's scenario alone in an earlier JSON are matched
    models (the loss of a fine-tuned or out-of-distribution model is taken against them); a JSON of
    another test set is refused."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("lf", ROOT / "benchmarks" / "learned_feedback.py")
    lf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(lf)
    fam, cfg = "eigen + learned entropy model", {"target_bits": 118.0}
    earlier = {"test_sets": {"umi": {"seed": 12, "num_samples": 2000, "rows": [
        {"name": "m-umi", "family": fam, "model_config": cfg, "trained_on": ["umi"], "sgcs": 0.74, "mean_bits": 111.0},
        {"name": "m-uma", "family": fam, "model_config": cfg, "trained_on": ["uma"], "sgcs": 0.73, "mean_bits": 107.0},
        {"name": "etype2-pc3", "family": "eType II", "sgcs": 0.69, "mean_bits": 118.0}]}}}
    path = tmp_path / "earlier.json"
    path.write_text(json.dumps(earlier))
    rows = lf._matched_rows(path, "umi", 12, 2000)
    assert [r["name"] for r in rows] == ["m-umi (earlier.json)"] and lf._matched_rows(path, "uma", 12, 2000) == []
    with pytest.raises(SystemExit, match="seed 12, 2000 samples"):
        lf._matched_rows(path, "umi", 13, 2000)
    ft = {"name": "ft", "family": fam, "model_config": cfg, "trained_on": ["uma", "umi"], "sgcs": 0.75, "mean_bits": 110.0}
    gen = lf._generalisation({"test_sets": {"umi": {"rows": [ft], "matched_rows": rows}}})
    assert gen[0]["matched"] == "m-umi (earlier.json)" and gen[0]["loss"] == pytest.approx(0.01)


def test_transform_coding_bound(tmp_path):
    """The fit gap of a shipped model and the linear (KLT) coder of its representation: a finer
    step costs more bits, every figure lands in the JSON and the markdown."""
    from sionna_csifb.cli import main

    for name, n, seed in (("train.h5", 130, 3), ("test.h5", 24, 4)):
        assert main(["generate", "--preset", "uma", "--n", str(n), "--seed", str(seed), "--out",
                     str(tmp_path / name), "--device", "cpu", "--no-progress"]) == 0
    out = tmp_path / "tc.json"
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "transform_coding_bound.py"), "--weights",
                        "eigen-ent-65b-uma", "--train", str(tmp_path / "train.h5"), "--test", str(tmp_path / "test.h5"),
                        "--samples", "24", "--fit", "120", "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(out.read_text())
    gap = res["fit_gap"][0]
    assert gap["weights"] == "eigen-ent-65b-uma" and gap["test"]["num_samples"] == 24
    assert abs(gap["gap"] - (gap["train"]["sgcs"] - gap["test"]["sgcs"])) < 1e-12
    coder = res["linear_coder"][0]
    assert coder["kept_beams"] == 4 and coder["coefficients"] == 4 * 13 * 2 and coder["fit_samples"] == 120
    by_step = sorted(coder["sweep"], key=lambda row: row["step"])
    assert all(a["mean_bits"] > b["mean_bits"] for a, b in zip(by_step, by_step[1:]))
    assert all(coder["header_bits"] < row["mean_bits"] and 0 < row["sgcs"] <= 1 for row in by_step)
    assert "Fit gap" in out.with_suffix(".md").read_text()


def test_beam_set_bits(tmp_path):
    """The range-coded kept beams of a shipped beam-coded model cost fewer bits on average than the
    index, on a UMa test set; a preset without a test file is skipped."""
    from sionna_csifb.cli import main

    assert main(["generate", "--preset", "uma", "--n", "24", "--seed", "4", "--out", str(tmp_path / "uma_test.h5"),
                 "--device", "cpu", "--no-progress"]) == 0
    out = tmp_path / "bs.json"
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "beam_set_bits.py"), "--data", str(tmp_path),
                        "--weights", "eigen-ent-bc-118b-uma", "--presets", "uma", "umi", "--out", str(out)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "skip umi" in r.stderr
    (row,) = json.loads(out.read_text())["rows"]
    assert row["test_set"] == "uma" and row["num_samples"] == 24 and row["index_bits"] == 22
    assert 0 < row["mean_bits"] < row["index_bits"]


def test_budget_ladder_scores_the_best_fitting_report_else_the_highest_rung_coarsened():
    import numpy as np

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from budget_ladder import _ladder_score

    runs = {0.1: {"level": np.array([0, 0, 3]), "sgcs": np.array([0.9, 0.5, 0.2]), "bits": np.array([60, 58, 65])},
            0.5: {"level": np.array([0, 2, 1]), "sgcs": np.array([0.8, 0.7, 0.3]), "bits": np.array([55, 65, 64])}}
    s = _ladder_score(runs, (0.1, 0.5))  # report 0: both fit, the better; 1: only 0.1 fits; 2: none, 0.5 coarsened
    assert s["sgcs"] == pytest.approx((0.9 + 0.5 + 0.3) / 3) and s["mean_bits"] == pytest.approx((60 + 58 + 64) / 3)
    assert s["share_level0"] == pytest.approx(2 / 3) and s["budget_scales"] == [0.1, 0.5]
    assert _ladder_score(runs, (0.5,))["sgcs"] == pytest.approx(0.6)

import importlib.util
import json
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fdd_precoding.py"


@pytest.fixture(scope="module")
def example():
    spec = importlib.util.spec_from_file_location("fdd_precoding", EXAMPLE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_example_writes_json_and_plots(example, tmp_path):
    out = tmp_path / "fdd.json"
    rc = example.main(["--scenario", "cpu-small", "--samples", "16", "--snr-db", "0", "--schemes", "perfect",
                       "type1-wb", "etype2-pc6", "ul-reuse", "--json", str(out)])
    assert rc == 0
    res = json.loads(out.read_text())
    rows = {r["scheme"]: r for r in res["rows"]}
    assert res["scenario"]["name"] == "cpu-small" and set(rows) == {"perfect", "type1-wb", "etype2-pc6", "ul-reuse"}
    assert rows["perfect"]["sgcs"] == pytest.approx(1.0) and rows["perfect"]["nmse_db"] is None
    assert rows["perfect"]["sgcs"] >= rows["etype2-pc6"]["sgcs"] >= rows["type1-wb"]["sgcs"]
    e = rows["etype2-pc6"]["snr"]["0.0"]
    assert {"su_mrt", "mu_zf", "mu_rzf"} <= set(e) and e["su_mrt"]["path"] == "phy-abstraction"
    assert (tmp_path / "fdd_tput_vs_snr.png").exists() and (tmp_path / "fdd_tput_vs_bits.png").exists()


def test_unknown_scheme_and_impossible_budget(example, capsys):
    assert example.main(["--quick", "--schemes", "nope"]) == 2
    assert "known schemes" in capsys.readouterr().err
    assert example.main(["--quick", "--max-bits", "3"]) == 2
    assert "no feedback scheme fits a budget of 3 bits" in capsys.readouterr().err


def test_a_budget_trained_scheme_is_compared_at_its_budget(example):
    """A scheme whose reports are held to a budget is matched with the eType II payload nearest
    its budget, not its (shorter) mean report length."""
    from sionna_csifb.schemes.base import get_scheme

    assert get_scheme("eigen-ent-capped-118b-uma").budget_bits == 118
    assert get_scheme("eigen-ent-118b-uma").budget_bits is None and get_scheme("etype2-pc3").budget_bits is None
    snr = {"0": {"mu_rzf": {"throughput_mbps": 1.0}}}
    row = lambda name, bits, **kw: {"scheme": name, "kind": "digital", "payload_bits": bits,  # noqa: E731
                                    "out_of_distribution": False, "sgcs": 0.5, "snr": snr, **kw}
    rows = [row("etype2-pc2", 94), row("etype2-pc3", 118), row("held", 97.7, budget_bits=118), row("mean", 97.7)]
    c = {x["learned"]: x for x in example.compare_learned(rows, "0")}
    assert (c["held"]["codebook"], c["held"]["learned_budget_bits"]) == ("etype2-pc3", 118)
    assert c["mean"]["codebook"] == "etype2-pc2" and "learned_budget_bits" not in c["mean"]

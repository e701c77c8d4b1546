import importlib.util
import json
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "custom_sionna_link.py"


def test_example_trains_through_sionna_channel(tmp_path):
    spec = importlib.util.spec_from_file_location("custom_sionna_link", EXAMPLE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = tmp_path / "link.json"
    assert mod.main(["--steps", "6", "--batch", "8", "--eval-samples", "8", "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["encoder_grad_norm_step0"] > 0          # the UE encoder's gradient crossed Sionna's channel
    rows = {r["scheme"]: r for r in res["rows"]}
    assert rows["perfect CSI"]["sgcs"] > 0.999 and 0 <= rows["learned (CsiNet, this example)"]["sgcs"] <= 1
    assert rows["3GPP etype2-pc1"]["bits"] == 65 and rows["3GPP type1-wb"]["bits"] == 7

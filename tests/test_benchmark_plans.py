"""The training plans of benchmarks/train_runs.py are valid ``csifb train`` commands."""

import importlib.util
from pathlib import Path

import pytest

from sionna_csifb.cli import _build_parser
from sionna_csifb.csi.scenario import PRESETS

_SPEC = importlib.util.spec_from_file_location("train_runs", Path(__file__).parents[1] / "benchmarks" / "train_runs.py")
train_runs = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(train_runs)


@pytest.mark.parametrize("plan", list(train_runs.PLANS))
def test_every_run_parses_as_csifb_train(plan, tmp_path):
    assert plan in PRESETS
    parser = _build_parser()
    for name, spec in train_runs.PLANS[plan].items():
        cmd = train_runs.command(plan, name, spec, tmp_path / "data", tmp_path / "runs", "cpu")
        args = parser.parse_args(cmd[cmd.index("train"):])
        model, size, bits, side, steps, batch, _ = spec
        size_arg = args.symbols if model == "jscc" else args.bits  # jscc: complex symbols, no bits
        assert (args.model, args.size, size_arg, args.steps, args.batch_size) == (model, size, bits, steps, batch)
        assert args.no_side_info is (not side and model != "jscc")
        assert args.out == str(tmp_path / "runs" / plan / name)
        assert args.train.endswith(f"{plan}_train.h5") and args.test.endswith(f"{plan}_test.h5")

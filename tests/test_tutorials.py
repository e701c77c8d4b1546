"""The numbered tutorials (docs/tutorials/*.py, notebook pages of the site) run, on tiny configs."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

TUTORIALS = sorted((Path(__file__).resolve().parents[1] / "docs" / "tutorials").glob("[0-9][0-9]_*.py"))


def test_there_are_numbered_tutorials():
    assert [p.name[:2] for p in TUTORIALS] == ["01", "02", "03", "05"]  # 4 is the custom-link page


@pytest.mark.parametrize("path", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_tutorial_runs(path, tmp_path):
    env = {**os.environ, "SIONNA_CSIFB_QUICK": "1", "KERAS_BACKEND": "torch", "MPLBACKEND": "Agg"}
    r = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, env=env, cwd=tmp_path,
                       timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.strip()

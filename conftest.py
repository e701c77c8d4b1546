# Shared pytest set-up for tests/ and the docstring examples in sionna_csifb/.
import os

os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ.setdefault("KERAS_HOME", os.path.join(os.path.dirname(os.path.abspath(__file__)), ".keras"))

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import sionna_csifb  # noqa: E402,F401


def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true", default=False, help="run tests marked slow")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow: pass --run-slow to run")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _seed():
    sionna_csifb.config.device = "cpu"
    sionna_csifb.config.seed = 42
    yield


@pytest.fixture(autouse=True)
def _doctest_namespace(doctest_namespace):
    import keras

    doctest_namespace.update(np=np, torch=torch, keras=keras)

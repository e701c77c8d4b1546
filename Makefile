# make run  : set up (if needed) and run the main job
# make test : set up (if needed), run the test suite (unit tests + docstring examples) and build the docs
# make test-tf : the codec-layer tests again with Keras on TensorFlow, in .venv-tf (no torch)
PY := $(if $(VIRTUAL_ENV),python,.venv/bin/python)
export KERAS_BACKEND := torch
export KERAS_HOME := $(CURDIR)/.keras
export NO_MKDOCS_2_WARNING := 1

.PHONY: setup run test test-tf docs
setup:
	bash scripts/setup.sh

run: setup
	$(PY) examples/fdd_precoding.py --quick --json results/fdd_precoding_quick.json

test: setup
	$(PY) -m pytest -q
	$(PY) -m mkdocs build --strict --site-dir site

docs: setup
	$(PY) -m mkdocs build --strict --site-dir site

test-tf:
	bash scripts/setup_tf.sh
	TF_CPP_MIN_LOG_LEVEL=2 KERAS_BACKEND=tensorflow .venv-tf/bin/python -m pytest -q --noconftest -p no:cacheprovider -o addopts= tests/codec

#!/usr/bin/env bash
# A second environment, .venv-tf, with Keras on TensorFlow (tensorflow-cpu) and no torch, to show
# that the codec layers use keras.ops only (CI: `make test-tf`). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv-tf/bin/python ]; then
  BASE="${PYTHON:-$(command -v python3.11 || command -v python3)}"
  "$BASE" -m venv .venv-tf
fi
PIP=(.venv-tf/bin/python -m pip --disable-pip-version-check -q)
if ! .venv-tf/bin/python -c "import tensorflow, keras, h5py, pytest, scipy, constriction" 2>/dev/null; then
  echo "setup_tf: installing tensorflow-cpu, keras, h5py, scipy, constriction, pytest"
  "${PIP[@]}" install "tensorflow-cpu>=2.16" "keras>=3.10" numpy h5py scipy "constriction>=0.4" pytest 2>&1 | grep -v "is ignored: it is neither" || true
fi
# the package itself, without its torch/Sionna dependencies: only the codec layers are used here
"${PIP[@]}" install --no-deps -e . 2>&1 | grep -v "is ignored: it is neither" || true
.venv-tf/bin/python -c "import torch" 2>/dev/null && { echo "setup_tf: torch must not be in .venv-tf"; exit 1; }
echo "setup_tf: ok"

#!/usr/bin/env bash
# Set up sionna_csifb in a virtual environment; safe to run again (it skips what is done).
#
# * Uses the active virtual environment / conda env if there is one, else creates .venv
#   (with a Python >= 3.11: $PYTHON, python3.11, or python3).
# * Torch: an installed torch (e.g. your CUDA build) is left alone. Otherwise, on a machine
#   with an NVIDIA GPU the default (CUDA) wheel is installed; without one, the CPU build:
#   a local +cpu wheel if pip's find-links has one, else from PyTorch's CPU index
#   ($TORCH_CPU_INDEX, default https://download.pytorch.org/whl/cpu).
# * Then the package itself, editable, with its test and docs extras.
set -euo pipefail
cd "$(dirname "$0")/.."
TORCH_VERSION="${TORCH_VERSION:-2.13.0}"

if [ -n "${VIRTUAL_ENV:-}" ] || [ -n "${CONDA_PREFIX:-}" ]; then
  PY="$(command -v python)"
else
  if [ ! -x .venv/bin/python ]; then
    BASE="${PYTHON:-$(command -v python3.11 || command -v python3)}"
    "$BASE" -c 'import sys; assert sys.version_info >= (3, 11), "Python >= 3.11 is required"'
    "$BASE" -m venv .venv
  fi
  PY="$PWD/.venv/bin/python"
fi
PIP=("$PY" -m pip --disable-pip-version-check -q)

if "$PY" -c "import torch" 2>/dev/null; then
  echo "setup: keeping installed torch $("$PY" -c 'import torch; print(torch.__version__)')"
elif command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  echo "setup: NVIDIA GPU found, installing torch (CUDA build)"
  "${PIP[@]}" install "torch==${TORCH_VERSION}"
else
  echo "setup: no GPU, installing the CPU build of torch ${TORCH_VERSION}"
  TMPW="$(mktemp -d)"
  if "${PIP[@]}" download --no-index --no-deps "torch==${TORCH_VERSION}" -d "$TMPW" >/dev/null 2>&1 \
      && ls "$TMPW"/torch-*+cpu*.whl >/dev/null 2>&1; then
    "${PIP[@]}" install "$TMPW"/torch-*+cpu*.whl   # a local CPU wheel (pip's find-links)
  else
    "${PIP[@]}" install "torch==${TORCH_VERSION}" \
      --index-url "${TORCH_CPU_INDEX:-https://download.pytorch.org/whl/cpu}" --extra-index-url https://pypi.org/simple
  fi
  rm -rf "$TMPW"
fi

STAMP=".venv-installed.stamp"
if [ ! -f "$STAMP" ] || [ pyproject.toml -nt "$STAMP" ] || ! "$PY" -c "import sionna_csifb" 2>/dev/null; then
  echo "setup: installing sionna_csifb with its test and docs extras"
  "${PIP[@]}" install -e ".[test,docs]" 2>&1 | grep -v "is ignored: it is neither a file nor a directory" || true
  "$PY" -c "import sionna_csifb, torch; print('setup: ok, torch', torch.__version__, '| device', sionna_csifb.config.device)"
  touch "$STAMP"
fi

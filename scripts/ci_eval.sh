#!/usr/bin/env bash
# The small real evaluation behind the CI regression check (SciFact subset + one STS task, minilm-l6 as its own
# teacher, three modes, a dims x dtypes grid). Refresh the baseline deliberately:
#   bash scripts/ci_eval.sh /tmp/ci-results && .venv/bin/leafbench baseline /tmp/ci-results --out results/baselines/ci.json
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:?usage: scripts/ci_eval.sh OUTPUT_DIR}"
HF_HUB_OFFLINE=1 .venv/bin/leafbench run --model minilm-l6 --teacher minilm-l6 --mode all --tasks SciFact,BIOSSES \
  --data-dir ../shared/data --max-queries 40 --max-docs 300 --dims full,128,64 --dtypes float32,int8,binary \
  --output "$out"

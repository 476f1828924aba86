#!/usr/bin/env bash
# The small real evaluation behind the CI regression check: SciFact subset + one STS task, three modes, a dims x
# dtypes grid, on a real (student, teacher) pair in one embedding space without committed weights: the student is
# minilm-l6 reading 32 tokens, the teacher minilm-l6 at its own 256. The three modes give different numbers
# (SciFact nDCG@10 x100 at full float32: student 75.47, teacher 82.58, asymmetric 83.30; BIOSSES asymmetric =
# student by the asymmetric policy), so a routing regression in any mode shows. Refresh the baseline deliberately:
#   bash scripts/ci_eval.sh /tmp/ci-results && .venv/bin/leafbench baseline /tmp/ci-results --output results/baselines/ci.json
# Extra arguments go to `leafbench run` (e.g. --threads 1 to measure numeric noise against the baseline).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:?usage: scripts/ci_eval.sh OUTPUT_DIR [leafbench run options]}"
shift
HF_HUB_OFFLINE=1 ${LEAFBENCH:-.venv/bin/leafbench} run --model minilm-l6 --max-seq-length 32 \
  --teacher minilm-l6 --teacher-max-seq-length 256 --mode all --tasks SciFact,BIOSSES \
  --data-dir ../shared/data --max-queries 40 --max-docs 300 --dims full,128,64 --dtypes float32,int8,binary \
  --output "$out" "$@"

#!/usr/bin/env bash
# Train a leafbench_distill bundle on a GPU box inside a fixed time budget, then pack the student for the trip back.
#
#   bash scripts/gpu_train_bundle.sh BUNDLE OUTPUT BUDGET_SECONDS [PACK_DIR] [MAX_EPOCHS]   # on the GPU box
#   bash scripts/gpu_train_bundle.sh --unpack PACK_DIR DEST                                  # back home
#
# Why a budget: a rented GPU is held for minutes, and the LR schedule needs its length up front. So the script
# measures texts/s on this machine with a 300-step probe (thrown away), picks the largest epoch count that fits
# BUDGET_SECONDS (at most MAX_EPOCHS, default 40), and runs `leafbench distill --bundle ... --epochs N` from
# step 0 - the exact command it prints, reproducible anywhere (EPOCHS=N skips the probe). With PACK_DIR, the run folder (no checkpoints)
# is tarred with float16 weights and split into 15 MB parts (transfer limits); --unpack joins the parts and
# restores float32 safetensors (the float16 round trip is the only difference from the trained weights).
set -euo pipefail
py=${PYTHON:-python3}
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1

to_dtype() {  # to_dtype FOLDER float16|float32: cast every safetensors file under FOLDER
  "$py" - "$1" "$2" <<'EOF'
import sys, torch
from pathlib import Path
from safetensors.torch import load_file, save_file
dt = getattr(torch, sys.argv[2])
for f in Path(sys.argv[1]).rglob("*.safetensors"):
    t = load_file(str(f))
    save_file({k: (v.to(dt) if v.is_floating_point() else v) for k, v in t.items()}, str(f), metadata={"format": "pt"})
EOF
}

if [ "${1:-}" = "--unpack" ]; then
  mkdir -p "$3"
  cat "$2"/run.tar.part* | tar xf - -C "$3"
  to_dtype "$3" float32
  echo "unpacked to $3"
  exit 0
fi

bundle=$1 out=$2 budget=$3 pack=${4:-} max_epochs=${5:-40}
# `leafbench distill --bundle B --output O --device cuda [--max-steps N --eval-every N | --epochs N]`, called as a
# function: a training box may have an older typer (ours needs pydantic to parse options); the body is the same.
distill() {  # distill BUNDLE OUTPUT KEY=VALUE...
  "$py" - "$@" <<'EOF'
import os, sys
from leafbench_distill import distill
kw = {k: int(v) for k, v in (a.split("=") for a in sys.argv[3:])}
distill(None, sys.argv[2], bundle=sys.argv[1], device=os.environ.get("DEVICE", "cuda"), router=False, final_eval=False,
        progress=lambda msg: print(msg, file=sys.stderr, flush=True), **kw)
EOF
}

"$py" - <<'EOF'
import torch, sentence_transformers, transformers
print(f"torch {torch.__version__} cuda={torch.cuda.is_available()} {torch.cuda.get_device_name(0) if torch.cuda.is_available() else ''}; "
      f"sentence-transformers {sentence_transformers.__version__}; transformers {transformers.__version__}")
EOF
if [ -n "${EPOCHS:-}" ]; then  # a known machine: skip the probe
  epochs=$EPOCHS
else
  probe=$(mktemp -d)
  t0=$(date +%s)
  distill "$bundle" "$probe/run" max_steps=300 eval_every=100000 >"$probe/log" 2>&1 || { cat "$probe/log"; exit 1; }
  epochs=$("$py" - "$probe/run/summary.json" "$bundle/meta.json" "$budget" "$max_epochs" <<'EOF'
import json, sys
s, m = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
tps, n = s["texts_per_s"], len(m["train_idx"])
# evaluations (one per epoch) and model loading are not in texts/s: keep 15% of the budget for them
e = max(1, min(int(sys.argv[4]), int(0.85 * float(sys.argv[3]) * tps / n)))
print(e)
print(f"probe: {tps:.0f} texts/s on {n} texts -> {e} epochs", file=sys.stderr)
EOF
)
  echo "probe took $(( $(date +%s) - t0 ))s"
fi
echo "command: leafbench distill --bundle $bundle --output $out --device cuda --epochs $epochs"
distill "$bundle" "$out" epochs="$epochs"

if [ -n "$pack" ]; then
  mkdir -p "$pack"
  stage=$(mktemp -d)
  (cd "$out" && tar cf - --exclude=checkpoints .) | (cd "$stage" && tar xf -)
  to_dtype "$stage" float16
  (cd "$stage" && tar cf - .) | split -b 15M -d - "$pack/run.tar.part"
  ls -la "$pack"
fi

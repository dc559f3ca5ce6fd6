#!/usr/bin/env bash
# Epoch time and throughput of SASRec and UR4Rec on ML-100K on one NVIDIA GPU.
#
#   bash benchmarks/gpu.sh                       # venv .venv-gpu, CUDA 12.4 torch, 20 epochs
#   TORCH_SPEC="torch==2.5.1 --index-url https://download.pytorch.org/whl/cu121" bash benchmarks/gpu.sh
#
# Variables (all optional):
#   TORCH_SPEC    what `pip install` gets for torch — a CUDA build matching the machine's driver
#                 (default: "torch --index-url https://download.pytorch.org/whl/cu124"; see
#                 https://pytorch.org/get-started/locally/ for other CUDA versions)
#   VENV          virtual environment to create or reuse (default .venv-gpu)
#   SKIP_INSTALL  1 = use VENV as it is (torch with CUDA and ur4rec[text,scale] already there)
#   EPOCHS        epochs per stage (default 20; early stopping is off so every run does them all)
#   AMP           true|false: bfloat16 autocast on the GPU (default true, the config default)
#   SASREC_CONFIG / UR4REC_CONFIG   (default configs/sasrec_ml100k.yaml and plan A,
#                 configs/ur4rec_moe_100k_improved.yaml)
#   OUT           folder for the runs (default runs/gpu-bench-<date>)
#   REPORT_ONLY   1 = only print the report of the runs already in OUT
#
# Prints per run and stage: seconds per epoch (training, validation), training targets per
# second, and the test metrics; fails with a message when no CUDA device can be used.
# Needs the internet on first use (PyPI, the PyTorch index, ML-100K and the MiniLM encoder).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv-gpu}
TORCH_SPEC=${TORCH_SPEC:-"torch --index-url https://download.pytorch.org/whl/cu124"}
EPOCHS=${EPOCHS:-20}
AMP=${AMP:-true}
SASREC_CONFIG=${SASREC_CONFIG:-configs/sasrec_ml100k.yaml}
UR4REC_CONFIG=${UR4REC_CONFIG:-configs/ur4rec_moe_100k_improved.yaml}
OUT=${OUT:-runs/gpu-bench-$(date +%Y%m%d-%H%M%S)}
PY="$VENV/bin/python"

fail() { echo "gpu.sh: $*" >&2; exit 1; }

report() {
  "$PY" - "$OUT" <<'EOF'
"""Summarise each run of OUT: per stage seconds/epoch and targets/s, then test metrics."""
import json
import sys
from pathlib import Path

runs = sorted(p.parent for p in Path(sys.argv[1]).glob("*/results.json"))
if not runs:
    sys.exit(f"gpu.sh: no finished run (results.json) under {sys.argv[1]}")
print("| run | device | stage | epochs | train s/epoch | valid s/epoch | targets/s |")
print("|---|---|---|---|---|---|---|")
for run in runs:
    results = json.loads((run / "results.json").read_text())
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    for stage in dict.fromkeys(row["stage"] for row in rows):
        mine = [row for row in rows if row["stage"] == stage]
        train = sum(row["train_seconds"] for row in mine)
        valid = sum(row["eval_seconds"] for row in mine)
        targets = sum(row["targets"] for row in mine)
        print(f"| {run.name} | {results['timing']['device']} | {stage} | {len(mine)} | "
              f"{train / len(mine):.3f} | {valid / len(mine):.3f} | {targets / train:,.0f} |")
print()
print("| run | test protocol | hit@10 | ndcg@10 | mrr | total s |")
print("|---|---|---|---|---|---|")
for run in runs:
    results = json.loads((run / "results.json").read_text())
    for protocol in ("sampled", "full"):
        m = results["test"][protocol]
        print(f"| {run.name} | {protocol} | {m['hit@10']:.4f} | {m['ndcg@10']:.4f} | "
              f"{m['mrr']:.4f} | {results['timing']['total_s']:.1f} |")
EOF
}

if [[ "${REPORT_ONLY:-0}" == 1 ]]; then
  [[ -x "$PY" ]] || PY=python3
  report
  exit 0
fi

# 1. a GPU must be visible before anything large is downloaded
if ! command -v nvidia-smi >/dev/null 2>&1 && ! ls /dev/nvidia0 >/dev/null 2>&1; then
  fail "no CUDA device: neither nvidia-smi nor /dev/nvidia0 exists on this machine; run this on a machine with an NVIDIA GPU and its driver"
fi
if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader \
    || fail "no CUDA device: nvidia-smi cannot reach a GPU (driver not loaded?)"
fi

# 2. the environment: torch with CUDA first, so ur4rec's torch requirement is already met
if [[ "${SKIP_INSTALL:-0}" != 1 ]]; then
  [[ -x "$PY" ]] || python3 -m venv "$VENV"
  "$PY" -m pip install --quiet --upgrade pip
  # shellcheck disable=SC2086  # TORCH_SPEC is several pip arguments on purpose
  "$PY" -m pip install --quiet $TORCH_SPEC
  "$PY" -m pip install --quiet -e ".[text,scale]"
fi
[[ -x "$PY" ]] || fail "$PY does not exist (SKIP_INSTALL=1 needs an existing VENV)"
"$PY" - <<'EOF' || fail "no CUDA device usable by torch in $VENV (a CPU-only wheel? set TORCH_SPEC to a CUDA build that matches the driver)"
import sys
import torch
if not torch.cuda.is_available():
    print(f"torch {torch.__version__} (built for CUDA {torch.version.cuda or 'none'}) sees no "
          "GPU", file=sys.stderr)
    sys.exit(1)
name = torch.cuda.get_device_name(0)
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, {name}, "
      f"bf16 {'yes' if torch.cuda.is_bf16_supported() else 'NO (AMP will be slow)'}")
EOF

# 3. train: fixed epochs (patience beyond them), on the GPU, AMP as asked
train() {
  local name=$1 config=$2
  echo "== $name: $config, $EPOCHS epochs per stage, amp=$AMP → $OUT/$name"
  "$VENV/bin/ur4rec" --quiet train --config "$config" --output_dir "$OUT/$name" \
    --device cuda --epochs_per_stage "$EPOCHS" --patience $((EPOCHS + 1)) --no-progress --overwrite \
    --set "training.amp=$AMP"
  "$PY" -c "import json,sys; d=json.load(open(sys.argv[1]))['timing']['device']; \
sys.exit(0 if d.startswith('cuda') else f'gpu.sh: {sys.argv[1]} trained on {d}, not cuda')" \
    "$OUT/$name/results.json"
}
mkdir -p "$OUT"
train sasrec "$SASREC_CONFIG"
train ur4rec "$UR4REC_CONFIG"

# 4. the figures
report

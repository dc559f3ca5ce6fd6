#!/usr/bin/env bash
# Is this tree's CPU path slower than another commit's? Alternates 3-epoch SASRec ML-100K runs
# of BASE_TREE (a checkout of the other commit, e.g. `git worktree add --detach ../base REV`)
# and of this tree, REPS times each, one thread, and prints each run's training and validation
# seconds per epoch and its losses (which must agree when the change is not meant to alter
# results). Compare within one call: the machine's load moves both sides alike.
#
#   BASE_TREE=../base REPS=3 bash benchmarks/cpu_ab.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BASE_TREE=${BASE_TREE:?set BASE_TREE to a checkout of the commit to compare with}
REPS=${REPS:-3}
PY=${PYTHON:-python3}
OUT=${OUT:-$(mktemp -d)}
export UR4REC_OFFLINE=1 TQDM_DISABLE=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
run() {  # label tree folder [extra ...]
  local label=$1 tree=$2 out=$3; shift 3
  (cd "$tree" && UR4REC_CACHE_DIR="$OUT/cache-$label" PYTHONPATH="$tree/src" \
    "$PY" -m ur4rec --quiet train --config configs/sasrec_ml100k.yaml --output_dir "$out" \
    --epochs_per_stage 3 --no-progress --set training.seed=1 "$@" >/dev/null)
  "$PY" - "$label" "$out/metrics.jsonl" <<'PYEOF'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[2])]
print(sys.argv[1], "train_s", [round(r["train_seconds"], 3) for r in rows],
      "eval_s", [round(r["eval_seconds"], 3) for r in rows],
      "loss", [round(r["losses"]["loss"], 6) for r in rows])
PYEOF
}
for rep in $(seq "$REPS"); do
  run base "$(cd "$BASE_TREE" && pwd)" "$OUT/base-$rep"
  run this "$PWD" "$OUT/this-$rep" --overwrite
done

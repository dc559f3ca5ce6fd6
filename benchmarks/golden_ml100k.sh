#!/bin/bash
# The ML-100K golden seed: configs/ur4rec_ml100k.yaml with --epochs_per_stage 3, run by this
# checkout and compared with a recorded run (metrics.jsonl and results.json, wall-clock fields
# left out: tests/golden/runs.py). Record once on the code to compare against, then compare:
#
#   benchmarks/golden_ml100k.sh /work/golden/ml100k/run /tmp/golden-now
#
# GOLDEN_CACHE (default: the recorded run's ../cache) holds the prepared data and the encoded
# texts; the recording filled it, so both runs read the same cached vectors.
set -euo pipefail
recorded=${1:?usage: $0 RECORDED_RUN NEW_RUN}
new=${2:?usage: $0 RECORDED_RUN NEW_RUN}
repo=$(cd "$(dirname "$0")/.." && pwd)
export UR4REC_CACHE_DIR=${GOLDEN_CACHE:-$(cd "$recorded/.." && pwd)/cache}
export UR4REC_OFFLINE=1 UR4REC_ENCODER_BACKEND=torch TQDM_DISABLE=1
export PYTHONPATH=$repo/src${PYTHONPATH:+:$PYTHONPATH}
python=${PYTHON:-python}
cd "$repo"
"$python" -m ur4rec train --config configs/ur4rec_ml100k.yaml --output_dir "$new" --overwrite \
    --epochs_per_stage 3 --no-progress
"$python" -m tests.golden.runs compare "$recorded" "$new"

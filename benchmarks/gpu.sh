#!/usr/bin/env bash
# The GPU device check (benchmarks/gpu_check.py): speed, SM utilisation, determinism and quality
# of ur4rec on one NVIDIA GPU, printed as the table of docs/gpu.md ("The device check").
#
# Three ways to run it:
#
#   bash benchmarks/gpu.sh
#       online: a venv (.venv-gpu) with a CUDA build of torch and ur4rec[text], the data and
#       texts fetched and encoded, then the check.
#
#   BUNDLE=gpu-bundle bash benchmarks/gpu.sh prepare
#       here, before going to a GPU machine without internet: wheels of what such a machine's
#       python may lack (pydantic and its parts, for Python $WHEEL_PYTHON) into BUNDLE/wheels,
#       and the prepared data, texts and embeddings the check reads into BUNDLE/cache.
#
#   BUNDLE=gpu-bundle bash benchmarks/gpu.sh offline
#       on a GPU machine without internet whose python3 has torch with CUDA, numpy, pandas,
#       pyarrow (and scipy): the machine's own python3 with the project on PYTHONPATH, the
#       bundle's wheels installed into a private folder, UR4REC_CACHE_DIR=BUNDLE/cache and
#       UR4REC_OFFLINE=1. Nothing is downloaded. Under 8 minutes on one H200.
#
# Variables: BUNDLE (default gpu-bundle), OUT (default runs/gpu-check-<date>), PYTHON (offline:
# default python3), TORCH_SPEC (online: default "torch --index-url
# https://download.pytorch.org/whl/cu124"), VENV (online: default .venv-gpu),
# WHEEL_PYTHON (prepare: default 3.12).
set -euo pipefail
cd "$(dirname "$0")/.."

MODE=${1:-online}
BUNDLE=${BUNDLE:-gpu-bundle}
OUT=${OUT:-runs/gpu-check-$(date +%Y%m%d-%H%M%S)}
WHEELS_NEEDED="pydantic pydantic_core annotated_types typing_inspection typing_extensions"

fail() { echo "gpu.sh: $*" >&2; exit 1; }

need_gpu() {
  if ! command -v nvidia-smi >/dev/null 2>&1 && ! ls /dev/nvidia0 >/dev/null 2>&1; then
    fail "no CUDA device: neither nvidia-smi nor /dev/nvidia0 exists on this machine"
  fi
  if command -v nvidia-smi >/dev/null 2>&1; then
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader \
      || fail "nvidia-smi cannot reach a GPU (driver not loaded?)"
  fi
}

case "$MODE" in
  prepare)
    PY=${PYTHON:-python3}
    "$PY" -c "import ur4rec, torch" 2>/dev/null \
      || fail "$PY cannot import ur4rec and torch; set PYTHON to the python ur4rec is installed in (e.g. PYTHON=.venv/bin/python)"
    mkdir -p "$BUNDLE/wheels" "$BUNDLE/cache"
    # the versions installed here, as wheels for the GPU machine's Python
    for name in $WHEELS_NEEDED; do
      version=$("$PY" -c "import importlib.metadata as m; print(m.version('$name'))") \
        || fail "$name is not installed here; pip install -e . first"
      "$PY" -m pip download --quiet --no-deps --only-binary=:all: \
        --python-version "${WHEEL_PYTHON:-3.12}" --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 -d "$BUNDLE/wheels" "$name==$version"
    done
    "$PY" benchmarks/gpu_check.py --fill-cache "$BUNDLE/cache"
    du -sh "$BUNDLE"/*
    ;;
  offline)
    need_gpu
    PY=${PYTHON:-python3}
    [[ -d "$BUNDLE/cache" ]] || fail "$BUNDLE/cache does not exist: run 'bash benchmarks/gpu.sh prepare' where there is internet (or the shared data) and bring the folder"
    SITE=$(mktemp -d)
    if compgen -G "$BUNDLE/wheels/*.whl" >/dev/null; then
      "$PY" -m pip install --quiet --no-index --no-deps --no-compile --no-cache-dir \
        --target "$SITE" "$BUNDLE"/wheels/*.whl || fail "the wheels in $BUNDLE/wheels do not install with $PY"
    fi
    export PYTHONPATH="$SITE:$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
    export UR4REC_CACHE_DIR="$PWD/$BUNDLE/cache" UR4REC_OFFLINE=1 TQDM_DISABLE=1 PYTHONUNBUFFERED=1
    "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'gpu.sh: torch ' + torch.__version__ + ' sees no CUDA device')"
    "$PY" benchmarks/gpu_check.py --out "$OUT"
    ;;
  online)
    need_gpu
    VENV=${VENV:-.venv-gpu}
    PY="$VENV/bin/python"
    [[ -x "$PY" ]] || python3 -m venv "$VENV"
    "$PY" -m pip install --quiet --upgrade pip
    # shellcheck disable=SC2086  # TORCH_SPEC is several pip arguments on purpose
    "$PY" -m pip install --quiet ${TORCH_SPEC:-torch --index-url https://download.pytorch.org/whl/cu124}
    "$PY" -m pip install --quiet -e ".[text]"
    export UR4REC_CACHE_DIR="${UR4REC_CACHE_DIR:-$PWD/$BUNDLE/cache}" TQDM_DISABLE=1
    "$PY" benchmarks/gpu_check.py --fill-cache "$UR4REC_CACHE_DIR"
    "$PY" benchmarks/gpu_check.py --out "$OUT"
    ;;
  *)
    fail "unknown mode '$MODE' (online, prepare or offline)"
    ;;
esac

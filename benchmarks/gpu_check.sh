#!/usr/bin/env bash
# GPU check of skmtl.neural: epoch time of MultiTaskNetClassifier on CUDA
# against the same network on CPU (and scikit-learn's MLPClassifier), on the
# speed problems of bench_neural.py (20 Newsgroups TF-IDF, CSR; a synthetic
# CSR matrix of the same shape when the archive is not at ../shared/data).
# Goal of the issue: the GPU epoch at least 10x faster than the CPU epoch.
#
# Usage, from the repository root, with the environment that has torch:
#     bash benchmarks/gpu_check.sh            # PYTHON=/path/to/python to choose
# Installs nothing. Exits 1 with a message when torch sees no CUDA device.
# Writes benchmarks/results/neural_cuda.md (the table, the GPU/CPU ratio).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${PYTHON:-}" ]; then
    if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python; fi
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

"$PYTHON" - <<'PY' || { echo "gpu_check: FAILED: no usable CUDA device (see above)" >&2; exit 1; }
import sys
try:
    import torch
except ImportError:
    sys.exit("gpu_check: torch is not installed in this Python")
if not torch.cuda.is_available():
    sys.exit(f"gpu_check: torch {torch.__version__} sees no CUDA device "
             "(torch.cuda.is_available() is False)")
print(f"gpu_check: torch {torch.__version__}, CUDA {torch.version.cuda}, "
      f"{torch.cuda.get_device_name(0)}")
PY

LOG="$(mktemp)"
trap 'rm -f "$LOG"' EXIT
nvidia-smi --query-gpu=name,memory.total,utilization.gpu --format=csv 2>/dev/null || true
# CPU side pinned to one thread as in the committed CPU run; no memory part
"$PYTHON" benchmarks/bench_neural.py --speed-only --no-memory --device cuda \
    --threads "${THREADS:-1}" | tee "$LOG"
if ! grep -q "GPU/CPU" "$LOG"; then
    echo "gpu_check: FAILED: no GPU/CPU line in the output" >&2
    exit 1
fi
echo
grep "GPU/CPU" "$LOG"

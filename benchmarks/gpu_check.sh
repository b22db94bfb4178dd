#!/usr/bin/env bash
# One prepared accelerator check (see benchmarks/gpu_check.py and benchmarks/README.md):
#   bash benchmarks/gpu_check.sh                         # device run, ~7 min, table appended to benchmarks/RESULTS.md
#   bash benchmarks/gpu_check.sh --cpu --tiny --results /tmp/check.md   # seconds on a CPU (tested in CI)
# Uses the machine's own python3 (override with PYTHON=...) with the checkout on PYTHONPATH; installs nothing.
# When OUT is set the table is also written to $OUT/gpu_check.md (and $OUT/gpu_check.json) after every row.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
for arg in "$@"; do
    if [ "$arg" = "--cpu" ]; then export JAX_PLATFORMS=cpu; fi
done
export PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}"
exec "${PYTHON:-python3}" "$repo/benchmarks/gpu_check.py" "$@"

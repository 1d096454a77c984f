#!/usr/bin/env bash
# The kernel table and the shaderflow-vs-TF.js comparison on a machine with a real GPU (Dawn's Vulkan backend on
# an NVIDIA driver, core feature level). Self-contained: installs nothing beyond `npm ci`, builds, then runs
# `bench kernels` and `bench compare` (the same tables as on the software adapter) in well under 5 minutes.
#   bash bench/device.sh            # from the repository root (or anywhere: it cds there)
# Environment: SHADERFLOW_BACKEND (default vulkan), DEVICE_BENCH_STEPS (timed steps per model, default 10),
# DEVICE_BENCH_TIMEOUT (seconds for each of the two runs, default 130).
set -euo pipefail
cd "$(dirname "$0")/.."
export SHADERFLOW_BACKEND="${SHADERFLOW_BACKEND:-vulkan}"
# A fresh tuning cache for this machine's adapter lives under the repository (not the home directory).
export SHADERFLOW_CACHE="${SHADERFLOW_CACHE:-$PWD/.cache/shaderflow}"
steps="${DEVICE_BENCH_STEPS:-10}"
limit="${DEVICE_BENCH_TIMEOUT:-130}"
start=$(date +%s)

echo "== machine"
(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo "nvidia-smi: not available") | sed 's/^/  /'
node --version | sed 's/^/  node /'

if [ ! -d node_modules/webgpu ] || [ ! -d node_modules/@tensorflow/tfjs-backend-webgpu ]; then
  echo "== npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi
echo "== build"
node scripts/build.mjs

# Dawn prints adapter warnings on stderr; keep them out of the tables but show real errors.
filter() { grep -v -e 'XDG_RUNTIME_DIR' -e '^Warning: ' -e 'While initializing adapter' -e 'at InitializeImpl' -e 'artificially reduced' -e '^$' || true; }

echo "== kernels (SHADERFLOW_BACKEND=$SHADERFLOW_BACKEND)"
timeout "$limit" node dist/node/bench.js kernels 2>&1 | filter || echo "kernels: exited with status $? (124: ran past ${limit} s)"

echo "== compare (batch 128; 3 warm-up + $steps timed steps per model and engine)"
# On a GPU every model, CIFAR included, runs the same small step counts in seconds.
timeout "$limit" node dist/node/bench.js compare --steps "$steps" --warmup 3 2>&1 | filter || echo "compare: exited with status $? (124: ran past ${limit} s)"

echo "== done in $(( $(date +%s) - start )) s"

#!/usr/bin/env bash
# The device bundle's entry point (.device/run.sh, written by `npm run device-pack`). On a machine with a GPU, no
# network and no Node.js: unpacks the bundle into a fresh /tmp folder (touching nothing else), puts the bundled
# Vulkan loader and EGL/GLES dispatch libraries on LD_LIBRARY_PATH, finds the GPU's Vulkan driver, and prints, each
# stage under its own time limit and as it goes (a partial run still leaves tables):
#   1 adapter   vendor, architecture, description, class, limits; tuning defaults; autotune choices with timings
#   2 check     every kernel the adapter's class uses, at the seed models' shapes, vs the float64 references
#   3 kernels   FMA and copy probes (>= 100 ms each) and the kernel table
#   4 profile   every dispatch of the MNIST and CIFAR CNNs' training steps, timed
#   5 compare   shaderflow vs TF.js (WebGPU; wasm for the MLP), synchronous and pipelined, batch 128 then 512
# Needs bash, tar, xz (or python3), mktemp, timeout. Everything in under 5 minutes.
# Knobs (environment):
#   DEVICE_QUICK=auto|0|1     1: the software-adapter set (few steps, small batches, no autotune); auto (default):
#                             1 when the adapter is a software rasterizer (llvmpipe, SwiftShader, ...)
#   DEVICE_STEPS, DEVICE_WARMUP    compare's timed / warm-up steps per model (default: the bench's own, or 2 / 1 quick)
#   DEVICE_MODELS             compare's models at batch 128 (default mlp,mnist-cnn,cifar-cnn; quick: mlp,mnist-cnn)
#   DEVICE_MODELS_512         compare's models at batch 512 (default mlp,mnist-cnn,cifar-cnn; quick: mlp)
#   DEVICE_CHECK_BATCH        check's batch (default 128; quick 16)
#   DEVICE_CIFAR_BATCH        profile's CIFAR batch (default 128; quick 32); MNIST is always profiled at 128
#   DEVICE_TIMEOUT_SCALE      multiplies every stage's time limit (default 1)
#   DEVICE_STAGES             which stages to run (default "adapter check kernels profile compare")
#   DEVICE_KEEP=1             keep the unpacked folder (its path is printed)
#   SHADERFLOW_BACKEND, SHADERFLOW_ADAPTER_CLASS, SHADERFLOW_AUTOTUNE pass through to shaderflow.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
start=$(date +%s)
work="$(mktemp -d "${TMPDIR:-/tmp}/shaderflow-device.XXXXXX")"
if [ "${DEVICE_KEEP:-0}" = 1 ]; then echo "unpacked into $work (kept)"; else trap 'rm -rf "$work"' EXIT; fi

# ------------------------------------------------------------------ unpack (tar + xz, else python3's lzma)
unxz_to() { # unxz_to FILE.xz OUT
  if command -v xz >/dev/null 2>&1; then xz -dc "$1" >"$2"
  else python3 -c 'import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$1" "$2"; fi
}
untar_xz() { # untar_xz FILE.tar.xz DIR
  if command -v xz >/dev/null 2>&1; then xz -dc "$1" | tar -xf - -C "$2"
  else python3 -c 'import tarfile,sys; tarfile.open(sys.argv[1], "r:xz").extractall(sys.argv[2])' "$1" "$2"; fi
}
unxz_to "$here/node.xz" "$work/node" && chmod +x "$work/node" || { echo "run.sh: could not unpack node.xz (needs xz or python3)"; exit 1; }
untar_xz "$here/payload.tar.xz" "$work" || { echo "run.sh: could not unpack payload.tar.xz"; exit 1; }
node="$work/node"
bench="$work/bench.mjs"
echo "== unpacked in $(( $(date +%s) - start )) s: $("$node" --version), $(du -sh "$work" | cut -f1) in $work"

# ------------------------------------------------------------------ libraries and the GPU's driver
export LD_LIBRARY_PATH="$work/usr/lib/x86_64-linux-gnu:$work/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export HOME="${HOME:-$work}" SHADERFLOW_CACHE="${SHADERFLOW_CACHE:-$work/cache}" SHADERFLOW_TFJS_WASM_DIR="$work/tfjs-wasm"
driver_dirs="/usr/share/vulkan/icd.d /etc/vulkan/icd.d /usr/local/share/vulkan/icd.d /usr/local/nvidia/share/vulkan/icd.d /usr/local/nvidia/etc/vulkan/icd.d /usr/lib/x86_64-linux-gnu/nvidia /usr/local/nvidia /usr/lib/nvidia /opt/nvidia"
default_icd_dirs="/usr/share/vulkan/icd.d /etc/vulkan/icd.d /usr/local/share/vulkan/icd.d"
if [ -z "${VK_DRIVER_FILES:-}${VK_ICD_FILENAMES:-}" ]; then
  icd=""
  for d in $default_icd_dirs; do [ -z "$icd" ] && icd="$(ls "$d"/nvidia*.json 2>/dev/null | head -n1)"; done
  if [ -n "$icd" ]; then echo "== Vulkan driver: $icd (found by the loader's default search)"
  else
    for d in $driver_dirs; do [ -z "$icd" ] && [ -d "$d" ] && icd="$(find "$d" -maxdepth 4 -name 'nvidia_icd*.json' 2>/dev/null | head -n1)"; done
    if [ -n "$icd" ]; then
      export VK_DRIVER_FILES="$icd" VK_ICD_FILENAMES="$icd"
      echo "== Vulkan driver: $icd (not in the loader's default folders: VK_DRIVER_FILES points at it)"
    else echo "== Vulkan driver: no NVIDIA driver file found; the loader's defaults: $(ls $default_icd_dirs 2>/dev/null | grep json | tr '\n' ' ')"; fi
  fi
else echo "== Vulkan driver: VK_DRIVER_FILES=${VK_DRIVER_FILES:-} VK_ICD_FILENAMES=${VK_ICD_FILENAMES:-} (given)"; fi
# The driver's own libraries (a driver file may name them without a path) and its EGL vendor file.
for d in /usr/local/nvidia/lib64 /usr/local/nvidia/lib /usr/lib/x86_64-linux-gnu/nvidia/current; do
  if ls "$d"/libGLX_nvidia.so* >/dev/null 2>&1 || ls "$d"/libEGL_nvidia.so* >/dev/null 2>&1; then export LD_LIBRARY_PATH="$LD_LIBRARY_PATH:$d"; echo "== driver libraries: $d"; fi
done
if [ -z "${__EGL_VENDOR_LIBRARY_FILENAMES:-}" ] && ! ls /usr/share/glvnd/egl_vendor.d/*nvidia*.json >/dev/null 2>&1; then
  egl="$(find /usr/local/nvidia /etc/glvnd /usr/local/share/glvnd -name '*nvidia*.json' -path '*egl_vendor.d*' 2>/dev/null | head -n1)"
  if [ -n "$egl" ]; then export __EGL_VENDOR_LIBRARY_FILENAMES="$egl"; echo "== EGL vendor file: $egl"; fi
fi
if command -v nvidia-smi >/dev/null 2>&1; then
  echo "== nvidia-smi: $(nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv,noheader 2>&1 | head -n1)"
fi

# Dawn prints adapter warnings on stderr while it probes; keep them out of the tables but keep real errors.
filter() { grep --line-buffered -v -e 'XDG_RUNTIME_DIR' -e '^Warning: ' -e 'While initializing adapter' -e 'at InitializeImpl' -e 'artificially reduced' -e '^$' || true; }
scale="${DEVICE_TIMEOUT_SCALE:-1}"
stage() { # stage NAME SECONDS ARGS...
  local name="$1" limit; limit=$(awk -v s="$2" -v k="$scale" 'BEGIN { printf "%d", s * k }'); shift 2
  local t0; t0=$(date +%s)
  echo
  echo "== $name (limit ${limit} s; $(( t0 - start )) s so far): bench $*"
  timeout -k 5 "$limit" "$node" "$bench" "$@" 2>&1 | filter
  local rc=${PIPESTATUS[0]}
  if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then echo "== $name: stopped at its ${limit} s limit (the lines above are what it finished)"
  elif [ "$rc" != 0 ]; then echo "== $name: exited with status $rc"; fi
  echo "== $name: $(( $(date +%s) - t0 )) s"
}

# Software adapter? (a quick look, autotune off)
quick="${DEVICE_QUICK:-auto}"
if [ "$quick" = auto ]; then
  cls="$(SHADERFLOW_AUTOTUNE=0 timeout 60 "$node" "$bench" adapter --json 2>/dev/null | head -n1 | grep -o '"adapterClass":"[a-z]*"')"
  case "$cls" in *software*) quick=1 ;; *) quick=0 ;; esac
  echo "== adapter class: ${cls:-unknown}; quick set: $quick"
fi
if [ "$quick" = 1 ]; then
  export SHADERFLOW_AUTOTUNE="${SHADERFLOW_AUTOTUNE:-0}"
  steps="--steps ${DEVICE_STEPS:-2} --warmup ${DEVICE_WARMUP:-1}"
  models="${DEVICE_MODELS:-mlp,mnist-cnn}"; models512="${DEVICE_MODELS_512:-mlp}"
  check_batch="${DEVICE_CHECK_BATCH:-16}"; cifar_batch="${DEVICE_CIFAR_BATCH:-32}"; kq="--quick"
  t_adapter=20 t_check=40 t_kernels=60 t_profile=35 t_compare=55 t_compare512=30
else
  steps="${DEVICE_STEPS:+--steps $DEVICE_STEPS} ${DEVICE_WARMUP:+--warmup $DEVICE_WARMUP}"
  models="${DEVICE_MODELS:-mlp,mnist-cnn,cifar-cnn}"; models512="${DEVICE_MODELS_512:-mlp,mnist-cnn,cifar-cnn}"
  check_batch="${DEVICE_CHECK_BATCH:-128}"; cifar_batch="${DEVICE_CIFAR_BATCH:-128}"; kq=""
  t_adapter=45 t_check=45 t_kernels=45 t_profile=25 t_compare=55 t_compare512=50
fi

for s in ${DEVICE_STAGES:-adapter check kernels profile compare}; do
  case "$s" in
    adapter) stage adapter "$t_adapter" adapter --batch 128 ;;
    check) stage check "$t_check" check --batch "$check_batch" ;;
    kernels) stage kernels "$t_kernels" kernels $kq ;;
    profile)
      stage "profile mnist-cnn" "$t_profile" profile --preset mnist-cnn --batch-size 128
      stage "profile cifar-cnn" "$t_profile" profile --preset cifar-cnn --batch-size "$cifar_batch" ;;
    compare)
      stage "compare batch 128" "$t_compare" compare --models "$models" --batch 128 $steps
      stage "compare batch 512" "$t_compare512" compare --models "$models512" --batch 512 $steps ;;
    *) echo "run.sh: unknown stage $s" ;;
  esac
done
echo
echo "== done in $(( $(date +%s) - start )) s"

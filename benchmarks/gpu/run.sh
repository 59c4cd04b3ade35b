#!/usr/bin/env bash
# Builds and runs dualgrad's GPU tests and benchmarks in one go, on a machine with an NVIDIA GPU
# and the CUDA toolkit at /usr/local/cuda. Prints everything docs/performance.md records.
# Usage: bash benchmarks/gpu/run.sh [build-dir]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="${1:-$root/build/gpu}"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || true
cmake -S "$root" -B "$out" -DCMAKE_BUILD_TYPE=Release -DDUALGRAD_WITH_CUDA=ON \
      -DDUALGRAD_TEST_SOURCES_REGEX='test_core' -DCMAKE_CUDA_ARCHITECTURES="80;90"
cmake --build "$out" -j "$(nproc)" --target dualgrad_cuda_tests bench_cuda_dgl
"$out/tests/dualgrad_cuda_tests"
"$out/benchmarks/bench_cuda_dgl" --benchmark_min_time=0.2

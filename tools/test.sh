#!/usr/bin/env bash
# Runs dualgrad's whole test suite on a fresh machine: installs the Debian packages it needs,
# builds with 2 jobs, runs ctest, then builds and runs the suite again under AddressSanitizer and
# UndefinedBehaviorSanitizer. The LibTorch parts (slow to compile) are built and tested once, in
# the release pass; the sanitizer pass builds everything else.
# Usage: bash tools/test.sh [build-root]   (default: build/)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$root/build}"
jobs="${DUALGRAD_JOBS:-2}"
bash "$root/tools/install_deps.sh"

echo "== release build and tests"
cmake -S "$root" -B "$out/release" -DCMAKE_BUILD_TYPE=Release -DDUALGRAD_BUILD_BENCHMARKS=ON
cmake --build "$out/release" -j "$jobs"
ctest --test-dir "$out/release" -j "$jobs" --output-on-failure

echo "== AddressSanitizer + UndefinedBehaviorSanitizer build and tests"
cmake -S "$root" -B "$out/sanitize" -DCMAKE_BUILD_TYPE=Debug -DDUALGRAD_SANITIZE=ON \
      -DDUALGRAD_BUILD_BENCHMARKS=OFF -DDUALGRAD_WITH_CUDA=OFF -DDUALGRAD_WITH_TORCH=OFF -DCMAKE_CXX_FLAGS="-O1"
cmake --build "$out/sanitize" -j "$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir "$out/sanitize" -j "$jobs" --output-on-failure -E '^consumer\.|Full-width|Bundled models'

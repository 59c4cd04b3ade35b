#!/usr/bin/env bash
# Runs dualgrad's whole test suite on a fresh machine: installs the Debian packages it needs,
# builds with 2 jobs, runs ctest, then builds and runs the suite again under AddressSanitizer and
# UndefinedBehaviorSanitizer. The LibTorch parts (slow to compile) are built and tested once, in
# the release pass; the sanitizer pass builds everything else. Last, the libFuzzer harnesses
# (tests/fuzz, clang, ASan + UBSan): their corpus and regressions replayed by ctest, then each
# fuzzed for DUALGRAD_FUZZ_SECONDS (default 20) seconds.
# Usage: bash tools/test.sh [build-root]   (default: build/)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$root/build}"
jobs="${DUALGRAD_JOBS:-2}"
bash "$root/tools/install_deps.sh"

# The configurations are CMakePresets.json's `release` and `sanitize` (the same flags, filters and
# sanitizer options as `cmake --preset sanitize && ctest --preset sanitize`), in "$out".
echo "== release build and tests"
cmake --preset release -S "$root" -B "$out/release"
cmake --build "$out/release" -j "$jobs"
ctest --test-dir "$out/release" -j "$jobs" --output-on-failure

echo "== AddressSanitizer + UndefinedBehaviorSanitizer build and tests"
cmake --preset sanitize -S "$root" -B "$out/sanitize"
cmake --build "$out/sanitize" -j "$jobs"
# The filter and sanitizer options are the `sanitize` test preset's (ctest --preset reads its own folder).
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir "$out/sanitize" -j "$jobs" --output-on-failure -E '^consumer\.|Full-width|dataset\.bundled_models'

echo "== libFuzzer harnesses (clang, ASan + UBSan): corpus and regressions, then ${DUALGRAD_FUZZ_SECONDS:-20} s each"
cmake -S "$root" -B "$out/fuzz" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
    -DDUALGRAD_BUILD_FUZZERS=ON -DDUALGRAD_BUILD_EXAMPLES=OFF -DDUALGRAD_BUILD_BENCHMARKS=OFF \
    -DDUALGRAD_BUILD_CLI=OFF -DDUALGRAD_WITH_TORCH=OFF -DDUALGRAD_WITH_CUDA=OFF
cmake --build "$out/fuzz" --target dualgrad_fuzzers -j "$jobs"
ctest --test-dir "$out/fuzz" -R '^fuzz\.' --output-on-failure
bash "$root/tests/fuzz/run_fuzzers.sh" "$out/fuzz" "${DUALGRAD_FUZZ_SECONDS:-20}"

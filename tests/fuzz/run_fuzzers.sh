#!/usr/bin/env bash
# Runs each libFuzzer harness of dualgrad for a while (see tests/fuzz/README.md).
#
#   tests/fuzz/run_fuzzers.sh BUILD_DIR [SECONDS_EACH=30]
#
# BUILD_DIR is a build folder configured with -DDUALGRAD_BUILD_FUZZERS=ON and built with
# `cmake --build BUILD_DIR --target dualgrad_fuzzers`. Each harness fuzzes a temporary copy of
# its seed corpus and regressions (the repository is not modified); what it finds goes to
# BUILD_DIR/fuzz-artifacts/<name>/ (emptied first), with its log in fuzz.log there.
# FUZZERS="idx npy" limits the run to those harnesses. Exits 1 if any harness found a crash, a
# leak, a timeout or an out-of-memory, 2 on a usage error.
set -u

usage() { echo "usage: $0 BUILD_DIR [SECONDS_EACH=30]" >&2; exit 2; }
[ $# -ge 1 ] && [ $# -le 2 ] || usage
build_dir=$(cd "$1" 2>/dev/null && pwd) || { echo "$0: no build folder '$1'" >&2; exit 2; }
seconds=${2:-30}
case $seconds in ''|*[!0-9]*) usage ;; esac
here=$(cd "$(dirname "$0")" && pwd)
all="idx image npy safetensors metrics_json wsol_metadata cub_metadata"
names=${FUZZERS:-$all}

export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}print_stacktrace=1"

work=$(mktemp -d "${TMPDIR:-/tmp}/dualgrad_fuzz_run.XXXXXX") || exit 2
trap 'rm -rf "$work"' EXIT

failed=()
missing=0
printf '%-14s %-8s %10s %9s %14s %9s %8s\n' harness result runs exec/s "cov (start)" new_units rss_mb
for name in $names; do
    exe="$build_dir/tests/fuzz/dualgrad_fuzz_$name"
    if [ ! -x "$exe" ]; then
        printf '%-14s %-8s %s\n' "$name" MISSING "$exe not built (cmake --build $build_dir --target dualgrad_fuzzers)"
        missing=$((missing + 1))
        continue
    fi
    artifacts="$build_dir/fuzz-artifacts/$name"
    rm -rf "$artifacts" && mkdir -p "$artifacts"
    corpus="$work/$name"
    mkdir -p "$corpus"
    for src in "$here/corpus/$name" "$here/regressions/$name"; do
        [ -d "$src" ] && find "$src" -maxdepth 1 -type f -exec cp {} "$corpus/" \;
    done
    log="$artifacts/fuzz.log"
    "$exe" -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=2048 -timeout=5 -max_len=65536 \
        -print_final_stats=1 -artifact_prefix="$artifacts/" "$corpus" >"$log" 2>&1
    rc=$?

    stat() { sed -n "s/^stat::$1: *//p" "$log" | tail -1; }
    cov_of() { sed -n "s/.*$1.* cov: \([0-9]*\) .*/\1/p" "$log" | tail -1; }
    runs=$(stat number_of_executed_units)
    eps=$(stat average_exec_per_sec)
    new=$(stat new_units_added)
    rss=$(stat peak_rss_mb)
    cov0=$(cov_of INITED)
    cov1=$(sed -n 's/^#[0-9]*.* cov: \([0-9]*\) .*/\1/p' "$log" | tail -1)
    found=$(find "$artifacts" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' \
                 -o -name 'oom-*' \) | sort)
    result=ok
    if [ $rc -ne 0 ] || [ -n "$found" ]; then
        result=FOUND
        failed+=("$name")
    fi
    printf '%-14s %-8s %10s %9s %14s %9s %8s\n' "$name" "$result" "${runs:-?}" "${eps:-?}" \
        "${cov1:-?} (${cov0:-?})" "${new:-?}" "${rss:-?}"
    if [ "$result" != ok ]; then
        echo "    exit status $rc; log: $log"
        grep -m1 -E '^==[0-9]+==ERROR|runtime error|==dualgrad-fuzz==|ALARM|out-of-memory|Timeout|deadly signal' "$log" |
            sed 's/^/    /'
        for a in $found; do echo "    artifact: $a"; done
    fi
done

if [ ${#failed[@]} -gt 0 ]; then
    echo
    echo "Findings in: ${failed[*]}. Reproduce one with: $build_dir/tests/fuzz/dualgrad_fuzz_<name> <artifact>"
    echo "After fixing the library, copy each artifact into tests/fuzz/regressions/<name>/ (a descriptive name),"
    echo "so that ctest -R '^fuzz\\.' replays it from then on."
    exit 1
fi
[ $missing -eq 0 ] || exit 1
echo "No findings ($seconds s each)."

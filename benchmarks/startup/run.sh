#!/usr/bin/env bash
# Whole-process start-up of the dualgrad command line (docs/performance.md, "Start-up"): the best
# of RUNS wall times of
#   1. `dualgrad --help` (process start only),
#   2. `dualgrad maps` of one 224 x 224 image, gradcam at layer4.2, full-width ResNet50-CAM
#      (100 MB of F32 weights) on the CPU engine: start, load, one forward and backward, write;
#   3. the same with --backend torch, which loads LibTorch (dualgrad-torch.so);
# and the ratios 1/3 and 2/3, all in this one invocation.
#
#   benchmarks/startup/run.sh BUILD_DIR [RUNS=5] [THREADS=2]
set -euo pipefail
build=$(cd "${1:?usage: run.sh BUILD_DIR [RUNS] [THREADS]}" && pwd)
runs=${2:-5}
threads=${3:-2}
here=$(cd "$(dirname "$0")" && pwd)
cli="$build/cli/dualgrad"
work=${DUALGRAD_STARTUP_DIR:-/tmp/dualgrad_startup}
[ -f "$work/resnet50_full.safetensors" ] || /usr/bin/python3 "$here/make_inputs.py" "$work"

best() { # best wall time in seconds of RUNS runs of "$@"
    local b=""
    for _ in $(seq "$runs"); do
        local s e t
        s=$(date +%s.%N)
        "$@" > /dev/null
        e=$(date +%s.%N)
        t=$(awk -v s="$s" -v e="$e" 'BEGIN { printf "%.4f", e - s }')
        if [ -z "$b" ] || awk -v t="$t" -v b="$b" 'BEGIN { exit !(t < b) }'; then b=$t; fi
    done
    echo "$b"
}
maps=(maps --arch resnet50 --weights "$work/resnet50_full.safetensors" --input "$work/input_1x3x224x224.npy"
      --layers layer4.2 --method gradcam --threads "$threads" --out "$work/out")
"$cli" "${maps[@]}" > /dev/null # warm the page cache
t_help=$(best "$cli" --help)
t_cpu=$(best "$cli" "${maps[@]}")
t_torch=$(best "$cli" "${maps[@]}" --backend torch)
printf 'dualgrad --help                         %6.3f s\n' "$t_help"
printf 'maps, 1 image, full ResNet50, cpu       %6.3f s\n' "$t_cpu"
printf 'maps, 1 image, full ResNet50, torch     %6.3f s\n' "$t_torch"
awk -v h="$t_help" -v c="$t_cpu" -v t="$t_torch" 'BEGIN {
    printf "ratio --help / torch maps               %6.3f\n", h / t
    printf "ratio cpu maps / torch maps             %6.3f\n", c / t }'

#!/usr/bin/env bash
# Regenerates the method table of docs/results.md ("Every method, with faithfulness"): every
# registered method (`--methods all`) at two layers of one bundled backbone, on the first N
# FashionLoc test samples, with the box metrics (wsolevaluation protocol, PxAP from the masks) and
# every faithfulness metric (average drop and increase, deletion and insertion AUC, pointing game).
#
#   tools/results/run_methods.sh BUILD_DIR [N=200] [OUT=runs/methods]
#
# ARCH (default se_resnet50, the most accurate bundled classifier), LAYERS (default
# layer3.5,layer4.2), STEPS (deletion and insertion steps, default 20) and THREADS (default 2)
# change the run. Outputs OUT/<arch>/{metrics.json,table.md,report.html}.
set -euo pipefail
build=${1:?usage: run_methods.sh BUILD_DIR [N] [OUT]}
n=${2:-200}
out=${3:-runs/methods}
arch=${ARCH:-se_resnet50}
root=$(cd "$(dirname "$0")/../.." && pwd)
data="$out/fashionloc_test$n"
if [[ ! -f "$data/metadata/test/image_ids.txt" ]]; then
    "$build/tools/fashionloc/dualgrad_fashionloc" --version 1 --seed 1 --train 0 --test "$n" --size 128 --out "$data" \
        --threads "${THREADS:-2}"
fi
"$build/cli/dualgrad" eval --metadata "$data/metadata/test" --images "$data/images" \
    --mask-metadata "$data/metadata_masks/test" --masks "$data/masks" \
    --arch "$arch" --weights "$root/models/fashionloc/$arch.safetensors" --no-resize \
    --layers "${LAYERS:-layer3.5,layer4.2}" --methods all --faithfulness all --steps "${STEPS:-20}" \
    --batch 32 --threads "${THREADS:-2}" --out "$out/$arch"

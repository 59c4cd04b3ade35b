#!/usr/bin/env bash
# Regenerates the numbers of docs/results.md: the FashionLoc test set (seed 1, the first N test
# samples, 128 x 128), then `dualgrad eval` of each bundled model with every method at every
# tapped layer, under both protocols (wsolevaluation with PxAP from the masks, and layercam_loc).
#
#   tools/results/run_results.sh BUILD_DIR [N=1000] [OUT=runs/results]
#
# ARCHS="resnet50 vgg16" limits the run to some backbones.
# Outputs OUT/<arch>/{wsolevaluation,layercam}/{metrics.json,table.md,report.html}.
set -euo pipefail
build=${1:?usage: run_results.sh BUILD_DIR [N] [OUT]}
n=${2:-1000}
out=${3:-runs/results}
root=$(cd "$(dirname "$0")/../.." && pwd)
data="$out/fashionloc_test$n"
if [[ ! -f "$data/metadata/test/image_ids.txt" ]]; then
    "$build/tools/fashionloc/dualgrad_fashionloc" --version 1 --seed 1 --train 0 --test "$n" --size 128 --out "$data" \
        --threads "${THREADS:-2}"
fi
declare -A layers=(
    [vgg16]=conv4_3,conv5_1,conv5_2,conv5_3,relu
    [inception_v3]=Mixed_5d,Mixed_6b,Mixed_6c,Mixed_6d,Mixed_6e,SPG_A3_1b,SPG_A3_2b
    [resnet50]=layer2.3,layer3.1,layer3.3,layer3.5,layer4.0,layer4.2
    [se_resnet50]=layer2.3,layer3.1,layer3.3,layer3.5,layer4.0,layer4.2
)
for arch in ${ARCHS:-resnet50 vgg16 inception_v3 se_resnet50}; do
    w="$root/models/fashionloc/$arch.safetensors"
    [[ -f $w ]] || { echo "skipping $arch: $w not found"; continue; }
    "$build/cli/dualgrad" eval --metadata "$data/metadata/test" --images "$data/images" \
        --mask-metadata "$data/metadata_masks/test" --masks "$data/masks" \
        --arch "$arch" --weights "$w" --no-resize --layers "${layers[$arch]}" \
        --methods cam,gradcam,layercam,pcs,dgl --protocol wsolevaluation,layercam \
        --threads "${THREADS:-2}" --out "$out/$arch"
done

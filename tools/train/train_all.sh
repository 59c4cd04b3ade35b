#!/usr/bin/env bash
# Trains the four bundled FashionLoc models, one after the other, and exports them to
# models/fashionloc/<arch>.safetensors (F16) with their logs. Resumable: run it again after an
# interruption and each model continues after its last finished epoch (checkpoints in RUNS).
#
#   tools/train/train_all.sh BUILD_DIR [RUNS_DIR]
#
# The recipe (recorded in each run's state.json and in the weights' metadata): FashionLoc seed 1,
# 128 x 128, 16000 training samples, width 1/8, 6 epochs, batch 64, AdamW with weight decay 5e-4,
# 100 warm-up steps then cosine decay; peak learning rate 2e-3, except 5e-4 for VGG16-GAP
# (no BatchNorm: at 2e-3 its ReLUs die within the first epoch). SE-ResNet50 trained from scratch
# this way stayed at chance for three epochs (loss 2.303), so it is warm-started from the trained
# ResNet50 (every tensor of the same name and shape; the SE layers are new) and fine-tuned for 4
# epochs at 1e-3: the one model here that is not trained from scratch (docs/results.md).
set -euo pipefail
build=${1:?usage: train_all.sh BUILD_DIR [RUNS_DIR]}
runs=${2:-runs}
root=$(cd "$(dirname "$0")/../.." && pwd)
out="$root/models/fashionloc"
mkdir -p "$out" "$runs"
for arch in resnet50 vgg16 inception_v3 se_resnet50; do
    lr=2e-3 epochs=6 init=()
    [[ $arch == vgg16 ]] && lr=5e-4
    [[ $arch == se_resnet50 ]] && lr=1e-3 epochs=4 init=(--init "$out/resnet50.safetensors")
    "$build/tools/train/dualgrad_train" --arch "$arch" --width 0.125 --seed 1 --size 128 --train 16000 --test 1000 \
        --epochs "$epochs" --batch 64 --lr "$lr" --weight-decay 5e-4 --dropout 0.25 --warmup 100 \
        --threads "${THREADS:-2}" "${init[@]}" --out "$runs/$arch" --export "$out/$arch.safetensors"
    cp "$runs/$arch/log.jsonl" "$out/$arch.log.jsonl"
done

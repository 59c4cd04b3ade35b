#!/usr/bin/env bash
# Trains the four bundled FashionLoc models and exports them to models/fashionloc/<arch>.safetensors
# (F16) with their logs. Resumable: each epoch replaces the backbone's one checkpoint file,
# models/fashionloc/checkpoints/<arch>.safetensors (parameters, AdamW state, recipe, log); run the
# script again after an interruption and each model continues after its last finished epoch. A
# finished model's checkpoint is removed once its weights are exported.
#
#   tools/train/train_all.sh BUILD_DIR [RUNS_DIR]
#   ARCHS="resnet50 vgg16" THREADS=1 tools/train/train_all.sh build/release   # a subset, one thread
#
# The recipe (recorded in each checkpoint and in the weights' metadata): FashionLoc version 2
# (every nuisance drawn per sample, docs/fashionloc.md), seed 1, 128 x 128, width 1/8, 16000 fresh
# training samples per epoch (epoch e draws train indices [16000 e, 16000 (e+1)), so no canvas is
# seen twice), batch 64, AdamW with weight decay 5e-4, 200 warm-up steps then cosine decay to 0,
# dropout 0.25 where the description has it. Peak learning rate 2e-3, except 5e-4 for VGG16-GAP
# (no BatchNorm: at 2e-3 its ReLUs die within the first epoch). Every backbone, SE-ResNet50
# included, is trained from scratch (models::TorchModel::init_parameters).
set -euo pipefail
build=${1:?usage: train_all.sh BUILD_DIR [RUNS_DIR]}
runs=${2:-runs}
root=$(cd "$(dirname "$0")/../.." && pwd)
out="$root/models/fashionloc"
mkdir -p "$out/checkpoints" "$runs"
for arch in ${ARCHS:-resnet50 vgg16 inception_v3 se_resnet50}; do
    lr=2e-3 epochs=24
    [[ $arch == vgg16 ]] && lr=5e-4
    "$build/tools/train/dualgrad_train" --arch "$arch" --version 2 --width 0.125 --seed 1 --size 128 \
        --train 16000 --test 1000 --final-test 2000 --epochs "$epochs" --batch 64 --lr "$lr" \
        --weight-decay 5e-4 --dropout 0.25 --warmup 200 --threads "${THREADS:-2}" \
        --out "$runs/$arch" --checkpoint "$out/checkpoints/$arch.safetensors" --export "$out/$arch.safetensors"
    cp "$runs/$arch/log.jsonl" "$out/$arch.log.jsonl"
    rm -f "$out/checkpoints/$arch.safetensors"
done

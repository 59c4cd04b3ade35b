#!/usr/bin/env bash
# The main job: installs the Debian packages, builds the `dualgrad` command line and localizes the
# objects in the bundled sample images with the bundled FashionLoc model (ResNet50-CAM, width 1/8;
# method, layer and threshold from models/fashionloc/default.json), writing out/localize/boxes.json,
# one overlay per image and out/localize/montage.png.
# Any other arguments are passed to `dualgrad localize` (e.g. --method layercam, or your images
# with --arch A --weights W.safetensors).
# Usage: bash tools/localize.sh [dualgrad localize options and images]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bash "$root/tools/install_deps.sh"
cmake -S "$root" -B "$root/build/release" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$root/build/release" -j "${DUALGRAD_JOBS:-2}" --target dualgrad_cli
out="${DUALGRAD_OUT:-$root/out/localize}"
"$root/build/release/cli/dualgrad" localize --out "$out" --montage "$out/montage.png" "$@"
echo "boxes: $out/boxes.json; overlays: $out/*.png"

#!/usr/bin/env bash
# The main job. The `dualgrad localize` command line and its bundled trained model are not built
# yet (issues 5 and 6); until they land, this script says so plainly and runs the end-to-end
# example instead: safetensors weights -> backbone on the CPU engine -> DGL maps -> boxes.
# Usage: bash tools/localize.sh [ARCH WEIGHTS.safetensors LAYER]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bash "$root/tools/install_deps.sh"
echo "NOTE: the dualgrad CLI and the bundled FashionLoc model are not built yet;"
echo "      running examples/localize_pipeline.cpp (random-weight test model unless you pass one)."
cmake -S "$root" -B "$root/build/release" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$root/build/release" -j "${DUALGRAD_JOBS:-2}" --target example_localize_pipeline
"$root/build/release/examples/example_localize_pipeline" "$@"

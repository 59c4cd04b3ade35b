#!/usr/bin/env bash
# Installs dualgrad's build and test dependencies from Debian's packages (root, or sudo).
# Packages already installed are skipped, so a second run costs one dpkg query.
set -euo pipefail
packages=(
    build-essential cmake
    libeigen3-dev libxtensor-dev    # backends
    catch2 libbenchmark-dev         # tests and benchmarks
    libopencv-dev                   # the test oracle (resize, contours)
    libspng-dev libturbojpeg0-dev pkgconf  # dualgrad::image: PNG (libspng), JPEG (TurboJPEG)
    libtorch-dev                    # dualgrad::torch (LibTorch 1.13 backend and gradient source)
    nlohmann-json3-dev              # dualgrad::json: safetensors, metrics.json
    zlib1g-dev                      # dualgrad::idx: gzip-compressed IDX files
    libcli11-dev                    # the command line and tools/fashionloc
    dataset-fashion-mnist           # FashionLoc's source items (tests use them when present)
    python3 python3-numpy python3-opencv  # fixture scripts (not needed to run the tests)
    chromium                        # renders dualgrad eval's report.html in a test (headless)
    clang libclang-rt-dev           # the libFuzzer harnesses of tests/fuzz (-fsanitize=fuzzer)
)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    echo "Installing: ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

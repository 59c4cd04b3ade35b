#!/bin/sh
# Runs the Catch tests of EXE that match SPEC where Fashion-MNIST is installed in DATA; elsewhere
# says why and exits 77, which ctest reports as skipped (SKIP_RETURN_CODE).
#   run_dataset_tests.sh EXE SPEC DATA
exe=$1 spec=$2 data=$3
if [ ! -f "$data/t10k-images-idx3-ubyte.gz" ] || [ ! -f "$data/t10k-labels-idx1-ubyte.gz" ]; then
    echo "Fashion-MNIST is not installed in $data (Debian package dataset-fashion-mnist): skipped"
    exit 77
fi
exec "$exe" "$spec"

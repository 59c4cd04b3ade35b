#!/usr/bin/env bash
# Writes models/fashionloc/models.json: for each bundled model, its recipe (from the weights'
# metadata), its test accuracy on the first 1000 FashionLoc test samples (LibTorch, the last line
# of its training log), and the CI subset: how many of FashionLoc test samples 0..199 (seed 1) the
# CPU engine classifies correctly (`dualgrad eval --limit 200 --threads 1`). ctest's
# "Bundled models reproduce their recorded FashionLoc test accuracy" checks that count.
#
#   tools/train/record_models.sh BUILD_DIR [DATA=runs/results/fashionloc_test1000]
set -euo pipefail
build=${1:?usage: record_models.sh BUILD_DIR [DATA]}
data=${2:-runs/results/fashionloc_test1000}
root=$(cd "$(dirname "$0")/../.." && pwd)
dir="$root/models/fashionloc"
tmp=$(mktemp -d)
for arch in vgg16 inception_v3 resnet50 se_resnet50; do
    [[ -f "$dir/$arch.safetensors" ]] || continue
    "$build/cli/dualgrad" eval --metadata "$data/metadata/test" --images "$data/images" --arch "$arch" \
        --weights "$dir/$arch.safetensors" --no-resize --layers "$("$build/cli/dualgrad" layers --arch "$arch" \
        --weights "$dir/$arch.safetensors" --size 128 | awk 'NR==2{print $1}')" --methods gradcam --limit 200 \
        --threads 1 --examples 0 --out "$tmp/$arch" >/dev/null 2>&1
done
/usr/bin/python3 - "$dir" "$tmp" <<'PY'
import json, os, sys
d, tmp = sys.argv[1], sys.argv[2]
out = {"about": "The bundled FashionLoc models (docs/results.md). Written by tools/train/record_models.sh.",
       "models": {}}
for arch in ["vgg16", "inception_v3", "resnet50", "se_resnet50"]:
    w = os.path.join(d, arch + ".safetensors")
    if not os.path.exists(w):
        continue
    with open(w, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        meta = json.loads(f.read(n)).get("__metadata__", {})
    log = [json.loads(l) for l in open(os.path.join(d, arch + ".log.jsonl"))]
    m = json.load(open(os.path.join(tmp, arch, "metrics.json")))
    loc = next(iter(m["runs"].values()))["results"]["loc"]
    count = 200
    correct = round(loc["top1_cls"] * count / 100)
    out["models"][arch] = {
        "weights": arch + ".safetensors",
        "size": json.loads(meta["recipe"])["canvas"],
        "recipe": json.loads(meta["recipe"]),
        "test_acc_first_1000_libtorch": log[-1]["test_acc"],
        "ci_subset": {"split": "test", "seed": 1, "first": 0, "count": count, "correct": correct,
                      "engine": "CPU engine, 1 thread"},
    }
json.dump(out, open(os.path.join(d, "models.json"), "w"), indent=1)
print(json.dumps({k: v["ci_subset"]["correct"] for k, v in out["models"].items()}))
PY
rm -rf "$tmp"

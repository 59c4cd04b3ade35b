#!/usr/bin/env python3
"""Inputs of benchmarks/startup/run.sh: full-width ResNet50-CAM (wsolevaluation's, 1000 classes,
random weights, F32, about 100 MB) as OUT/resnet50_full.safetensors, and one normalized 224 x 224
image as OUT/input_1x3x224x224.npy.

Run with Debian's python3-torch:  /usr/bin/python3 benchmarks/startup/make_inputs.py OUT
"""
import os
import sys

import numpy as np
import torch

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "..", "tools", "fixtures"))
import wsol_models  # noqa: E402
from make_model_fixtures import randomize_batchnorm, write_safetensors  # noqa: E402


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    model = wsol_models.build("resnet50", 1000, 1.0).eval()
    randomize_batchnorm(model, gen)
    write_safetensors(os.path.join(out, "resnet50_full.safetensors"), model.state_dict())
    x = torch.randn(1, 3, 224, 224, generator=gen).numpy().astype(np.float32)
    np.save(os.path.join(out, "input_1x3x224x224.npy"), x)


if __name__ == "__main__":
    main()

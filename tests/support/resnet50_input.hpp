#pragma once
// The input of the ResNet50 test model's fixtures (tests/fixtures/models/resnet50.expected.safetensors,
// tensor "input"), as the CPU engine's tensor and as the evaluation's host batch.
#include <dualgrad/io/preprocess.hpp>
#include <dualgrad/io/safetensors.hpp>
#include <dualgrad/nn/layer.hpp>

#include "model_fixtures.hpp"

namespace dgtest {

inline dualgrad::nn::Tensor resnet50_input() {
    const auto f = dualgrad::io::SafetensorsFile::open(model_fixture("resnet50.expected.safetensors"));
    const auto& info = f.info("input");
    dualgrad::nn::Tensor t(info.shape.at(0), info.shape.at(1), info.shape.at(2), info.shape.at(3));
    f.read_float_into("input", {t.data(), static_cast<std::size_t>(t.size())});
    return t;
}

inline dualgrad::io::NchwTensor resnet50_input_batch() {
    const auto x = resnet50_input();
    dualgrad::io::NchwTensor batch;
    batch.shape = {x.dimension(0), x.dimension(1), x.dimension(2), x.dimension(3)};
    batch.values.assign(x.data(), x.data() + x.size());
    return batch;
}

} // namespace dgtest

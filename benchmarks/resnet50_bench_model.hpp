#pragma once
// The model most method benchmarks share: ResNet50-CAM at width 1/4, large feature map, 1000
// classes, random weights (seed 2020, random BatchNorm statistics), 2 threads, behind
// `eval::MapModel`, and one 1x3x224x224 Gaussian image as a host batch and as the engine's tensor.
#include <memory>
#include <random>

#include <benchmark/benchmark.h>

#include <dualgrad/eval/maps.hpp>
#include <dualgrad/models/cpu_model.hpp>

#include "random_weights.hpp"

namespace dgbench {

struct Resnet50Bench {
    std::unique_ptr<dualgrad::eval::MapModel> model;
    dualgrad::models::CpuModel* cpu = nullptr; ///< the engine inside `model`
    dualgrad::io::NchwTensor x;                ///< the image, host batch
    dualgrad::nn::Tensor xt{1, 3, 224, 224};   ///< the image, engine tensor
    std::mt19937 rng{2020};                    ///< after the weights and the image: for more draws
};

/// The shared model and image, made once per process.
inline Resnet50Bench& resnet50_bench() {
    static Resnet50Bench s = [] {
        using namespace dualgrad;
        const auto d = models::describe("resnet50", {.num_classes = 1000, .width = 0.25, .large_feature_map = true});
        models::CpuModel m{d, models::build_graph(d)};
        m.exec.threads = 2;
        Resnet50Bench e;
        randomize(m.graph, e.rng);
        std::normal_distribution<float> gauss(0.0f, 1.0f);
        e.x.shape = {1, 3, 224, 224};
        e.x.values.resize(3 * 224 * 224);
        for (auto& v : e.x.values) v = gauss(e.rng);
        std::copy(e.x.values.begin(), e.x.values.end(), e.xt.data());
        e.model = eval::cpu_map_model(std::move(m));
        e.cpu = &static_cast<eval::SourceMapModel<models::CpuModel>&>(*e.model).source();
        return e;
    }();
    return s;
}

/// One plain forward pass of the image: the baseline of the cost ratios.
inline void plain_forward(benchmark::State& state) {
    auto& s = resnet50_bench();
    for (auto _ : state) {
        auto l = s.cpu->forward(s.xt);
        benchmark::DoNotOptimize(l.values().data());
    }
}

} // namespace dgbench

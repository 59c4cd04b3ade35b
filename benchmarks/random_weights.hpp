#pragma once
// Random weights for the benchmarks' models: He-normal convolution and linear weights, BatchNorm
// weights in [0.5, 1.5), running variances in [0.5, 1.5), running means and biases in [-0.1, 0.1),
// from `rng` (benchmarks seed it with a fixed value, so every run measures the same network).
#include <cmath>
#include <random>
#include <string>

#include <dualgrad/nn/graph.hpp>

namespace dgbench {

inline void randomize(dualgrad::nn::Graph& graph, std::mt19937& rng) {
    std::uniform_real_distribution<float> u(0.0f, 1.0f);
    std::normal_distribution<float> gauss(0.0f, 1.0f);
    for (auto& [name, p] : graph.parameters()) {
        auto& v = *p.data;
        const auto ends = [&](const std::string& suffix) {
            return name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), std::string::npos, suffix) == 0;
        };
        if (ends("running_var")) for (auto& x : v) x = 0.5f + u(rng);
        else if (ends("running_mean") || ends("bias")) for (auto& x : v) x = 0.2f * (u(rng) - 0.5f);
        else if (p.shape.size() == 1) for (auto& x : v) x = 0.5f + u(rng); // BatchNorm weight
        else {
            std::int64_t fan_in = 1;
            for (std::size_t i = 1; i < p.shape.size(); ++i) fan_in *= p.shape[i];
            const float sd = std::sqrt(2.0f / static_cast<float>(fan_in));
            for (auto& x : v) x = sd * gauss(rng);
        }
    }
}

} // namespace dgbench

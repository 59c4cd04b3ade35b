// The DGL map math (PCS and CEM over S and two gradients) against a memcpy of the same bytes,
// single-threaded, for 1024x28x28 and 512x14x14 float layers. Counters are the input bytes per
// second; the ratio is printed at the end (docs/performance.md).
#include <cstring>
#include <string>
#include <utility>
#include <random>
#include <vector>

#include <benchmark/benchmark.h>

#include <dualgrad/backend/eigen.hpp>
#include <dualgrad/core/cem.hpp>
#include <dualgrad/core/pcs.hpp>
#include <dualgrad/core/projection_methods.hpp>
#ifdef DUALGRAD_HAS_XTENSOR
#include <dualgrad/backend/xtensor.hpp>
#endif

#include "ratio_reporter.hpp"

namespace {

using dualgrad::Shape4;

template <class B>
typename B::tensor random_tensor(Shape4 s, unsigned seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> d;
    std::vector<float> v(static_cast<std::size_t>(s.count()));
    for (auto& x : v) x = d(rng);
    return B::from_host(s, v);
}

Shape4 layer(std::int64_t k, std::int64_t hw) { return {1, k, hw, hw}; }

void set_bytes(benchmark::State& state, Shape4 s, int tensors) {
    state.SetBytesProcessed(state.iterations() * s.count() * static_cast<std::int64_t>(sizeof(float)) * tensors);
}

// Baseline: copy the bytes of the three input tensors (S, dl_c/dS, dcost/dS).
void memcpy_3(benchmark::State& state, std::int64_t k, std::int64_t hw) {
    const Shape4 s = layer(k, hw);
    const auto n = static_cast<std::size_t>(s.count()) * 3;
    std::vector<float> src(n, 1.0f), dst(n);
    for (auto _ : state) {
        std::memcpy(dst.data(), src.data(), n * sizeof(float));
        benchmark::DoNotOptimize(dst.data());
        benchmark::ClobberMemory();
    }
    set_bytes(state, s, 3);
}

// DGL from S, G = dl_c/dS and the cost gradient: moments pass + selection pass.
template <class B>
void dgl_map(benchmark::State& state, std::int64_t k, std::int64_t hw) {
    const Shape4 s = layer(k, hw);
    const auto S = random_tensor<B>(s, 1), G = random_tensor<B>(s, 2), X = random_tensor<B>(s, 3);
    const dualgrad::EnhancedMapper<B> dgl;
    for (auto _ : state) {
        auto m = dgl.from_cost_gradient(S, G, X);
        benchmark::DoNotOptimize(m.data());
    }
    set_bytes(state, s, 3);
}

// DGL from S, G and J^T p (the linear reference cost): the same passes, dcost never materialized.
template <class B>
void dgl_map_linear(benchmark::State& state, std::int64_t k, std::int64_t hw) {
    const Shape4 s = layer(k, hw);
    const auto S = random_tensor<B>(s, 1), G = random_tensor<B>(s, 2), P = random_tensor<B>(s, 3);
    const dualgrad::EnhancedMapper<B> dgl;
    for (auto _ : state) {
        auto m = dgl(S, G, P);
        benchmark::DoNotOptimize(m.data());
    }
    set_bytes(state, s, 3);
}

// Baseline for PCS: copy the bytes of S and G.
void memcpy_2(benchmark::State& state, std::int64_t k, std::int64_t hw) {
    const Shape4 s = layer(k, hw);
    const auto n = static_cast<std::size_t>(s.count()) * 2;
    std::vector<float> src(n, 1.0f), dst(n);
    for (auto _ : state) {
        std::memcpy(dst.data(), src.data(), n * sizeof(float));
        benchmark::DoNotOptimize(dst.data());
        benchmark::ClobberMemory();
    }
    set_bytes(state, s, 2);
}

template <class B>
void pcs_map(benchmark::State& state, std::int64_t k, std::int64_t hw) {
    const Shape4 s = layer(k, hw);
    const auto S = random_tensor<B>(s, 1), G = random_tensor<B>(s, 2);
    const dualgrad::PixelClassSelector<B> pcs;
    for (auto _ : state) {
        auto m = pcs(S, G);
        benchmark::DoNotOptimize(m.data());
    }
    set_bytes(state, s, 2);
}

// Eigen-CAM: the principal component of S over the pixels (a P x P or K x K eigenproblem in
// double per sample), against PCS on the same layer.
template <class B>
void eigencam_map(benchmark::State& state, std::int64_t k, std::int64_t hw) {
    const Shape4 s = layer(k, hw);
    const auto S = random_tensor<B>(s, 1);
    for (auto _ : state) {
        auto m = dualgrad::eigen_cam<B>(S, 1);
        benchmark::DoNotOptimize(m[0].data());
    }
    set_bytes(state, s, 2);
}

} // namespace

int main(int argc, char** argv) {
    using dualgrad::EigenBackend;
    for (auto [k, hw] : {std::pair<std::int64_t, std::int64_t>{1024, 28}, {512, 14}}) {
        const std::string c = "/" + std::to_string(k) + "x" + std::to_string(hw) + "x" + std::to_string(hw);
        benchmark::RegisterBenchmark(("memcpy_3" + c).c_str(), memcpy_3, k, hw);
        benchmark::RegisterBenchmark(("dgl_eigen" + c).c_str(), dgl_map<EigenBackend>, k, hw);
        benchmark::RegisterBenchmark(("dgl_linear_eigen" + c).c_str(), dgl_map_linear<EigenBackend>, k, hw);
#ifdef DUALGRAD_HAS_XTENSOR
        benchmark::RegisterBenchmark(("dgl_xtensor" + c).c_str(), dgl_map<dualgrad::XtensorBackend>, k, hw);
#endif
        benchmark::RegisterBenchmark(("memcpy_2" + c).c_str(), memcpy_2, k, hw);
        benchmark::RegisterBenchmark(("pcs_eigen" + c).c_str(), pcs_map<EigenBackend>, k, hw);
        benchmark::RegisterBenchmark(("eigencam_eigen" + c).c_str(), eigencam_map<EigenBackend>, k, hw);
    }
    return dgbench::run_with_ratios(argc, argv,
                                    {{"dgl_eigen", "memcpy_3"},
                                     {"dgl_linear_eigen", "memcpy_3"},
                                     {"dgl_xtensor", "memcpy_3"},
                                     {"pcs_eigen", "memcpy_2"},
                                     {"eigencam_eigen", "pcs_eigen"}});
}

// Ablation-CAM on the CPU engine (core/perturbation_methods.hpp), ResNet50-CAM at width 1/4,
// one 1x3x224x224 image, random weights (fixed seed, random BatchNorm statistics), top-1 target,
// at layer3.5 (256 channels) and layer4.2 (512 channels), 2 threads:
//
//   ablation_head   dualgrad: one forward that keeps the state the head needs, then the part of
//                   the network above the layer on K ablated copies, in head passes of 32 rows
//   ablation_full   the same weights computed the way pytorch-grad-cam runs AblationCAM, on our
//                   engine: K full forward passes of the image, in batches of 32. (Its logits are
//                   not those of the ablated values: only its cost is measured. pytorch-grad-cam
//                   also skips the tapped layer itself, by one block of ResNet50, which this
//                   baseline does not: at most a few percent of a pass.)
//   forward         one plain forward pass, for scale
// The layer's value S, which the gradient pass gives both ways, is computed outside the timing.
//
//   ./benchmarks/bench_perturbation      # ratios printed at the end (docs/performance.md)
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include <dualgrad/core/perturbation_methods.hpp>
#include <dualgrad/models/cpu_model.hpp>

#include "random_weights.hpp"
#include "ratio_reporter.hpp"

namespace {

using namespace dualgrad;
constexpr int threads = 2;

struct Setup {
    models::CpuModel model;
    nn::Tensor x{1, 3, 224, 224};
    Logits logits;
    Targets targets;
};

Setup& setup() {
    static Setup s = [] {
        const auto d = models::describe("resnet50", {.num_classes = 1000, .width = 0.25, .large_feature_map = true});
        Setup e{models::CpuModel{d, models::build_graph(d)}, nn::Tensor(1, 3, 224, 224), {}, {}};
        e.model.exec.threads = threads;
        std::mt19937 rng(2020);
        dgbench::randomize(e.model.graph, rng);
        std::normal_distribution<float> gauss(0.0f, 1.0f);
        for (std::int64_t i = 0; i < e.x.size(); ++i) e.x.data()[i] = gauss(rng);
        e.logits = e.model.graph.forward(e.x, e.model.exec);
        e.targets = Targets::top1(e.logits);
        return e;
    }();
    return s;
}

void ablation_head(benchmark::State& state, std::string layer) {
    auto& s = setup();
    // S comes from the gradient pass both ways: outside the timed loop.
    const auto h = s.model.head_state(s.x, layer);
    const auto S = EigenBackend::to_host(h.activations);
    for (auto _ : state) {
        const auto head = make_head_forward(s.model, s.x, layer); // one forward pass, timed
        auto w = ablation_weights(S, nn::shape_of(h.activations), s.targets, s.logits, head, 32);
        benchmark::DoNotOptimize(w.data());
    }
}

void ablation_full(benchmark::State& state, std::string layer) {
    auto& s = setup();
    // Each head call runs full forward passes of the image repeated M times instead.
    std::vector<float> ablated;
    const HeadForward full = [&](Shape4 shape, std::span<const int>, const HeadFill& fill) {
        ablated.resize(static_cast<std::size_t>(shape.count()));
        fill(ablated); // pytorch-grad-cam builds the ablated batch too (AblationLayer)
        nn::Tensor xs(shape.n, 3, 224, 224);
        for (std::int64_t m = 0; m < shape.n; ++m) std::copy_n(s.x.data(), s.x.size(), xs.data() + m * s.x.size());
        return s.model.graph.forward(xs, s.model.exec);
    };
    const auto h = s.model.head_state(s.x, layer);
    const auto S = EigenBackend::to_host(h.activations);
    for (auto _ : state) {
        auto w = ablation_weights(S, nn::shape_of(h.activations), s.targets, s.logits, full, 32);
        benchmark::DoNotOptimize(w.data());
    }
}

void forward(benchmark::State& state) {
    auto& s = setup();
    for (auto _ : state) {
        auto l = s.model.graph.forward(s.x, s.model.exec);
        benchmark::DoNotOptimize(l.values().data());
    }
}

} // namespace

int main(int argc, char** argv) {
    for (const std::string layer : {"layer3.5", "layer4.2"}) {
        benchmark::RegisterBenchmark(("ablation_head/" + layer).c_str(), ablation_head, layer)->Unit(benchmark::kMillisecond)->Iterations(2);
        benchmark::RegisterBenchmark(("ablation_full/" + layer).c_str(), ablation_full, layer)->Unit(benchmark::kMillisecond)->Iterations(2);
        benchmark::RegisterBenchmark(("forward/" + layer).c_str(), forward)->Unit(benchmark::kMillisecond)->Iterations(2);
    }
    return dgbench::run_with_ratios(argc, argv, {{"ablation_full", "forward"}, {"ablation_head", "forward"}, {"ablation_head", "ablation_full"}});
}

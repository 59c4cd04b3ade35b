// Deletion and insertion (metrics/faithfulness.hpp) per image at 100 steps: ResNet50-CAM at width
// 1/4, large feature map, random weights (fixed seed, random BatchNorm statistics), one
// 1x3x224x224 image, a random 28 x 28 map, 2 threads (issue 13).
//
//   deletion_b32    the 101 inputs of the deletion curve in forward passes of 32 (what
//                   `dualgrad eval --faithfulness` does with --batch 32)
//   deletion_b1     the same curve one input per forward pass (RISE's single-image `CausalMetric`)
//   insertion_b32   the insertion curve from the blurred image, passes of 32
//   forward         one plain forward pass of one image, for scale: deletion_b32 / forward is the
//                   curve's cost in forward passes
//
//   ./benchmarks/bench_faithfulness      # ratios printed at the end (docs/performance.md)
#include <random>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include <dualgrad/eval/maps.hpp>
#include <dualgrad/metrics/faithfulness.hpp>
#include <dualgrad/models/cpu_model.hpp>

#include "random_weights.hpp"
#include "ratio_reporter.hpp"

namespace {

using namespace dualgrad;

struct Setup {
    std::unique_ptr<eval::MapModel> model;
    models::CpuModel* cpu = nullptr;
    std::vector<float> x;
    nn::Tensor xt{1, 3, 224, 224};
    std::vector<float> saliency;
    int cls = 0;
};

Setup& setup() {
    static Setup s = [] {
        const auto d = models::describe("resnet50", {.num_classes = 1000, .width = 0.25, .large_feature_map = true});
        models::CpuModel m{d, models::build_graph(d)};
        m.exec.threads = 2;
        std::mt19937 rng(2020);
        dgbench::randomize(m.graph, rng);
        std::normal_distribution<float> gauss(0.0f, 1.0f);
        Setup e;
        e.x.resize(3 * 224 * 224);
        for (auto& v : e.x) v = gauss(rng);
        std::copy(e.x.begin(), e.x.end(), e.xt.data());
        ScoreMap map(28, 28);
        for (int i = 0; i < 28 * 28; ++i) map.data()[i] = gauss(rng);
        e.saliency = input_saliency(map, 224, 224);
        e.model = eval::cpu_map_model(std::move(m));
        e.cpu = &static_cast<eval::SourceMapModel<models::CpuModel>&>(*e.model).source();
        const auto l = e.cpu->forward(e.xt);
        e.cls = static_cast<int>(std::max_element(l.values().begin(), l.values().end()) - l.values().begin());
        return e;
    }();
    return s;
}

void curve(benchmark::State& state, CausalMetric metric, int batch) {
    auto& s = setup();
    FaithfulnessOptions o;
    o.steps = 100;
    o.batch = batch;
    const FilledForward forward = [&](Shape4 shape, const HeadFill& fill) { return s.model->forward_filled(shape, fill); };
    for (auto _ : state) {
        auto c = causal_curve(forward, s.x, {1, 3, 224, 224}, s.saliency, s.cls, metric, o);
        benchmark::DoNotOptimize(c.data());
    }
}

void forward(benchmark::State& state) {
    auto& s = setup();
    for (auto _ : state) {
        auto l = s.cpu->forward(s.xt);
        benchmark::DoNotOptimize(l.values().data());
    }
}

} // namespace

int main(int argc, char** argv) {
    benchmark::RegisterBenchmark("forward/image", forward)->Unit(benchmark::kMillisecond)->Iterations(5);
    benchmark::RegisterBenchmark("deletion_b32/image", curve, CausalMetric::deletion, 32)->Unit(benchmark::kMillisecond)->Iterations(2);
    benchmark::RegisterBenchmark("deletion_b1/image", curve, CausalMetric::deletion, 1)->Unit(benchmark::kMillisecond)->Iterations(2);
    benchmark::RegisterBenchmark("insertion_b32/image", curve, CausalMetric::insertion, 32)->Unit(benchmark::kMillisecond)->Iterations(2);
    return dgbench::run_with_ratios(argc, argv,
                                    {{"forward", "deletion_b32"}, {"forward", "insertion_b32"}, {"deletion_b32", "deletion_b1"}});
}

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
#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include <dualgrad/eval/maps.hpp>
#include <dualgrad/metrics/faithfulness.hpp>
#include <dualgrad/models/cpu_model.hpp>

#include "ratio_reporter.hpp"
#include "resnet50_bench_model.hpp"

namespace {

using namespace dualgrad;

struct Setup {
    std::vector<float> saliency; ///< a random 28 x 28 map at the input's size
    int cls = 0;                 ///< the top-1 class
};

Setup& setup() {
    static Setup s = [] {
        auto& b = dgbench::resnet50_bench();
        std::normal_distribution<float> gauss(0.0f, 1.0f);
        ScoreMap map(28, 28);
        for (int i = 0; i < 28 * 28; ++i) map.data()[i] = gauss(b.rng);
        const auto l = b.cpu->forward(b.xt);
        return Setup{input_saliency(map, 224, 224),
                     static_cast<int>(std::max_element(l.values().begin(), l.values().end()) - l.values().begin())};
    }();
    return s;
}

void curve(benchmark::State& state, CausalMetric metric, int batch) {
    auto& b = dgbench::resnet50_bench();
    auto& s = setup();
    FaithfulnessOptions o;
    o.steps = 100;
    o.batch = batch;
    const FilledForward forward = [&](Shape4 shape, const HeadFill& fill) { return b.model->forward_filled(shape, fill); };
    for (auto _ : state) {
        auto c = causal_curve(forward, b.x.values, {1, 3, 224, 224}, s.saliency, s.cls, metric, o);
        benchmark::DoNotOptimize(c.data());
    }
}

} // namespace

int main(int argc, char** argv) {
    benchmark::RegisterBenchmark("forward/image", dgbench::plain_forward)->Unit(benchmark::kMillisecond)->Iterations(5);
    benchmark::RegisterBenchmark("deletion_b32/image", curve, CausalMetric::deletion, 32)->Unit(benchmark::kMillisecond)->Iterations(2);
    benchmark::RegisterBenchmark("deletion_b1/image", curve, CausalMetric::deletion, 1)->Unit(benchmark::kMillisecond)->Iterations(2);
    benchmark::RegisterBenchmark("insertion_b32/image", curve, CausalMetric::insertion, 32)->Unit(benchmark::kMillisecond)->Iterations(2);
    return dgbench::run_with_ratios(argc, argv,
                                    {{"forward", "deletion_b32"}, {"forward", "insertion_b32"}, {"deletion_b32", "deletion_b1"}});
}

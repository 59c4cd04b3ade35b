// Every registered method's cost as a multiple of one plain forward pass (issue 13): ResNet50-CAM
// at width 1/4, large feature map, random weights (fixed seed, random BatchNorm statistics), one
// 1x3x224x224 image, top-1 target, one layer, 2 threads. Each `method/<name>` runs the whole job
// through `eval::MapModel::maps` (the forward, the backward where the method needs it, the head
// or masked passes, the map); `forward` is one plain forward pass of the same model.
//
//   ./benchmarks/bench_methods [layer]      # default layer4.2; ratios printed at the end
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include <dualgrad/eval/maps.hpp>
#include <dualgrad/models/cpu_model.hpp>

#include "ratio_reporter.hpp"
#include "resnet50_bench_model.hpp"

namespace {

using namespace dualgrad;

void method(benchmark::State& state, std::string name, std::string layer) {
    auto& s = dgbench::resnet50_bench();
    for (auto _ : state) {
        auto bm = s.model->maps(s.x, {layer}, {name}, TargetRule::top1());
        benchmark::DoNotOptimize(bm.maps.data());
    }
}

} // namespace

int main(int argc, char** argv) {
    std::string layer = "layer4.2";
    if (argc > 1 && argv[argc - 1][0] != '-') layer = argv[--argc];
    std::vector<dgbench::RatioSpec> ratios;
    benchmark::RegisterBenchmark(("forward/" + layer).c_str(), dgbench::plain_forward)->Unit(benchmark::kMillisecond)->Iterations(3);
    for (const auto& name : MethodRegistry<EigenBackend>::global().names()) {
        // A costly method runs once, a cheap one three times; the ratio needs the same name suffix,
        // so every benchmark of the table is "<family>/<layer>" with the iterations fixed.
        const bool costly = name == "scorecam" || name == "ablationcam";
        benchmark::RegisterBenchmark(("m_" + name + "/" + layer).c_str(), method, name, layer)
            ->Unit(benchmark::kMillisecond)
            ->Iterations(costly ? 1 : 3);
        ratios.push_back({"forward", "m_" + name});
    }
    return dgbench::run_with_ratios(argc, argv, ratios);
}

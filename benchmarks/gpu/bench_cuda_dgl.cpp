// GPU: the fused DGL kernel's bandwidth against a device-to-device copy of the same input bytes
// (S, dl_c/dS, J^T p), timed with CUDA events (Google Benchmark manual time). Goal: >= 0.7x.
// Without a GPU it says so and exits 0.
#include <cstdio>
#include <string>

#include <benchmark/benchmark.h>

#include "../ratio_reporter.hpp"
#include "cuda_timing.hpp"

namespace {
void dgl(benchmark::State& state, int N, int K, int HW) {
    for (auto _ : state) state.SetIterationTime(dgbench::gpu::dgl_ms(N, K, HW, 50) / 1e3);
    state.SetBytesProcessed(state.iterations() * 3LL * N * K * HW * 4);
}
void copy(benchmark::State& state, int N, int K, int HW) {
    const std::size_t bytes = 3ULL * N * K * HW * 4;
    for (auto _ : state) state.SetIterationTime(dgbench::gpu::copy_ms(bytes, 50) / 1e3);
    state.SetBytesProcessed(state.iterations() * static_cast<long long>(bytes));
}
} // namespace

int main(int argc, char** argv) {
    const std::string dev = dgbench::gpu::device_name();
    if (dev.empty()) {
        std::printf("skipped: no usable CUDA device\n");
        return 0;
    }
    std::printf("device: %s\n", dev.c_str());
    struct Case { int n, k, hw; };
    for (const Case c : {Case{1, 1024, 28 * 28}, Case{64, 1024, 28 * 28}, Case{64, 768, 17 * 17}, Case{1, 512, 14 * 14}}) {
        const std::string name = "/" + std::to_string(c.n) + "x" + std::to_string(c.k) + "x" + std::to_string(c.hw);
        benchmark::RegisterBenchmark(("d2d_copy" + name).c_str(), copy, c.n, c.k, c.hw)->UseManualTime();
        benchmark::RegisterBenchmark(("dgl_fused" + name).c_str(), dgl, c.n, c.k, c.hw)->UseManualTime();
    }
    return dgbench::run_with_ratios(argc, argv, {{"dgl_fused", "d2d_copy"}});
}

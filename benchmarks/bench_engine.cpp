// The gradient engines on the job of docs/design.md §1: for one 1x3x224x224 image, the
// forward pass plus the VJPs of T' = 6 cotangents (the top-5 classes and p) at 3 layers, on
// ResNet50-CAM (layer3.1, layer3.5, layer4.2) and VGG16-GAP (conv4_3, conv5_3, relu) at width
// 1/4, random weights (fixed seed, random BatchNorm statistics), 2 threads for every engine:
//
//   ours              nn::Graph::gradients: one forward, one batched backward (TargetRule::top_k(5), J^T p)
//   libtorch          the same job with the same weights on LibTorch (models::TorchModel, the
//                     default cotangent batching: one autograd::grad call per cotangent)
//   libtorch_repeat   the same on LibTorch, cotangents batched by repeating the tapped layer T' times
//   naive             pytorch-grad-cam's way, on our engine: one forward and one full backward (to
//                     the input) per class and per layer, 5 x 3 = 15 runs. pytorch-grad-cam has no
//                     J^T p, so DGL's extra product is not counted: the naive job is 15 PCS-style
//                     runs, which only flatters the naive side (as does leaving out the weight
//                     gradients PyTorch computes for a model whose parameters require them).
//   naive_to_layer    the same with each backward stopped at its layer: a lower bound for any
//                     per-class, per-layer tool.
//   forward_*         one plain forward pass, for scale
//
// DGL against its physical floor (issue 4). Only input gradients are needed, so a head VJP costs
// about one head forward: the floor of a DGL job with T' cotangents is one plain forward pass plus
// T' forward passes (batch 1, one after the other) of the head, the part of the network above the
// earliest tapped layer (models::head_above). The jobs: the gradients of T' cotangents at the 3
// layers and the DGL maps at each of them, top-1 (T' = 2: e_c and p) and top-5 (T' = 6):
//   dgl1_ours, dgl5_ours, dgl1_libtorch, dgl5_libtorch        the job
//   floor1_ours, floor5_ours, floor1_libtorch, floor5_libtorch  its floor on the same engine
//
// peak_bytes: the most heap memory held at once during one run, above what was held before it
// (every malloc/free of the process is counted: this file interposes the allocator).
//
//   ./benchmarks/bench_engine            # ratios printed at the end (docs/performance.md)
#include <malloc.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <dualgrad/core/methods.hpp>
#include <dualgrad/models/cpu_model.hpp>
#include <dualgrad/models/torch_model.hpp>

#include "random_weights.hpp"
#include "ratio_reporter.hpp"

// --- heap accounting: the process's malloc family, interposed -------------------------------------
extern "C" {
void* __libc_malloc(std::size_t);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_realloc(void*, std::size_t);
void* __libc_memalign(std::size_t, std::size_t);
void __libc_free(void*);
}

namespace heap {
inline std::atomic<std::int64_t> current{0};
inline std::atomic<std::int64_t> peak{0};

inline void grew(std::int64_t n) {
    const std::int64_t now = current.fetch_add(n, std::memory_order_relaxed) + n;
    std::int64_t p = peak.load(std::memory_order_relaxed);
    while (now > p && !peak.compare_exchange_weak(p, now, std::memory_order_relaxed)) {
    }
}
inline void shrank(std::int64_t n) { current.fetch_sub(n, std::memory_order_relaxed); }
inline void* track(void* p) {
    if (p) grew(static_cast<std::int64_t>(malloc_usable_size(p)));
    return p;
}
/// Runs `job` once; returns the peak heap bytes held during it above those held before it.
template <class F>
std::int64_t peak_of(F&& job) {
    const std::int64_t before = current.load();
    peak.store(before);
    job();
    return peak.load() - before;
}
} // namespace heap

extern "C" {
void* malloc(std::size_t n) { return heap::track(__libc_malloc(n)); }
void* calloc(std::size_t n, std::size_t m) { return heap::track(__libc_calloc(n, m)); }
void free(void* p) {
    if (p) heap::shrank(static_cast<std::int64_t>(malloc_usable_size(p)));
    __libc_free(p);
}
void* realloc(void* p, std::size_t n) {
    const auto old = p ? static_cast<std::int64_t>(malloc_usable_size(p)) : 0;
    void* q = __libc_realloc(p, n);
    if (q) {
        heap::shrank(old);
        heap::grew(static_cast<std::int64_t>(malloc_usable_size(q)));
    } else if (n == 0 && p) {
        heap::shrank(old);
    }
    return q;
}
void* memalign(std::size_t a, std::size_t n) { return heap::track(__libc_memalign(a, n)); }
void* aligned_alloc(std::size_t a, std::size_t n) { return heap::track(__libc_memalign(a, n)); }
int posix_memalign(void** out, std::size_t a, std::size_t n) {
    void* p = heap::track(__libc_memalign(a, n));
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}
}

namespace {

using namespace dualgrad;

constexpr int threads = 2;
constexpr int top = 5;

struct Case {
    std::string name;
    std::string arch;
    std::vector<std::string> layers;
};

/// Both engines with the same random weights, the input, and the top-5 classes.
struct Engines {
    models::CpuModel cpu;
    models::TorchModel torch;
    std::optional<models::CpuModel> cpu_head; // the network above the earliest tapped layer
    std::optional<models::TorchModel> torch_head;
    nn::Tensor head_x;           // the earliest tapped layer's output for x
    at::Tensor head_xt;
    nn::Tensor x;
    at::Tensor xt;
    std::vector<int> classes;
    std::vector<std::string> layers;
};

Engines& engines(const Case& c) {
    static std::map<std::string, Engines> cache;
    if (auto it = cache.find(c.name); it != cache.end()) return it->second;
    // large_feature_map on for every backbone (VGG16 without pool4), as the figures in
    // docs/performance.md were measured; VGG16's default is now the paper's pool4 variant.
    const auto d = models::describe(c.arch, {.num_classes = 1000, .width = 0.25, .large_feature_map = true});
    Engines e{{d, models::build_graph(d)}, models::TorchModel(d), std::nullopt, std::nullopt, {}, {}, nn::Tensor(1, 3, 224, 224), {}, {}, c.layers};
    std::mt19937 rng(2020);
    dgbench::randomize(e.cpu.graph, rng);
    for (auto& [name, p] : e.cpu.graph.parameters())
        e.torch.parameters().at(name) =
            at::from_blob(p.data->data(), p.shape, at::TensorOptions().dtype(at::kFloat)).clone();
    std::normal_distribution<float> gauss(0.0f, 1.0f);
    for (std::int64_t i = 0; i < e.x.size(); ++i) e.x.data()[i] = gauss(rng);

    // The head above the earliest tapped layer, with the same parameters, and its input.
    {
        GradientRequest s_only{{c.layers.front()}, TargetRule::top1()};
        s_only.class_vjps = false;
        e.head_x = e.cpu.graph.gradients(e.x, s_only, nn::ExecContext{threads}).layers.at(0).activations;
        const auto hd = models::head_above(d, c.layers.front(), static_cast<int>(e.head_x.dimension(1)));
        e.cpu_head.emplace(models::CpuModel{hd, models::build_graph(hd)});
        e.torch_head.emplace(hd);
        auto full = e.cpu.graph.parameters();
        for (auto& [name, p] : e.cpu_head->graph.parameters()) {
            for (auto& [fname, fp] : full)
                if (fname == name) *p.data = *fp.data;
            e.torch_head->parameters().at(name) =
                at::from_blob(p.data->data(), p.shape, at::TensorOptions().dtype(at::kFloat)).clone();
        }
        e.head_xt = at::from_blob(e.head_x.data(), {e.head_x.dimension(0), e.head_x.dimension(1), e.head_x.dimension(2),
                                                    e.head_x.dimension(3)},
                                  at::TensorOptions().dtype(at::kFloat))
                        .clone();
    }
    e.xt = at::from_blob(e.x.data(), {1, 3, 224, 224}, at::TensorOptions().dtype(at::kFloat)).clone();

    const auto logits = e.cpu.graph.forward(e.x, nn::ExecContext{threads});
    const auto t = Targets::top_k(logits, top);
    for (int s = 0; s < top; ++s) e.classes.push_back(t(0, s));
    // Same weights, same job: the engines must agree before they are timed.
    const auto lt = e.torch.forward(e.xt).contiguous();
    double err = 0, scale = 0;
    for (int k = 0; k < logits.classes(); ++k) {
        err = std::max(err, std::abs(double(lt.data_ptr<float>()[k]) - logits.row(0)[k]));
        scale = std::max(scale, std::abs(double(logits.row(0)[k])));
    }
    if (!(err <= 1e-3 * scale)) {
        std::fprintf(stderr, "%s: LibTorch and the CPU engine disagree (max |dlogit| %g, scale %g)\n", c.name.c_str(), err, scale);
        std::exit(1);
    }
    return cache.emplace(c.name, std::move(e)).first->second;
}

GradientRequest job(const Engines& e) { return {e.layers, TargetRule::top_k(top)}; }

template <class F>
void run(benchmark::State& state, F&& once) {
    once(); // warm-up: scratch buffers, thread pools
    state.counters["peak_bytes"] = static_cast<double>(heap::peak_of(once));
    for (auto _ : state) once();
}

void ours(benchmark::State& state, const Case& c) {
    auto& e = engines(c);
    run(state, [&] { benchmark::DoNotOptimize(e.cpu.graph.gradients(e.x, job(e), nn::ExecContext{threads})); });
}

void libtorch(benchmark::State& state, const Case& c, models::CotangentBatching batching) {
    auto& e = engines(c);
    e.torch.batching = batching;
    run(state, [&] { benchmark::DoNotOptimize(e.torch.gradients(e.xt, job(e))); });
    e.torch.batching = models::CotangentBatching::separate;
}

// pytorch-grad-cam: per class and per layer, a forward pass and a backward pass of that class's
// logit. `full`: the backward pass runs down to the input, as PyTorch's does for a model whose
// parameters require gradients (their weight gradients, which PyTorch would also compute, are not
// counted); otherwise it stops at the layer, the least any per-class, per-layer tool can do.
void naive(benchmark::State& state, const Case& c, bool full) {
    auto& e = engines(c);
    run(state, [&] {
        for (int cls : e.classes)
            for (const auto& layer : e.layers) {
                GradientRequest r{{layer}, TargetRule::given({{cls}})};
                if (full) r.layers.push_back("input");
                r.prob_vjp = false;
                benchmark::DoNotOptimize(e.cpu.graph.gradients(e.x, r, nn::ExecContext{threads}));
            }
    });
}

// DGL at the case's 3 layers: the gradients of T' cotangents and the DGL map of every target.
template <class G>
void dgl_job(G& source, const typename G::input_type& x, const std::vector<std::string>& layers, int k) {
    const auto r = source.gradients(x, {layers, TargetRule::top_k(k)});
    for (const auto& g : r.layers)
        benchmark::DoNotOptimize(class_maps<typename G::backend>(Method::dgl, g, &r.targets));
}

struct CpuThreads {
    models::CpuModel& m;
    using backend = EigenBackend;
    using input_type = nn::Tensor;
    GradientResult<EigenBackend> gradients(const nn::Tensor& x, const GradientRequest& r) {
        return m.graph.gradients(x, r, nn::ExecContext{threads});
    }
};

void dgl_ours(benchmark::State& state, const Case& c, int k) {
    auto& e = engines(c);
    CpuThreads src{e.cpu};
    run(state, [&] { dgl_job(src, e.x, e.layers, k); });
}

void dgl_libtorch(benchmark::State& state, const Case& c, int k) {
    auto& e = engines(c);
    run(state, [&] { dgl_job(e.torch, e.xt, e.layers, k); });
}

// One plain forward pass and T' = k + 1 head forward passes (batch 1).
void floor_ours(benchmark::State& state, const Case& c, int k) {
    auto& e = engines(c);
    run(state, [&] {
        benchmark::DoNotOptimize(e.cpu.graph.forward(e.x, nn::ExecContext{threads}));
        for (int t = 0; t < k + 1; ++t) benchmark::DoNotOptimize(e.cpu_head->graph.forward(e.head_x, nn::ExecContext{threads}));
    });
}

void floor_libtorch(benchmark::State& state, const Case& c, int k) {
    auto& e = engines(c);
    run(state, [&] {
        benchmark::DoNotOptimize(e.torch.forward(e.xt));
        for (int t = 0; t < k + 1; ++t) benchmark::DoNotOptimize(e.torch_head->forward(e.head_xt));
    });
}

void forward_ours(benchmark::State& state, const Case& c) {
    auto& e = engines(c);
    run(state, [&] { benchmark::DoNotOptimize(e.cpu.graph.forward(e.x, nn::ExecContext{threads})); });
}

void forward_libtorch(benchmark::State& state, const Case& c) {
    auto& e = engines(c);
    run(state, [&] { benchmark::DoNotOptimize(e.torch.forward(e.xt)); });
}

} // namespace

int main(int argc, char** argv) {
    torch::set_num_threads(threads);
    const std::vector<Case> cases{
        {"resnet50_w0.25", "resnet50", {"layer3.1", "layer3.5", "layer4.2"}},
        {"vgg16_w0.25", "vgg16", {"conv4_3", "conv5_3", "relu"}},
    };
    for (const auto& c : cases) {
        const std::string s = "/" + c.name;
        auto reg = [&](const std::string& family, auto fn, auto... args) {
            benchmark::RegisterBenchmark((family + s).c_str(), fn, c, args...)
                ->Unit(benchmark::kMillisecond)
                ->UseRealTime();
        };
        reg("ours", ours);
        reg("libtorch", libtorch, models::CotangentBatching::separate);
        reg("libtorch_repeat", libtorch, models::CotangentBatching::repeat);
        reg("naive", naive, true);
        reg("naive_to_layer", naive, false);
        reg("forward_ours", forward_ours);
        reg("forward_libtorch", forward_libtorch);
        reg("dgl1_ours", dgl_ours, 1);
        reg("floor1_ours", floor_ours, 1);
        reg("dgl5_ours", dgl_ours, 5);
        reg("floor5_ours", floor_ours, 5);
        reg("dgl1_libtorch", dgl_libtorch, 1);
        reg("floor1_libtorch", floor_libtorch, 1);
        reg("dgl5_libtorch", dgl_libtorch, 5);
        reg("floor5_libtorch", floor_libtorch, 5);
    }
    return dgbench::run_with_ratios(argc, argv,
                                    {{"ours", "libtorch"},
                                     {"ours", "naive"},
                                     {"ours", "naive_to_layer"},
                                     {"libtorch", "libtorch_repeat"},
                                     {"forward_ours", "forward_libtorch"},
                                     // DGL against its floor (goal: job <= 1.2x floor, i.e. ratio >= 0.83)
                                     {"dgl1_ours", "floor1_ours"},
                                     {"dgl5_ours", "floor5_ours"},
                                     {"dgl1_libtorch", "floor1_libtorch"},
                                     {"dgl5_libtorch", "floor5_libtorch"},
                                     // both jobs as multiples of a plain forward (ratio = 1 / multiple)
                                     {"dgl1_ours", "forward_ours"},
                                     {"dgl5_ours", "forward_ours"},
                                     {"dgl1_libtorch", "forward_libtorch"},
                                     {"dgl5_libtorch", "forward_libtorch"}});
}

// Device-side timing for bench_cuda_dgl.cpp: CUDA events around the fused DGL kernel and around
// a device-to-device copy of the same input bytes.
#include "cuda_timing.hpp"

#include <stdexcept>
#include <string>
#include <vector>

#include <dualgrad/cuda/dgl.cuh>

namespace dgbench::gpu {
namespace {
void check(cudaError_t e, const char* what) {
    if (e != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(e));
}
template <class F>
double time_ms(int iters, F&& f) {
    cudaEvent_t a, b;
    check(cudaEventCreate(&a), "event");
    check(cudaEventCreate(&b), "event");
    f(); // warm-up
    check(cudaEventRecord(a), "record");
    for (int i = 0; i < iters; ++i) f();
    check(cudaEventRecord(b), "record");
    check(cudaEventSynchronize(b), "sync");
    float ms = 0;
    check(cudaEventElapsedTime(&ms, a, b), "elapsed");
    cudaEventDestroy(a);
    cudaEventDestroy(b);
    return ms / iters;
}
} // namespace

std::string device_name() {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) return {};
    cudaDeviceProp p{};
    cudaGetDeviceProperties(&p, 0);
    return p.name;
}

double dgl_ms(int N, int K, int HW, int iters) {
    const std::size_t count = static_cast<std::size_t>(N) * K * HW;
    float *s, *g, *x, *out;
    void* ws;
    check(cudaMalloc(&s, count * 4), "malloc");
    check(cudaMalloc(&g, count * 4), "malloc");
    check(cudaMalloc(&x, count * 4), "malloc");
    check(cudaMalloc(&out, static_cast<std::size_t>(N) * HW * 4), "malloc");
    check(cudaMalloc(&ws, dualgrad::cuda::dgl_workspace_bytes(N, HW)), "malloc");
    cudaMemset(s, 0, count * 4), cudaMemset(g, 0, count * 4), cudaMemset(x, 0, count * 4);
    const double ms = time_ms(iters, [&] {
        check(dualgrad::cuda::dgl_map(s, g, x, N, K, HW, dualgrad::cuda::CostInput::prob_vjp, 1.f, -10.f, ws, out),
              "dgl_map");
    });
    cudaFree(s), cudaFree(g), cudaFree(x), cudaFree(out), cudaFree(ws);
    return ms;
}

double copy_ms(std::size_t bytes, int iters) {
    void *a, *b;
    check(cudaMalloc(&a, bytes), "malloc");
    check(cudaMalloc(&b, bytes), "malloc");
    const double ms = time_ms(iters, [&] { check(cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice), "copy"); });
    cudaFree(a), cudaFree(b);
    return ms;
}

} // namespace dgbench::gpu

#include "cuda_harness.hpp"

#include <stdexcept>

#include <dualgrad/cuda/dgl.cuh>
#include <dualgrad/cuda/register.cuh>

namespace dgcuda {

namespace {
void check(cudaError_t e, const char* what) {
    if (e != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(e));
}
struct DeviceBuffer {
    void* p = nullptr;
    explicit DeviceBuffer(std::size_t bytes) { check(cudaMalloc(&p, bytes), "cudaMalloc"); }
    ~DeviceBuffer() { cudaFree(p); }
    float* f() const { return static_cast<float*>(p); }
};
} // namespace

std::string device_problem() {
    int n = 0;
    const cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) return std::string("cudaGetDeviceCount: ") + cudaGetErrorString(e);
    if (n == 0) return "no CUDA device";
    return {};
}

std::vector<float> dgl_map(const std::vector<float>& S, const std::vector<float>& G, const std::vector<float>& X,
                           int N, int K, int HW, int mode, float u, float v) {
    const std::size_t bytes = S.size() * sizeof(float);
    DeviceBuffer s(bytes), g(bytes), x(bytes), out(static_cast<std::size_t>(N) * HW * sizeof(float)),
        ws(dualgrad::cuda::dgl_workspace_bytes(N, HW));
    check(cudaMemcpy(s.p, S.data(), bytes, cudaMemcpyHostToDevice), "copy S");
    check(cudaMemcpy(g.p, G.data(), bytes, cudaMemcpyHostToDevice), "copy G");
    if (mode != 2) check(cudaMemcpy(x.p, X.data(), bytes, cudaMemcpyHostToDevice), "copy X");
    const auto m = mode == 0 ? dualgrad::cuda::CostInput::prob_vjp
                 : mode == 1 ? dualgrad::cuda::CostInput::cost_gradient
                             : dualgrad::cuda::CostInput::none;
    check(dualgrad::cuda::dgl_map(s.f(), g.f(), mode == 2 ? nullptr : x.f(), N, K, HW, m, u, v, ws.p, out.f()),
          "dgl_map");
    std::vector<float> result(static_cast<std::size_t>(N) * HW);
    check(cudaMemcpy(result.data(), out.p, result.size() * sizeof(float), cudaMemcpyDeviceToHost), "copy out");
    return result;
}

int invalid_argument_code() {
    return static_cast<int>(dualgrad::cuda::dgl_map(nullptr, nullptr, nullptr, 1, 1, 1,
                                                    dualgrad::cuda::CostInput::none, 1, 0, nullptr, nullptr));
}


bool register_fused() {
    dualgrad::cuda::register_fused_kernels();
    const auto& k = dualgrad::cuda::fused_kernels();
    return k.dgl == &dualgrad::cuda::detail::fused_dgl_entry && k.workspace_bytes && k.device_type == 1 &&
           k.workspace_bytes(2, 10) == dualgrad::cuda::dgl_workspace_bytes(2, 10);
}

} // namespace dgcuda

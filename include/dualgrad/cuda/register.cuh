#pragma once
/// \file
/// Makes the fused CUDA DGL kernel (dgl.cuh) available to `TorchBackend`: include this file in
/// exactly one .cu file of your program (compiled by nvcc, linked with `dualgrad::cuda`) and call
/// `dualgrad::cuda::register_fused_kernels()` once at startup. From then on, `EnhancedMapper`
/// (DGL) on CUDA `at::Tensor`s computes each map in one fused pass over S and the gradients
/// instead of ATen's two passes. nvcc cannot compile LibTorch's headers, hence this plain-function
/// bridge (cuda/config.hpp).
///
///     // kernels.cu
///     #include <dualgrad/cuda/register.cuh>
///     void init_dualgrad_cuda() { dualgrad::cuda::register_fused_kernels(); }

#include "dualgrad/cuda/config.hpp"
#include "dualgrad/cuda/dgl.cuh"

namespace dualgrad::cuda {

namespace detail {
inline int fused_dgl_entry(const float* S, const float* G, const float* X, int N, int K, int HW, int mode, float u,
                           float v, void* workspace, float* out, void* stream) {
    return static_cast<int>(dgl_map(S, G, X, N, K, HW, static_cast<CostInput>(mode), u, v, workspace, out,
                                    static_cast<cudaStream_t>(stream)));
}
inline std::size_t fused_dgl_workspace(int N, int HW) { return dgl_workspace_bytes(N, HW); }
} // namespace detail

/// Registers the fused kernels for CUDA tensors (idempotent).
inline void register_fused_kernels() {
    auto& k = fused_kernels();
    k.dgl = &detail::fused_dgl_entry;
    k.workspace_bytes = &detail::fused_dgl_workspace;
    k.device_type = 1; // c10::DeviceType::CUDA
}

} // namespace dualgrad::cuda

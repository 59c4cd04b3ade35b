#pragma once
/// \file
/// Makes the fused CUDA DGL kernel (dgl.cuh) available to `TorchBackend`: include this file in a
/// .cu file of your program (compiled by nvcc, linked with `dualgrad::cuda`). It registers the
/// kernel during static initialization (`fused_kernels_registered`); calling
/// `dualgrad::cuda::register_fused_kernels()` yourself does the same. From then on, `EnhancedMapper`
/// (DGL) on CUDA `at::Tensor`s computes each map in one fused pass over S and the gradients
/// instead of ATen's two passes. nvcc cannot compile LibTorch's headers, hence this plain-function
/// bridge (cuda/config.hpp).
///
///     // kernels.cu: nothing else needed
///     #include <dualgrad/cuda/register.cuh>

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

/// Registers the kernels before `main` in any program that compiles this header.
inline const bool fused_kernels_registered = (register_fused_kernels(), true);

} // namespace dualgrad::cuda

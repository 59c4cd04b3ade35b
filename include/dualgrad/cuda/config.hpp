#pragma once
/// \file
/// Whether this build of dualgrad has its CUDA kernels (`DUALGRAD_WITH_CUDA`, set by the
/// `dualgrad::cuda` CMake target), and the error for asking for CUDA in a build without it.

#include <cstddef>
#include <string_view>

#include "dualgrad/error.hpp"

namespace dualgrad::cuda {

#ifdef DUALGRAD_WITH_CUDA
inline constexpr bool built_with_cuda = true;
#else
inline constexpr bool built_with_cuda = false;
#endif

/// Throws `value_error` naming `what` when dualgrad was built without its CUDA kernels.
inline void require_cuda_build(std::string_view what) {
    if (!built_with_cuda)
        dualgrad::detail::raise<value_error>(what, " needs CUDA, but this build of dualgrad has no CUDA kernels: "
                                         "configure with -DDUALGRAD_WITH_CUDA=ON and link dualgrad::cuda");
}

/// The fused DGL kernel as a plain function, so that code compiled by the host compiler (e.g.
/// `TorchBackend`, whose LibTorch headers nvcc cannot compile) can call the kernel compiled by
/// nvcc. `dualgrad/cuda/register.cuh`, included in one .cu file of the program, fills it in;
/// until then it is empty and the map algebra runs as ATen operations.
///
/// `dgl(S, G, X, N, K, HW, mode, u, v, workspace, out, stream)`: device pointers, mode 0 = X is
/// J^T p (cotangent form u p + v e_c), 1 = X is the cost gradient, 2 = PCS; returns a
/// cudaError_t as int (0: success). `workspace_bytes(N, HW)`: the workspace `dgl` needs.
/// `device_type`: the c10::DeviceType whose tensors it takes (1 = CUDA).
struct FusedKernels {
    int (*dgl)(const float* S, const float* G, const float* X, int N, int K, int HW, int mode, float u, float v,
               void* workspace, float* out, void* stream) = nullptr;
    std::size_t (*workspace_bytes)(int N, int HW) = nullptr;
    int device_type = 1;
    long calls = 0; ///< how many maps the fused kernel computed (for tests and logs)
};

/// The process-wide registry (one instance across translation units).
inline FusedKernels& fused_kernels() {
    static FusedKernels k;
    return k;
}

} // namespace dualgrad::cuda

#pragma once
// Host-side entry points into the CUDA kernels for the tests (compiled by nvcc in
// cuda_harness.cu, called from Catch2 tests compiled by the host compiler).
#include <string>
#include <vector>

namespace dgcuda {

/// Empty when a device is usable, else why not.
std::string device_problem();

/// Runs dualgrad::cuda::dgl_map on host data; mode 0 = J^T p, 1 = cost gradient, 2 = PCS.
std::vector<float> dgl_map(const std::vector<float>& S, const std::vector<float>& G, const std::vector<float>& X,
                           int N, int K, int HW, int mode, float u, float v);

/// The error code dgl_map returns for invalid arguments (null input, zero size).
int invalid_argument_code();

/// dualgrad/cuda/register.cuh: registers the fused kernel for TorchBackend; true if the registry
/// then holds it.
bool register_fused();

} // namespace dgcuda

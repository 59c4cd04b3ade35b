#pragma once
/// \file
/// Fused CUDA kernels for the DGL map (include from a .cu file; link `dualgrad::cuda`).
///
/// `Mbar = sum_k G_k (a S_k + b X_k + c G_k)` splits into three per-pixel sums,
/// `M1 = sum_k G S`, `M2 = sum_k G X`, `M3 = sum_k G G`, so ONE pass over S, G and X computes them
/// together with the per-sample moments `|S|^2`, `|X|^2`, `<G,X>` (= sum M2), `|G|^2` (= sum M3).
/// A small epilogue then forms a, b, c from the moments on the device (no host round trip) and
/// writes `a M1 + b M2 + c M3`. X is either J^T p (a linear cost policy `u p + v e_c`) or the
/// cost gradient itself.
///
///     std::size_t bytes = dualgrad::cuda::dgl_workspace_bytes(N, H * W);
///     dualgrad::cuda::dgl_map(S, G, P, N, K, H * W, dualgrad::cuda::CostInput::prob_vjp, 1.f, -10.f,
///                             workspace, out, stream);

#include <cstddef>
#include <cstdint>

#include <cuda_runtime.h>

namespace dualgrad::cuda {

/// What the second gradient X is.
enum class CostInput {
    prob_vjp,      ///< X = J^T p; the cost gradient is u X + v G
    cost_gradient, ///< X = dcost/dS itself
    none,          ///< PCS: the map is sum_k G S
};

/// Bytes of device workspace `dgl_map` needs: 3 maps of H*W floats and 4 doubles per sample.
[[nodiscard]] inline std::size_t dgl_workspace_bytes(int N, int HW) {
    return static_cast<std::size_t>(N) * (4 * sizeof(double) + 3 * static_cast<std::size_t>(HW) * sizeof(float));
}

namespace detail {

inline constexpr int block = 256;

__device__ inline float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
    return v;
}

/// grid (pixel tiles, channel chunks, samples): each thread sums one pixel over a chunk of channels.
__global__ void dgl_fused_pass(const float* __restrict__ S, const float* __restrict__ G,
                               const float* __restrict__ X, int K, int HW, int kchunk, bool with_x,
                               float* __restrict__ maps, double* __restrict__ moments) {
    const int n = blockIdx.z;
    const int p = blockIdx.x * block + threadIdx.x;
    const int k0 = blockIdx.y * kchunk;
    const int k1 = min(K, k0 + kchunk);
    float m1 = 0, m2 = 0, m3 = 0, ss = 0, xx = 0;
    if (p < HW) {
        const std::size_t base = (static_cast<std::size_t>(n) * K + k0) * HW + p;
        for (int k = k0; k < k1; ++k) {
            const std::size_t i = base + static_cast<std::size_t>(k - k0) * HW;
            const float s = __ldg(S + i), g = __ldg(G + i);
            m1 += g * s;
            m3 += g * g;
            ss += s * s;
            if (with_x) {
                const float x = __ldg(X + i);
                m2 += g * x;
                xx += x * x;
            }
        }
        float* m = maps + static_cast<std::size_t>(n) * 3 * HW;
        atomicAdd(m + p, m1);
        atomicAdd(m + HW + p, m2);
        atomicAdd(m + 2 * HW + p, m3);
    }
    // Block reduction of ss, xx, gx (= m2), gg (= m3), then one double atomic per block.
    __shared__ float part[4][block / 32];
    const float vals[4] = {warp_sum(ss), warp_sum(m3), warp_sum(xx), warp_sum(m2)};
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    if (lane == 0)
        for (int j = 0; j < 4; ++j) part[j][warp] = vals[j];
    __syncthreads();
    if (threadIdx.x < 4) {
        float t = 0;
        for (int w = 0; w < block / 32; ++w) t += part[threadIdx.x][w];
        atomicAdd(moments + 4 * n + threadIdx.x, static_cast<double>(t));
    }
}

/// out = a M1 + b M2 + c M3 with a, b, c from the sample's moments (ss, gg, xx, gx).
__global__ void dgl_epilogue(const float* __restrict__ maps, const double* __restrict__ moments, int HW,
                             CostInput mode, float u, float v, float* __restrict__ out) {
    const int n = blockIdx.y;
    const int p = blockIdx.x * block + threadIdx.x;
    if (p >= HW) return;
    const double* m = moments + 4 * n;
    const double ss = m[0], gg = m[1], xx = m[2], gx = m[3];
    double a = 1, b = 0, c = 0;
    if (mode != CostInput::none) {
        a = rsqrt(fmax(ss, 1e-12));
        if (mode == CostInput::cost_gradient) {
            b = -rsqrt(fmax(xx, 1e-12));
        } else {
            const double cost_sq = fmax(0.0, double(u) * u * xx + 2.0 * u * v * gx + double(v) * v * gg);
            const double sc = rsqrt(fmax(cost_sq, 1e-12));
            b = -sc * u;
            c = -sc * v;
        }
    }
    const float* mp = maps + static_cast<std::size_t>(n) * 3 * HW;
    out[static_cast<std::size_t>(n) * HW + p] =
        static_cast<float>(a * mp[p] + b * mp[HW + p] + c * mp[2 * HW + p]);
}

} // namespace detail

/// The DGL (or PCS) map of N samples into `out` (N x H*W floats), all pointers on the device.
/// S, G, X are N x K x H*W floats, row-major; X may be null for `CostInput::none`. (u, v) is the
/// cotangent form `u p + v e_c` for `CostInput::prob_vjp` (ReferenceCost: 1, -alpha).
/// Returns the first CUDA error (and `cudaErrorInvalidValue` for bad arguments).
inline cudaError_t dgl_map(const float* S, const float* G, const float* X, int N, int K, int HW, CostInput mode,
                           float u, float v, void* workspace, float* out, cudaStream_t stream = nullptr) {
    if (!S || !G || !out || !workspace || N <= 0 || K <= 0 || HW <= 0 || (mode != CostInput::none && !X))
        return cudaErrorInvalidValue;
    auto* moments = static_cast<double*>(workspace);
    auto* maps = reinterpret_cast<float*>(moments + 4 * static_cast<std::size_t>(N));
    if (auto e = cudaMemsetAsync(workspace, 0, dgl_workspace_bytes(N, HW), stream); e != cudaSuccess) return e;
    const int tiles = (HW + detail::block - 1) / detail::block;
    // Enough blocks to fill the GPU even for one image: chunks of 16 channels.
    const int kchunk = 16;
    const dim3 grid(static_cast<unsigned>(tiles), static_cast<unsigned>((K + kchunk - 1) / kchunk),
                    static_cast<unsigned>(N));
    detail::dgl_fused_pass<<<grid, detail::block, 0, stream>>>(S, G, X, K, HW, kchunk, mode != CostInput::none, maps,
                                                               moments);
    if (auto e = cudaGetLastError(); e != cudaSuccess) return e;
    detail::dgl_epilogue<<<dim3(static_cast<unsigned>(tiles), static_cast<unsigned>(N)), detail::block, 0, stream>>>(
        maps, moments, HW, mode, u, v, out);
    return cudaGetLastError();
}

} // namespace dualgrad::cuda

#pragma once
/// \file
/// Methods that need no class weights: Eigen-CAM and Eigen-Grad-CAM (the first principal
/// component of S, or of G*S, over the pixels), and Random-CAM (random channel weights, the
/// baseline). They follow pytorch-grad-cam 1.5 (`EigenCAM`, `EigenGradCAM`, `RandomCAM`),
/// including `BaseCAM`'s final ReLU, with two decisions of our own, stated in docs/reference.md:
///
/// - The sign of a principal direction is arbitrary. pytorch-grad-cam takes whatever LAPACK's SVD
///   returns, so its map can come out inverted (all zero after the ReLU). Here the direction v is
///   the one with `sum_k v_k >= 0`: equivalently, the map correlates positively with the
///   channel mean of the centred activations, so it highlights where the layer fires.
/// - Random-CAM's weights are uniform in [-1, 1), drawn from (`seed`, a hash of the sample's
///   activations, channel): the same image gets the same map whatever its batch, shard or
///   thread, and two images get independent weights.
///
///     auto maps = dualgrad::eigen_cam<EigenBackend>(S, targets.slots());   // one map per slot
///
/// Cost: one K x K or P x P (P = H W, whichever is smaller) symmetric eigenproblem per sample, in
/// double precision, on the host.

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

#include "dualgrad/backend/ops.hpp"
#include "dualgrad/backend/principal_component.hpp"
#include "dualgrad/core/layer_gradients.hpp"
#include "dualgrad/core/random.hpp"
#include "dualgrad/error.hpp"

namespace dualgrad {

namespace detail {

template <TensorBackend B>
[[nodiscard]] typename B::tensor principal_maps(const std::vector<float>& host, Shape4 s, const typename B::tensor& like,
                                                const char* method) {
    if (s.c < 2)
        detail::raise<value_error>(method, ": the layer has ", s.c, " channel; the principal component of a single "
                                   "channel is that channel itself, so the method is undefined there. Choose a layer "
                                   "with several channels");
    const std::int64_t P = s.plane();
    std::vector<float> map(static_cast<std::size_t>(s.n * P));
    for (std::int64_t n = 0; n < s.n; ++n)
        principal_projection(host.data() + n * s.c * P, s.c, P, map.data() + n * P);
    for (float& m : map) m = std::max(m, 0.0f); // BaseCAM's ReLU
    return ops::from_host_like<B>(like, s.map_shape(), map);
}

} // namespace detail

/// Eigen-CAM (Muhammad and Yeasin 2020): relu of the first principal component of S over the
/// pixels, the same map for every target slot (`slots` copies). Throws `value_error` for a layer
/// with one channel.
template <TensorBackend B>
[[nodiscard]] std::vector<typename B::tensor> eigen_cam(const typename B::tensor& S, int slots) {
    ops::require_nonempty<B>(S, "activations S");
    const auto map = detail::principal_maps<B>(B::to_host(S), B::shape(S), S, "eigencam");
    return std::vector<typename B::tensor>(static_cast<std::size_t>(std::max(slots, 1)), map);
}

/// Eigen-Grad-CAM (pytorch-grad-cam): relu of the first principal component of G * S.
template <TensorBackend B>
[[nodiscard]] typename B::tensor eigen_grad_cam(const typename B::tensor& S, const typename B::tensor& G) {
    ops::require_same_shape<B>(S, "activations S", G, "gradient dl_c/dS");
    auto x = B::to_host(S);
    const auto g = B::to_host(G);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] *= g[i];
    return detail::principal_maps<B>(x, B::shape(S), S, "eigengradcam");
}

/// Random-CAM's channel weights for sample `n` of S (K values, uniform in [-1, 1)), from `seed`
/// and a hash of the sample's activations (see the file comment).
[[nodiscard]] inline std::vector<float> random_cam_weights(std::span<const float> sample, std::int64_t channels,
                                                           std::uint64_t seed) {
    std::uint64_t h = 0xCBF29CE484222325ull ^ detail::splitmix64(seed); // FNV-1a over the bytes
    for (float f : sample) {
        auto u = std::bit_cast<std::uint32_t>(f == 0.0f ? 0.0f : f); // -0 and +0 hash alike
        for (int b = 0; b < 4; ++b, u >>= 8) h = (h ^ (u & 0xFFu)) * 0x100000001B3ull;
    }
    std::vector<float> w(static_cast<std::size_t>(channels));
    for (std::int64_t k = 0; k < channels; ++k) {
        const std::uint64_t r = detail::splitmix64(h + static_cast<std::uint64_t>(k) * 0x9E3779B97F4A7C15ull);
        const double unit = static_cast<double>(r >> 11) * 0x1.0p-53; // [0, 1)
        w[static_cast<std::size_t>(k)] = static_cast<float>(2.0 * unit - 1.0);
    }
    return w;
}

/// Random-CAM (pytorch-grad-cam `RandomCAM`): relu(sum_k w_k S_k) with `random_cam_weights`; the
/// same map for every target slot.
template <TensorBackend B>
[[nodiscard]] std::vector<typename B::tensor> random_cam(const typename B::tensor& S, int slots, std::uint64_t seed = 0) {
    ops::require_nonempty<B>(S, "activations S");
    const Shape4 s = B::shape(S);
    const auto host = B::to_host(S);
    const std::int64_t per_sample = s.c * s.plane();
    std::vector<float> w;
    w.reserve(static_cast<std::size_t>(s.n * s.c));
    for (std::int64_t n = 0; n < s.n; ++n) {
        const auto wn = random_cam_weights(std::span(host).subspan(static_cast<std::size_t>(n * per_sample),
                                                                    static_cast<std::size_t>(per_sample)),
                                           s.c, seed);
        w.insert(w.end(), wn.begin(), wn.end());
    }
    const auto map = ops::relu<B>(ops::channel_sum<B>(S, w));
    return std::vector<typename B::tensor>(static_cast<std::size_t>(std::max(slots, 1)), map);
}

} // namespace dualgrad

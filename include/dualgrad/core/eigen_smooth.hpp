#pragma once
/// \file
/// pytorch-grad-cam's `eigen_smooth`: a method that sums weighted activations over the channels,
/// relu(sum_k W_k), gives instead relu of the first principal component of W over the pixels
/// (`get_2d_projection`, the projection Eigen-CAM makes of S, with dualgrad's sign rule:
/// docs/reference.md). `weighted_activations` gives W for the CAM family's gradient methods:
///
/// | method              | W_k                                    |
/// |---------------------|----------------------------------------|
/// | gradcam             | mean_hw(G_k) S_k                       |
/// | gradcampp           | w_k S_k (Grad-CAM++'s weights)         |
/// | xgradcam            | sum_hw(G_k S_k) / (sum_hw(S_k) + 1e-7) S_k |
/// | hirescam            | G_k S_k                                |
/// | gradcam-elementwise | relu(G_k S_k)                          |
/// | layercam            | relu(G_k) S_k                          |
///
/// and `channel_weighted` gives it for any channel weights (Score-CAM and its variants,
/// Ablation-CAM, Finer-CAM). In the registry, a method that has W (`MethodSpec::weighted`)
/// answers to its name plus `+eigensmooth` too: `gradcam+eigensmooth`.
///
///     auto W = dualgrad::weighted_activations<EigenBackend>(dualgrad::Method::gradcam, S, G);
///     auto map = dualgrad::eigen_smooth<EigenBackend>(W, dualgrad::EigenBackend::shape(S), S);

#include <algorithm>
#include <span>
#include <vector>

#include "dualgrad/backend/ops.hpp"
#include "dualgrad/core/methods.hpp"
#include "dualgrad/core/projection_methods.hpp"
#include "dualgrad/error.hpp"

namespace dualgrad {

/// W = w_k S_k on the host (N x K x H x W, row-major) for channel weights `w` (N*K values).
template <class T>
[[nodiscard]] std::vector<float> channel_weighted(std::span<const float> S, Shape4 s, std::span<const T> w) {
    if (static_cast<std::int64_t>(w.size()) != s.n * s.c)
        detail::raise<shape_error>("channel_weighted: ", w.size(), " weights for ", s.n, " x ", s.c, " channels");
    if (static_cast<std::int64_t>(S.size()) != s.count())
        detail::raise<shape_error>("channel_weighted: ", S.size(), " activations for the shape ", s);
    const std::int64_t P = s.plane();
    std::vector<float> out(S.size());
    for (std::int64_t nk = 0; nk < s.n * s.c; ++nk) {
        const auto wk = static_cast<float>(w[static_cast<std::size_t>(nk)]);
        for (std::int64_t p = 0; p < P; ++p) out[static_cast<std::size_t>(nk * P + p)] = wk * S[static_cast<std::size_t>(nk * P + p)];
    }
    return out;
}

/// The weighted activations W of a gradient method (see the file comment), N x K x H x W on the
/// host. Throws `value_error` for a method that does not sum W over the channels (cam reads the
/// head; pcs and dgl weigh other terms).
template <TensorBackend B>
[[nodiscard]] std::vector<float> weighted_activations(Method m, const typename B::tensor& S, const typename B::tensor& G) {
    ops::require_same_shape<B>(S, "activations S", G, "gradient dl_c/dS");
    const Shape4 s = B::shape(S);
    const auto hs = B::to_host(S);
    switch (m) {
    case Method::gradcam: {
        auto w = ops::spatial_sum<B>(G);
        for (double& v : w) v /= static_cast<double>(s.plane());
        return channel_weighted<double>(hs, s, w);
    }
    case Method::gradcampp: return channel_weighted<double>(hs, s, ops::gradcampp_weights<B>(G, ops::spatial_sum<B>(S)));
    case Method::xgradcam: {
        auto w = ops::spatial_dot<B>(G, S);
        const auto sum_s = ops::spatial_sum<B>(S);
        for (std::size_t i = 0; i < w.size(); ++i) w[i] /= sum_s[i] + 1e-7;
        return channel_weighted<double>(hs, s, w);
    }
    case Method::hirescam:
    case Method::gradcam_elementwise:
    case Method::layercam: {
        const auto hg = B::to_host(G);
        std::vector<float> out(hs.size());
        for (std::size_t i = 0; i < hs.size(); ++i) {
            const float v = m == Method::layercam ? std::max(hg[i], 0.0f) * hs[i] : hg[i] * hs[i];
            out[i] = m == Method::gradcam_elementwise ? std::max(v, 0.0f) : v;
        }
        return out;
    }
    default:
        detail::raise<value_error>("method '", name(m), "' does not sum weighted activations over the channels, so it has "
                                   "no eigen_smooth form");
    }
}

/// relu of the first principal component of W (N x K x H x W on the host) over the pixels, per
/// sample: N x 1 x H x W, made like `like`. Throws `value_error` for a single channel.
template <TensorBackend B>
[[nodiscard]] typename B::tensor eigen_smooth(const std::vector<float>& W, Shape4 s, const typename B::tensor& like) {
    if (static_cast<std::int64_t>(W.size()) != s.count())
        detail::raise<shape_error>("eigen_smooth: ", W.size(), " weighted activations for the shape ", s);
    return detail::principal_maps<B>(W, s, like, "eigen_smooth");
}

} // namespace dualgrad

#pragma once
/// \file
/// The CAM family, each method a choice of channel or pixel weights applied to S (or to the
/// enhanced map A), composed from the same kernels as DGL. G below is dl_c/dS, the gradient of the
/// raw logit of the target class. The names shared with pytorch-grad-cam follow its formulas,
/// including its final ReLU of the map (`BaseCAM` clips every map at 0 before scaling):
///
/// | method               | map                                                        |
/// |----------------------|------------------------------------------------------------|
/// | cam                  | sum_k w_fc[c,k] S_k  (no ReLU; the FC weights of class c)  |
/// | gradcam              | relu(sum_k mean_hw(G_k) S_k)                               |
/// | gradcampp            | relu(sum_k w_k S_k), w_k = sum_hw relu(G) G^2/(2G^2 + sum_hw(S_k) G^3 + 1e-6) |
/// | xgradcam             | relu(sum_k w_k S_k), w_k = sum_hw(G S) / (sum_hw(S_k) + 1e-7) |
/// | hirescam             | relu(sum_k G_k S_k)                                        |
/// | gradcam-elementwise  | sum_k relu(G_k S_k)                                        |
/// | layercam             | relu(sum_k relu(G_k) S_k)                                  |
/// | pcs                  | sum_k G_k S_k  (no ReLU)                                   |
/// | dgl                  | sum_k G_k (l2(S) - l2(dcost/dS))_k  (no ReLU)              |
///
///     auto maps = dualgrad::class_maps<EigenBackend>(Method::dgl, grads, {});  // one per slot

#include <array>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "dualgrad/backend/ops.hpp"
#include "dualgrad/core/cem.hpp"
#include "dualgrad/core/cost.hpp"
#include "dualgrad/core/layer_gradients.hpp"
#include "dualgrad/core/pcs.hpp"
#include "dualgrad/core/targets.hpp"

namespace dualgrad {

enum class Method { cam, gradcam, gradcampp, xgradcam, hirescam, gradcam_elementwise, layercam, pcs, dgl };

inline constexpr std::array<std::pair<Method, std::string_view>, 9> method_names{{
    {Method::cam, "cam"},
    {Method::gradcam, "gradcam"},
    {Method::gradcampp, "gradcampp"},
    {Method::xgradcam, "xgradcam"},
    {Method::hirescam, "hirescam"},
    {Method::gradcam_elementwise, "gradcam-elementwise"},
    {Method::layercam, "layercam"},
    {Method::pcs, "pcs"},
    {Method::dgl, "dgl"},
}};

[[nodiscard]] constexpr std::string_view name(Method m) noexcept {
    for (const auto& [method, text] : method_names)
        if (method == m) return text;
    return "unknown";
}

/// Parses a method name; the error lists the valid names.
[[nodiscard]] inline Method parse_method(std::string_view text) {
    std::string valid;
    for (const auto& [method, name] : method_names) {
        if (name == text) return method;
        valid += (valid.empty() ? "" : ", ") + std::string(name);
    }
    detail::raise<value_error>("unknown method '", text, "'; valid methods: ", valid);
}

/// Does the method need dl_c/dS (false only for CAM)?
[[nodiscard]] constexpr bool needs_gradients(Method m) noexcept { return m != Method::cam; }

/// The fully connected head of a GAP classifier, for CAM: `weights` is classes x channels,
/// row-major; `bias` (optional, one per class) is added to the map, as when the head is a 1x1
/// convolution whose output is the CAM (wsolevaluation's InceptionV3 `SPG_A4`).
struct FcHead {
    std::span<const float> weights;
    int classes = 0;
    int channels = 0;
    std::span<const float> bias = {};
};

namespace detail {
template <TensorBackend B>
[[nodiscard]] typename B::tensor weighted_map(const typename B::tensor& S, const std::vector<double>& w, bool clip) {
    const std::vector<float> wf(w.begin(), w.end());
    auto map = ops::channel_sum<B>(S, wf);
    return clip ? ops::relu<B>(map) : map;
}
} // namespace detail

/// CAM: sum_k w_fc[c(n),k] S_k for the target class of each sample in slot `slot`.
template <TensorBackend B>
[[nodiscard]] typename B::tensor cam(const typename B::tensor& S, const FcHead& fc, const Targets& targets, int slot) {
    const Shape4 s = B::shape(S);
    if (fc.channels != s.c || static_cast<std::int64_t>(fc.weights.size()) != std::int64_t{fc.classes} * fc.channels)
        detail::raise<shape_error>("CAM: FC weights are ", fc.classes, "x", fc.channels, " (", fc.weights.size(),
                                   " values) but S has ", s.c, " channels");
    if (targets.samples() != s.n)
        detail::raise<shape_error>("CAM: ", targets.samples(), " target lists for ", s.n, " samples");
    if (slot < 0 || slot >= targets.slots())
        detail::raise<value_error>("CAM: slot ", slot, " outside [0, ", targets.slots(), ")");
    targets.check_classes(fc.classes);
    std::vector<float> w(static_cast<std::size_t>(s.n * s.c));
    for (std::int64_t n = 0; n < s.n; ++n) {
        const int c = targets(static_cast<int>(n), slot);
        std::copy_n(fc.weights.begin() + std::int64_t{c} * fc.channels, fc.channels, w.begin() + n * s.c);
    }
    auto map = ops::channel_sum<B>(S, w);
    if (fc.bias.empty()) return map;
    if (static_cast<int>(fc.bias.size()) != fc.classes)
        detail::raise<shape_error>("CAM: ", fc.bias.size(), " bias values for ", fc.classes, " classes");
    // map + bias[c(n)]: axpby with a map of ones keeps this within the backend's kernels.
    const Shape4 ms = s.map_shape();
    const auto ones = ops::from_host_like<B>(map, ms, std::vector<float>(static_cast<std::size_t>(ms.count()), 1.0f));
    std::vector<float> a(static_cast<std::size_t>(s.n), 1.0f), b(static_cast<std::size_t>(s.n));
    for (std::int64_t n = 0; n < s.n; ++n) b[static_cast<std::size_t>(n)] = fc.bias[static_cast<std::size_t>(targets(static_cast<int>(n), slot))];
    return ops::axpby<B>(map, a, ones, b);
}

template <TensorBackend B>
[[nodiscard]] typename B::tensor gradcam(const typename B::tensor& S, const typename B::tensor& G) {
    ops::require_same_shape<B>(S, "activations S", G, "gradient dl_c/dS");
    auto w = ops::spatial_sum<B>(G);
    const double hw = static_cast<double>(B::shape(S).plane());
    for (double& v : w) v /= hw;
    return detail::weighted_map<B>(S, w, true);
}

template <TensorBackend B>
[[nodiscard]] typename B::tensor gradcampp(const typename B::tensor& S, const typename B::tensor& G) {
    ops::require_same_shape<B>(S, "activations S", G, "gradient dl_c/dS");
    const auto sum_s = ops::spatial_sum<B>(S);
    return detail::weighted_map<B>(S, ops::gradcampp_weights<B>(G, sum_s), true);
}

template <TensorBackend B>
[[nodiscard]] typename B::tensor xgradcam(const typename B::tensor& S, const typename B::tensor& G) {
    auto w = ops::spatial_dot<B>(G, S);
    const auto sum_s = ops::spatial_sum<B>(S);
    for (std::size_t i = 0; i < w.size(); ++i) w[i] /= sum_s[i] + 1e-7;
    return detail::weighted_map<B>(S, w, true);
}

template <TensorBackend B>
[[nodiscard]] typename B::tensor hirescam(const typename B::tensor& S, const typename B::tensor& G) {
    return ops::relu<B>(ops::pixel_sum<B>(G, S, PixelTerm::product));
}

template <TensorBackend B>
[[nodiscard]] typename B::tensor gradcam_elementwise(const typename B::tensor& S, const typename B::tensor& G) {
    return ops::pixel_sum<B>(G, S, PixelTerm::relu_product); // already >= 0
}

template <TensorBackend B>
[[nodiscard]] typename B::tensor layercam(const typename B::tensor& S, const typename B::tensor& G) {
    return ops::relu<B>(ops::pixel_sum<B>(G, S, PixelTerm::relu_grad));
}

/// Options of `class_maps`: the cost policy of DGL, and the FC head for CAM.
template <CostPolicy Cost = ReferenceCost>
struct MapOptions {
    Cost cost{};
    std::optional<FcHead> fc;
};

/// The maps of `method` for every target slot of one layer, N x 1 x H x W each.
/// CAM needs `options.fc` and the targets; DGL needs `prob_vjp` (linear cost policies) or
/// `cost_vjps` (any policy).
template <TensorBackend B, CostPolicy Cost = ReferenceCost>
[[nodiscard]] std::vector<typename B::tensor> class_maps(Method method, const LayerGradients<B>& g,
                                                         const Targets* targets = nullptr,
                                                         const MapOptions<Cost>& options = {}) {
    g.validate();
    const auto& S = g.activations;
    std::vector<typename B::tensor> maps;
    if (method == Method::cam) {
        if (!options.fc) detail::raise<value_error>("CAM needs the FC head weights (MapOptions::fc)");
        if (!targets) detail::raise<value_error>("CAM needs the target classes");
        for (int t = 0; t < targets->slots(); ++t) maps.push_back(cam<B>(S, *options.fc, *targets, t));
        return maps;
    }
    if (g.class_vjps.empty())
        detail::raise<value_error>("method '", name(method), "' needs the class gradients dl_c/dS; none given");
    for (int t = 0; t < g.slots(); ++t) {
        const auto& G = g.class_vjps[static_cast<std::size_t>(t)];
        switch (method) {
        case Method::gradcam: maps.push_back(gradcam<B>(S, G)); break;
        case Method::gradcampp: maps.push_back(gradcampp<B>(S, G)); break;
        case Method::xgradcam: maps.push_back(xgradcam<B>(S, G)); break;
        case Method::hirescam: maps.push_back(hirescam<B>(S, G)); break;
        case Method::gradcam_elementwise: maps.push_back(gradcam_elementwise<B>(S, G)); break;
        case Method::layercam: maps.push_back(layercam<B>(S, G)); break;
        case Method::pcs: maps.push_back(PixelClassSelector<B>{}(S, G)); break;
        case Method::dgl: {
            const EnhancedMapper<B, Cost> dgl(options.cost);
            if constexpr (LinearCostPolicy<Cost>) {
                if (g.prob_vjp) {
                    maps.push_back(dgl(S, G, *g.prob_vjp));
                    break;
                }
            }
            if (g.cost_vjps.empty())
                detail::raise<value_error>("DGL needs J^T p (linear cost policies) or the cost gradients; none given");
            maps.push_back(dgl.from_cost_gradient(S, G, g.cost_vjps[static_cast<std::size_t>(t)]));
            break;
        }
        case Method::cam: break; // handled above
        }
    }
    return maps;
}

} // namespace dualgrad

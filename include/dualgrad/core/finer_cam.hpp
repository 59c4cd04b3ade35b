#pragma once
/// \file
/// Finer-CAM (Zhang et al., CVPR 2025; pytorch-grad-cam 1.5.5 `FinerCAM` with its default
/// `GradCAM` base and `FinerWeightedTarget`): the map of an objective that compares the target
/// class with the classes the classifier finds most similar, which suppresses what they share.
///
/// For sample n with logits y, target class c and alpha (1 by default):
/// - J: the `comparisons` (3) classes other than c whose logits are nearest to y_c (ascending
///   |y_j - y_c|, ties by class index), pytorch-grad-cam's `comparison_categories = [1, 2, 3]` of
///   its sorted classes;
/// - w = softmax(y), W = sum_{j in J} w_j, N = sum_{j in J} w_j (y_c - alpha y_j), and the
///   objective T = N / (W + 1e-9); the weights w are part of the objective, not constants, as in
///   pytorch-grad-cam (its softmax is not detached);
/// - the map is Grad-CAM of dT/dS: relu(sum_k mean_hw(dT/dS_k) S_k).
/// dT/dS = J^T (dT/dy): one more cotangent per target in the engine's one batched backward
/// (`GradientRequest::method_cotangents`), written by `finer_cotangent` below in double precision.
///
///     dualgrad::GradientRequest r;  r.layers = {"layer4.2"};
///     r.method_cotangents = {dualgrad::finer_cotangent()};
///     auto g = model.gradients(x, r);
///     auto maps = dualgrad::finer_cam<dualgrad::EigenBackend>(g.layers[0], 0);  // one map per target

#include <algorithm>
#include <cmath>
#include <numeric>
#include <span>
#include <vector>

#include "dualgrad/core/gradient_source.hpp"
#include "dualgrad/core/layer_gradients.hpp"
#include "dualgrad/core/methods.hpp"
#include "dualgrad/error.hpp"

namespace dualgrad {

/// The cotangent dT/dy of Finer-CAM's objective (see the file comment) for a row of logits and
/// the target class c. With one class only, J is empty and the cotangent is zero.
[[nodiscard]] inline CotangentFunction finer_cotangent(double alpha = 1.0, int comparisons = 3) {
    if (!std::isfinite(alpha)) detail::raise<value_error>("Finer-CAM: alpha ", alpha, " is not a finite number");
    if (comparisons < 1) detail::raise<value_error>("Finer-CAM: ", comparisons, " comparison classes; at least 1");
    return [alpha, comparisons](std::span<const float> y, int c, std::span<float> out) {
        const int C = static_cast<int>(y.size());
        if (c < 0 || c >= C) detail::raise<value_error>("Finer-CAM: target class ", c, " is not among ", C, " classes");
        std::vector<int> order(static_cast<std::size_t>(C));
        std::iota(order.begin(), order.end(), 0);
        const auto yc = static_cast<double>(y[static_cast<std::size_t>(c)]);
        std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
            return std::abs(y[static_cast<std::size_t>(a)] - yc) < std::abs(y[static_cast<std::size_t>(b)] - yc);
        });
        std::vector<int> J;
        for (int k : order)
            if (k != c && static_cast<int>(J.size()) < comparisons) J.push_back(k);
        const double top = *std::max_element(y.begin(), y.end());
        std::vector<double> w(static_cast<std::size_t>(C));
        double z = 0;
        for (int k = 0; k < C; ++k) z += w[static_cast<std::size_t>(k)] = std::exp(y[static_cast<std::size_t>(k)] - top);
        for (double& v : w) v /= z;
        std::vector<char> in_j(static_cast<std::size_t>(C), 0);
        double W = 0, N = 0;
        for (int j : J) {
            const auto ju = static_cast<std::size_t>(j);
            in_j[ju] = 1;
            W += w[ju];
            N += w[ju] * (yc - alpha * y[ju]);
        }
        constexpr double eps = 1e-9;
        const double D = W + eps;
        for (int k = 0; k < C; ++k) {
            const auto ku = static_cast<std::size_t>(k);
            // dW/dy_k and dN/dy_k through the softmax weights, plus N's direct dependence on y.
            const double dW = (in_j[ku] ? w[ku] : 0.0) - w[ku] * W;
            const double dN = (in_j[ku] ? w[ku] * (yc - alpha * y[ku]) - alpha * w[ku] : 0.0) - w[ku] * N + (k == c ? W : 0.0);
            out[ku] = static_cast<float>((dN * D - N * dW) / (D * D));
        }
    };
}

/// The gradients of Finer-CAM's objective at a layer (one per target slot), from the method
/// cotangent `index` (`finer_cotangent`); checked against S's shape.
template <TensorBackend B>
[[nodiscard]] const std::vector<typename B::tensor>& finer_gradients(const LayerGradients<B>& g, int index) {
    if (index < 0 || static_cast<std::size_t>(index) >= g.method_vjps.size())
        detail::raise<value_error>("method 'finercam' needs the gradient of its own objective (GradientRequest::"
                                   "method_cotangents); the layer has ", g.method_vjps.size(), " such gradients, not index ",
                                   index);
    const auto& grads = g.method_vjps[static_cast<std::size_t>(index)];
    for (const auto& G : grads) ops::require_same_shape<B>(g.activations, "activations S", G, "Finer-CAM gradient");
    return grads;
}

/// Finer-CAM's maps from a layer's gradients whose method cotangent `index` is `finer_cotangent`
/// (one map per target slot).
template <TensorBackend B>
[[nodiscard]] std::vector<typename B::tensor> finer_cam(const LayerGradients<B>& g, int index) {
    std::vector<typename B::tensor> maps;
    for (const auto& G : finer_gradients<B>(g, index)) maps.push_back(gradcam<B>(g.activations, G));
    return maps;
}

} // namespace dualgrad

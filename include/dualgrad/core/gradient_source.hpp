#pragma once
/// \file
/// The gradient-source concept: anything that, for an input batch, requested layers and
/// per-sample targets, yields the logits, the targets, and for every requested layer S and the
/// vector-Jacobian products of docs/design.md §1 (`LayerGradients`). The CPU engine
/// (`nn::Graph`), the LibTorch source and a user's own framework all model it.
///
///     dualgrad::GradientRequest req{{"layer3.5", "layer4"}, dualgrad::TargetRule::top_k(5)};
///     auto result = model.gradients(image, req);       // one forward, one batched backward
///     auto maps = dualgrad::class_maps<B>(Method::dgl, result.layer("layer3.5"));

#include <concepts>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "dualgrad/backend/concepts.hpp"
#include "dualgrad/core/cost.hpp"
#include "dualgrad/core/layer_gradients.hpp"
#include "dualgrad/core/targets.hpp"

namespace dualgrad {

/// How the target classes of each sample are chosen: top-1, top-k, or given (e.g. ground truth).
class TargetRule {
public:
    [[nodiscard]] static TargetRule top1() { return top_k(1); }
    [[nodiscard]] static TargetRule top_k(int k) {
        if (k <= 0) detail::raise<value_error>("TargetRule::top_k: k = ", k, " must be positive");
        TargetRule r;
        r.k_ = k;
        return r;
    }
    /// Fixed classes per sample (one list per sample, equal lengths).
    [[nodiscard]] static TargetRule given(std::vector<std::vector<int>> classes) {
        TargetRule r;
        r.given_ = Targets(classes);
        return r;
    }
    [[nodiscard]] Targets resolve(const Logits& logits) const {
        if (k_ > 0) return Targets::top_k(logits, k_);
        if (given_.samples() != logits.samples())
            detail::raise<shape_error>("TargetRule: ", given_.samples(), " target lists for ", logits.samples(),
                                       " samples");
        given_.check_classes(logits.classes());
        return given_;
    }

private:
    int k_ = 0;
    Targets given_;
};

/// The cotangent of a cost policy that has no linear form, as a callable.
using CotangentFunction = std::function<void(std::span<const float> logits, int c, std::span<float> out)>;

/// What to compute: the layers (module paths or paper aliases), the targets, and which extra
/// products the cost policy needs.
struct GradientRequest {
    std::vector<std::string> layers;
    TargetRule targets = TargetRule::top1();
    bool prob_vjp = true;              ///< J^T p, for linear cost policies (ReferenceCost, CrossEntropyCost)
    CotangentFunction cost_cotangent;  ///< set for other policies: J^T dcost per target (2T products)
    bool class_vjps = true;            ///< false when only S is wanted (CAM)
    /// Logit cotangents that methods bring (`MethodSpec::cotangent`, Finer-CAM): one VJP per target
    /// each, in `LayerGradients::method_vjps` in this order.
    std::vector<CotangentFunction> method_cotangents;
};

/// The request a cost policy needs: J^T p for a linear policy, else its cotangent per target.
template <CostPolicy Cost>
[[nodiscard]] GradientRequest request_for(std::vector<std::string> layers, TargetRule targets, const Cost& cost) {
    GradientRequest r;
    r.layers = std::move(layers);
    r.targets = std::move(targets);
    if constexpr (!LinearCostPolicy<Cost>) {
        r.prob_vjp = false;
        r.cost_cotangent = [cost](std::span<const float> l, int c, std::span<float> out) { cost.cotangent(l, c, out); };
    }
    return r;
}

/// The logits, the resolved targets and the per-layer gradients of one batch.
template <TensorBackend B>
struct GradientResult {
    Logits logits;
    Targets targets;
    std::vector<std::string> layer_names; ///< as requested
    std::vector<LayerGradients<B>> layers;

    [[nodiscard]] const LayerGradients<B>& layer(std::string_view name) const {
        for (std::size_t i = 0; i < layer_names.size(); ++i)
            if (layer_names[i] == name) return layers[i];
        std::string have;
        for (const auto& n : layer_names) have += (have.empty() ? "" : ", ") + n;
        detail::raise<value_error>("layer '", name, "' was not requested; requested: ", have);
    }
};

/// A gradient source: `gradients(input, request)` gives a `GradientResult<backend>`.
template <class G>
concept GradientSource = TensorBackend<typename G::backend> &&
                         requires(G& g, const typename G::input_type& x, const GradientRequest& r) {
                             { g.gradients(x, r) } -> std::same_as<GradientResult<typename G::backend>>;
                         };

} // namespace dualgrad

#pragma once
/// \file
/// `LayerGradients<B>`: what a gradient source yields for one layer S and T target slots.
/// Back-propagation is linear in the cotangent, so with J = dl/dS the maps of T classes need only
/// the T+1 products {J^T e_c1 .. J^T e_cT, J^T p} (linear cost policies), or 2T products
/// {J^T e_ct, J^T dcost_t} for any other policy.

#include <optional>
#include <string>
#include <vector>

#include "dualgrad/backend/concepts.hpp"
#include "dualgrad/backend/ops.hpp"

namespace dualgrad {

template <TensorBackend B>
struct LayerGradients {
    using tensor = typename B::tensor;

    tensor activations;                ///< S, N x K x H x W
    std::vector<tensor> class_vjps;    ///< slot t: sample n holds J_n^T e_{c(n,t)} (dl_c/dS)
    std::optional<tensor> prob_vjp;    ///< J^T p, for linear cost policies
    std::vector<tensor> cost_vjps;     ///< slot t: J^T dcost/dl for class c(n,t), for any policy
    /// [e][t]: the VJP of the request's method cotangent e (`GradientRequest::method_cotangents`)
    /// for target slot t.
    std::vector<std::vector<tensor>> method_vjps;

    [[nodiscard]] int slots() const noexcept { return static_cast<int>(class_vjps.size()); }

    /// Throws `shape_error` naming the offending tensor unless every gradient has S's shape.
    void validate() const {
        ops::require_nonempty<B>(activations, "activations S");
        for (std::size_t t = 0; t < class_vjps.size(); ++t) {
            const std::string name = "class gradient of slot " + std::to_string(t);
            ops::require_same_shape<B>(activations, "activations S", class_vjps[t], name.c_str());
        }
        if (prob_vjp) ops::require_same_shape<B>(activations, "activations S", *prob_vjp, "J^T p gradient");
        if (!cost_vjps.empty() && cost_vjps.size() != class_vjps.size())
            detail::raise<shape_error>("LayerGradients: ", cost_vjps.size(), " cost gradients for ",
                                       class_vjps.size(), " class gradients");
        for (std::size_t t = 0; t < cost_vjps.size(); ++t) {
            const std::string name = "cost gradient of slot " + std::to_string(t);
            ops::require_same_shape<B>(activations, "activations S", cost_vjps[t], name.c_str());
        }
    }
};

} // namespace dualgrad

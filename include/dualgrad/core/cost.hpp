#pragma once
/// \file
/// Cost policies of the Class-aware Enhanced Map (CEM): the cotangent dcost/dl that is
/// back-propagated to the layer S to form `A_c = l2(S) - l2(dcost/dS)`.
///
/// - `ReferenceCost` (the default) reproduces the DGL authors' code: TensorFlow's
///   `softmax_cross_entropy_with_logits` with labels `alpha * onehot(c)` back-propagates the
///   kernel formula `prob - labels`, i.e. `dcost/dl = p - alpha*e_c` (alpha = 10).
/// - `CrossEntropyCost` is the textbook gradient of that same loss, `alpha*(p - e_c)`.
///   After the L2 normalization alpha cancels, so with it alpha changes nothing.
///
/// A policy whose cotangent is `u*p + v*e_c` declares it with `form()`: the CEM then needs only
/// J^T p besides J^T e_c (one extra vector-Jacobian product for all targets). Any other policy
/// only implements `cotangent()`, and the gradient source back-propagates it per target.

#include <algorithm>
#include <cmath>
#include <concepts>
#include <string_view>
#include <variant>
#include <span>

#include "dualgrad/error.hpp"

namespace dualgrad {

/// The cotangent `prob * p + onehot * e_c` of a cost linear in p and e_c.
struct CotangentForm {
    float prob = 1;
    float onehot = 0;
};

/// Writes softmax(logits) into out (max-subtracted, accumulated in double).
inline void softmax(std::span<const float> logits, std::span<float> out) {
    if (logits.size() != out.size())
        detail::raise<shape_error>("softmax: ", logits.size(), " logits but room for ", out.size());
    if (logits.empty()) detail::raise<shape_error>("softmax: no logits");
    const float mx = *std::max_element(logits.begin(), logits.end());
    double z = 0;
    for (float l : logits) z += std::exp(static_cast<double>(l) - mx);
    for (std::size_t i = 0; i < logits.size(); ++i)
        out[i] = static_cast<float>(std::exp(static_cast<double>(logits[i]) - mx) / z);
}

/// A cost policy: `cotangent(logits, c, out)` writes dcost/dl for target class c.
template <class C>
concept CostPolicy = requires(const C& cost, std::span<const float> logits, int c, std::span<float> out) {
    cost.cotangent(logits, c, out);
};

/// A cost policy whose cotangent is `form().prob * p + form().onehot * e_c`.
template <class C>
concept LinearCostPolicy = CostPolicy<C> && requires(const C& cost) {
    { cost.form() } -> std::same_as<CotangentForm>;
};

namespace detail {
template <class Cost>
void linear_cotangent(const Cost& cost, std::span<const float> logits, int c, std::span<float> out) {
    if (c < 0 || static_cast<std::size_t>(c) >= logits.size())
        raise<value_error>("target class ", c, " is outside [0, ", logits.size(), ")");
    softmax(logits, out);
    const CotangentForm f = cost.form();
    for (float& v : out) v *= f.prob;
    out[static_cast<std::size_t>(c)] += f.onehot;
}
} // namespace detail

/// The DGL authors' cost: dcost/dl = p - alpha*e_c (TensorFlow's `prob - labels`).
struct ReferenceCost {
    float alpha = 10.0f;
    [[nodiscard]] CotangentForm form() const noexcept { return {1.0f, -alpha}; }
    void cotangent(std::span<const float> logits, int c, std::span<float> out) const {
        detail::linear_cotangent(*this, logits, c, out);
    }
};

/// The textbook gradient of cross-entropy with labels alpha*e_c: dcost/dl = alpha*(p - e_c).
struct CrossEntropyCost {
    float alpha = 10.0f;
    [[nodiscard]] CotangentForm form() const noexcept { return {alpha, -alpha}; }
    void cotangent(std::span<const float> logits, int c, std::span<float> out) const {
        detail::linear_cotangent(*this, logits, c, out);
    }
};

static_assert(LinearCostPolicy<ReferenceCost>);
static_assert(LinearCostPolicy<CrossEntropyCost>);

/// A cost policy chosen at run time (a command-line flag, a config file).
using AnyCost = std::variant<ReferenceCost, CrossEntropyCost>;

/// "reference" or "xent" with `alpha`; the error names the valid ones.
[[nodiscard]] inline AnyCost parse_cost(std::string_view name, float alpha) {
    if (!std::isfinite(alpha)) detail::raise<value_error>("cost: alpha ", alpha, " is not a finite number");
    if (name == "reference") return ReferenceCost{alpha};
    if (name == "xent") return CrossEntropyCost{alpha};
    detail::raise<value_error>("cost: unknown cost '", name, "'; valid: reference, xent");
}

} // namespace dualgrad

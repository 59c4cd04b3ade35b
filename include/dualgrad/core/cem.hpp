#pragma once
/// \file
/// Class-aware Enhanced Maps (CEM) and the DGL map:
///   `A_c = l2(S) - l2(dcost/dS)`,  `Mbar_c = sum_k (dl_c/dS)_k * (A_c)_k`,
/// with `l2(x) = x * rsqrt(max(sum(x^2), 1e-12))` over C, H, W of one sample (TensorFlow's
/// `l2_normalize` over axes [1,2,3]). No ReLU anywhere.
///
/// For a linear cost policy, `dcost/dS = u*J^T p + v*J^T e_c`, so the mapper takes S, G = J^T e_c
/// and P = J^T p and never materializes dcost/dS or A: one pass computes the per-sample moments,
/// a second pass the selection `sum_k G*(a S + b P + c G)`.
///
///     dualgrad::EnhancedMapper<dualgrad::EigenBackend> dgl;      // ReferenceCost, alpha = 10
///     auto map = dgl(S, G, P);                                    // N x 1 x H x W

#include <cmath>
#include <vector>

#include "dualgrad/backend/ops.hpp"
#include "dualgrad/core/cost.hpp"

namespace dualgrad {

/// TensorFlow's l2_normalize epsilon on the sum of squares.
inline constexpr double l2_epsilon = 1e-12;

/// 1 / sqrt(max(sum_sq, 1e-12)): an all-zero tensor stays all zero after l2().
[[nodiscard]] inline double l2_scale(double sum_sq) { return 1.0 / std::sqrt(std::max(sum_sq, l2_epsilon)); }

template <TensorBackend B, CostPolicy Cost = ReferenceCost>
class EnhancedMapper {
public:
    using tensor = typename B::tensor;

    EnhancedMapper() = default;
    explicit EnhancedMapper(Cost cost) : cost_(cost) {}

    [[nodiscard]] const Cost& cost() const noexcept { return cost_; }

    /// The DGL map from S, G = dl_c/dS and P = J^T p (linear cost policies).
    [[nodiscard]] tensor operator()(const tensor& S, const tensor& G, const tensor& P) const
        requires LinearCostPolicy<Cost>
    {
        const CotangentForm f = cost_.form();
        // A backend's fused one-pass kernel (TorchBackend on CUDA with dualgrad/cuda/register.cuh).
        if constexpr (FusedDgl<B>)
            if (auto fused = B::fused_dgl(S, G, P, 0, f.prob, f.onehot)) return *std::move(fused);
        const auto m = checked_moments(S, G, P, "J^T p gradient");
        std::vector<SelectCoefficients> coef(m.size());
        for (std::size_t n = 0; n < m.size(); ++n) {
            // |u P + v G|^2 = u^2 |P|^2 + 2uv <G,P> + v^2 |G|^2
            const double u = f.prob, v = f.onehot;
            const double cost_sq = std::max(0.0, u * u * m[n].xx + 2 * u * v * m[n].gx + v * v * m[n].gg);
            const double sc = l2_scale(cost_sq);
            coef[n] = {static_cast<float>(l2_scale(m[n].ss)), static_cast<float>(-sc * u), static_cast<float>(-sc * v)};
        }
        return ops::select<B>(G, S, P, coef);
    }

    /// The DGL map from S, G = dl_c/dS and the cost gradient dcost/dS itself (any cost policy).
    [[nodiscard]] tensor from_cost_gradient(const tensor& S, const tensor& G, const tensor& cost_grad) const {
        if constexpr (FusedDgl<B>)
            if (auto fused = B::fused_dgl(S, G, cost_grad, 1, 0.0f, 0.0f)) return *std::move(fused);
        const auto m = checked_moments(S, G, cost_grad, "cost gradient dcost/dS");
        std::vector<SelectCoefficients> coef(m.size());
        for (std::size_t n = 0; n < m.size(); ++n)
            coef[n] = {static_cast<float>(l2_scale(m[n].ss)), static_cast<float>(-l2_scale(m[n].xx)), 0.0f};
        return ops::select<B>(G, S, cost_grad, coef);
    }

    /// A_c = l2(S) - l2(cost_grad), materialized (for composing methods from the parts).
    [[nodiscard]] tensor enhanced_activations(const tensor& S, const tensor& cost_grad) const {
        ops::require_same_shape<B>(S, "activations S", cost_grad, "cost gradient dcost/dS");
        const auto ss = ops::sum_squares<B>(S);
        const auto cc = ops::sum_squares<B>(cost_grad);
        std::vector<float> a(ss.size()), b(ss.size());
        for (std::size_t n = 0; n < ss.size(); ++n) {
            a[n] = static_cast<float>(l2_scale(ss[n]));
            b[n] = static_cast<float>(-l2_scale(cc[n]));
        }
        return ops::axpby<B>(S, a, cost_grad, b);
    }

    /// dcost/dS = u P + v G for a linear policy, materialized.
    [[nodiscard]] tensor cost_gradient(const tensor& G, const tensor& P) const
        requires LinearCostPolicy<Cost>
    {
        const CotangentForm f = cost_.form();
        const auto n = static_cast<std::size_t>(B::shape(G).n);
        return ops::axpby<B>(P, std::vector<float>(n, f.prob), G, std::vector<float>(n, f.onehot));
    }

private:
    std::vector<SampleMoments> checked_moments(const tensor& S, const tensor& G, const tensor& X,
                                               const char* x_name) const {
        ops::require_nonempty<B>(S, "activations S");
        auto m = ops::moments<B>(S, G, X);
        for (std::size_t n = 0; n < m.size(); ++n) {
            if (!std::isfinite(m[n].ss)) detail::raise<value_error>("activations S of sample ", n, " hold NaN or Inf");
            if (!std::isfinite(m[n].gg))
                detail::raise<value_error>("gradient dl_c/dS of sample ", n, " holds NaN or Inf");
            if (!std::isfinite(m[n].xx)) detail::raise<value_error>(x_name, " of sample ", n, " holds NaN or Inf");
        }
        return m;
    }

    Cost cost_{};
};

} // namespace dualgrad

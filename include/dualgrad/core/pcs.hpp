#pragma once
/// \file
/// Pixel-level Class Selection (PCS): `M_c = sum_k (dl_c/dS)_k * S_k`, the gradient of the raw
/// logit used per pixel (no channel averaging, no ReLU). At the last layer before GAP this is CAM
/// divided by H*W.
///
///     dualgrad::PixelClassSelector<dualgrad::EigenBackend> pcs;
///     auto map = pcs(S, G);                    // N x 1 x H x W

#include <vector>

#include "dualgrad/backend/ops.hpp"

namespace dualgrad {

template <TensorBackend B>
class PixelClassSelector {
public:
    using tensor = typename B::tensor;

    /// sum over channels of G*X: X = S gives PCS, X = A_c (the enhanced map) gives DGL.
    [[nodiscard]] tensor operator()(const tensor& X, const tensor& G) const {
        ops::require_nonempty<B>(X, "activations S");
        const std::vector<SelectCoefficients> coef(static_cast<std::size_t>(B::shape(X).n), {1.0f, 0.0f, 0.0f});
        return ops::select<B>(G, X, X, coef);
    }
};

} // namespace dualgrad

#pragma once
/// \file
/// `Shape4`: the N x C x H x W shape of every tensor the core handles. Activations S and their
/// vector-Jacobian products are N x K x H x W; class maps are N x 1 x H x W.

#include <cstdint>
#include <ostream>

namespace dualgrad {

struct Shape4 {
    std::int64_t n = 0; ///< samples
    std::int64_t c = 0; ///< channels (K for activations, 1 for maps)
    std::int64_t h = 0; ///< height
    std::int64_t w = 0; ///< width

    [[nodiscard]] constexpr std::int64_t plane() const noexcept { return h * w; }
    [[nodiscard]] constexpr std::int64_t per_sample() const noexcept { return c * h * w; }
    [[nodiscard]] constexpr std::int64_t count() const noexcept { return n * c * h * w; }
    /// The shape of the class maps computed from a tensor of this shape.
    [[nodiscard]] constexpr Shape4 map_shape() const noexcept { return {n, 1, h, w}; }

    friend constexpr bool operator==(const Shape4&, const Shape4&) = default;
    friend std::ostream& operator<<(std::ostream& os, const Shape4& s) {
        return os << "[" << s.n << ", " << s.c << ", " << s.h << ", " << s.w << "]";
    }
};

/// The per-sample second moments the DGL map needs, for one sample, accumulated in double:
/// with S the activations, G = dl_c/dS and X a second gradient (J^T p, or dcost/dS itself).
struct SampleMoments {
    double ss = 0; ///< sum S^2
    double gg = 0; ///< sum G^2
    double xx = 0; ///< sum X^2
    double gx = 0; ///< sum G*X
};

/// Per-sample coefficients of the selection `sum_k G_k * (a*S_k + b*X_k + c*G_k)`.
struct SelectCoefficients {
    float a = 1;
    float b = 0;
    float c = 0;
};

/// The per-pixel term summed over channels by `pixel_sum`.
enum class PixelTerm {
    product,      ///< G*S            (HiResCAM, PCS)
    relu_product, ///< relu(G*S)      (Grad-CAM element-wise)
    relu_grad,    ///< relu(G)*S      (LayerCAM)
};

} // namespace dualgrad

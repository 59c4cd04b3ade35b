#pragma once
/// \file
/// The core's portable map kernels, on contiguous row-major N x C x H x W float data.
/// They run for any backend with host storage that does not supply its own kernel.
/// Reductions accumulate each H x W plane in eight float lanes (vectorizable without
/// -ffast-math) and the planes in double.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "dualgrad/backend/shape.hpp"

namespace dualgrad::detail::portable {

inline constexpr std::size_t lanes = 8;

/// sum of f(i) over [0, n) with eight independent float accumulators, returned in double.
template <class F>
[[nodiscard]] inline double lane_sum(std::size_t n, F&& f) {
    float acc[lanes] = {};
    std::size_t i = 0;
    for (; i + lanes <= n; i += lanes)
        for (std::size_t l = 0; l < lanes; ++l) acc[l] += f(i + l);
    double total = 0;
    for (; i < n; ++i) total += static_cast<double>(f(i));
    for (float a : acc) total += static_cast<double>(a);
    return total;
}

[[nodiscard]] inline std::vector<double> sum_squares(const float* x, Shape4 s) {
    std::vector<double> out(static_cast<std::size_t>(s.n), 0.0);
    const auto hw = static_cast<std::size_t>(s.plane());
    for (std::int64_t n = 0; n < s.n; ++n)
        for (std::int64_t k = 0; k < s.c; ++k) {
            const float* p = x + (n * s.c + k) * s.plane();
            out[n] += lane_sum(hw, [p](std::size_t i) { return p[i] * p[i]; });
        }
    return out;
}

[[nodiscard]] inline std::vector<SampleMoments> moments(const float* S, const float* G, const float* X, Shape4 s) {
    std::vector<SampleMoments> out(static_cast<std::size_t>(s.n));
    const auto hw = static_cast<std::size_t>(s.plane());
    for (std::int64_t n = 0; n < s.n; ++n) {
        auto& m = out[n];
        for (std::int64_t k = 0; k < s.c; ++k) {
            const auto off = (n * s.c + k) * s.plane();
            const float *ps = S + off, *pg = G + off, *px = X + off;
            m.ss += lane_sum(hw, [ps](std::size_t i) { return ps[i] * ps[i]; });
            m.gg += lane_sum(hw, [pg](std::size_t i) { return pg[i] * pg[i]; });
            m.xx += lane_sum(hw, [px](std::size_t i) { return px[i] * px[i]; });
            m.gx += lane_sum(hw, [pg, px](std::size_t i) { return pg[i] * px[i]; });
        }
    }
    return out;
}

/// out[n, h, w] = sum_k G*(a S + b X + c G), coefficients per sample.
inline void select(const float* G, const float* S, const float* X, std::span<const SelectCoefficients> coef,
                   Shape4 s, float* out) {
    const auto hw = static_cast<std::size_t>(s.plane());
    for (std::int64_t n = 0; n < s.n; ++n) {
        float* o = out + n * s.plane();
        std::fill(o, o + hw, 0.0f);
        const auto [a, b, c] = coef[static_cast<std::size_t>(n)];
        for (std::int64_t k = 0; k < s.c; ++k) {
            const auto off = (n * s.c + k) * s.plane();
            const float *pg = G + off, *ps = S + off, *px = X + off;
            if (b == 0.0f && c == 0.0f)
                for (std::size_t i = 0; i < hw; ++i) o[i] += pg[i] * (a * ps[i]);
            else
                for (std::size_t i = 0; i < hw; ++i) o[i] += pg[i] * (a * ps[i] + b * px[i] + c * pg[i]);
        }
    }
}

inline void pixel_sum(const float* G, const float* S, PixelTerm term, Shape4 s, float* out) {
    const auto hw = static_cast<std::size_t>(s.plane());
    for (std::int64_t n = 0; n < s.n; ++n) {
        float* o = out + n * s.plane();
        std::fill(o, o + hw, 0.0f);
        for (std::int64_t k = 0; k < s.c; ++k) {
            const auto off = (n * s.c + k) * s.plane();
            const float *pg = G + off, *ps = S + off;
            switch (term) {
            case PixelTerm::product:
                for (std::size_t i = 0; i < hw; ++i) o[i] += pg[i] * ps[i];
                break;
            case PixelTerm::relu_product:
                for (std::size_t i = 0; i < hw; ++i) o[i] += std::max(pg[i] * ps[i], 0.0f);
                break;
            case PixelTerm::relu_grad:
                for (std::size_t i = 0; i < hw; ++i) o[i] += std::max(pg[i], 0.0f) * ps[i];
                break;
            }
        }
    }
}

inline void channel_sum(const float* S, std::span<const float> w, Shape4 s, float* out) {
    const auto hw = static_cast<std::size_t>(s.plane());
    for (std::int64_t n = 0; n < s.n; ++n) {
        float* o = out + n * s.plane();
        std::fill(o, o + hw, 0.0f);
        for (std::int64_t k = 0; k < s.c; ++k) {
            const float wk = w[static_cast<std::size_t>(n * s.c + k)];
            const float* ps = S + (n * s.c + k) * s.plane();
            for (std::size_t i = 0; i < hw; ++i) o[i] += wk * ps[i];
        }
    }
}

[[nodiscard]] inline std::vector<double> spatial_sum(const float* x, Shape4 s) {
    std::vector<double> out(static_cast<std::size_t>(s.n * s.c));
    const auto hw = static_cast<std::size_t>(s.plane());
    for (std::int64_t nk = 0; nk < s.n * s.c; ++nk) {
        const float* p = x + nk * s.plane();
        out[static_cast<std::size_t>(nk)] = lane_sum(hw, [p](std::size_t i) { return p[i]; });
    }
    return out;
}

[[nodiscard]] inline std::vector<double> spatial_dot(const float* a, const float* b, Shape4 s) {
    std::vector<double> out(static_cast<std::size_t>(s.n * s.c));
    const auto hw = static_cast<std::size_t>(s.plane());
    for (std::int64_t nk = 0; nk < s.n * s.c; ++nk) {
        const float *pa = a + nk * s.plane(), *pb = b + nk * s.plane();
        out[static_cast<std::size_t>(nk)] = lane_sum(hw, [pa, pb](std::size_t i) { return pa[i] * pb[i]; });
    }
    return out;
}

/// Grad-CAM++ channel weights, as pytorch-grad-cam computes them:
/// a = g^2 / (2 g^2 + sum_hw(S_k) g^3 + eps), a = 0 where g == 0, w_k = sum_hw relu(g) * a.
[[nodiscard]] inline std::vector<double> gradcampp_weights(const float* G, std::span<const double> sum_s, Shape4 s) {
    constexpr double eps = 1e-6;
    std::vector<double> out(static_cast<std::size_t>(s.n * s.c));
    for (std::int64_t nk = 0; nk < s.n * s.c; ++nk) {
        const float* pg = G + nk * s.plane();
        const double sk = sum_s[static_cast<std::size_t>(nk)];
        double acc = 0;
        for (std::int64_t i = 0; i < s.plane(); ++i) {
            const double g = pg[i];
            if (g <= 0) continue; // relu(g) = 0, and a = 0 where g == 0
            const double g2 = g * g;
            acc += g * (g2 / (2 * g2 + sk * g2 * g + eps));
        }
        out[static_cast<std::size_t>(nk)] = acc;
    }
    return out;
}

/// out = a[n] X + b[n] Y, per sample.
inline void axpby(const float* X, std::span<const float> a, const float* Y, std::span<const float> b, Shape4 s,
                  float* out) {
    const auto per = static_cast<std::size_t>(s.per_sample());
    for (std::int64_t n = 0; n < s.n; ++n) {
        const float an = a[static_cast<std::size_t>(n)], bn = b[static_cast<std::size_t>(n)];
        const std::size_t off = static_cast<std::size_t>(n) * per;
        for (std::size_t i = 0; i < per; ++i) out[off + i] = an * X[off + i] + bn * Y[off + i];
    }
}

inline void relu(const float* x, std::size_t count, float* out) {
    for (std::size_t i = 0; i < count; ++i) out[i] = std::max(x[i], 0.0f);
}

} // namespace dualgrad::detail::portable

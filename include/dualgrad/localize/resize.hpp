#pragma once
/// \file
/// Score-map resizing with the arithmetic of OpenCV 4.x `cv::resize`, so that the box protocols
/// (wsolevaluation, layercam_loc) see the same pixels as the Python reference code.
///
///     dualgrad::ScoreMap cam(14, 14);
///     auto big = dualgrad::resize(cam, 224, 224, dualgrad::Interpolation::cubic);
///
/// What is reproduced (OpenCV's generic separable path; OpenCV is the oracle in the tests):
/// - half-pixel centres: source coordinate `fx = float((dx + 0.5) * scale - 0.5)` with
///   `scale = 1 / (dst / src)` in double, `sx = floor(fx)`, `fx -= sx` in float;
/// - bicubic: Keys kernel with A = -0.75, coefficients in float; bilinear: `(1 - fx, fx)`;
/// - border replicate (taps clamped to the image); equal sizes are a plain copy;
/// - bilinear with an exact 2x reduction in both directions is the 2x2 box average
///   (OpenCV switches INTER_LINEAR to INTER_AREA there);
/// - float maps are accumulated in float, double maps in double with float coefficients,
///   exactly in OpenCV's order: double maps are bit-identical to OpenCV's scalar 64F path and
///   float maps follow the summation order of its SSE2 32F path. Every product is rounded before
///   it is added (`detail::rounded`), as OpenCV's separate multiply and add instructions do, so
///   the results are the same with and without FMA (-march=native) and -ffp-contract;
/// - 8-bit maps (bicubic only): OpenCV's fixed point (coefficients * 2048, rounded), including
///   its SSE2 vertical pass that finishes blocks of 8 outputs in float with round-half-even and
///   the scalar tail that rounds in fixed point. That is what `cv2.resize(u8, ..., INTER_CUBIC)`
///   returns on x86-64 builds and what the layercam_loc protocol resizes.

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#include "dualgrad/detail/rounded.hpp"
#include "dualgrad/error.hpp"
#include "dualgrad/map2d.hpp"

namespace dualgrad {

/// Interpolation kernels of `resize`, named as OpenCV's INTER_LINEAR and INTER_CUBIC.
enum class Interpolation { linear, cubic };

namespace detail {

/// OpenCV's cubic convolution weights (A = -0.75) for a fractional offset x, in float.
/// Each product is rounded before the next addition (no FMA), as OpenCV's own build computes them.
inline void cubic_weights(float x, float* w) noexcept {
    constexpr float A = -0.75f;
    const float t = x + 1, u = 1 - x;
    // ((A * t - 5 * A) * t + 8 * A) * t - 4 * A
    const float p1 = rounded(A * t) - 5 * A;
    const float p2 = rounded(p1 * t) + 8 * A;
    w[0] = rounded(p2 * t) - 4 * A;
    // ((A + 2) * x - (A + 3)) * x * x + 1, and the same at 1 - x
    w[1] = rounded(rounded(rounded((A + 2) * x) - (A + 3)) * x * x) + 1;
    w[2] = rounded(rounded(rounded((A + 2) * u) - (A + 3)) * u * u) + 1;
    w[3] = 1.f - w[0] - w[1] - w[2];
}

/// For one axis: for every destination index, the first tap and the kernel weights.
struct ResizeAxis {
    std::vector<int> first;    // clamped source index of each tap is clamp(first + k)
    std::vector<float> weight; // taps per output
    int taps = 0;
};

inline void check_resize_sizes(const char* what, int src_h, int src_w, int h, int w) {
    if (src_h <= 0 || src_w <= 0)
        raise<shape_error>(what, ": the source map is empty (", src_h, "x", src_w, ")");
    if (h <= 0 || w <= 0)
        raise<shape_error>(what, ": the target size ", h, "x", w, " must be positive in both directions");
}

/// Source positions and weights along one axis, as OpenCV's resize computes them
/// (`src_len` -> `dst_len`, with `taps` = 2 for bilinear and 4 for bicubic). OpenCV clamps the
/// bilinear position itself only along x (`horizontal`); along y only the rows are clamped.
inline ResizeAxis resize_axis(int src_len, int dst_len, Interpolation interp, bool horizontal) {
    ResizeAxis a;
    a.taps = interp == Interpolation::cubic ? 4 : 2;
    a.first.resize(static_cast<std::size_t>(dst_len));
    a.weight.resize(static_cast<std::size_t>(dst_len) * static_cast<std::size_t>(a.taps));
    const double inv_scale = static_cast<double>(dst_len) / src_len;
    const double scale = 1. / inv_scale;
    for (int d = 0; d < dst_len; ++d) {
        float f = static_cast<float>(rounded((d + 0.5) * scale) - 0.5);
        int s = static_cast<int>(std::floor(f));
        f -= static_cast<float>(s);
        float* w = a.weight.data() + static_cast<std::size_t>(d) * static_cast<std::size_t>(a.taps);
        if (interp == Interpolation::cubic) {
            cubic_weights(f, w);
            a.first[static_cast<std::size_t>(d)] = s - 1;
        } else {
            if (horizontal) {
                if (s < 0) f = 0, s = 0;
                if (s >= src_len - 1) f = 0, s = src_len - 1;
            }
            w[0] = 1.f - f;
            w[1] = f;
            a.first[static_cast<std::size_t>(d)] = s;
        }
    }
    return a;
}

inline int clamp_index(int i, int n) noexcept { return i < 0 ? 0 : (i >= n ? n - 1 : i); }

/// True when OpenCV turns INTER_LINEAR into its fast 2x2 area average.
inline bool is_exact_half(int src_h, int src_w, int h, int w) noexcept {
    auto half = [](int src, int dst) {
        const double scale = 1. / (static_cast<double>(dst) / src);
        return std::abs(scale - 2.0) < std::numeric_limits<double>::epsilon();
    };
    return half(src_w, w) && half(src_h, h);
}

/// Floating-point separable resize; WT = T is the accumulator, the weights stay float.
template <class T>
Map2D<T> resize_float(const Map2D<T>& src, int h, int w, Interpolation interp) {
    const int sh = src.height(), sw = src.width();
    if (sh == h && sw == w) return src;
    Map2D<T> dst(h, w);
    if (interp == Interpolation::linear && is_exact_half(sh, sw, h, w)) {
        for (int y = 0; y < h; ++y) {
            const T* r0 = src.row(2 * y);
            const T* r1 = src.row(2 * y + 1);
            T* out = dst.row(y);
            int x = 0;
            // As above: OpenCV's SSE2 pass (blocks of 4, float only) pairs the sums by row.
            if constexpr (std::is_same_v<T, float>)
                for (const int vec_end = w - w % 4; x < vec_end; ++x)
                    out[x] = ((r0[2 * x] + r0[2 * x + 1]) + (r1[2 * x] + r1[2 * x + 1])) * 0.25f;
            for (; x < w; ++x)
                out[x] = (r0[2 * x] + r0[2 * x + 1] + r1[2 * x] + r1[2 * x + 1]) * static_cast<T>(0.25);
        }
        return dst;
    }
    const ResizeAxis ax = resize_axis(sw, w, interp, true), ay = resize_axis(sh, h, interp, false);
    const int taps = ax.taps;

    // Horizontal pass over every source row. For bilinear, OpenCV reads S[sx] * 1 (no second tap)
    // once the position reaches the last column; for bicubic it clamps each tap.
    std::vector<T> rows(static_cast<std::size_t>(sh) * static_cast<std::size_t>(w));
    for (int y = 0; y < sh; ++y) {
        const T* s = src.row(y);
        T* out = rows.data() + static_cast<std::size_t>(y) * static_cast<std::size_t>(w);
        for (int x = 0; x < w; ++x) {
            const float* a = ax.weight.data() + static_cast<std::size_t>(x) * static_cast<std::size_t>(taps);
            const int f = ax.first[static_cast<std::size_t>(x)];
            if (taps == 2) {
                out[x] = f + 1 < sw ? rounded(s[f] * a[0]) + rounded(s[f + 1] * a[1]) : s[f];
            } else {
                out[x] = rounded(s[clamp_index(f, sw)] * a[0]) + rounded(s[clamp_index(f + 1, sw)] * a[1]) +
                         rounded(s[clamp_index(f + 2, sw)] * a[2]) + rounded(s[clamp_index(f + 3, sw)] * a[3]);
            }
        }
    }
    // Vertical pass: rows clamped to the image, weights converted to the accumulator type.
    for (int y = 0; y < h; ++y) {
        const float* b = ay.weight.data() + static_cast<std::size_t>(y) * static_cast<std::size_t>(taps);
        const int first = ay.first[static_cast<std::size_t>(y)];
        T* out = dst.row(y);
        const auto row_ptr = [&](int k) {
            return rows.data() + static_cast<std::size_t>(clamp_index(first + k, sh)) * static_cast<std::size_t>(w);
        };
        if (taps == 2) {
            const T b0 = b[0], b1 = b[1];
            const T *s0 = row_ptr(0), *s1 = row_ptr(1);
            for (int x = 0; x < w; ++x) out[x] = rounded(s0[x] * b0) + rounded(s1[x] * b1);
        } else {
            const T b0 = b[0], b1 = b[1], b2 = b[2], b3 = b[3];
            const T *s0 = row_ptr(0), *s1 = row_ptr(1), *s2 = row_ptr(2), *s3 = row_ptr(3);
            // OpenCV's SSE2 pass for float maps covers blocks of 4 outputs and sums right to left
            // (s0*b0 + (s1*b1 + (s2*b2 + s3*b3))); its scalar tail and the 64F path sum left to right.
            int x = 0;
            if constexpr (std::is_same_v<T, float>)
                for (const int vec_end = w - w % 4; x < vec_end; ++x)
                    out[x] = rounded(s0[x] * b0) + (rounded(s1[x] * b1) + (rounded(s2[x] * b2) + rounded(s3[x] * b3)));
            for (; x < w; ++x)
                out[x] = rounded(s0[x] * b0) + rounded(s1[x] * b1) + rounded(s2[x] * b2) + rounded(s3[x] * b3);
        }
    }
    return dst;
}

} // namespace detail

/// Resizes a float or double map to height x width as `cv::resize(src, (width, height),
/// interpolation=INTER_LINEAR / INTER_CUBIC)` does for CV_32F / CV_64F. Throws `shape_error` on an
/// empty source or a non-positive target size.
template <std::floating_point T>
[[nodiscard]] Map2D<T> resize(const Map2D<T>& src, int height, int width,
                              Interpolation interp = Interpolation::cubic) {
    detail::check_resize_sizes("resize", src.height(), src.width(), height, width);
    return detail::resize_float(src, height, width, interp);
}

/// Resizes an 8-bit map as `cv::resize(u8, (width, height), interpolation=INTER_CUBIC)` does
/// (fixed point, see the file comment). Only bicubic is offered for 8-bit maps: asking for
/// bilinear throws `value_error`.
[[nodiscard]] inline Map2D<std::uint8_t> resize(const Map2D<std::uint8_t>& src, int height, int width,
                                                Interpolation interp = Interpolation::cubic) {
    detail::check_resize_sizes("resize (8-bit)", src.height(), src.width(), height, width);
    if (interp != Interpolation::cubic)
        detail::raise<value_error>("resize (8-bit): only Interpolation::cubic is implemented for 8-bit maps; "
                                   "resize a float copy for bilinear");
    const int sh = src.height(), sw = src.width();
    if (sh == height && sw == width) return src;
    Map2D<std::uint8_t> dst(height, width);
    const detail::ResizeAxis ax = detail::resize_axis(sw, width, interp, true);
    const detail::ResizeAxis ay = detail::resize_axis(sh, height, interp, false);
    constexpr int coef_scale = 1 << 11; // INTER_RESIZE_COEF_SCALE
    auto fixed = [](float c) { return static_cast<int>(std::clamp(std::nearbyint(c * coef_scale), -32768.f, 32767.f)); };

    std::vector<int> ia(ax.weight.size()), ib(ay.weight.size());
    std::transform(ax.weight.begin(), ax.weight.end(), ia.begin(), fixed);
    std::transform(ay.weight.begin(), ay.weight.end(), ib.begin(), fixed);

    std::vector<int> rows(static_cast<std::size_t>(sh) * static_cast<std::size_t>(width));
    for (int y = 0; y < sh; ++y) {
        const std::uint8_t* s = src.row(y);
        int* out = rows.data() + static_cast<std::size_t>(y) * static_cast<std::size_t>(width);
        for (int x = 0; x < width; ++x) {
            const int* a = ia.data() + 4 * static_cast<std::size_t>(x);
            const int f = ax.first[static_cast<std::size_t>(x)];
            out[x] = s[detail::clamp_index(f, sw)] * a[0] + s[detail::clamp_index(f + 1, sw)] * a[1] +
                     s[detail::clamp_index(f + 2, sw)] * a[2] + s[detail::clamp_index(f + 3, sw)] * a[3];
        }
    }
    // OpenCV's SSE2 vertical pass covers x < 8 * floor(width / 8) in float (products of exact
    // float(int) values with beta * 2^-22, summed right to left, rounded half to even); the rest
    // of the row goes through the scalar fixed-point cast (v + 2^21) >> 22.
    const int vec_end = width - width % 8;
    constexpr float unscale = 1.f / static_cast<float>(coef_scale * coef_scale);
    auto saturate_u8 = [](long v) { return static_cast<std::uint8_t>(std::clamp(v, 0L, 255L)); };
    for (int y = 0; y < height; ++y) {
        const int* b = ib.data() + 4 * static_cast<std::size_t>(y);
        const int first = ay.first[static_cast<std::size_t>(y)];
        const int* s[4];
        for (int k = 0; k < 4; ++k)
            s[k] = rows.data() + static_cast<std::size_t>(detail::clamp_index(first + k, sh)) *
                                     static_cast<std::size_t>(width);
        const float fb0 = static_cast<float>(b[0]) * unscale, fb1 = static_cast<float>(b[1]) * unscale,
                    fb2 = static_cast<float>(b[2]) * unscale, fb3 = static_cast<float>(b[3]) * unscale;
        std::uint8_t* out = dst.row(y);
        for (int x = 0; x < vec_end; ++x) {
            float v = static_cast<float>(s[3][x]) * fb3;
            v = detail::rounded(static_cast<float>(s[2][x]) * fb2) + v;
            v = detail::rounded(static_cast<float>(s[1][x]) * fb1) + v;
            v = detail::rounded(static_cast<float>(s[0][x]) * fb0) + v;
            out[x] = saturate_u8(std::lrint(v));
        }
        for (int x = vec_end; x < width; ++x) {
            const long v = static_cast<long>(s[0][x]) * b[0] + static_cast<long>(s[1][x]) * b[1] +
                           static_cast<long>(s[2][x]) * b[2] + static_cast<long>(s[3][x]) * b[3];
            out[x] = saturate_u8((v + (1L << 21)) >> 22);
        }
    }
    return dst;
}

} // namespace dualgrad

#pragma once
/// \file
/// Score-map normalizations of the box protocols, in the arithmetic of their NumPy references.
///
///     auto m = dualgrad::normalize_minmax(resized);   // wsolevaluation's normalize_scoremap
///     dualgrad::Mask u8 = dualgrad::to_uint8(m);       // uint8(trunc(m * 255))
///
/// - `normalize_minmax`: clovaai/wsolevaluation `normalize_scoremap`: a map holding NaN, or a
///   constant map, becomes all zeros; otherwise `m -= min(m); m /= max(m)` (max of the shifted
///   map), in the map's own precision. Non-finite values: the reference checks only NaN, and an
///   Inf would turn into NaN (inf - inf, inf / inf) in the next two steps; dualgrad treats every
///   non-finite value as the reference treats NaN, so such a map is all zeros (no contour, box
///   (0,0,0,0) at every threshold). `normalize_minmax_strict` throws instead.
/// - `normalize_relu_max`: layercam_loc `scripts/test.py`: `m = max(m, 0); m /= (max(m) + 1e-8)`,
///   where NumPy adds 1e-8 in double and divides a float32 map by that sum rounded to float32.
/// - `to_uint8`: `(m * 255).astype(np.uint8)`: product in the map's precision, truncated.

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <optional>

#include "dualgrad/error.hpp"
#include "dualgrad/map2d.hpp"

namespace dualgrad {

namespace detail {

template <class T>
void require_nonempty(const Map2D<T>& m, const char* what) {
    if (m.empty()) raise<shape_error>(what, ": the score map is empty (", m.height(), "x", m.width(), ")");
}

/// Index of the first non-finite value, if any.
template <std::floating_point T>
[[nodiscard]] std::optional<std::size_t> first_non_finite(const Map2D<T>& m) noexcept {
    const T* p = m.data();
    for (std::size_t i = 0, n = m.size(); i < n; ++i)
        if (!std::isfinite(p[i])) return i;
    return std::nullopt;
}

template <std::floating_point T>
void fill_zero(Map2D<T>& m) noexcept {
    std::fill(m.values().begin(), m.values().end(), T{0});
}

/// min-max normalization of a finite map, in place (constant map -> zeros).
template <std::floating_point T>
void minmax_finite(Map2D<T>& m) noexcept {
    auto v = m.values();
    const auto [lo_it, hi_it] = std::minmax_element(v.begin(), v.end());
    const T lo = *lo_it, hi = *hi_it;
    if (lo == hi) return fill_zero(m);
    T top = 0;
    for (T& x : v) top = std::max(top, x -= lo);
    for (T& x : v) x /= top;
}

} // namespace detail

/// wsolevaluation's `normalize_scoremap`, in place: non-finite or constant -> zeros, else
/// `(m - min) / max(m - min)`. Throws `shape_error` on an empty map.
template <std::floating_point T>
void normalize_minmax_inplace(Map2D<T>& m) {
    detail::require_nonempty(m, "normalize_minmax");
    if (detail::first_non_finite(m)) return detail::fill_zero(m);
    detail::minmax_finite(m);
}

/// wsolevaluation's `normalize_scoremap` (see the file comment): values in [0, 1], max 1
/// unless the map is constant or holds NaN/Inf, which give all zeros.
template <std::floating_point T>
[[nodiscard]] Map2D<T> normalize_minmax(Map2D<T> m) {
    normalize_minmax_inplace(m);
    return m;
}

/// As `normalize_minmax`, but a NaN or Inf is an error: throws `value_error` naming the row and
/// column of the first non-finite value in row-major order.
template <std::floating_point T>
[[nodiscard]] Map2D<T> normalize_minmax_strict(Map2D<T> m) {
    detail::require_nonempty(m, "normalize_minmax_strict");
    if (const auto i = detail::first_non_finite(m)) {
        const auto w = static_cast<std::size_t>(m.width());
        detail::raise<value_error>("normalize_minmax_strict: the score map holds ", m.data()[*i], " at row ", *i / w,
                                   ", column ", *i % w, " (", m.height(), "x", m.width(),
                                   " map); only finite values can be normalized");
    }
    detail::minmax_finite(m);
    return m;
}

/// layercam_loc's normalization: ReLU, then divide by (max + 1e-8) as NumPy does it (the sum in
/// double, the division in the map's precision). A map holding NaN or Inf gives all zeros, as in
/// `normalize_minmax`.
template <std::floating_point T>
[[nodiscard]] Map2D<T> normalize_relu_max(Map2D<T> m) {
    detail::require_nonempty(m, "normalize_relu_max");
    if (detail::first_non_finite(m)) {
        detail::fill_zero(m);
        return m;
    }
    T hi = 0;
    for (T& x : m.values()) hi = std::max(hi, x = std::max(x, T{0}));
    const T denom = static_cast<T>(static_cast<double>(hi) + 1e-8);
    for (T& x : m.values()) x /= denom;
    return m;
}

/// `uint8(trunc(m * 255))` as wsolevaluation's `(scoremap * 255).astype(np.uint8)`, the product
/// in the map's precision. Meant for maps in [0, 1]; values outside are clamped to 0..255 and NaN
/// gives 0 (NumPy leaves those cases undefined).
template <std::floating_point T>
[[nodiscard]] Mask to_uint8(const Map2D<T>& m) {
    Mask out(m.height(), m.width());
    const T* src = m.data();
    std::uint8_t* dst = out.data();
    for (std::size_t i = 0, n = m.size(); i < n; ++i) {
        const T v = src[i] * T{255};
        dst[i] = v >= T{255} ? std::uint8_t{255} : (v > T{0} ? static_cast<std::uint8_t>(v) : std::uint8_t{0});
    }
    return out;
}

} // namespace dualgrad

#pragma once
/// \file
/// Internals shared by the metrics: NumPy's float64 arithmetic where the result depends on it
/// (`numpy.arange` thresholds, the pairwise summation of `ndarray.sum`, `argmax`), and the
/// input checks every accumulator runs.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <iomanip>
#include <span>
#include <string_view>
#include <vector>

#include "dualgrad/box.hpp"
#include "dualgrad/error.hpp"

namespace dualgrad::detail {

/// Checks a CAM threshold list: not empty, every value in [0, 1] (in [0, 1) and strictly
/// increasing when `histogram_edges`, since they become `numpy.histogram` bin edges).
inline void check_cam_thresholds(std::span<const double> t, std::string_view who, bool histogram_edges) {
    if (t.empty()) raise<value_error>(who, ": the CAM threshold list is empty");
    for (std::size_t i = 0; i < t.size(); ++i) {
        const bool ok = histogram_edges ? (t[i] >= 0.0 && t[i] < 1.0) : (t[i] >= 0.0 && t[i] <= 1.0);
        if (!ok)
            raise<value_error>(who, ": CAM threshold [", i, "] is ", t[i], "; it must be in ",
                               histogram_edges ? "[0, 1)" : "[0, 1]");
        if (histogram_edges && i > 0 && !(t[i] > t[i - 1]))
            raise<value_error>(who, ": CAM thresholds must increase strictly; [", i - 1, "] = ", t[i - 1],
                               " and [", i, "] = ", t[i]);
    }
}

/// Checks an IoU threshold list, given in percent as wsolevaluation's `iou_threshold_list`:
/// not empty, every value in [0, 100], no value twice.
inline void check_iou_thresholds(std::span<const double> v, std::string_view who) {
    if (v.empty()) raise<value_error>(who, ": the IoU threshold list is empty");
    for (std::size_t i = 0; i < v.size(); ++i) {
        if (!(v[i] >= 0.0 && v[i] <= 100.0))
            raise<value_error>(who, ": IoU threshold [", i, "] is ", v[i],
                               "; IoU thresholds are in percent and must be in [0, 100]");
        for (std::size_t j = 0; j < i; ++j)
            if (v[j] == v[i]) raise<value_error>(who, ": IoU threshold ", v[i], " is listed twice");
    }
}

/// Throws `value_error` naming `what` and `index` unless `b` is a valid box with non-negative
/// coordinates (wsolevaluation's `check_box_convention` rejects negative coordinates too).
inline void check_metric_box(const Box& b, std::string_view what, std::size_t index) {
    if (!b.valid())
        raise<value_error>(what, "[", index, "] ", b, " is invalid: need x0 <= x1 and y0 <= y1");
    if (b.x0 < 0 || b.y0 < 0)
        raise<value_error>(what, "[", index, "] ", b, " has a negative coordinate");
}

/// Checks one value of a max-IoU sweep: an IoU in [0, 1].
inline void check_iou_value(double v, std::size_t index, std::string_view who) {
    if (!(v >= 0.0 && v <= 1.0))
        raise<value_error>(who, ": max IoU [", index, "] is ", v, "; an IoU must be in [0, 1]");
}

/// Ranked predicted classes (top-1 first) and the ground-truth class of one image: the list is
/// not empty, no class is negative or listed twice.
inline void check_classes(std::span<const int> ranked, int gt_class, std::string_view who) {
    if (gt_class < 0) raise<value_error>(who, ": the ground-truth class is ", gt_class, "; it must be >= 0");
    if (ranked.empty()) raise<value_error>(who, ": the ranked list of predicted classes is empty");
    for (std::size_t i = 0; i < ranked.size(); ++i) {
        if (ranked[i] < 0)
            raise<value_error>(who, ": predicted class [", i, "] is ", ranked[i], "; it must be >= 0");
        for (std::size_t j = 0; j < i; ++j)
            if (ranked[j] == ranked[i])
                raise<value_error>(who, ": class ", ranked[i], " is listed twice among the predicted classes (at [",
                                   j, "] and [", i, "])");
    }
}

/// `numpy.add.reduce` over a contiguous float64 array: NumPy's pairwise summation (blocks of
/// at most 128 summed with 8 accumulators, larger arrays split in two at a multiple of 8), so
/// that sums agree with NumPy to the last bit, not only to rounding.
[[nodiscard]] inline double numpy_sum(std::span<const double> a) noexcept {
    const std::size_t n = a.size();
    if (n < 8) {
        double s = 0.0;
        for (double x : a) s += x;
        return s;
    }
    if (n <= 128) {
        double r[8];
        for (std::size_t j = 0; j < 8; ++j) r[j] = a[j];
        std::size_t i = 8;
        for (; i < n - n % 8; i += 8)
            for (std::size_t j = 0; j < 8; ++j) r[j] += a[i + j];
        double s = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; ++i) s += a[i];
        return s;
    }
    std::size_t n2 = n / 2;
    n2 -= n2 % 8;
    return numpy_sum(a.first(n2)) + numpy_sum(a.subspan(n2));
}

/// `numpy.argmax`: the index of the first maximum. Requires a non-empty span without NaN.
[[nodiscard]] inline std::size_t first_argmax(std::span<const double> a) noexcept {
    std::size_t best = 0;
    for (std::size_t i = 1; i < a.size(); ++i)
        if (a[i] > a[best]) best = i;
    return best;
}

/// `count * 100. / float(total)`, the percentage as wsolevaluation computes it.
[[nodiscard]] inline double percent(std::int64_t count, std::int64_t total) noexcept {
    return static_cast<double>(count) * 100.0 / static_cast<double>(total);
}

/// Throws `value_error` naming `who` and `what` when two lists to merge differ.
inline void check_same_list(std::span<const double> a, std::span<const double> b, std::string_view who,
                            std::string_view what) {
    if (a.size() != b.size())
        raise<value_error>(who, "::merge: the ", what, " lists differ: ", a.size(), " values here, ", b.size(),
                           " in the other accumulator");
    for (std::size_t i = 0; i < a.size(); ++i)
        if (a[i] != b[i])
            raise<value_error>(who, "::merge: the ", what, " lists differ at [", i, "]: ", std::setprecision(17), a[i],
                               " here, ", b[i],
                               " in the other accumulator");
}

/// Validates restored counts: `n` of them, each in [0, num_images].
inline void check_counts(std::span<const std::int64_t> c, std::size_t n, std::int64_t num_images, const char* who,
                         const char* what) {
    if (c.size() != n) raise<value_error>(who, ": ", c.size(), " ", what, " counts, expected ", n);
    for (std::size_t i = 0; i < c.size(); ++i)
        if (c[i] < 0 || (num_images >= 0 && c[i] > num_images))
            raise<value_error>(who, ": ", what, " count [", i, "] = ", c[i], " is outside [0, ", num_images, "]");
}

/// `a + b` for counts being merged; an overflow of 64-bit integers is a `value_error` naming them.
[[nodiscard]] inline std::int64_t checked_add(std::int64_t a, std::int64_t b, const char* who, const char* what) {
    std::int64_t r = 0;
    if (__builtin_add_overflow(a, b, &r))
        raise<value_error>(who, ": adding the ", what, " counts ", a, " and ", b, " overflows 64-bit integers");
    return r;
}

/// Element-wise `checked_add` of two count vectors of equal length, into a new vector.
[[nodiscard]] inline std::vector<std::int64_t> checked_add(std::span<const std::int64_t> a,
                                                           std::span<const std::int64_t> b, const char* who,
                                                           const char* what) {
    std::vector<std::int64_t> out(a.size());
    for (std::size_t i = 0; i < a.size(); ++i) out[i] = checked_add(a[i], b[i], who, what);
    return out;
}

} // namespace dualgrad::detail

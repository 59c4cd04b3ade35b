#pragma once
/// \file
/// The CAM threshold list of wsolevaluation, shared by the box protocols and the metrics:
/// `numpy.arange(0, 1, interval)` in float64.
///
///     auto t = dualgrad::cam_thresholds(0.01);   // 100 values 0, 0.01, ..., 0.99

#include <cmath>
#include <cstddef>
#include <string_view>
#include <vector>

#include "dualgrad/error.hpp"

namespace dualgrad {

/// The most CAM thresholds a sweep may have (an interval of 1e-4): every metric keeps counts per
/// threshold and every map is thresholded at each, so a smaller interval only costs memory and time.
inline constexpr std::size_t max_cam_thresholds = 10000;

/// `numpy.arange(0, 1, interval)` in float64: length ceil(1 / interval), values i * interval
/// (NumPy writes start and start + step, then start + i * (second - first), which is i * interval
/// for start 0). Throws `value_error` naming `who` unless 0 < interval < 1 and the list has at most
/// `max_cam_thresholds` values.
[[nodiscard]] inline std::vector<double> cam_thresholds(double interval = 0.01, std::string_view who = "cam_thresholds") {
    if (!(interval > 0.0 && interval < 1.0))
        detail::raise<value_error>(who, ": the CAM threshold interval is ", interval, "; it must be in (0, 1)");
    if (std::ceil(1.0 / interval) > static_cast<double>(max_cam_thresholds))
        detail::raise<value_error>(who, ": the CAM threshold interval ", interval, " gives ", std::ceil(1.0 / interval),
                                   " thresholds; at most ", max_cam_thresholds, " (an interval of at least 1e-4)");
    const auto n = static_cast<std::size_t>(std::ceil(1.0 / interval));
    std::vector<double> t(n);
    for (std::size_t i = 0; i < n; ++i) t[i] = static_cast<double>(i) * interval;
    return t;
}

} // namespace dualgrad

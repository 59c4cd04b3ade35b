#pragma once
/// \file
/// The per-image step of wsolevaluation's `BoxEvaluator.accumulate`: at each CAM threshold, the
/// best IoU (+1 convention, float64) over every (estimated box, ground-truth box) pair. The box
/// metrics (`BoxAccuracy`, `LocAccuracy`) count these values against their IoU thresholds.
///
///     std::vector<std::vector<dualgrad::Box>> per_t = ...;   // from BoxExtractor, per threshold
///     std::vector<dualgrad::Box> gt{{10, 12, 80, 90}};
///     std::vector<double> best = dualgrad::max_iou_per_threshold(per_t, gt);  // best[i] in [0, 1]

#include <algorithm>
#include <cstddef>
#include <span>
#include <string_view>
#include <vector>

#include "dualgrad/box.hpp"
#include "dualgrad/error.hpp"
#include "dualgrad/metrics/detail/common.hpp"

namespace dualgrad {

/// Checks ground-truth boxes: at least one, each with x0 <= x1, y0 <= y1 and no negative
/// coordinate. Throws `value_error` naming the box.
inline void check_gt_boxes(std::span<const Box> gt_boxes, std::string_view who = "gt_boxes") {
    if (gt_boxes.empty())
        detail::raise<value_error>(who, ": the list of ground-truth boxes is empty; every image needs at least one");
    for (std::size_t g = 0; g < gt_boxes.size(); ++g) detail::check_metric_box(gt_boxes[g], "gt_boxes", g);
}

/// Best IoU between any of `candidates` and any of `gt_boxes` (both non-empty, valid boxes).
/// Throws `value_error` on an empty list or an invalid box.
[[nodiscard]] inline double max_iou(std::span<const Box> candidates, std::span<const Box> gt_boxes) {
    check_gt_boxes(gt_boxes);
    if (candidates.empty())
        detail::raise<value_error>("max_iou: the list of candidate boxes is empty; an empty score map gives the box "
                                   "(0, 0, 0, 0)");
    double best = 0.0;
    for (std::size_t c = 0; c < candidates.size(); ++c) {
        detail::check_metric_box(candidates[c], "candidate box", c);
        for (const Box& g : gt_boxes) best = std::max(best, iou(candidates[c], g));
    }
    return best;
}

/// For each CAM threshold i, the best IoU of `boxes_per_threshold[i]` (the candidate boxes at
/// that threshold: one for the largest contour, one per contour for multi-contour; the box
/// (0, 0, 0, 0) when there is no contour) against `gt_boxes`, as wsolevaluation computes it.
/// `expected_thresholds`, when not zero, is the number of CAM thresholds the caller uses: a
/// different `boxes_per_threshold.size()` throws `shape_error`. Invalid input throws
/// `value_error` naming the box; nothing is computed until every box has been checked.
[[nodiscard]] inline std::vector<double> max_iou_per_threshold(std::span<const std::vector<Box>> boxes_per_threshold,
                                                               std::span<const Box> gt_boxes,
                                                               std::size_t expected_thresholds = 0) {
    if (expected_thresholds != 0 && boxes_per_threshold.size() != expected_thresholds)
        detail::raise<shape_error>("boxes_per_threshold has ", boxes_per_threshold.size(),
                                   " entries but the metric uses ", expected_thresholds, " CAM thresholds");
    check_gt_boxes(gt_boxes);
    for (std::size_t t = 0; t < boxes_per_threshold.size(); ++t) {
        const auto& cands = boxes_per_threshold[t];
        if (cands.empty())
            detail::raise<value_error>("boxes_per_threshold[", t, "] is empty; a threshold without contour gives the "
                                       "single box (0, 0, 0, 0)");
        for (std::size_t c = 0; c < cands.size(); ++c)
            detail::check_metric_box(cands[c], detail::concat("boxes_per_threshold[", t, "]"), c);
    }
    std::vector<double> best(boxes_per_threshold.size(), 0.0);
    for (std::size_t t = 0; t < boxes_per_threshold.size(); ++t)
        for (const Box& c : boxes_per_threshold[t])
            for (const Box& g : gt_boxes) best[t] = std::max(best[t], iou(c, g));
    return best;
}

} // namespace dualgrad

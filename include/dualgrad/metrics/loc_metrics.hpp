#pragma once
/// \file
/// `LocMetrics`: every WSOL metric of docs/design.md §3 in one mergeable accumulator.
/// It holds four counters over one list of CAM thresholds:
/// - `max_box_acc()`: MaxBoxAcc, largest-contour boxes, IoU {`box_iou`} (default 50);
/// - `max_box_acc_v2()`: MaxBoxAccV2, multi-contour boxes, IoU {30, 50, 70} by default;
/// - `loc_accuracy()`: top-1 / top-5 / GT-known localization at IoU `box_iou`, largest-contour
///   boxes, per threshold;
/// - `pxap()`: PxAP, for datasets with masks.
/// Each counter counts its own images (a dataset without masks leaves `pxap()` empty), holds
/// counts only, and merges exactly: the metrics of merged shards equal those of one run.
///
///     dualgrad::LocMetrics m;                                   // thresholds arange(0, 1, .01)
///     m.add({.gt_boxes = gt, .largest = per_t, .multi = per_t_multi,
///            .gt_class = 3, .ranked_classes = top5});           // one call per image
///     shard_a += shard_b;                                       // exact merge
///     dualgrad::LocMetricsResult r = m.result();                // r.max_box_acc_v2->mean, ...

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "dualgrad/box.hpp"
#include "dualgrad/error.hpp"
#include "dualgrad/map2d.hpp"
#include "dualgrad/metrics/box_accuracy.hpp"
#include "dualgrad/metrics/detail/common.hpp"
#include "dualgrad/thresholds.hpp"
#include "dualgrad/metrics/loc_accuracy.hpp"
#include "dualgrad/metrics/max_iou.hpp"
#include "dualgrad/metrics/pxap.hpp"

namespace dualgrad {

/// One image's input to the box metrics of `LocMetrics`. Spans refer to the caller's data.
struct ImageBoxes {
    /// Ground-truth boxes (at least one).
    std::span<const Box> gt_boxes{};
    /// Largest-contour boxes of the ground-truth class's map, one list per CAM threshold: feeds
    /// MaxBoxAcc and, with `ranked_classes`, the top-1 / top-5 / GT-known counts. Empty: skipped.
    std::span<const std::vector<Box>> largest{};
    /// Multi-contour boxes of the ground-truth class's map, per CAM threshold: feeds MaxBoxAccV2.
    /// Empty: skipped.
    std::span<const std::vector<Box>> multi{};
    /// Ground-truth class; used with `ranked_classes`.
    int gt_class = -1;
    /// Predicted classes, best first (at least five, or all when fewer). Empty: the top-1 / top-5
    /// / GT-known counts are skipped.
    std::span<const int> ranked_classes{};
};

/// The metrics of the counters that received images (`std::nullopt` for the others).
struct LocMetricsResult {
    std::optional<BoxAccuracyResult> max_box_acc;    ///< `->mean` (= its only IoU) is MaxBoxAcc
    std::optional<BoxAccuracyResult> max_box_acc_v2; ///< `->mean` is MaxBoxAccV2
    std::optional<LocAccuracyResult> loc;
    std::optional<PxapResult> pxap;
};

/// Mergeable accumulator of every WSOL metric (MaxBoxAcc, MaxBoxAccV2, top-1 / top-5 / GT-known
/// localization, PxAP).
class LocMetrics {
public:
    /// `cam_thresholds`: strictly increasing, in [0, 1) (they are also PxAP's bin edges);
    /// `v2_iou_thresholds` (percent) for MaxBoxAccV2; `box_iou` (percent) for MaxBoxAcc and the
    /// top-k / GT-known counts. Throws `value_error` on a bad list or value.
    explicit LocMetrics(std::vector<double> cam_thresholds = dualgrad::cam_thresholds(0.01, "LocMetrics"),
                        std::vector<double> v2_iou_thresholds = {30.0, 50.0, 70.0}, double box_iou = 50.0)
        : max_box_acc_(checked(cam_thresholds), {box_iou}),
          max_box_acc_v2_(cam_thresholds, std::move(v2_iou_thresholds)),
          loc_(cam_thresholds, box_iou),
          pxap_(cam_thresholds) {}

    /// Assembles the umbrella from its four accumulators (e.g. restored from counts); they must
    /// share one CAM threshold list.
    [[nodiscard]] static LocMetrics from_parts(BoxAccuracy max_box_acc, BoxAccuracy max_box_acc_v2, LocAccuracy loc,
                                               PxAP pxap) {
        LocMetrics m(pxap.cam_thresholds(), max_box_acc_v2.iou_thresholds(), loc.iou_threshold());
        detail::check_same_list(m.max_box_acc_.cam_thresholds(), max_box_acc.cam_thresholds(), "LocMetrics", "CAM threshold");
        detail::check_same_list(m.max_box_acc_.iou_thresholds(), max_box_acc.iou_thresholds(), "LocMetrics", "IoU threshold");
        detail::check_same_list(m.max_box_acc_v2_.cam_thresholds(), max_box_acc_v2.cam_thresholds(), "LocMetrics", "CAM threshold");
        detail::check_same_list(m.loc_.cam_thresholds(), loc.cam_thresholds(), "LocMetrics", "CAM threshold");
        m.max_box_acc_ = std::move(max_box_acc);
        m.max_box_acc_v2_ = std::move(max_box_acc_v2);
        m.loc_ = std::move(loc);
        m.pxap_ = std::move(pxap);
        return m;
    }

    /// Thresholds `numpy.arange(0, 1, interval)`, default IoU thresholds.
    [[nodiscard]] static LocMetrics with_interval(double interval = 0.01) {
        return LocMetrics(dualgrad::cam_thresholds(interval, "LocMetrics::with_interval"));
    }

    /// Adds one image to the box metrics its fields feed (see `ImageBoxes`). Everything is
    /// checked first: on `shape_error` or `value_error` no counter changes.
    void add(const ImageBoxes& img) {
        if (img.largest.empty() && img.multi.empty())
            detail::raise<value_error>("LocMetrics::add: the image has neither largest-contour nor multi-contour boxes");
        if (!img.ranked_classes.empty() && img.largest.empty())
            detail::raise<value_error>("LocMetrics::add: top-1 / top-5 / GT-known localization needs the "
                                       "largest-contour boxes of the ground-truth class's map");
        const std::size_t n = cam_thresholds().size();
        if (!img.ranked_classes.empty()) detail::check_classes(img.ranked_classes, img.gt_class, "LocMetrics::add");
        std::vector<double> best_largest, best_multi;
        if (!img.largest.empty()) best_largest = max_iou_per_threshold(img.largest, img.gt_boxes, n);
        if (!img.multi.empty()) best_multi = max_iou_per_threshold(img.multi, img.gt_boxes, n);
        if (!img.largest.empty()) {
            max_box_acc_.add_max_iou(best_largest);
            if (!img.ranked_classes.empty()) loc_.add_max_iou(img.ranked_classes, img.gt_class, best_largest);
        }
        if (!img.multi.empty()) max_box_acc_v2_.add_max_iou(best_multi);
    }

    /// Adds one image to PxAP (see `PxAP::add`).
    template <std::floating_point T>
    void add_mask(const Map2D<T>& score, const Mask& gt) {
        pxap_.add(score, gt);
    }
    /// Adds one image with an ignore region to PxAP (see `PxAP::add`).
    template <std::floating_point T>
    void add_mask(const Map2D<T>& score, const Mask& gt, const Mask& ignore) {
        pxap_.add(score, gt, ignore);
    }

    /// Adds the counts of `other`. Throws `value_error` saying what differs if its threshold
    /// lists are not the same; nothing changes then.
    LocMetrics& merge(const LocMetrics& other) {
        // Check every pair before touching any, so that a failed merge changes nothing.
        LocMetrics merged = *this;
        merged.max_box_acc_.merge(other.max_box_acc_);
        merged.max_box_acc_v2_.merge(other.max_box_acc_v2_);
        merged.loc_.merge(other.loc_);
        merged.pxap_.merge(other.pxap_);
        *this = std::move(merged);
        return *this;
    }
    LocMetrics& operator+=(const LocMetrics& other) { return merge(other); }

    [[nodiscard]] const std::vector<double>& cam_thresholds() const noexcept { return pxap_.cam_thresholds(); }

    /// The counters, to feed or read one directly.
    [[nodiscard]] BoxAccuracy& max_box_acc() noexcept { return max_box_acc_; }
    [[nodiscard]] const BoxAccuracy& max_box_acc() const noexcept { return max_box_acc_; }
    [[nodiscard]] BoxAccuracy& max_box_acc_v2() noexcept { return max_box_acc_v2_; }
    [[nodiscard]] const BoxAccuracy& max_box_acc_v2() const noexcept { return max_box_acc_v2_; }
    [[nodiscard]] LocAccuracy& loc_accuracy() noexcept { return loc_; }
    [[nodiscard]] const LocAccuracy& loc_accuracy() const noexcept { return loc_; }
    [[nodiscard]] PxAP& pxap() noexcept { return pxap_; }
    [[nodiscard]] const PxAP& pxap() const noexcept { return pxap_; }

    /// The metrics of every counter that received at least one image.
    [[nodiscard]] LocMetricsResult result() const {
        LocMetricsResult r;
        if (max_box_acc_.num_images() > 0) r.max_box_acc = max_box_acc_.result();
        if (max_box_acc_v2_.num_images() > 0) r.max_box_acc_v2 = max_box_acc_v2_.result();
        if (loc_.num_images() > 0) r.loc = loc_.result();
        if (pxap_.num_images() > 0) r.pxap = pxap_.result();
        return r;
    }

    friend bool operator==(const LocMetrics&, const LocMetrics&) = default;

private:
    // PxAP's stricter check (increasing, below 1) runs before the box counters copy the list.
    static std::vector<double> checked(const std::vector<double>& t) {
        detail::check_cam_thresholds(t, "LocMetrics", true);
        return t;
    }

    BoxAccuracy max_box_acc_;
    BoxAccuracy max_box_acc_v2_;
    LocAccuracy loc_;
    PxAP pxap_;
};

} // namespace dualgrad

#pragma once
/// \file
/// `LocAccuracy`: top-1 localization, top-5 localization and GT-known localization accuracy
/// (docs/design.md §3), counted at every CAM threshold so that the operating threshold
/// can be chosen afterwards; errors are 100 - accuracy.
/// - Top-1 loc: the top-1 predicted class is the ground-truth class and its map's box has
///   IoU >= 0.5 with some ground-truth box (best over candidate boxes x ground-truth boxes).
/// - Top-5 loc: the ground-truth class is among the top 5 predicted classes and that class's own
///   map gives IoU >= 0.5.
/// - GT-known loc: the ground-truth class's map gives IoU >= 0.5.
/// A prediction of any other class is wrong whatever its box, so every one of these needs only
/// the boxes of the ground-truth class's map: the maps of the other top-5 classes never change
/// a count, and `add` does not ask for them.
///
///     dualgrad::LocAccuracy loc({0.15});                           // the layercam_loc threshold
///     std::vector<int> top5{3, 7, 1, 0, 9};
///     loc.add(top5, /*gt_class=*/3, boxes_per_threshold_of_class_3, gt_boxes);
///     double top1_err = loc.result().at(0).top1_loc_error();

#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "dualgrad/box.hpp"
#include "dualgrad/error.hpp"
#include "dualgrad/metrics/detail/common.hpp"
#include "dualgrad/thresholds.hpp"
#include "dualgrad/metrics/max_iou.hpp"

namespace dualgrad {

/// The three localization accuracies (and classification accuracies) at one CAM threshold,
/// in percent.
struct LocAccuracyAt {
    std::size_t threshold_index = 0;
    double threshold = 0;
    double top1_loc = 0;
    double top5_loc = 0;
    double gt_known_loc = 0;
    double top1_cls = 0;
    double top5_cls = 0;

    [[nodiscard]] double top1_loc_error() const noexcept { return 100.0 - top1_loc; }
    [[nodiscard]] double top5_loc_error() const noexcept { return 100.0 - top5_loc; }
    [[nodiscard]] double gt_known_loc_error() const noexcept { return 100.0 - gt_known_loc; }
    [[nodiscard]] double top1_cls_error() const noexcept { return 100.0 - top1_cls; }
    [[nodiscard]] double top5_cls_error() const noexcept { return 100.0 - top5_cls; }
};

/// What `LocAccuracy::result` computes from the counts; all accuracies in percent.
struct LocAccuracyResult {
    std::int64_t num_images = 0;
    double iou_threshold = 50;           ///< percent
    std::vector<double> thresholds;      ///< the CAM thresholds
    std::vector<double> top1_loc;        ///< per CAM threshold
    std::vector<double> top5_loc;        ///< per CAM threshold
    std::vector<double> gt_known_loc;    ///< per CAM threshold
    double top1_cls = 0;                 ///< classification, independent of the threshold
    double top5_cls = 0;

    /// Everything at CAM threshold number `i`; throws `value_error` if out of range.
    [[nodiscard]] LocAccuracyAt at(std::size_t i) const {
        if (i >= thresholds.size())
            detail::raise<value_error>("LocAccuracyResult::at: threshold index ", i, " out of range (",
                                       thresholds.size(), " CAM thresholds)");
        return {i, thresholds[i], top1_loc[i], top5_loc[i], gt_known_loc[i], top1_cls, top5_cls};
    }
    /// At the threshold of best GT-known accuracy (the first maximum), the operating point
    /// wsolevaluation's MaxBoxAcc picks.
    [[nodiscard]] LocAccuracyAt best_by_gt_known() const { return at(detail::first_argmax(gt_known_loc)); }
    /// At the threshold of best top-1 localization accuracy (the first maximum).
    [[nodiscard]] LocAccuracyAt best_by_top1() const { return at(detail::first_argmax(top1_loc)); }
};

/// Mergeable top-1 / top-5 / GT-known localization counts per CAM threshold.
class LocAccuracy {
public:
    /// Top-5 means the first `top_k` entries of the ranked class list.
    static constexpr std::size_t top_k = 5;

    /// `cam_thresholds` label the columns of `boxes_per_threshold` (each in [0, 1]); a box counts
    /// as correct when its IoU is >= `iou_threshold` / 100 (percent, in [0, 100]).
    explicit LocAccuracy(std::vector<double> cam_thresholds, double iou_threshold = 50.0)
        : cam_thresholds_(std::move(cam_thresholds)), iou_threshold_(iou_threshold) {
        detail::check_cam_thresholds(cam_thresholds_, "LocAccuracy", false);
        detail::check_iou_thresholds(std::span<const double>(&iou_threshold_, 1), "LocAccuracy");
        top1_loc_.assign(cam_thresholds_.size(), 0);
        top5_loc_.assign(cam_thresholds_.size(), 0);
        gt_known_loc_.assign(cam_thresholds_.size(), 0);
    }
    /// Rebuilds an accumulator from saved counts. Throws `value_error` on inconsistent counts.
    [[nodiscard]] static LocAccuracy from_counts(std::vector<double> cam_thresholds, double iou_threshold,
                                                 std::int64_t num_images, std::vector<std::int64_t> top1_loc,
                                                 std::vector<std::int64_t> top5_loc,
                                                 std::vector<std::int64_t> gt_known_loc, std::int64_t top1_cls,
                                                 std::int64_t top5_cls) {
        LocAccuracy a(std::move(cam_thresholds), iou_threshold);
        const auto n = a.cam_thresholds_.size();
        if (num_images < 0) detail::raise<value_error>("LocAccuracy: negative image count ", num_images);
        detail::check_counts(top1_loc, n, num_images, "LocAccuracy", "top1_loc");
        detail::check_counts(top5_loc, n, num_images, "LocAccuracy", "top5_loc");
        detail::check_counts(gt_known_loc, n, num_images, "LocAccuracy", "gt_known_loc");
        const std::int64_t cls[2] = {top1_cls, top5_cls};
        detail::check_counts(cls, 2, num_images, "LocAccuracy", "classification");
        a.top1_loc_ = std::move(top1_loc);
        a.top5_loc_ = std::move(top5_loc);
        a.gt_known_loc_ = std::move(gt_known_loc);
        a.top1_cls_ = top1_cls;
        a.top5_cls_ = top5_cls;
        a.num_images_ = num_images;
        return a;
    }
    /// Thresholds `numpy.arange(0, 1, interval)`.
    [[nodiscard]] static LocAccuracy with_interval(double interval = 0.01, double iou_threshold = 50.0) {
        return LocAccuracy(dualgrad::cam_thresholds(interval, "LocAccuracy::with_interval"), iou_threshold);
    }

    /// Adds one image. `ranked_classes`: predicted classes, best first (give at least five, or
    /// every class when there are fewer); `gt_class`: the ground-truth class;
    /// `gt_class_boxes_per_threshold[i]`: the boxes of the ground-truth class's map at CAM
    /// threshold i; `gt_boxes`: the ground-truth boxes. Throws `shape_error` or `value_error` on
    /// bad input, leaving the counts unchanged.
    void add(std::span<const int> ranked_classes, int gt_class,
             std::span<const std::vector<Box>> gt_class_boxes_per_threshold, std::span<const Box> gt_boxes) {
        detail::check_classes(ranked_classes, gt_class, "LocAccuracy::add");
        const auto best = max_iou_per_threshold(gt_class_boxes_per_threshold, gt_boxes, cam_thresholds_.size());
        add_max_iou(ranked_classes, gt_class, best);
    }

    /// Adds one image given the best IoU per CAM threshold of the ground-truth class's map
    /// (`max_iou_per_threshold`).
    void add_max_iou(std::span<const int> ranked_classes, int gt_class, std::span<const double> gt_class_max_iou) {
        detail::check_classes(ranked_classes, gt_class, "LocAccuracy::add_max_iou");
        if (gt_class_max_iou.size() != cam_thresholds_.size())
            detail::raise<shape_error>("LocAccuracy::add_max_iou: ", gt_class_max_iou.size(), " IoU values for ",
                                       cam_thresholds_.size(), " CAM thresholds");
        for (std::size_t t = 0; t < gt_class_max_iou.size(); ++t)
            detail::check_iou_value(gt_class_max_iou[t], t, "LocAccuracy::add_max_iou");
        const bool top1 = ranked_classes[0] == gt_class;
        bool top5 = false;
        for (std::size_t i = 0; i < ranked_classes.size() && i < top_k; ++i) top5 = top5 || ranked_classes[i] == gt_class;
        const double u = iou_threshold_ / 100.0;
        for (std::size_t t = 0; t < cam_thresholds_.size(); ++t) {
            const bool box_ok = gt_class_max_iou[t] >= u;
            gt_known_loc_[t] += box_ok;
            top1_loc_[t] += box_ok && top1;
            top5_loc_[t] += box_ok && top5;
        }
        top1_cls_ += top1;
        top5_cls_ += top5;
        ++num_images_;
    }

    /// Adds the counts of `other`. Throws `value_error` saying what differs if its CAM thresholds
    /// or IoU threshold are not the same as these, or if a sum overflows; nothing changes then.
    LocAccuracy& merge(const LocAccuracy& other) {
        detail::check_same_list(cam_thresholds_, other.cam_thresholds_, "LocAccuracy", "CAM threshold");
        detail::check_same_list(std::span<const double>(&iou_threshold_, 1),
                                std::span<const double>(&other.iou_threshold_, 1), "LocAccuracy", "IoU threshold");
        // Checked sums, assigned only when all succeeded.
        auto top1 = detail::checked_add(top1_loc_, other.top1_loc_, "LocAccuracy", "top1_loc");
        auto top5 = detail::checked_add(top5_loc_, other.top5_loc_, "LocAccuracy", "top5_loc");
        auto gt = detail::checked_add(gt_known_loc_, other.gt_known_loc_, "LocAccuracy", "gt_known_loc");
        const auto cls1 = detail::checked_add(top1_cls_, other.top1_cls_, "LocAccuracy", "top1_cls");
        const auto cls5 = detail::checked_add(top5_cls_, other.top5_cls_, "LocAccuracy", "top5_cls");
        const auto images = detail::checked_add(num_images_, other.num_images_, "LocAccuracy", "num_images");
        top1_loc_ = std::move(top1);
        top5_loc_ = std::move(top5);
        gt_known_loc_ = std::move(gt);
        top1_cls_ = cls1;
        top5_cls_ = cls5;
        num_images_ = images;
        return *this;
    }
    LocAccuracy& operator+=(const LocAccuracy& other) { return merge(other); }

    [[nodiscard]] const std::vector<double>& cam_thresholds() const noexcept { return cam_thresholds_; }
    [[nodiscard]] double iou_threshold() const noexcept { return iou_threshold_; }
    [[nodiscard]] std::int64_t num_images() const noexcept { return num_images_; }
    [[nodiscard]] std::span<const std::int64_t> top1_loc_counts() const noexcept { return top1_loc_; }
    [[nodiscard]] std::span<const std::int64_t> top5_loc_counts() const noexcept { return top5_loc_; }
    [[nodiscard]] std::span<const std::int64_t> gt_known_loc_counts() const noexcept { return gt_known_loc_; }
    [[nodiscard]] std::int64_t top1_cls_count() const noexcept { return top1_cls_; }
    [[nodiscard]] std::int64_t top5_cls_count() const noexcept { return top5_cls_; }

    /// Accuracies from the counts. Throws `value_error` when no image was added.
    [[nodiscard]] LocAccuracyResult result() const {
        if (num_images_ == 0) detail::raise<value_error>("LocAccuracy::result: no image was added");
        LocAccuracyResult r;
        r.num_images = num_images_;
        r.iou_threshold = iou_threshold_;
        r.thresholds = cam_thresholds_;
        for (std::size_t t = 0; t < cam_thresholds_.size(); ++t) {
            r.top1_loc.push_back(detail::percent(top1_loc_[t], num_images_));
            r.top5_loc.push_back(detail::percent(top5_loc_[t], num_images_));
            r.gt_known_loc.push_back(detail::percent(gt_known_loc_[t], num_images_));
        }
        r.top1_cls = detail::percent(top1_cls_, num_images_);
        r.top5_cls = detail::percent(top5_cls_, num_images_);
        return r;
    }

    friend bool operator==(const LocAccuracy&, const LocAccuracy&) = default;

private:
    std::vector<double> cam_thresholds_;
    double iou_threshold_ = 50.0;
    std::vector<std::int64_t> top1_loc_, top5_loc_, gt_known_loc_;
    std::int64_t top1_cls_ = 0, top5_cls_ = 0, num_images_ = 0;
};

} // namespace dualgrad

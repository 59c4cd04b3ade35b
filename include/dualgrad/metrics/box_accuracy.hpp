#pragma once
/// \file
/// `BoxAccuracy`: the MaxBoxAcc / MaxBoxAccV2 accumulator, clovaai/wsolevaluation's
/// `BoxEvaluator` (evaluation.py). Per image and CAM threshold it takes the best IoU over
/// (estimated boxes x ground-truth boxes) and counts, for each IoU threshold `u` (in percent, as
/// wsolevaluation's `iou_threshold_list`), the images with `max_iou >= u / 100`. The result is,
/// per IoU threshold, the best accuracy over the CAM thresholds `100 * count / images`, and the
/// mean of those over the IoU thresholds (`numpy.average`):
/// - MaxBoxAcc: largest-contour boxes, IoU thresholds {50}.
/// - MaxBoxAccV2: multi-contour boxes (every contour's box), IoU thresholds {30, 50, 70}.
/// The accumulator holds counts only; `merge` of shards is exact.
///
///     auto acc = dualgrad::BoxAccuracy::max_box_acc_v2();          // thresholds arange(0, 1, .01)
///     for (...) acc.add(boxes_per_threshold, gt_boxes);           // one call per image
///     double v2 = acc.result().mean;                               // MaxBoxAccV2, percent

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

/// The sweep over CAM thresholds at one IoU threshold.
struct BoxAccuracyAtIou {
    double iou_threshold = 0;            ///< percent
    std::vector<double> accuracy;        ///< per CAM threshold, percent of images
    double max_box_acc = 0;              ///< the maximum of `accuracy`, percent
    std::size_t best_threshold_index = 0; ///< first index of the maximum (`numpy.argmax`)
    double best_threshold = 0;           ///< the CAM threshold at that index
};

/// What `BoxAccuracy::result` computes from the counts.
struct BoxAccuracyResult {
    std::int64_t num_images = 0;
    std::vector<BoxAccuracyAtIou> per_iou; ///< in the order of the IoU threshold list
    /// `numpy.average` of the `max_box_acc` values: MaxBoxAccV2 for multi-contour boxes and IoU
    /// thresholds {30, 50, 70}; MaxBoxAcc itself when the list is {50}.
    double mean = 0;

    /// The sweep at IoU threshold `iou_percent`; throws `value_error` if it was not in the list.
    [[nodiscard]] const BoxAccuracyAtIou& at_iou(double iou_percent) const {
        for (const auto& r : per_iou)
            if (r.iou_threshold == iou_percent) return r;
        detail::raise<value_error>("BoxAccuracyResult::at_iou: IoU threshold ", iou_percent,
                                   " is not one of the accumulated IoU thresholds");
    }
};

/// Mergeable MaxBoxAcc / MaxBoxAccV2 counts (wsolevaluation `BoxEvaluator`).
class BoxAccuracy {
public:
    /// `cam_thresholds` label the columns of `boxes_per_threshold` (each in [0, 1]);
    /// `iou_thresholds` are in percent, each in [0, 100]. Throws `value_error` otherwise.
    explicit BoxAccuracy(std::vector<double> cam_thresholds, std::vector<double> iou_thresholds = {30.0, 50.0, 70.0})
        : cam_thresholds_(std::move(cam_thresholds)), iou_thresholds_(std::move(iou_thresholds)) {
        detail::check_cam_thresholds(cam_thresholds_, "BoxAccuracy", false);
        detail::check_iou_thresholds(iou_thresholds_, "BoxAccuracy");
        num_correct_.assign(iou_thresholds_.size() * cam_thresholds_.size(), 0);
    }

    /// Rebuilds an accumulator from saved counts (a shard's `metrics.json`): `num_correct` is
    /// [IoU index][CAM threshold index]. Throws `value_error` on inconsistent counts.
    [[nodiscard]] static BoxAccuracy from_counts(std::vector<double> cam_thresholds, std::vector<double> iou_thresholds,
                                                 std::int64_t num_images, std::vector<std::int64_t> num_correct) {
        BoxAccuracy b(std::move(cam_thresholds), std::move(iou_thresholds));
        if (num_images < 0) detail::raise<value_error>("BoxAccuracy: negative image count ", num_images);
        detail::check_counts(num_correct, b.num_correct_.size(), num_images, "BoxAccuracy", "num_correct");
        b.num_correct_ = std::move(num_correct);
        b.num_images_ = num_images;
        return b;
    }

    /// MaxBoxAcc: thresholds `numpy.arange(0, 1, interval)`, IoU {50}. Feed largest-contour boxes.
    [[nodiscard]] static BoxAccuracy max_box_acc(double interval = 0.01) {
        return BoxAccuracy(dualgrad::cam_thresholds(interval, "BoxAccuracy::max_box_acc"), {50.0});
    }
    /// MaxBoxAccV2: thresholds `numpy.arange(0, 1, interval)`, IoU {30, 50, 70}. Feed
    /// multi-contour boxes.
    [[nodiscard]] static BoxAccuracy max_box_acc_v2(double interval = 0.01) {
        return BoxAccuracy(dualgrad::cam_thresholds(interval, "BoxAccuracy::max_box_acc_v2"), {30.0, 50.0, 70.0});
    }

    /// Adds one image: `boxes_per_threshold[i]` are the boxes estimated at CAM threshold i,
    /// `gt_boxes` the image's ground-truth boxes. Throws `shape_error` if the number of entries
    /// differs from the number of CAM thresholds, `value_error` on an empty list or an invalid
    /// box; the counts are unchanged when it throws.
    void add(std::span<const std::vector<Box>> boxes_per_threshold, std::span<const Box> gt_boxes) {
        const auto best = max_iou_per_threshold(boxes_per_threshold, gt_boxes, cam_thresholds_.size());
        add_max_iou(best);
    }

    /// Adds one image given its best IoU per CAM threshold (`max_iou_per_threshold`).
    void add_max_iou(std::span<const double> max_iou_per_cam_threshold) {
        if (max_iou_per_cam_threshold.size() != cam_thresholds_.size())
            detail::raise<shape_error>("BoxAccuracy::add_max_iou: ", max_iou_per_cam_threshold.size(),
                                       " IoU values for ", cam_thresholds_.size(), " CAM thresholds");
        for (std::size_t t = 0; t < max_iou_per_cam_threshold.size(); ++t)
            detail::check_iou_value(max_iou_per_cam_threshold[t], t, "BoxAccuracy::add_max_iou");
        const std::size_t nt = cam_thresholds_.size();
        for (std::size_t k = 0; k < iou_thresholds_.size(); ++k) {
            // wsolevaluation compares against `_THRESHOLD / 100` in float64.
            const double u = iou_thresholds_[k] / 100.0;
            for (std::size_t t = 0; t < nt; ++t)
                if (max_iou_per_cam_threshold[t] >= u) ++num_correct_[k * nt + t];
        }
        ++num_images_;
    }

    /// Adds the counts of `other`. Throws `value_error` saying what differs if its CAM or IoU
    /// threshold lists are not the same as these, or if a sum overflows; nothing changes then.
    BoxAccuracy& merge(const BoxAccuracy& other) {
        detail::check_same_list(cam_thresholds_, other.cam_thresholds_, "BoxAccuracy", "CAM threshold");
        detail::check_same_list(iou_thresholds_, other.iou_thresholds_, "BoxAccuracy", "IoU threshold");
        // Checked sums, assigned only when all succeeded.
        auto correct = detail::checked_add(num_correct_, other.num_correct_, "BoxAccuracy", "num_correct");
        const auto images = detail::checked_add(num_images_, other.num_images_, "BoxAccuracy", "num_images");
        num_correct_ = std::move(correct);
        num_images_ = images;
        return *this;
    }
    BoxAccuracy& operator+=(const BoxAccuracy& other) { return merge(other); }

    [[nodiscard]] const std::vector<double>& cam_thresholds() const noexcept { return cam_thresholds_; }
    [[nodiscard]] const std::vector<double>& iou_thresholds() const noexcept { return iou_thresholds_; }
    [[nodiscard]] std::int64_t num_images() const noexcept { return num_images_; }
    /// Images counted correct at each CAM threshold, for IoU threshold number `iou_index`.
    [[nodiscard]] std::span<const std::int64_t> num_correct(std::size_t iou_index) const {
        if (iou_index >= iou_thresholds_.size())
            detail::raise<value_error>("BoxAccuracy::num_correct: IoU index ", iou_index, " out of range (",
                                       iou_thresholds_.size(), " IoU thresholds)");
        return std::span<const std::int64_t>(num_correct_).subspan(iou_index * cam_thresholds_.size(),
                                                                   cam_thresholds_.size());
    }

    /// Accuracies from the counts. Throws `value_error` when no image was added.
    [[nodiscard]] BoxAccuracyResult result() const {
        if (num_images_ == 0) detail::raise<value_error>("BoxAccuracy::result: no image was added");
        BoxAccuracyResult r;
        r.num_images = num_images_;
        std::vector<double> maxima;
        for (std::size_t k = 0; k < iou_thresholds_.size(); ++k) {
            BoxAccuracyAtIou a;
            a.iou_threshold = iou_thresholds_[k];
            for (std::int64_t c : num_correct(k)) a.accuracy.push_back(detail::percent(c, num_images_));
            a.best_threshold_index = detail::first_argmax(a.accuracy);
            a.max_box_acc = a.accuracy[a.best_threshold_index];
            a.best_threshold = cam_thresholds_[a.best_threshold_index];
            maxima.push_back(a.max_box_acc);
            r.per_iou.push_back(std::move(a));
        }
        r.mean = detail::numpy_sum(maxima) / static_cast<double>(maxima.size());
        return r;
    }

    friend bool operator==(const BoxAccuracy&, const BoxAccuracy&) = default;

private:
    std::vector<double> cam_thresholds_;
    std::vector<double> iou_thresholds_;
    std::vector<std::int64_t> num_correct_; // [iou index][cam threshold index]
    std::int64_t num_images_ = 0;
};

} // namespace dualgrad

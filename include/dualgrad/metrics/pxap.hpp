#pragma once
/// \file
/// `PxAP`: pixel average precision, clovaai/wsolevaluation's `MaskEvaluator` (evaluation.py).
/// With CAM thresholds t_0 < ... < t_{n-1} (`numpy.arange(0, 1, interval)`), the bin edges are
/// t_0, ..., t_{n-1}, 1, 2, 3 and every image adds `numpy.histogram` counts of its normalized
/// score values (bins [t_0, t_1), ..., [t_{n-1}, 1), [1, 2), [2, 3]) over ground-truth positive
/// and ground-truth negative pixels; ignored pixels count in neither. `result()` then follows
/// `MaskEvaluator.compute`: with the bins taken from the top, TP and FP are the cumulative sums,
/// precision = TP / (TP + FP), recall = TP / P, and
/// `PxAP = 100 * sum_{i >= 1, TP_i + FP_i != 0} precision_i * (recall_i - recall_{i-1})`,
/// summed in NumPy's order. Counts are int64; `merge` of shards is exact.
///
///     auto ap = dualgrad::PxAP::with_interval(0.01);
///     ap.add(normalized_map, gt_mask, ignore_mask);   // one call per image, maps in [0, 1]
///     double pxap = ap.result().pxap;                 // percent

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <utility>
#include <vector>

#include "dualgrad/error.hpp"
#include "dualgrad/map2d.hpp"
#include "dualgrad/metrics/detail/common.hpp"
#include "dualgrad/thresholds.hpp"

namespace dualgrad {

/// What `PxAP::result` computes. `precision` and `recall` are in wsolevaluation's order: entry 0
/// is "score >= 2", entry 1 "score >= 1", entry 2 "score >= t_{n-1}", ..., the last "score >= t_0";
/// precision is NaN where no pixel reaches the edge (0 / 0), and such entries are left out of
/// the sum.
struct PxapResult {
    double pxap = 0;                 ///< percent
    std::int64_t num_positive = 0;   ///< ground-truth positive pixels counted
    std::int64_t num_negative = 0;   ///< ground-truth negative pixels counted
    std::vector<double> precision;
    std::vector<double> recall;
};

/// Mergeable PxAP histograms (wsolevaluation `MaskEvaluator`).
class PxAP {
public:
    /// `cam_thresholds`: strictly increasing, in [0, 1); throws `value_error` otherwise.
    explicit PxAP(std::vector<double> cam_thresholds) : cam_thresholds_(std::move(cam_thresholds)) {
        detail::check_cam_thresholds(cam_thresholds_, "PxAP", true);
        edges_ = cam_thresholds_;
        edges_.insert(edges_.end(), {1.0, 2.0, 3.0});
        positive_.assign(edges_.size() - 1, 0);
        negative_.assign(edges_.size() - 1, 0);
    }
    /// Rebuilds an accumulator from saved histograms. Throws `value_error` on inconsistent counts.
    [[nodiscard]] static PxAP from_counts(std::vector<double> cam_thresholds, std::int64_t num_images,
                                          std::vector<std::int64_t> positive, std::vector<std::int64_t> negative) {
        PxAP p(std::move(cam_thresholds));
        if (num_images < 0) detail::raise<value_error>("PxAP: negative image count ", num_images);
        detail::check_counts(positive, p.positive_.size(), -1, "PxAP", "positive histogram");
        detail::check_counts(negative, p.negative_.size(), -1, "PxAP", "negative histogram");
        p.positive_ = std::move(positive);
        p.negative_ = std::move(negative);
        p.num_images_ = num_images;
        (void)p.totals(); // every bin is valid, but their sum must be too
        return p;
    }
    /// Thresholds `numpy.arange(0, 1, interval)`.
    [[nodiscard]] static PxAP with_interval(double interval = 0.01) {
        return PxAP(dualgrad::cam_thresholds(interval, "PxAP::with_interval"));
    }

    /// Adds one image: `score` normalized to [0, 1], `gt` nonzero on the object.
    template <std::floating_point T>
    void add(const Map2D<T>& score, const Mask& gt) {
        add_impl(score, gt, nullptr);
    }
    /// Adds one image with an ignore region (`ignore` nonzero): ignored pixels that are not on
    /// the object count in neither histogram. The object wins where both are set, as in
    /// wsolevaluation's `get_mask` (ignore = ignore box minus the foreground).
    template <std::floating_point T>
    void add(const Map2D<T>& score, const Mask& gt, const Mask& ignore) {
        add_impl(score, gt, &ignore);
    }

    /// Adds the histograms of `other`. Throws `value_error` saying what differs if its CAM
    /// thresholds are not the same as these, or if a sum overflows; nothing changes then.
    PxAP& merge(const PxAP& other) {
        detail::check_same_list(cam_thresholds_, other.cam_thresholds_, "PxAP", "CAM threshold");
        // Checked sums, assigned only when all succeeded.
        auto pos = detail::checked_add(positive_, other.positive_, "PxAP", "positive pixel");
        auto neg = detail::checked_add(negative_, other.negative_, "PxAP", "negative pixel");
        const auto images = detail::checked_add(num_images_, other.num_images_, "PxAP", "num_images");
        PxAP merged = *this;
        merged.positive_ = std::move(pos);
        merged.negative_ = std::move(neg);
        merged.num_images_ = images;
        (void)merged.totals(); // and the sums over the bins
        *this = std::move(merged);
        return *this;
    }
    PxAP& operator+=(const PxAP& other) { return merge(other); }

    [[nodiscard]] const std::vector<double>& cam_thresholds() const noexcept { return cam_thresholds_; }
    /// The bin edges: the CAM thresholds, then 1, 2, 3.
    [[nodiscard]] const std::vector<double>& bin_edges() const noexcept { return edges_; }
    /// Ground-truth positive pixels per bin, ascending bins as `numpy.histogram` returns them.
    [[nodiscard]] std::span<const std::int64_t> positive_histogram() const noexcept { return positive_; }
    /// Ground-truth negative pixels per bin, ascending bins.
    [[nodiscard]] std::span<const std::int64_t> negative_histogram() const noexcept { return negative_; }
    [[nodiscard]] std::int64_t num_images() const noexcept { return num_images_; }

    /// The ground-truth positive and negative pixel counts over every bin. Throws `value_error`
    /// if they (or their sum) do not fit in 64 bits; histograms restored by `from_counts` and
    /// grown by `merge` are checked so.
    [[nodiscard]] std::pair<std::int64_t, std::int64_t> totals() const {
        std::int64_t pos = 0, neg = 0;
        for (const auto c : positive_) pos = detail::checked_add(pos, c, "PxAP", "positive histogram");
        for (const auto c : negative_) neg = detail::checked_add(neg, c, "PxAP", "negative histogram");
        (void)detail::checked_add(pos, neg, "PxAP", "pixel");
        return {pos, neg};
    }

    /// PxAP from the histograms. Throws `value_error` when there is no ground-truth positive pixel
    /// or no counted pixel at all (wsolevaluation raises there too).
    [[nodiscard]] PxapResult result() const {
        const std::size_t nb = positive_.size();
        std::vector<double> tp(nb), fp(nb);
        (void)totals(); // the cumulative sums below stay within 64 bits
        std::int64_t ctp = 0, cfp = 0;
        for (std::size_t i = 0; i < nb; ++i) { // bins from the top: [2, 3], [1, 2), ..., [t_0, t_1)
            ctp += positive_[nb - 1 - i];
            cfp += negative_[nb - 1 - i];
            tp[i] = static_cast<double>(ctp);
            fp[i] = static_cast<double>(cfp);
        }
        if (ctp <= 0) detail::raise<value_error>("PxAP::result: no ground-truth positive pixel was accumulated");
        if (ctp + cfp <= 0) detail::raise<value_error>("PxAP::result: no pixel was accumulated");
        const double num_true = static_cast<double>(ctp);
        PxapResult r;
        r.num_positive = ctp;
        r.num_negative = cfp;
        r.precision.resize(nb);
        r.recall.resize(nb);
        for (std::size_t i = 0; i < nb; ++i) {
            const double fn = num_true - tp[i];
            r.precision[i] = tp[i] + fp[i] != 0.0 ? tp[i] / (tp[i] + fp[i]) : std::numeric_limits<double>::quiet_NaN();
            r.recall[i] = tp[i] / (tp[i] + fn);
        }
        std::vector<double> terms; // the boolean-indexed array NumPy sums
        terms.reserve(nb);
        for (std::size_t i = 1; i < nb; ++i)
            if (tp[i] + fp[i] != 0.0) terms.push_back(r.precision[i] * (r.recall[i] - r.recall[i - 1]));
        r.pxap = detail::numpy_sum(terms) * 100.0;
        return r;
    }

    friend bool operator==(const PxAP&, const PxAP&) = default;

private:
    template <std::floating_point T>
    void add_impl(const Map2D<T>& score, const Mask& gt, const Mask* ignore) {
        if (gt.height() != score.height() || gt.width() != score.width())
            detail::raise<shape_error>("PxAP::add: the score map is ", score.height(), "x", score.width(),
                                       " but the ground-truth mask is ", gt.height(), "x", gt.width());
        if (ignore && (ignore->height() != score.height() || ignore->width() != score.width()))
            detail::raise<shape_error>("PxAP::add: the score map is ", score.height(), "x", score.width(),
                                       " but the ignore mask is ", ignore->height(), "x", ignore->width());
        const auto values = score.values();
        for (std::size_t i = 0; i < values.size(); ++i) {
            const double v = static_cast<double>(values[i]);
            if (!(v >= 0.0 && v <= 1.0)) // wsolevaluation's check_scoremap_validity
                detail::raise<value_error>("PxAP::add: score at (y=", i / static_cast<std::size_t>(score.width()),
                                           ", x=", i % static_cast<std::size_t>(score.width()), ") is ", v,
                                           "; a normalized score map must be in [0, 1] without NaN");
        }
        const auto g = gt.values();
        const auto lower = edges_.begin();
        const auto upper = edges_.end() - 1; // numpy.histogram closes the last bin on the right
        for (std::size_t i = 0; i < values.size(); ++i) {
            const bool positive = g[i] != 0;
            if (!positive && ignore && ignore->values()[i] != 0) continue;
            // float32 scores compare with the float64 edges after promotion, as NumPy does.
            const double v = static_cast<double>(values[i]);
            if (v < edges_.front() || v > edges_.back()) continue; // outside every bin
            const std::size_t bin =
                v == edges_.back() ? positive_.size() - 1
                                   : static_cast<std::size_t>(std::upper_bound(lower, upper, v) - lower) - 1;
            ++(positive ? positive_ : negative_)[bin];
        }
        ++num_images_;
    }

    std::vector<double> cam_thresholds_;
    std::vector<double> edges_;
    std::vector<std::int64_t> positive_;
    std::vector<std::int64_t> negative_;
    std::int64_t num_images_ = 0;
};

} // namespace dualgrad

#pragma once
/// \file
/// Faithfulness metrics: how much the classifier's confidence depends on the pixels a map points
/// at, for comparing maps where no boxes exist, and the pointing game, where they do. Each is
/// kept as counts and fixed-point sums (`ExactSum`), so that shards add up exactly, like the box
/// metrics.
///
///     dualgrad::FaithfulnessOptions o;                       // all four metrics, 100 steps
///     dualgrad::FaithfulnessCounts counts(o);
///     const auto sal = dualgrad::input_saliency(map, 224, 224);
///     auto del = dualgrad::causal_curve(forward, x, {1, 3, 224, 224}, sal, cls, dualgrad::CausalMetric::deletion, o);
///     // ... counts.add(image)  ->  counts.result().deletion_auc
///
/// Definitions (x the preprocessed input, c the map's target class, p(.) the softmax probability of
/// c, s the map min-max normalized to [0, 1] and resized to the input with bilinear interpolation
/// (OpenCV's, which is PyTorch's `interpolate(..., align_corners=False)` when enlarging)):
/// - average drop and increase in confidence (Chattopadhyay et al. 2018, as torch-cam 0.4's
///   `ClassificationMetric` computes them): drop = max(0, p(x) - p(s * x)) / (p(x) + 1e-7),
///   increase = [p(x) < p(s * x)]; both averaged over the images;
/// - deletion and insertion (Petsiuk et al. 2018, RISE's `CausalMetric`): the pixels ranked by s,
///   highest first (ties in row-major order); with `steps` = n, each step moves ceil(HW / n)
///   pixels (all channels) from the start image to the finish image, and the curve is p after
///   0, 1, ..., n' = ceil(HW / ceil(HW / n)) steps. Deletion starts at x and finishes at the
///   baseline; insertion starts at the baseline and finishes at x. The score is the curve's area
///   by the trapezoid rule over [0, 1]: (sum - first/2 - last/2) / n'. The baselines: `zero`
///   (a tensor of zeros: the dataset's mean colour after normalization, RISE's deletion
///   substrate) and `blur` (RISE's insertion substrate: a Gaussian blur of x, 11 taps, sigma 5,
///   zero padding, each channel on its own; RISE samples its kernel with SciPy's
///   `gaussian_filter` on a delta, dualgrad samples the Gaussian itself, which differs by under
///   1e-3 per tap);
/// - the pointing game (Zhang et al. 2016): a hit if the map's maximum (the first in row-major
///   order), in the protocol's frame, lies within `tolerance` pixels (Euclidean) of a
///   ground-truth box.
/// Lower deletion and average drop, higher insertion, increase and pointing are better.
///
/// ROAD (Rong et al. 2022) is not offered: its noisy linear imputation solves a sparse system of
/// the image's size for every step, which this CPU-first evaluation does not do per image and run.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <numeric>
#include <span>
#include <string>
#include <vector>

#include "dualgrad/backend/shape.hpp"
#include "dualgrad/box.hpp"
#include "dualgrad/core/targets.hpp"
#include "dualgrad/error.hpp"
#include "dualgrad/localize/normalize.hpp"
#include "dualgrad/localize/resize.hpp"
#include "dualgrad/map2d.hpp"

namespace dualgrad {

/// What replaces the pixels in deletion, or what insertion starts from.
enum class Baseline { zero, blur };

[[nodiscard]] inline const char* name(Baseline b) noexcept { return b == Baseline::zero ? "zero" : "blur"; }

/// Parses "zero" or "blur"; `what` names the option in the error.
[[nodiscard]] inline Baseline parse_baseline(const std::string& s, const std::string& what = "baseline") {
    if (s == "zero") return Baseline::zero;
    if (s == "blur") return Baseline::blur;
    detail::raise<value_error>(what, ": unknown baseline '", s, "' (zero or blur)");
}

enum class CausalMetric { deletion, insertion };

/// Which faithfulness metrics, and their settings (see the file comment).
struct FaithfulnessOptions {
    bool confidence = true; ///< average drop and increase in confidence
    bool deletion = true;
    bool insertion = true;
    bool pointing = true;   ///< the pointing game
    int steps = 100;        ///< deletion and insertion steps
    Baseline deletion_baseline = Baseline::zero;
    Baseline insertion_baseline = Baseline::blur;
    double tolerance = 15;  ///< pointing game, pixels of the protocol's frame
    int batch = 32;         ///< perturbed inputs per forward pass

    /// Throws `value_error` naming the setting that is out of range.
    void check() const {
        if (steps < 1 || steps > 100000)
            detail::raise<value_error>("faithfulness: steps ", steps, " must be in [1, 100000]");
        if (!(tolerance >= 0) || !std::isfinite(tolerance))
            detail::raise<value_error>("faithfulness: pointing tolerance ", tolerance, " must be finite and >= 0");
        if (batch < 1) detail::raise<value_error>("faithfulness: batch ", batch, " must be positive");
    }
    [[nodiscard]] bool any() const noexcept { return confidence || deletion || insertion || pointing; }
    [[nodiscard]] bool needs_forward() const noexcept { return confidence || deletion || insertion; }
    friend bool operator==(const FaithfulnessOptions&, const FaithfulnessOptions&) = default;
};

/// A sum of per-image values in [-2^20, 2^20] kept in fixed point (units of 2^-40, in 64 bits), so
/// that sums over shards are exact in any order. Each value is rounded to 2^-40 (about 1e-12) once.
class ExactSum {
public:
    static constexpr double unit = 1.0 / 1099511627776.0; // 2^-40
    void add(double v) {
        if (!std::isfinite(v) || std::abs(v) > 1048576.0)
            detail::raise<value_error>("ExactSum: value ", v, " is not finite or beyond 2^20");
        add_units(static_cast<std::int64_t>(std::llround(v / unit)));
    }
    void add_units(std::int64_t u) {
        if (__builtin_add_overflow(units_, u, &units_))
            detail::raise<value_error>("ExactSum: the sum overflows 64 bits (more than 2^23 images of values up to 1)");
    }
    [[nodiscard]] double value() const noexcept { return static_cast<double>(units_) * unit; }
    [[nodiscard]] std::int64_t units() const noexcept { return units_; }
    ExactSum& operator+=(const ExactSum& o) {
        add_units(o.units_);
        return *this;
    }
    friend bool operator==(const ExactSum&, const ExactSum&) = default;

private:
    std::int64_t units_ = 0;
};

/// One image's outcome for one map (the fields of the metrics not asked for stay empty).
struct ImageFaithfulness {
    double drop = 0;
    bool increase = false;
    std::vector<double> deletion;  ///< the curve, n' + 1 probabilities
    std::vector<double> insertion; ///< the curve, n' + 1 probabilities
    bool pointing_hit = false;
};

/// The area under a curve sampled at n' + 1 evenly spaced points of [0, 1] (trapezoid rule).
[[nodiscard]] inline double curve_auc(std::span<const double> curve) {
    if (curve.size() < 2) detail::raise<value_error>("curve_auc: a curve needs two points or more, got ", curve.size());
    const double sum = std::accumulate(curve.begin(), curve.end(), 0.0);
    return (sum - curve.front() / 2 - curve.back() / 2) / static_cast<double>(curve.size() - 1);
}

/// The number of points of a deletion or insertion curve on `pixels` pixels with `steps` steps:
/// ceil(pixels / ceil(pixels / steps)) + 1.
[[nodiscard]] inline int curve_points(std::int64_t pixels, int steps) {
    const std::int64_t per_step = (pixels + steps - 1) / steps;
    return static_cast<int>((pixels + per_step - 1) / per_step) + 1;
}

/// The mergeable counts of the faithfulness metrics of one run.
class FaithfulnessCounts {
public:
    FaithfulnessCounts() = default;
    explicit FaithfulnessCounts(const FaithfulnessOptions& o) : options_(o) { o.check(); }

    /// Adds one image. The mean curves are kept at `steps` + 1 evenly spaced points; a curve with
    /// another number of points (`curve_points`: the steps do not divide the image's pixels
    /// evenly) is linearly resampled onto them, and its area comes from its own points.
    void add(const ImageFaithfulness& im) {
        const auto add_curve = [&](const std::vector<double>& c, std::vector<ExactSum>& sums, ExactSum& auc, const char* what) {
            if (c.size() < 2) detail::raise<value_error>("FaithfulnessCounts: a ", what, " curve of ", c.size(), " points");
            const auto points = static_cast<std::size_t>(options_.steps) + 1;
            if (sums.empty()) sums.resize(points);
            const auto last = static_cast<double>(c.size() - 1);
            for (std::size_t j = 0; j < points; ++j) {
                if (c.size() == points) {
                    sums[j].add(c[j]);
                    continue;
                }
                // Another number of points (the steps do not divide the image's pixels evenly):
                // linear interpolation at j / steps of the curve's own evenly spaced points.
                const double pos = static_cast<double>(j) / static_cast<double>(options_.steps) * last;
                const auto i0 = std::min(static_cast<std::size_t>(pos), c.size() - 2);
                const double f = pos - static_cast<double>(i0);
                sums[j].add(c[i0] * (1 - f) + c[i0 + 1] * f);
            }
            auc.add(curve_auc(c));
        };
        if (options_.deletion) add_curve(im.deletion, deletion_curve_, deletion_auc_, "deletion");
        if (options_.insertion) add_curve(im.insertion, insertion_curve_, insertion_auc_, "insertion");
        if (options_.confidence) {
            drop_.add(im.drop);
            increases_ += im.increase ? 1 : 0;
        }
        if (options_.pointing) hits_ += im.pointing_hit ? 1 : 0;
        ++images_;
    }

    /// Adds another shard's counts; throws `value_error` naming the setting that differs.
    FaithfulnessCounts& operator+=(const FaithfulnessCounts& o) {
        if (!(o.options_ == options_))
            detail::raise<value_error>("faithfulness metrics computed with different settings (metrics, steps, "
                                       "baselines or tolerance)");
        const auto add_curve = [](std::vector<ExactSum>& a, const std::vector<ExactSum>& b, const char* what) {
            if (a.empty()) return void(a = b);
            if (b.empty()) return;
            if (a.size() != b.size())
                detail::raise<value_error>("faithfulness ", what, " curves of ", a.size(), " and ", b.size(), " points");
            for (std::size_t i = 0; i < a.size(); ++i) a[i] += b[i];
        };
        FaithfulnessCounts sum = *this;
        add_curve(sum.deletion_curve_, o.deletion_curve_, "deletion");
        add_curve(sum.insertion_curve_, o.insertion_curve_, "insertion");
        sum.drop_ += o.drop_;
        sum.deletion_auc_ += o.deletion_auc_;
        sum.insertion_auc_ += o.insertion_auc_;
        sum.increases_ += o.increases_;
        sum.hits_ += o.hits_;
        sum.images_ += o.images_;
        *this = std::move(sum);
        return *this;
    }

    /// The metrics (fractions in [0, 1]; NaN for a metric not computed or with no image).
    struct Result {
        double avg_drop = NAN, increase = NAN, deletion_auc = NAN, insertion_auc = NAN, pointing = NAN;
        std::vector<double> deletion_curve, insertion_curve; ///< mean curves
    };
    [[nodiscard]] Result result() const {
        Result r;
        if (images_ == 0) return r;
        const auto n = static_cast<double>(images_);
        if (options_.confidence) r.avg_drop = drop_.value() / n, r.increase = static_cast<double>(increases_) / n;
        if (options_.deletion) r.deletion_auc = deletion_auc_.value() / n;
        if (options_.insertion) r.insertion_auc = insertion_auc_.value() / n;
        if (options_.pointing) r.pointing = static_cast<double>(hits_) / n;
        for (const auto& s : deletion_curve_) r.deletion_curve.push_back(s.value() / n);
        for (const auto& s : insertion_curve_) r.insertion_curve.push_back(s.value() / n);
        return r;
    }

    [[nodiscard]] const FaithfulnessOptions& options() const noexcept { return options_; }
    [[nodiscard]] std::int64_t images() const noexcept { return images_; }
    [[nodiscard]] std::int64_t increases() const noexcept { return increases_; }
    [[nodiscard]] std::int64_t pointing_hits() const noexcept { return hits_; }
    [[nodiscard]] const ExactSum& drop_sum() const noexcept { return drop_; }
    [[nodiscard]] const ExactSum& deletion_auc_sum() const noexcept { return deletion_auc_; }
    [[nodiscard]] const ExactSum& insertion_auc_sum() const noexcept { return insertion_auc_; }
    [[nodiscard]] const std::vector<ExactSum>& deletion_curve_sums() const noexcept { return deletion_curve_; }
    [[nodiscard]] const std::vector<ExactSum>& insertion_curve_sums() const noexcept { return insertion_curve_; }

    /// Rebuilds counts from their parts (the file form); checks them.
    [[nodiscard]] static FaithfulnessCounts from_parts(const FaithfulnessOptions& o, std::int64_t images,
                                                       ExactSum drop, std::int64_t increases, ExactSum deletion_auc,
                                                       ExactSum insertion_auc, std::vector<ExactSum> deletion_curve,
                                                       std::vector<ExactSum> insertion_curve, std::int64_t hits) {
        FaithfulnessCounts c(o);
        for (const auto* curve : {&deletion_curve, &insertion_curve})
            if (!curve->empty() && curve->size() != static_cast<std::size_t>(o.steps) + 1)
                detail::raise<value_error>("faithfulness counts: a curve of ", curve->size(), " points for ", o.steps,
                                           " steps (", o.steps + 1, " expected)");
        if (images < 0 || increases < 0 || hits < 0 || increases > images || hits > images)
            detail::raise<value_error>("faithfulness counts: images ", images, ", increases ", increases, ", hits ", hits,
                                       " are inconsistent");
        c.images_ = images, c.drop_ = drop, c.increases_ = increases, c.deletion_auc_ = deletion_auc;
        c.insertion_auc_ = insertion_auc, c.deletion_curve_ = std::move(deletion_curve);
        c.insertion_curve_ = std::move(insertion_curve), c.hits_ = hits;
        return c;
    }

private:
    FaithfulnessOptions options_{};
    std::int64_t images_ = 0, increases_ = 0, hits_ = 0;
    ExactSum drop_, deletion_auc_, insertion_auc_;
    std::vector<ExactSum> deletion_curve_, insertion_curve_;
};

/// The softmax probability of class `c` in a row of logits, in double.
[[nodiscard]] inline double softmax_probability(std::span<const float> row, int c) {
    if (c < 0 || static_cast<std::size_t>(c) >= row.size())
        detail::raise<value_error>("softmax_probability: class ", c, " is not among ", row.size(), " classes");
    const double top = *std::max_element(row.begin(), row.end());
    double z = 0;
    for (float v : row) z += std::exp(static_cast<double>(v) - top);
    return std::exp(static_cast<double>(row[static_cast<std::size_t>(c)]) - top) / z;
}

/// The map as a saliency over the input: min-max normalized to [0, 1] at its own resolution (a
/// constant map becomes zeros), then resized to height x width (bilinear), as torch-cam and
/// pytorch-grad-cam order the two steps. Returns height x width values, row-major.
[[nodiscard]] inline std::vector<float> input_saliency(const ScoreMap& map, int height, int width) {
    ScoreMap s = normalize_minmax(map);
    if (s.height() != height || s.width() != width) s = resize(s, height, width, Interpolation::linear);
    return {s.data(), s.data() + s.size()};
}

/// The blur baseline of one image (C x H x W, row-major): a Gaussian blur with 11 taps, sigma 5,
/// zero padding, per channel (see the file comment).
[[nodiscard]] inline std::vector<float> gaussian_blur(std::span<const float> x, int channels, int height, int width) {
    constexpr int taps = 11, half = taps / 2;
    constexpr double sigma = 5.0;
    if (x.size() != static_cast<std::size_t>(channels) * static_cast<std::size_t>(height) * static_cast<std::size_t>(width))
        detail::raise<shape_error>("gaussian_blur: ", x.size(), " values for ", channels, " x ", height, " x ", width);
    double k[taps], total = 0;
    for (int i = 0; i < taps; ++i) total += k[i] = std::exp(-0.5 * (i - half) * (i - half) / (sigma * sigma));
    for (double& v : k) v /= total;
    std::vector<float> out(x.size());
    std::vector<double> rows(static_cast<std::size_t>(height) * static_cast<std::size_t>(width));
    for (int c = 0; c < channels; ++c) {
        const float* src = x.data() + static_cast<std::size_t>(c) * rows.size();
        for (int y = 0; y < height; ++y)
            for (int xx = 0; xx < width; ++xx) {
                double s = 0;
                for (int t = 0; t < taps; ++t) {
                    const int sx = xx + t - half;
                    if (sx >= 0 && sx < width) s += k[t] * src[y * width + sx];
                }
                rows[static_cast<std::size_t>(y) * width + xx] = s;
            }
        float* dst = out.data() + static_cast<std::size_t>(c) * rows.size();
        for (int y = 0; y < height; ++y)
            for (int xx = 0; xx < width; ++xx) {
                double s = 0;
                for (int t = 0; t < taps; ++t) {
                    const int sy = y + t - half;
                    if (sy >= 0 && sy < height) s += k[t] * rows[static_cast<std::size_t>(sy) * width + xx];
                }
                dst[y * width + xx] = static_cast<float>(s);
            }
    }
    return out;
}

/// Runs M inputs that `fill` writes (M x C x H x W, row-major) and returns M x classes logits
/// (`InputForward::forward`, `eval::MapModel::forward_filled`).
using FilledForward = std::function<Logits(Shape4 shape, const std::function<void(std::span<float>)>& fill)>;

namespace detail {
/// p(class) for `count` inputs, the i-th written by `write(i, span of C*H*W)`, in forward passes
/// of at most `batch` inputs.
template <class Write>
[[nodiscard]] std::vector<double> probabilities(const FilledForward& forward, Shape4 one, int count, int cls, int batch,
                                                Write&& write) {
    std::vector<double> p;
    const auto per = static_cast<std::size_t>(one.c) * static_cast<std::size_t>(one.h) * static_cast<std::size_t>(one.w);
    for (int first = 0; first < count; first += batch) {
        const int m = std::min(batch, count - first);
        const Logits l = forward({m, one.c, one.h, one.w}, [&](std::span<float> buf) {
            for (int i = 0; i < m; ++i) write(first + i, buf.subspan(static_cast<std::size_t>(i) * per, per));
        });
        if (l.samples() != m) raise<shape_error>("faithfulness: the forward pass gave ", l.samples(), " rows for ", m, " inputs");
        for (int i = 0; i < m; ++i) p.push_back(softmax_probability(l.row(i), cls));
    }
    return p;
}
} // namespace detail

/// The deletion or insertion curve of one image `x` (1 x C x H x W, `shape`) for the class `cls`
/// under the saliency `saliency` (H x W, `input_saliency`), see the file comment.
[[nodiscard]] inline std::vector<double> causal_curve(const FilledForward& forward, std::span<const float> x, Shape4 shape,
                                                      std::span<const float> saliency, int cls, CausalMetric metric,
                                                      const FaithfulnessOptions& o) {
    o.check();
    const std::int64_t hw = shape.h * shape.w;
    if (shape.n != 1 || x.size() != static_cast<std::size_t>(shape.count()) || saliency.size() != static_cast<std::size_t>(hw))
        detail::raise<shape_error>("causal_curve: the input (", x.size(), " values, shape ", shape.n, "x", shape.c, "x",
                                   shape.h, "x", shape.w, ") and saliency (", saliency.size(), " values) do not match");
    const Baseline b = metric == CausalMetric::deletion ? o.deletion_baseline : o.insertion_baseline;
    const std::vector<float> base = b == Baseline::zero ? std::vector<float>(x.size(), 0.0f)
                                                        : gaussian_blur(x, static_cast<int>(shape.c), static_cast<int>(shape.h),
                                                                        static_cast<int>(shape.w));
    const std::span<const float> start = metric == CausalMetric::deletion ? x : std::span<const float>(base);
    const std::span<const float> finish = metric == CausalMetric::deletion ? std::span<const float>(base) : x;
    std::vector<std::int64_t> order(static_cast<std::size_t>(hw));
    std::iota(order.begin(), order.end(), std::int64_t{0});
    std::stable_sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b2) {
        return saliency[static_cast<std::size_t>(a)] > saliency[static_cast<std::size_t>(b2)];
    });
    const std::int64_t per_step = (hw + o.steps - 1) / o.steps;
    const int points = curve_points(hw, o.steps);
    return detail::probabilities(forward, shape, points, cls, o.batch, [&](int i, std::span<float> out) {
        std::copy(start.begin(), start.end(), out.begin());
        const std::int64_t moved = std::min<std::int64_t>(hw, per_step * i);
        for (std::int64_t k = 0; k < moved; ++k) {
            const std::int64_t px = order[static_cast<std::size_t>(k)];
            for (std::int64_t c = 0; c < shape.c; ++c) out[static_cast<std::size_t>(c * hw + px)] = finish[static_cast<std::size_t>(c * hw + px)];
        }
    });
}

/// Average drop and increase for several saliencies of one image `x` (1 x C x H x W) at once:
/// p(x) and p(s_r * x) for each saliency s_r, in forward passes of `o.batch` inputs. p(x) is
/// computed here, beside the masked inputs, so that the result does not depend on how images were
/// batched elsewhere (shards merge exactly).
inline void confidence_change(const FilledForward& forward, std::span<const float> x, Shape4 shape,
                              std::span<const std::vector<float>> saliencies, int cls, const FaithfulnessOptions& o,
                              std::span<ImageFaithfulness> out) {
    o.check();
    const std::int64_t hw = shape.h * shape.w;
    if (shape.n != 1 || x.size() != static_cast<std::size_t>(shape.count()))
        detail::raise<shape_error>("confidence_change: ", x.size(), " input values for shape ", shape.n, "x", shape.c, "x",
                                   shape.h, "x", shape.w);
    if (out.size() != saliencies.size()) detail::raise<shape_error>("confidence_change: ", saliencies.size(), " saliencies, ", out.size(), " outputs");
    for (const auto& s : saliencies)
        if (s.size() != static_cast<std::size_t>(hw)) detail::raise<shape_error>("confidence_change: a saliency of ", s.size(), " values for ", hw, " pixels");
    const auto probs = detail::probabilities(forward, shape, static_cast<int>(saliencies.size()) + 1, cls, o.batch,
                                             [&](int r, std::span<float> dst) {
                                                 if (r == 0) return void(std::copy(x.begin(), x.end(), dst.begin()));
                                                 const auto& s = saliencies[static_cast<std::size_t>(r - 1)];
                                                 for (std::int64_t c = 0; c < shape.c; ++c)
                                                     for (std::int64_t k = 0; k < hw; ++k)
                                                         dst[static_cast<std::size_t>(c * hw + k)] =
                                                             x[static_cast<std::size_t>(c * hw + k)] * s[static_cast<std::size_t>(k)];
                                             });
    const double p = probs[0];
    for (std::size_t r = 0; r < out.size(); ++r) {
        out[r].drop = std::max(0.0, p - probs[r + 1]) / (p + 1e-7);
        out[r].increase = p < probs[r + 1];
    }
}

/// The pointing game: does the maximum of `map` (in the frame of `gt`, first in row-major order)
/// lie within `tolerance` pixels of a ground-truth box?
[[nodiscard]] inline bool pointing_hit(const ScoreMap& map, std::span<const Box> gt, double tolerance) {
    if (map.empty()) detail::raise<shape_error>("pointing_hit: the map is empty");
    const float* p = map.data();
    std::size_t best = 0;
    for (std::size_t i = 1; i < map.size(); ++i)
        if (p[i] > p[best]) best = i;
    const double y = static_cast<double>(best / static_cast<std::size_t>(map.width()));
    const double x = static_cast<double>(best % static_cast<std::size_t>(map.width()));
    for (const Box& b : gt) {
        const double dx = std::max({0.0, b.x0 - x, x - b.x1}), dy = std::max({0.0, b.y0 - y, y - b.y1});
        if (dx * dx + dy * dy <= tolerance * tolerance) return true;
    }
    return false;
}

} // namespace dualgrad

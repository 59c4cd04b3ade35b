#pragma once
/// \file
/// `BoxExtractor<Policy>`: from a score map to boxes, with the exact protocols the WSOL literature
/// reports numbers with (docs/design.md §2). Boxes are `Box`es in image pixels.
///
///     dualgrad::BoxExtractor<dualgrad::WsolLargestContour> maxboxacc;      // thresholds 0, .01, ..., .99
///     auto per_t = maxboxacc.boxes_per_threshold(cam, {375, 500});         // per_t[i]: boxes at threshold i
///     dualgrad::BoxExtractor<dualgrad::LayerCamLargestRect> layercam;
///     dualgrad::Box b = layercam.box(cam, {375, 500});
///
/// Policies (each a struct holding its parameters):
/// - `WsolLargestContour` (MaxBoxAcc) and `WsolMultiContour` (MaxBoxAccV2), clovaai/wsolevaluation
///   `inference.py` + `evaluation.py::compute_bboxes_from_scoremaps`: the raw map is converted to
///   double (their `t2n`), resized to the image size with bicubic (`cv2.resize`, INTER_CUBIC, 64F),
///   normalized (`normalize_scoremap`, see normalize.hpp: NaN/Inf or constant -> zeros),
///   `u8 = uint8(trunc(m * 255))`; per threshold t: mask `u8 > int(t * max(u8))`, contours as
///   `cv2.findContours(RETR_TREE, CHAIN_APPROX_SIMPLE)`, box `(x, y, min(x + w, W - 1),
///   min(y + h, H - 1))` of `cv2.boundingRect`. Largest contour: the first contour (in OpenCV's
///   order) of largest `cv2.contourArea`, as Python's `max(contours, key=cv2.contourArea)`;
///   multi-contour: every contour, in OpenCV's order. No contour: the single box (0, 0, 0, 0).
///   Thresholds: `numpy.arange(0, 1, interval)` in float64 (interval 0.01; wsolevaluation's own
///   default for its final numbers is 0.001), or an explicit list in [0, 1].
/// - `LayerCamLargestRect`, PengtaoJiang/layercam_loc `scripts/test.py` (the DGL authors' own
///   numbers): the map (already averaged over the 10 crops by the caller) in float32: ReLU,
///   divided by (max + 1e-8), `uint8(trunc(m * 255))`, resized to the image with 8-bit
///   INTER_CUBIC, `cv2.threshold(u8, 0.15 * 255)` (i.e. u8 > 38), RETR_TREE contours; the
///   rectangle of largest w*h wins (the first one on ties, as `large_rect` keeps the first strict
///   maximum) and the box is `(x, y, x + w, y + h)`, not clipped, as the script computes it. No
///   contour: the script's box (0, 0, 1, 1).
/// - `CamLargestComponent`, the original CAM recipe (Zhou et al., CVPR 2016): bicubic resize to
///   the image (double), min-max normalization as above, foreground = values above `fraction`
///   (default 0.2) of the normalized range, the largest 8-connected component by pixel count
///   (the first in raster order on ties), and its pixel-inclusive box (min x, min y, max x, max y).
///   No foreground: (0, 0, 0, 0). This follows the paper's description; it does not claim equality
///   with the authors' MATLAB code.
///
/// Errors: an empty map or a non-positive image size throw `shape_error`; a threshold or fraction
/// outside [0, 1] or an interval outside (0, 1) throws `value_error`. Non-finite values follow the
/// references (see normalize.hpp): the map counts as all zeros, so the wsol policies give
/// (0, 0, 0, 0) at every threshold, layercam gives (0, 0, 1, 1) and CAM (0, 0, 0, 0).
///
/// A `BoxExtractor` keeps its buffers between calls (the 100-threshold sweep allocates nothing per
/// threshold): use one extractor per thread.

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <span>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "dualgrad/box.hpp"
#include "dualgrad/error.hpp"
#include "dualgrad/thresholds.hpp"
#include "dualgrad/localize/contours.hpp"
#include "dualgrad/localize/normalize.hpp"
#include "dualgrad/localize/resize.hpp"
#include "dualgrad/map2d.hpp"

namespace dualgrad {

/// MaxBoxAcc: per threshold, the box of the contour of largest area (wsolevaluation).
/// `thresholds` overrides `interval` when not empty.
struct WsolLargestContour {
    double interval = 0.01;
    std::vector<double> thresholds{};
    static constexpr std::string_view name = "wsol_largest_contour";
};

/// MaxBoxAccV2: per threshold, the boxes of every contour (wsolevaluation, multi_contour_eval).
struct WsolMultiContour {
    double interval = 0.01;
    std::vector<double> thresholds{};
    static constexpr std::string_view name = "wsol_multi_contour";
};

/// layercam_loc's box: largest bounding rectangle of the contours at `threshold` * 255.
struct LayerCamLargestRect {
    double threshold = 0.15;
    static constexpr std::string_view name = "layercam_largest_rect";
};

/// Original CAM: box of the largest 8-connected component above `fraction` of the range.
struct CamLargestComponent {
    double fraction = 0.2;
    static constexpr std::string_view name = "cam_largest_component";
};

/// The box protocols `BoxExtractor` implements.
template <class P>
concept BoxPolicy = std::same_as<P, WsolLargestContour> || std::same_as<P, WsolMultiContour> ||
                    std::same_as<P, LayerCamLargestRect> || std::same_as<P, CamLargestComponent>;

/// A protocol of wsolevaluation (a threshold sweep).
template <class P>
concept WsolPolicy = std::same_as<P, WsolLargestContour> || std::same_as<P, WsolMultiContour>;

namespace detail {

/// Ignores the points: only the bounding boxes the follower records are used.
struct NullSink {
    void begin(bool) noexcept {}
    void point(int, int) noexcept {}
    void end() noexcept {}
};

inline void check_image_size(const char* who, ImageSize image) {
    if (image.height <= 0 || image.width <= 0)
        raise<shape_error>(who, ": the image size ", image.height, "x", image.width, " must be positive");
}

template <class T>
void check_map(const char* who, const Map2D<T>& m) {
    if (m.empty()) raise<shape_error>(who, ": the score map is empty (", m.height(), "x", m.width(), ")");
}

inline void check_unit(const char* who, const char* what, double v) {
    if (!(v >= 0.0 && v <= 1.0)) raise<value_error>(who, ": ", what, " is ", v, "; it must be in [0, 1]");
}

template <class Dst, class Src>
void convert_into(const Map2D<Src>& src, Map2D<Dst>& dst) {
    if (dst.height() != src.height() || dst.width() != src.width()) dst = Map2D<Dst>(src.height(), src.width());
    std::transform(src.values().begin(), src.values().end(), dst.values().begin(),
                   [](Src v) { return static_cast<Dst>(v); });
}

} // namespace detail

/// Score map -> boxes under one protocol `Policy` (see the file comment for the exact recipes).
template <BoxPolicy Policy>
class BoxExtractor {
public:
    /// Validates the policy's parameters: thresholds in [0, 1], interval in (0, 1).
    explicit BoxExtractor(Policy policy = {}) : policy_(std::move(policy)) {
        constexpr const char* who = "BoxExtractor";
        if constexpr (WsolPolicy<Policy>) {
            thresholds_ = policy_.thresholds.empty() ? cam_thresholds(policy_.interval) : policy_.thresholds;
            for (std::size_t i = 0; i < thresholds_.size(); ++i)
                if (!(thresholds_[i] >= 0.0 && thresholds_[i] <= 1.0))
                    detail::raise<value_error>(who, ": CAM threshold ", i, " is ", thresholds_[i],
                                               "; thresholds must be in [0, 1]");
        } else if constexpr (std::same_as<Policy, LayerCamLargestRect>) {
            detail::check_unit(who, "the layercam threshold", policy_.threshold);
            thresholds_ = {policy_.threshold};
        } else {
            detail::check_unit(who, "the CAM fraction of the maximum", policy_.fraction);
            thresholds_ = {policy_.fraction};
        }
    }

    [[nodiscard]] const Policy& policy() const noexcept { return policy_; }
    /// The thresholds the boxes are computed at (one for layercam and CAM).
    [[nodiscard]] std::span<const double> thresholds() const noexcept { return thresholds_; }

    /// The boxes of a raw score map (any size) for an image of size `image`: `out[i]` holds the
    /// boxes at `thresholds()[i]` (one box, except with `WsolMultiContour`).
    template <std::floating_point T>
    void boxes_per_threshold(const Map2D<T>& raw, ImageSize image, std::vector<std::vector<Box>>& out) {
        detail::check_map("BoxExtractor", raw);
        detail::check_image_size("BoxExtractor", image);
        if constexpr (WsolPolicy<Policy>) {
            u8_ = to_uint8(normalized(raw, image));
            sweep(u8_, out);
        } else {
            out.resize(1);
            out[0].assign(1, box(raw, image));
        }
    }

    template <std::floating_point T>
    [[nodiscard]] std::vector<std::vector<Box>> boxes_per_threshold(const Map2D<T>& raw, ImageSize image) {
        std::vector<std::vector<Box>> out;
        boxes_per_threshold(raw, image, out);
        return out;
    }

    /// The wsol protocols' map before thresholding: `raw` in double, bicubic-resized to `image`,
    /// min-max normalized (see the file comment). The reference stays valid until the next call
    /// on this extractor; hand it to `boxes_from_normalized` of several extractors (largest- and
    /// multi-contour) to resize and normalize once.
    template <std::floating_point T>
    [[nodiscard]] const Map2D<double>& normalized(const Map2D<T>& raw, ImageSize image)
        requires WsolPolicy<Policy>
    {
        detail::check_map("BoxExtractor", raw);
        detail::check_image_size("BoxExtractor", image);
        detail::convert_into(raw, work64_);
        resized64_ = resize(work64_, image.height, image.width, Interpolation::cubic);
        normalize_minmax_inplace(resized64_);
        return resized64_;
    }

    /// wsolevaluation's `compute_bboxes_from_scoremaps` after its `uint8(scoremap * 255)` step:
    /// the threshold sweep on an 8-bit map that already has the image size.
    void boxes_from_u8(const Mask& u8, std::vector<std::vector<Box>>& out)
        requires WsolPolicy<Policy>
    {
        detail::check_map("BoxExtractor::boxes_from_u8", u8);
        sweep(u8, out);
    }

    /// `compute_bboxes_from_scoremaps` on a normalized map in [0, 1] of the image size
    /// (converted with `to_uint8` first).
    template <std::floating_point T>
    void boxes_from_normalized(const Map2D<T>& normalized, std::vector<std::vector<Box>>& out)
        requires WsolPolicy<Policy>
    {
        detail::check_map("BoxExtractor::boxes_from_normalized", normalized);
        u8_ = to_uint8(normalized);
        sweep(u8_, out);
    }

    /// The single box of the layercam and CAM protocols.
    template <std::floating_point T>
    [[nodiscard]] Box box(const Map2D<T>& raw, ImageSize image)
        requires(!WsolPolicy<Policy>)
    {
        detail::check_map("BoxExtractor", raw);
        detail::check_image_size("BoxExtractor", image);
        if constexpr (std::same_as<Policy, LayerCamLargestRect>) {
            detail::convert_into(raw, work32_);
            const Mask small = to_uint8(normalize_relu_max(work32_));
            const Mask big = resize(small, image.height, image.width, Interpolation::cubic);
            const double t = std::floor(policy_.threshold * 255.0); // cv2.threshold floors for 8-bit
            if (t >= 255.0) return Box{0, 0, 1, 1};
            const int thr = static_cast<int>(t);
            follower_.load(big, [thr](std::uint8_t v) { return v > thr; });
            detail::NullSink sink;
            follower_.scan(sink);
            if (follower_.borders().empty()) return Box{0, 0, 1, 1};
            follower_.output_order(order_);
            long best_area = 0;
            Rect best{};
            for (int i : order_) {
                const Rect& r = follower_.borders()[static_cast<std::size_t>(i)].rect;
                if (const long a = static_cast<long>(r.width) * r.height; best_area < a) best_area = a, best = r;
            }
            const int x = best.x - 1, y = best.y - 1; // padded -> image coordinates
            return Box{x, y, x + best.width, y + best.height};
        } else {
            detail::convert_into(raw, work64_);
            resized64_ = resize(work64_, image.height, image.width, Interpolation::cubic);
            normalize_minmax_inplace(resized64_);
            return largest_component(resized64_, policy_.fraction);
        }
    }

private:
    /// Boxes of one loaded mask under the wsol policy; the image is u8's.
    void boxes_of_mask(int height, int width, std::vector<Box>& boxes) {
        boxes.clear();
        detail::NullSink sink;
        follower_.scan(sink);
        const auto& borders = follower_.borders();
        if (borders.empty()) {
            boxes.push_back(Box{0, 0, 0, 0});
            return;
        }
        follower_.output_order(order_);
        auto to_box = [&](const Rect& r) {
            const int x = r.x - 1, y = r.y - 1; // padded -> image coordinates
            return Box{x, y, std::min(x + r.width, width - 1), std::min(y + r.height, height - 1)};
        };
        if constexpr (std::same_as<Policy, WsolLargestContour>) {
            int best = order_.front();
            for (int i : order_)
                if (borders[static_cast<std::size_t>(i)].twice_area > borders[static_cast<std::size_t>(best)].twice_area)
                    best = i;
            boxes.push_back(to_box(borders[static_cast<std::size_t>(best)].rect));
        } else {
            for (int i : order_) boxes.push_back(to_box(borders[static_cast<std::size_t>(i)].rect));
        }
    }

    void sweep(const Mask& u8, std::vector<std::vector<Box>>& out) {
        out.resize(thresholds_.size());
        std::uint8_t top = 0; // a plain loop vectorizes, std::max_element does not
        for (const std::uint8_t v : u8.values()) top = std::max(top, v);
        int last = -1;
        for (std::size_t i = 0; i < thresholds_.size(); ++i) {
            // Python: int(threshold * np.max(u8)) in float64, truncated; cv2.threshold keeps u8 > it.
            const int thr = static_cast<int>(thresholds_[i] * static_cast<double>(top));
            if (i > 0 && thr == last) { // same mask as the previous threshold
                out[i] = out[i - 1];
                continue;
            }
            last = thr;
            if (thr >= top) { // nothing above the threshold
                out[i].assign(1, Box{0, 0, 0, 0});
                continue;
            }
            // thr < top <= 255 here: compare bytes with bytes (vectorizes without widening).
            const auto t8 = static_cast<std::uint8_t>(thr);
            follower_.load(u8, [t8](std::uint8_t v) { return v > t8; });
            boxes_of_mask(u8.height(), u8.width(), out[i]);
        }
    }

    /// Box of the largest 8-connected component of `m > fraction` (first in raster order on ties).
    Box largest_component(const Map2D<double>& m, double fraction) {
        const int h = m.height(), w = m.width();
        labels_.assign(m.size(), 0);
        int label = 0;
        std::size_t best_count = 0;
        Box best{0, 0, 0, 0};
        for (int y = 0; y < h; ++y)
            for (int x = 0; x < w; ++x) {
                const std::size_t at = static_cast<std::size_t>(y) * static_cast<std::size_t>(w) + static_cast<std::size_t>(x);
                if (labels_[at] != 0 || !(m.data()[at] > fraction)) continue;
                ++label;
                labels_[at] = label;
                stack_.assign(1, static_cast<int>(at));
                std::size_t count = 0;
                Box b{x, y, x, y};
                while (!stack_.empty()) {
                    const int p = stack_.back();
                    stack_.pop_back();
                    ++count;
                    const int py = p / w, px = p % w;
                    b.x0 = std::min(b.x0, px), b.x1 = std::max(b.x1, px);
                    b.y0 = std::min(b.y0, py), b.y1 = std::max(b.y1, py);
                    for (int dy = -1; dy <= 1; ++dy)
                        for (int dx = -1; dx <= 1; ++dx) {
                            const int ny = py + dy, nx = px + dx;
                            if (ny < 0 || ny >= h || nx < 0 || nx >= w) continue;
                            const int q = ny * w + nx;
                            if (labels_[static_cast<std::size_t>(q)] == 0 && m.data()[q] > fraction) {
                                labels_[static_cast<std::size_t>(q)] = label;
                                stack_.push_back(q);
                            }
                        }
                }
                if (count > best_count) best_count = count, best = b;
            }
        return best;
    }

    Policy policy_;
    std::vector<double> thresholds_;
    detail::BorderFollower follower_;
    std::vector<int> order_;
    Map2D<double> work64_, resized64_;
    Map2D<float> work32_;
    Mask u8_;
    std::vector<int> labels_, stack_;
};

} // namespace dualgrad

#pragma once
/// \file
/// Optional OpenCV interop: `cv::Mat` to and from dualgrad's images, score maps and masks,
/// `Box` to and from `cv::Rect`, and the heatmap overlay as a `cv::Mat`. Needs OpenCV 4's core
/// module (`opencv2/core.hpp`; link `opencv_core`); dualgrad itself never needs OpenCV, and
/// `dualgrad.hpp` does not include this header.
///
///     cv::Mat bgr = cv::imread("bird.jpg");                                    // 8UC3, BGR
///     dualgrad::io::Image img = dualgrad::interop::image_from_mat(bgr);        // RGB
///     dualgrad::ScoreMap cam = dualgrad::interop::score_map_from_mat(cam32f);  // 32FC1
///     cv::Rect r = dualgrad::interop::to_rect(box);
///     cv::imwrite("overlay.png", dualgrad::interop::heatmap_overlay(bgr, cam, box));
///
/// Conversions copy the pixels (a `cv::Mat` view, an ROI included, may be non-contiguous; the
/// results own their data).
/// - `image_from_mat`: 8UC3 (BGR by default, `ChannelOrder::rgb` for RGB Mats) -> RGB `io::Image`;
///   8UC1 -> gray `io::Image` (1 channel). `mat_from_image`: back, 1 -> 8UC1, 3 -> 8UC3 in the
///   order asked for, 4 (RGBA) -> 8UC4 (BGRA or RGBA).
/// - `score_map_from_mat`: 32FC1 -> `ScoreMap`; `mat_from_score_map`: `ScoreMap` -> 32FC1.
/// - `mask_from_mat`: 8UC1 -> `Mask`; `mat_from_mask`: back.
/// - Boxes: dualgrad's `Box` is pixel-inclusive `(x0, y0, x1, y1)` (box.hpp: area
///   `(x1 - x0 + 1) * (y1 - y0 + 1)`); `cv::Rect` is `(x, y, width, height)` with the right and
///   bottom edges excluded. So `to_rect(b) = Rect(x0, y0, x1 - x0 + 1, y1 - y0 + 1)` and
///   `from_rect(r) = Box{x, y, x + width - 1, y + height - 1}`: the same pixels, and
///   `from_rect(to_rect(b)) == b`. Note that wsolevaluation's boxes come from
///   `cv2.boundingRect` as `(x, y, x + w, y + h)` (one pixel wider, see box_extractor.hpp); this
///   conversion does not reproduce that, it keeps the pixel set.
/// - `heatmap_overlay`: dualgrad's own overlay (`io::heatmap_overlay`, io/image.hpp: bicubic
///   resize to the image, min-max, OpenCV's COLORMAP_JET table from `io::jet_color`, blend,
///   optional box), applied to a Mat in the given channel order; the result has the input's
///   order. `cv::applyColorMap` is not used, so only the core module is needed.
///
/// Errors: an empty Mat, or a Mat of another type or channel count, is a `shape_error` naming the
/// function, the type found (`cv::typeToString`, e.g. "CV_32FC3") and the types accepted; an
/// invalid `Box` (x1 < x0 or y1 < y0) or a `cv::Rect` with a non-positive width or height is a
/// `value_error`.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <utility>

#include <opencv2/core.hpp>

#include "dualgrad/box.hpp"
#include "dualgrad/error.hpp"
#include "dualgrad/io/image_types.hpp"
#include "dualgrad/io/render.hpp"
#include "dualgrad/map2d.hpp"

namespace dualgrad::interop {

/// The order of the three color channels of an 8UC3 (or 8UC4) `cv::Mat`. OpenCV's own functions
/// (`imread`, `imwrite`) use BGR.
enum class ChannelOrder { bgr, rgb };

namespace detail {

/// Throws `shape_error` if `m` is empty or not of `type`; `accepted` lists what the caller takes.
inline void require_mat(const cv::Mat& m, int type, const char* who, const char* accepted) {
    if (m.empty()) dualgrad::detail::raise<shape_error>(who, ": the cv::Mat is empty (", accepted, " expected)");
    if (m.dims != 2)
        dualgrad::detail::raise<shape_error>(who, ": the cv::Mat has ", m.dims, " dimensions, 2 expected (", accepted, ")");
    if (m.type() != type)
        dualgrad::detail::raise<shape_error>(who, ": the cv::Mat is ", cv::typeToString(m.type()), " (",
                                             m.channels(), " channel(s)); ", accepted, " expected");
}

/// Copies the rows of a single-channel Mat of element type T into `dst` (row-major).
template <class T>
void copy_rows(const cv::Mat& m, T* dst) {
    const std::size_t row = static_cast<std::size_t>(m.cols) * static_cast<std::size_t>(m.elemSize());
    for (int y = 0; y < m.rows; ++y)
        std::memcpy(reinterpret_cast<unsigned char*>(dst) + static_cast<std::size_t>(y) * row, m.ptr(y), row);
}

} // namespace detail

/// An 8UC3 (`order`) or 8UC1 Mat as an `io::Image`: RGB (3 channels) or gray (1 channel).
[[nodiscard]] inline io::Image image_from_mat(const cv::Mat& m, ChannelOrder order = ChannelOrder::bgr) {
    constexpr const char* who = "interop::image_from_mat";
    if (!m.empty() && m.type() == CV_8UC1) {
        io::Image img(m.rows, m.cols, 1);
        detail::copy_rows(m, img.pixels.data());
        return img;
    }
    detail::require_mat(m, CV_8UC3, who, order == ChannelOrder::bgr ? "CV_8UC3 (BGR) or CV_8UC1" : "CV_8UC3 (RGB) or CV_8UC1");
    io::Image img(m.rows, m.cols, 3);
    for (int y = 0; y < m.rows; ++y) {
        const std::uint8_t* src = m.ptr<std::uint8_t>(y);
        std::uint8_t* dst = img.pixels.data() + static_cast<std::size_t>(y) * static_cast<std::size_t>(m.cols) * 3;
        for (int x = 0; x < m.cols; ++x, src += 3, dst += 3) {
            if (order == ChannelOrder::bgr) dst[0] = src[2], dst[1] = src[1], dst[2] = src[0];
            else dst[0] = src[0], dst[1] = src[1], dst[2] = src[2];
        }
    }
    return img;
}

/// An `io::Image` as a Mat: gray -> 8UC1, RGB -> 8UC3 and RGBA -> 8UC4 in `order` (BGR(A) by
/// default). A 2-channel (gray + alpha) image or an empty one is a `shape_error`.
[[nodiscard]] inline cv::Mat mat_from_image(const io::Image& img, ChannelOrder order = ChannelOrder::bgr) {
    if (img.empty()) dualgrad::detail::raise<shape_error>("interop::mat_from_image: the image is empty");
    const int c = img.channels;
    if (c != 1 && c != 3 && c != 4)
        dualgrad::detail::raise<shape_error>("interop::mat_from_image: the image has ", c,
                                             " channels; 1 (gray), 3 (RGB) or 4 (RGBA) expected");
    cv::Mat m(img.height, img.width, CV_8UC(c));
    const std::size_t n = static_cast<std::size_t>(img.height) * static_cast<std::size_t>(img.width);
    std::memcpy(m.data, img.pixels.data(), n * static_cast<std::size_t>(c));
    if (c >= 3 && order == ChannelOrder::bgr)
        for (std::size_t i = 0; i < n; ++i) std::swap(m.data[i * static_cast<std::size_t>(c)], m.data[i * static_cast<std::size_t>(c) + 2]);
    return m;
}

namespace detail {
/// A single-channel Mat of `type` as a `Map2D<T>` (a copy).
template <class T>
[[nodiscard]] Map2D<T> map_from_mat(const cv::Mat& m, int type, const char* who, const char* accepted) {
    require_mat(m, type, who, accepted);
    Map2D<T> out(m.rows, m.cols);
    copy_rows(m, out.data());
    return out;
}
/// A `Map2D<T>` as a single-channel Mat of `type` (a copy); an empty map is a `shape_error`.
template <class T>
[[nodiscard]] cv::Mat mat_from_map(const Map2D<T>& map, int type, const char* who) {
    if (map.empty()) dualgrad::detail::raise<shape_error>(who, ": the map is empty");
    cv::Mat m(map.height(), map.width(), type);
    std::memcpy(m.data, map.data(), map.size() * sizeof(T));
    return m;
}
} // namespace detail

/// A 32FC1 Mat as a `ScoreMap` (convert other depths first, e.g. `m.convertTo(f, CV_32F)`).
[[nodiscard]] inline ScoreMap score_map_from_mat(const cv::Mat& m) {
    return detail::map_from_mat<float>(m, CV_32FC1, "interop::score_map_from_mat", "CV_32FC1");
}

/// A `ScoreMap` as a 32FC1 Mat (a copy). An empty map is a `shape_error`.
[[nodiscard]] inline cv::Mat mat_from_score_map(const ScoreMap& map) {
    return detail::mat_from_map(map, CV_32FC1, "interop::mat_from_score_map");
}

/// An 8UC1 Mat as a `Mask`.
[[nodiscard]] inline Mask mask_from_mat(const cv::Mat& m) {
    return detail::map_from_mat<std::uint8_t>(m, CV_8UC1, "interop::mask_from_mat", "CV_8UC1");
}

/// A `Mask` as an 8UC1 Mat (a copy). An empty mask is a `shape_error`.
[[nodiscard]] inline cv::Mat mat_from_mask(const Mask& mask) {
    return detail::mat_from_map(mask, CV_8UC1, "interop::mat_from_mask");
}

/// The `cv::Rect` covering the pixels of the pixel-inclusive `b`: width `x1 - x0 + 1`, height
/// `y1 - y0 + 1`. An invalid box (x1 < x0 or y1 < y0) is a `value_error`.
[[nodiscard]] inline cv::Rect to_rect(const Box& b) {
    check_box(b, "interop::to_rect: box");
    return {b.x0, b.y0, b.x1 - b.x0 + 1, b.y1 - b.y0 + 1};
}

/// The pixel-inclusive `Box` of the pixels of `r`: `(x, y, x + width - 1, y + height - 1)`. A
/// rectangle with a non-positive width or height covers no pixel: `value_error`.
[[nodiscard]] inline Box from_rect(const cv::Rect& r) {
    if (r.width <= 0 || r.height <= 0)
        dualgrad::detail::raise<value_error>("interop::from_rect: the rectangle (x ", r.x, ", y ", r.y, ", width ", r.width,
                                             ", height ", r.height, ") covers no pixel; width and height must be positive");
    return Box{r.x, r.y, r.x + r.width - 1, r.y + r.height - 1};
}

/// `io::heatmap_overlay` on an 8UC3 Mat in `order`: the map resized (bicubic) to the image,
/// min-max normalized, colored with the JET table, blended with weight `opts.alpha`, and `box`
/// drawn. `opts.box_color` is RGB whatever `order` is. The result is 8UC3 in `order`.
[[nodiscard]] inline cv::Mat heatmap_overlay(const cv::Mat& image, const ScoreMap& map, std::optional<Box> box = std::nullopt,
                                             const io::OverlayOptions& opts = {}, ChannelOrder order = ChannelOrder::bgr) {
    detail::require_mat(image, CV_8UC3, "interop::heatmap_overlay", order == ChannelOrder::bgr ? "CV_8UC3 (BGR)" : "CV_8UC3 (RGB)");
    return mat_from_image(io::heatmap_overlay(image_from_mat(image, order), map, box, opts), order);
}

} // namespace dualgrad::interop

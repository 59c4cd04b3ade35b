#pragma once
/// \file
/// The preprocessing a classifier needs: image geometry (planes, resize, crop, flip), ImageNet
/// normalization into an NCHW float buffer, and the 10-crop with the geometry that maps crop score
/// maps back to the image.
///
///     dualgrad::io::NchwTensor x = dualgrad::io::preprocess(img);       // [1, 3, 224, 224]
///     auto tc = dualgrad::io::ten_crop(img);                            // [10, 3, 224, 224] + geometry
///     // ... one raw map per crop ...
///     dualgrad::ScoreMap avg = dualgrad::io::average_crop_maps(maps, tc.crops, tc.resized_height, tc.resized_width);

#include <algorithm>
#include <array>
#include <climits>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "dualgrad/error.hpp"
#include "dualgrad/io/image_types.hpp"
#include "dualgrad/localize/normalize.hpp"
#include "dualgrad/localize/resize.hpp"
#include "dualgrad/map2d.hpp"

namespace dualgrad::io {

// --- geometry on 8-bit images ------------------------------------------------------------------

/// Channel `c` of `img` as a float plane (values 0..255).
[[nodiscard]] inline Map2D<float> channel_plane(const Image& img, int c) {
    if (c < 0 || c >= img.channels)
        dualgrad::detail::raise<value_error>("channel_plane: channel ", c, " of an image with ", img.channels, " channels");
    Map2D<float> p(img.height, img.width);
    auto v = p.values();
    const auto stride = static_cast<std::size_t>(img.channels);
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = img.pixels[i * stride + static_cast<std::size_t>(c)];
    return p;
}

/// An 8-bit image from float planes (one per channel), each value rounded half to even and
/// saturated to 0..255 (OpenCV's `saturate_cast<uchar>`).
[[nodiscard]] inline Image image_from_planes(std::span<const Map2D<float>> planes) {
    if (planes.empty() || planes.size() > 4)
        dualgrad::detail::raise<shape_error>("image_from_planes: ", planes.size(), " planes (1 to 4 expected)");
    const int h = planes[0].height(), w = planes[0].width();
    for (const auto& p : planes)
        if (p.height() != h || p.width() != w)
            dualgrad::detail::raise<shape_error>("image_from_planes: planes of different sizes (", h, "x", w, " and ",
                                                 p.height(), "x", p.width(), ")");
    Image img(h, w, static_cast<int>(planes.size()));
    const std::size_t c = planes.size();
    for (std::size_t k = 0; k < c; ++k) {
        const auto v = planes[k].values();
        for (std::size_t i = 0; i < v.size(); ++i)
            img.pixels[i * c + k] = static_cast<std::uint8_t>(std::clamp(std::nearbyint(v[i]), 0.f, 255.f));
    }
    return img;
}

/// Resizes `img` to `height` x `width` with bilinear interpolation: each channel as
/// `cv2.resize(float32 plane, (width, height), interpolation=INTER_LINEAR)` (half-pixel centres,
/// no antialiasing; see localize/resize.hpp), rounded back to 8 bits half to even. OpenCV's own
/// 8-bit path uses 11-bit fixed-point weights and can differ from this by one level.
/// torchvision's `Resize` on a PIL image antialiases when it shrinks, and differs more.
[[nodiscard]] inline Image resize_image(const Image& img, int height, int width) {
    if (img.empty()) dualgrad::detail::raise<shape_error>("resize_image: the image is empty");
    if (img.height == height && img.width == width) return img;
    std::vector<Map2D<float>> planes;
    for (int c = 0; c < img.channels; ++c)
        planes.push_back(dualgrad::resize(channel_plane(img, c), height, width, Interpolation::linear));
    return image_from_planes(planes);
}

/// The `height` x `width` region of `img` whose top-left pixel is (`top`, `left`); it must lie
/// inside the image (`shape_error` otherwise).
[[nodiscard]] inline Image crop_image(const Image& img, int top, int left, int height, int width) {
    if (top < 0 || left < 0 || height <= 0 || width <= 0 || top + height > img.height || left + width > img.width)
        dualgrad::detail::raise<shape_error>("crop_image: the region (top ", top, ", left ", left, ", ", height, "x", width,
                                             ") is not inside the ", img.height, "x", img.width, " image");
    Image out(height, width, img.channels);
    const auto row_bytes = static_cast<std::size_t>(width) * static_cast<std::size_t>(img.channels);
    for (int y = 0; y < height; ++y) {
        const auto* src = &img.pixels[((static_cast<std::size_t>(top + y) * static_cast<std::size_t>(img.width)) +
                                       static_cast<std::size_t>(left)) *
                                      static_cast<std::size_t>(img.channels)];
        std::copy(src, src + row_bytes, out.pixels.begin() + static_cast<std::ptrdiff_t>(static_cast<std::size_t>(y) * row_bytes));
    }
    return out;
}

/// `img` mirrored left-right.
[[nodiscard]] inline Image flip_horizontal(const Image& img) {
    Image out = img;
    for (int y = 0; y < img.height; ++y)
        for (int x = 0; x < img.width; ++x)
            for (int c = 0; c < img.channels; ++c) out(y, x, c) = img(y, img.width - 1 - x, c);
    return out;
}

// --- normalization into NCHW float -------------------------------------------------------------

/// Per-channel normalization `(v / 255 - mean[c]) / std[c]`, torchvision's `ToTensor` followed
/// by `Normalize(mean, std)`, in float. The default is ImageNet's.
struct Normalization {
    std::array<float, 3> mean{0.485f, 0.456f, 0.406f};
    std::array<float, 3> std{0.229f, 0.224f, 0.225f};
};

/// A dense float tensor in NCHW order: `shape` = {N, C, H, W}, `values` row-major. Plain
/// standard-library storage, so the io headers do not depend on a tensor library; wrap
/// `values.data()` in the backend's tensor type.
struct NchwTensor {
    std::array<std::int64_t, 4> shape{0, 3, 0, 0};
    std::vector<float> values;

    [[nodiscard]] std::int64_t batch() const noexcept { return shape[0]; }
    /// Values of sample `n` (C*H*W of them).
    [[nodiscard]] std::span<const float> sample(std::int64_t n) const {
        const auto per = static_cast<std::size_t>(shape[1] * shape[2] * shape[3]);
        return std::span<const float>(values).subspan(static_cast<std::size_t>(n) * per, per);
    }
};

/// Appends one sample given as three float planes of values 0..255 (R, G, B) to `batch`:
/// `(v / 255 - mean) / std` per channel. The first sample fixes H and W; later ones must match.
inline void append_normalized(NchwTensor& batch, std::span<const Map2D<float>> rgb, const Normalization& norm = {}) {
    if (rgb.size() != 3)
        dualgrad::detail::raise<shape_error>("append_normalized: ", rgb.size(), " channel planes given, 3 (RGB) expected");
    const int h = rgb[0].height(), w = rgb[0].width();
    for (const auto& p : rgb)
        if (p.height() != h || p.width() != w)
            dualgrad::detail::raise<shape_error>("append_normalized: channel planes of different sizes");
    if (batch.shape[0] == 0) {
        batch.shape = {0, 3, h, w};
    } else if (batch.shape[1] != 3 || batch.shape[2] != h || batch.shape[3] != w) {
        dualgrad::detail::raise<shape_error>("append_normalized: a ", h, "x", w, " sample for a batch of ", batch.shape[2],
                                             "x", batch.shape[3], " samples");
    }
    for (std::size_t c = 0; c < 3; ++c) {
        if (!(norm.std[c] > 0.f))
            dualgrad::detail::raise<value_error>("append_normalized: std[", c, "] is ", norm.std[c], "; it must be > 0");
        for (float v : rgb[c].values()) batch.values.push_back((v / 255.f - norm.mean[c]) / norm.std[c]);
    }
    ++batch.shape[0];
}

/// Appends one RGB image (no resize) to `batch`, normalized.
inline void append_normalized(NchwTensor& batch, const Image& img, const Normalization& norm = {}) {
    if (img.channels != 3)
        dualgrad::detail::raise<shape_error>("append_normalized: the image has ", img.channels,
                                             " channels; read it with channels = 3 (RGB)");
    const std::array<Map2D<float>, 3> p{channel_plane(img, 0), channel_plane(img, 1), channel_plane(img, 2)};
    append_normalized(batch, p, norm);
}

/// How images become network input: resize to `height` x `width` (bilinear on float planes,
/// no 8-bit rounding in between; `resize = false` keeps the size), then `norm`.
struct PreprocessOptions {
    int height = 224;
    int width = 224;
    bool resize = true;
    Normalization norm{};
};

/// The planes of `img` (RGB) resized as `opts` says, values 0..255 in float.
[[nodiscard]] inline std::array<Map2D<float>, 3> resized_planes(const Image& img, int height, int width) {
    if (img.channels != 3)
        dualgrad::detail::raise<shape_error>("preprocess: the image has ", img.channels,
                                             " channels; read it with channels = 3 (RGB)");
    std::array<Map2D<float>, 3> p{channel_plane(img, 0), channel_plane(img, 1), channel_plane(img, 2)};
    for (auto& plane : p) plane = dualgrad::resize(plane, height, width, Interpolation::linear);
    return p;
}

/// One batch [N, 3, H, W] from RGB images: resize and normalize each (see `PreprocessOptions`).
/// Without resizing, every image must already have the same size.
[[nodiscard]] inline NchwTensor preprocess(std::span<const Image> images, const PreprocessOptions& opts = {}) {
    if (opts.resize && (opts.height <= 0 || opts.width <= 0))
        dualgrad::detail::raise<value_error>("preprocess: the target size ", opts.height, "x", opts.width, " must be positive");
    NchwTensor t;
    for (const Image& img : images) {
        if (img.empty()) dualgrad::detail::raise<shape_error>("preprocess: an image is empty");
        if (opts.resize) append_normalized(t, resized_planes(img, opts.height, opts.width), opts.norm);
        else append_normalized(t, img, opts.norm);
    }
    return t;
}
/// One image as a batch of one.
[[nodiscard]] inline NchwTensor preprocess(const Image& image, const PreprocessOptions& opts = {}) {
    return preprocess(std::span<const Image>(&image, 1), opts);
}

// --- 10-crop -------------------------------------------------------------------------------------

/// Where a crop comes from, in the coordinates of the resized image it was cut from: crop pixel
/// (y, x) is resized-image pixel (top + y, left + x), or (top + y, left + width - 1 - x) when
/// `flipped`.
struct CropGeometry {
    int top = 0;
    int left = 0;
    int height = 0;
    int width = 0;
    bool flipped = false;
    friend bool operator==(const CropGeometry&, const CropGeometry&) = default;
};

/// The 10-crop of torchvision's `TenCrop(crop)` applied after `Resize((resize, resize))`:
/// crops 0..4 are top-left, top-right, bottom-left, bottom-right and centre of the resized
/// image; crops 5..9 the same five positions cut from its mirror image (so crop 5, the mirror's
/// top-left corner, covers the resized image's top-right corner). The centre crop starts at
/// `round((H - crop) / 2)` (Python's round, half to even), as torchvision's `center_crop`.
struct TenCropOptions {
    int resize_height = 256;
    int resize_width = 256;
    int crop_height = 224;
    int crop_width = 224;
    Normalization norm{};
};

/// The geometry of the ten crops of a `height` x `width` image (see `TenCropOptions`).
[[nodiscard]] inline std::array<CropGeometry, 10> ten_crop_geometry(int height, int width, int crop_height, int crop_width) {
    if (crop_height <= 0 || crop_width <= 0 || crop_height > height || crop_width > width)
        dualgrad::detail::raise<value_error>("ten_crop: a ", crop_height, "x", crop_width, " crop does not fit a ", height,
                                             "x", width, " image");
    const int bottom = height - crop_height, right = width - crop_width;
    const int ctop = static_cast<int>(std::nearbyint(bottom / 2.0));
    const int cleft = static_cast<int>(std::nearbyint(right / 2.0));
    const std::array<std::array<int, 2>, 5> five{{{0, 0}, {0, right}, {bottom, 0}, {bottom, right}, {ctop, cleft}}};
    std::array<CropGeometry, 10> g{};
    for (std::size_t i = 0; i < 5; ++i) {
        g[i] = {five[i][0], five[i][1], crop_height, crop_width, false};
        // A crop of the mirror image at column L covers columns [W - L - w, W - L) of the image.
        g[i + 5] = {five[i][0], width - five[i][1] - crop_width, crop_height, crop_width, true};
    }
    return g;
}

/// The ten crops of one RGB image as a batch [10, 3, crop, crop], with their geometry.
struct TenCrop {
    NchwTensor batch;
    std::array<CropGeometry, 10> crops{};
    int resized_height = 0; ///< the size of the resized image the geometry refers to
    int resized_width = 0;
};

/// Resizes `img` (bilinear on float planes, as `preprocess`), cuts the ten crops and normalizes
/// them. The crops are cut from the float planes, so no 8-bit rounding happens after decoding.
[[nodiscard]] inline TenCrop ten_crop(const Image& img, const TenCropOptions& opts = {}) {
    if (img.empty()) dualgrad::detail::raise<shape_error>("ten_crop: the image is empty");
    if (opts.resize_height <= 0 || opts.resize_width <= 0)
        dualgrad::detail::raise<value_error>("ten_crop: the resize size ", opts.resize_height, "x", opts.resize_width,
                                             " must be positive");
    TenCrop out;
    out.resized_height = opts.resize_height;
    out.resized_width = opts.resize_width;
    out.crops = ten_crop_geometry(opts.resize_height, opts.resize_width, opts.crop_height, opts.crop_width);
    const auto planes = resized_planes(img, opts.resize_height, opts.resize_width);
    for (const CropGeometry& g : out.crops) {
        std::array<Map2D<float>, 3> cut;
        for (std::size_t c = 0; c < 3; ++c) {
            cut[c] = Map2D<float>(g.height, g.width);
            for (int y = 0; y < g.height; ++y)
                for (int x = 0; x < g.width; ++x)
                    cut[c](y, x) = planes[c](g.top + y, g.flipped ? g.left + g.width - 1 - x : g.left + x);
        }
        append_normalized(out.batch, cut, opts.norm);
    }
    return out;
}

/// Maps each crop's score map back into the coordinates of the `height` x `width` resized
/// image and averages them. Exactly, for crop i with map M_i (any size, e.g. 28 x 28) and
/// geometry G_i:
/// 1. R_i = `resize(M_i, G_i.height, G_i.width, interp)` (OpenCV arithmetic, localize/resize.hpp;
///    equal sizes copy);
/// 2. if G_i.flipped, R_i is mirrored left-right;
/// 3. R_i is added to a `height` x `width` sum at rows [top, top + height), columns
///    [left, left + width), and a per-pixel count of covering crops is incremented there;
/// 4. the result is sum / count per pixel, in double then rounded to float; a pixel no crop
///    covers is 0 (the 10-crop covers every pixel).
/// The result is in resized-image coordinates (e.g. 256 x 256); the box protocols then resize it
/// to the original image like any raw map. Throws `shape_error` if the counts differ or a crop is
/// outside the image.
[[nodiscard]] inline ScoreMap average_crop_maps(std::span<const ScoreMap> maps, std::span<const CropGeometry> crops,
                                                int height, int width, Interpolation interp = Interpolation::linear) {
    if (maps.size() != crops.size())
        dualgrad::detail::raise<shape_error>("average_crop_maps: ", maps.size(), " maps for ", crops.size(), " crops");
    if (maps.empty()) dualgrad::detail::raise<shape_error>("average_crop_maps: no maps");
    if (height <= 0 || width <= 0)
        dualgrad::detail::raise<shape_error>("average_crop_maps: the image size ", height, "x", width, " must be positive");
    Map2D<double> sum(height, width);
    Map2D<int> count(height, width);
    for (std::size_t i = 0; i < maps.size(); ++i) {
        const CropGeometry& g = crops[i];
        if (g.top < 0 || g.left < 0 || g.height <= 0 || g.width <= 0 || g.top + g.height > height ||
            g.left + g.width > width)
            dualgrad::detail::raise<shape_error>("average_crop_maps: crop ", i, " (top ", g.top, ", left ", g.left, ", ",
                                                 g.height, "x", g.width, ") is not inside the ", height, "x", width,
                                                 " image");
        if (maps[i].empty()) dualgrad::detail::raise<shape_error>("average_crop_maps: map ", i, " is empty");
        const ScoreMap r = dualgrad::resize(maps[i], g.height, g.width, interp);
        for (int y = 0; y < g.height; ++y)
            for (int x = 0; x < g.width; ++x) {
                const int sx = g.flipped ? g.width - 1 - x : x;
                sum(g.top + y, g.left + x) += r(y, sx);
                ++count(g.top + y, g.left + x);
            }
    }
    ScoreMap out(height, width);
    for (std::size_t i = 0; i < out.size(); ++i) {
        const int n = count.values()[i];
        out.values()[i] = n == 0 ? 0.f : static_cast<float>(sum.values()[i] / n);
    }
    return out;
}


} // namespace dualgrad::io

#pragma once
/// \file
/// Drawing for people: heatmap overlays with boxes, box outlines, and images tiled into one.
///
///     dualgrad::io::write_png("bird.overlay.png", dualgrad::io::heatmap_overlay(img, cam, box));

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

#include "dualgrad/box.hpp"
#include "dualgrad/error.hpp"
#include "dualgrad/io/image_types.hpp"
#include "dualgrad/io/preprocess.hpp"
#include "dualgrad/localize/normalize.hpp"
#include "dualgrad/localize/resize.hpp"
#include "dualgrad/map2d.hpp"

namespace dualgrad::io {

// --- heatmap overlays ----------------------------------------------------------------------------

/// The RGB color of value `v` in OpenCV's `COLORMAP_JET` (`cv2.applyColorMap`, which returns
/// BGR): dark blue (0, 0, 128) at 0 through cyan, yellow to dark red (128, 0, 0) at 255. OpenCV's
/// table is the piecewise-linear jet `clamp(min(4v + a, b - 4v), 0, 255)` with (a, b) =
/// (-382, 1148) for red, (-128, 892) for green and (128, 638) for blue, except blue at 159,
/// which is 1 in OpenCV's table (2 by the formula); the test checks all 256 entries.
[[nodiscard]] constexpr std::array<std::uint8_t, 3> jet_color(std::uint8_t v) noexcept {
    const int i = v;
    auto ramp = [i](int a, int b) { return static_cast<std::uint8_t>(std::clamp(std::min(4 * i + a, b - 4 * i), 0, 255)); };
    std::array<std::uint8_t, 3> rgb{ramp(-382, 1148), ramp(-128, 892), ramp(128, 638)};
    if (i == 159) rgb[2] = 1;
    return rgb;
}

/// RGB images side by side in a grid, `columns` per row, `gap` white pixels between cells; each
/// cell is as large as the largest image, images sit at its top-left corner.
[[nodiscard]] inline Image tile_images(std::span<const Image> images, int columns = 4, int gap = 4) {
    if (images.empty()) dualgrad::detail::raise<value_error>("tile_images: no images");
    if (columns < 1 || gap < 0)
        dualgrad::detail::raise<value_error>("tile_images: columns ", columns, " and gap ", gap, " are invalid");
    int H = 0, W = 0;
    for (std::size_t i = 0; i < images.size(); ++i) {
        if (images[i].channels != 3 || images[i].empty())
            dualgrad::detail::raise<shape_error>("tile_images: image ", i, " is not a non-empty RGB image");
        H = std::max(H, images[i].height);
        W = std::max(W, images[i].width);
    }
    const int n = static_cast<int>(images.size());
    const int cols = std::min(columns, n), rows = (n + cols - 1) / cols;
    Image grid(rows * H + (rows - 1) * gap, cols * W + (cols - 1) * gap, 3, 255);
    for (int i = 0; i < n; ++i) {
        const Image& tile = images[static_cast<std::size_t>(i)];
        const int top = (i / cols) * (H + gap), left = (i % cols) * (W + gap);
        for (int y = 0; y < tile.height; ++y)
            for (int x = 0; x < tile.width; ++x)
                for (int c = 0; c < 3; ++c) grid(top + y, left + x, c) = tile(y, x, c);
    }
    return grid;
}

/// How `heatmap_overlay` draws.
struct OverlayOptions {
    float alpha = 0.5f;                                ///< weight of the heatmap in the blend
    std::array<std::uint8_t, 3> box_color{0, 255, 0};  ///< RGB
    int box_thickness = 2;                             ///< pixels, drawn inside the box edges
};

/// Draws the outline of `box` (pixel-inclusive) into an RGB image, clipped to the image.
inline void draw_box(Image& img, const Box& box, std::array<std::uint8_t, 3> color, int thickness = 2) {
    if (img.channels != 3) dualgrad::detail::raise<shape_error>("draw_box: the image has ", img.channels, " channels, 3 expected");
    check_box(box, "draw_box: box");
    for (int y = std::max(box.y0, 0); y <= std::min(box.y1, img.height - 1); ++y)
        for (int x = std::max(box.x0, 0); x <= std::min(box.x1, img.width - 1); ++x) {
            const bool edge = y < box.y0 + thickness || y > box.y1 - thickness || x < box.x0 + thickness ||
                              x > box.x1 - thickness;
            if (edge)
                for (int c = 0; c < 3; ++c) img(y, x, c) = color[static_cast<std::size_t>(c)];
        }
}

/// The heatmap of `map` over `image` (RGB): the map is resized to the image with bicubic
/// interpolation, min-max normalized (`normalize_minmax`: NaN or constant -> zeros), quantized as
/// `uint8(trunc(m * 255))`, colored with `jet_color`, and blended per pixel as
/// `round((1 - alpha) * image + alpha * heat)`; then `box`, if given, is drawn.
[[nodiscard]] inline Image heatmap_overlay(const Image& image, const ScoreMap& map, std::optional<Box> box = std::nullopt,
                                           const OverlayOptions& opts = {}) {
    if (image.channels != 3)
        dualgrad::detail::raise<shape_error>("heatmap_overlay: the image has ", image.channels, " channels, 3 (RGB) expected");
    if (map.empty()) dualgrad::detail::raise<shape_error>("heatmap_overlay: the score map is empty");
    if (!(opts.alpha >= 0.f && opts.alpha <= 1.f))
        dualgrad::detail::raise<value_error>("heatmap_overlay: alpha is ", opts.alpha, "; it must be in [0, 1]");
    const ScoreMap m = normalize_minmax(dualgrad::resize(map, image.height, image.width, Interpolation::cubic));
    Image out = image;
    for (int y = 0; y < image.height; ++y)
        for (int x = 0; x < image.width; ++x) {
            const auto heat = jet_color(static_cast<std::uint8_t>(m(y, x) * 255.f));
            for (int c = 0; c < 3; ++c) {
                const float v = (1.f - opts.alpha) * image(y, x, c) + opts.alpha * heat[static_cast<std::size_t>(c)];
                out(y, x, c) = static_cast<std::uint8_t>(std::clamp(std::nearbyint(v), 0.f, 255.f));
            }
        }
    if (box) draw_box(out, *box, opts.box_color, opts.box_thickness);
    return out;
}


} // namespace dualgrad::io

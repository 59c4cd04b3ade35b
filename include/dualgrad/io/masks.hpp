#pragma once
/// \file
/// OpenImages ground-truth masks as wsolevaluation's `MaskEvaluator` builds them
/// (`evaluation.py`, `get_mask` and `load_mask_image`): for PxAP.
///
///     auto ds = dualgrad::io::read_wsol_metadata("metadata/OpenImages/test");
///     auto m = dualgrad::io::load_wsol_masks("OpenImages", ds.images[0]);   // 224 x 224
///     pxap.add(normalized_map, m.foreground, m.ignore);
///
/// For one image: every instance mask (`mask_paths`, relative to the mask root) is read as 8-bit
/// gray, resized to `height` x `width` with nearest neighbour (OpenCV's INTER_NEAREST:
/// source index `min(floor(d * (src / dst)), src - 1)`), and thresholded `> 0.5` (i.e. nonzero);
/// the foreground is their union. The ignore mask is read the same way, and the ignore region is
/// `ignore > 0.5 and not foreground`. wsolevaluation evaluates at 224 x 224, the default here.
/// A missing or undecodable mask file is an `io_error` naming it (via read_image).

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>

#include "dualgrad/error.hpp"
#include "dualgrad/io/datasets.hpp"
#include "dualgrad/io/image.hpp"
#include "dualgrad/map2d.hpp"

namespace dualgrad::io {

/// Resizes an 8-bit mask with OpenCV's INTER_NEAREST rule (see the file comment).
[[nodiscard]] inline Mask resize_nearest(const Mask& src, int height, int width) {
    if (src.empty()) dualgrad::detail::raise<shape_error>("resize_nearest: the source mask is empty");
    if (height <= 0 || width <= 0)
        dualgrad::detail::raise<shape_error>("resize_nearest: the target size ", height, "x", width, " must be positive");
    const double fy = static_cast<double>(src.height()) / height, fx = static_cast<double>(src.width()) / width;
    Mask out(height, width);
    for (int y = 0; y < height; ++y) {
        const int sy = std::min(static_cast<int>(std::floor(y * fy)), src.height() - 1);
        for (int x = 0; x < width; ++x) out(y, x) = src(sy, std::min(static_cast<int>(std::floor(x * fx)), src.width() - 1));
    }
    return out;
}

/// A foreground mask and an ignore mask, 0 or 1 per pixel.
struct WsolMasks {
    Mask foreground;
    Mask ignore;
};

/// Reads the mask file at `path` as 8-bit gray and resizes it (nearest) to `height` x `width`.
[[nodiscard]] inline Mask read_mask(const std::filesystem::path& path, int height, int width) {
    const Image img = read_image(path, 1);
    Mask m(img.height, img.width, std::span<const std::uint8_t>(img.pixels));
    return resize_nearest(m, height, width);
}

/// The foreground and ignore masks of `image` (see the file comment). The image must have at
/// least one mask path; an empty `ignore_path` gives an empty (all-zero) ignore region.
[[nodiscard]] inline WsolMasks load_wsol_masks(const std::filesystem::path& mask_root, const DatasetImage& image,
                                               int height = 224, int width = 224) {
    if (image.mask_paths.empty())
        dualgrad::detail::raise<value_error>("load_wsol_masks: image '", image.id, "' has no mask paths");
    WsolMasks out{Mask(height, width), Mask(height, width)};
    for (const auto& p : image.mask_paths) {
        const Mask m = read_mask(mask_root / p, height, width);
        for (std::size_t i = 0; i < m.size(); ++i)
            if (m.values()[i] != 0) out.foreground.values()[i] = 1;
    }
    if (!image.ignore_path.empty()) {
        const Mask ig = read_mask(mask_root / image.ignore_path, height, width);
        for (std::size_t i = 0; i < ig.size(); ++i)
            out.ignore.values()[i] = (ig.values()[i] != 0 && out.foreground.values()[i] == 0) ? 1 : 0;
    }
    return out;
}

} // namespace dualgrad::io

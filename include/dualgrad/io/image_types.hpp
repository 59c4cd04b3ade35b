#pragma once
/// \file
/// `io::Image`, dualgrad's 8-bit image (HWC, 1 to 4 channels), and `io::ImageInfo`, what a file's
/// header says about one. No codec here: io/image_codec.hpp reads and writes files,
/// io/preprocess.hpp turns images into network input, io/render.hpp draws.

#include <cstddef>
#include <cstdint>
#include <vector>

#include "dualgrad/error.hpp"

namespace dualgrad::io {

// --- the image type ----------------------------------------------------------------------------

/// An 8-bit image: `height` x `width` pixels of `channels` values (1 gray, 3 RGB, 4 RGBA),
/// row-major, channels interleaved (HWC).
struct Image {
    int height = 0;
    int width = 0;
    int channels = 0;
    std::vector<std::uint8_t> pixels;

    Image() = default;
    /// A `height` x `width` x `channels` image filled with `fill`.
    Image(int h, int w, int c, std::uint8_t fill = 0) : height(h), width(w), channels(c) {
        if (h < 0 || w < 0 || c < 1 || c > 4)
            dualgrad::detail::raise<shape_error>("Image: invalid size ", h, "x", w, "x", c,
                                                 " (channels must be 1 to 4)");
        pixels.assign(static_cast<std::size_t>(h) * static_cast<std::size_t>(w) * static_cast<std::size_t>(c), fill);
    }

    [[nodiscard]] bool empty() const noexcept { return pixels.empty(); }
    [[nodiscard]] std::uint8_t& operator()(int y, int x, int c) noexcept { return pixels[index(y, x, c)]; }
    [[nodiscard]] std::uint8_t operator()(int y, int x, int c) const noexcept { return pixels[index(y, x, c)]; }

    friend bool operator==(const Image&, const Image&) = default;

private:
    [[nodiscard]] std::size_t index(int y, int x, int c) const noexcept {
        return (static_cast<std::size_t>(y) * static_cast<std::size_t>(width) + static_cast<std::size_t>(x)) *
                   static_cast<std::size_t>(channels) +
               static_cast<std::size_t>(c);
    }
};

/// What an image file's header says, read without decoding the pixels.
struct ImageInfo {
    int height = 0;
    int width = 0;
    int channels = 0; ///< as stored: 1 gray, 2 gray + alpha, 3 RGB, 4 RGBA
};

} // namespace dualgrad::io

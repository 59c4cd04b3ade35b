#pragma once
/// \file
/// Images in and out: `read_image`, `decode_image`, `read_image_info`, `encode_png`, `write_png`.
///
///     auto img = dualgrad::io::read_image("bird.jpg");   // H x W x 3, uint8 RGB
///     dualgrad::io::write_png("bird.png", img);
///
/// Linking stb. This header declares stb's functions and never defines them. Debian's
/// `libstb-dev` ships them compiled (`libstb.so`, headers in /usr/include/stb): the
/// `dualgrad::dualgrad` target links it. With a header-only stb instead, define
/// `STB_IMAGE_IMPLEMENTATION` and `STB_IMAGE_WRITE_IMPLEMENTATION` in exactly one translation unit
/// of your program before including `<stb_image.h>` and `<stb_image_write.h>`.
///
/// Decoding: stb reads the file's bytes, which dualgrad reads itself (so a missing file is
/// reported as such, not as a decode failure). PNG (8 and 16 bit, 16 bit reduced to 8 by stb as
/// `v >> 8`), JPEG (baseline and progressive; no arithmetic coding, no 12-bit), and the other
/// formats stb knows (BMP, GIF first frame, TGA, PNM, PSD, HDR). EXIF orientation is ignored, as
/// PIL's `Image.open` (the PyTorch references) ignores it. JPEG pixels may differ from libjpeg's
/// (OpenCV, PIL) by a few levels: stb's IDCT and chroma upsampling are its own; PNG is exact.
/// Channel conversion is stb's: gray -> RGB replicates, RGBA -> RGB drops alpha (as PIL's
/// `convert('RGB')`), RGB -> gray is `(77 r + 150 g + 29 b) >> 8`.


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
#if __has_include(<stb_image.h>)
#include <stb_image.h>
#include <stb_image_write.h>
#elif __has_include(<stb/stb_image.h>)
#include <stb/stb_image.h>
#include <stb/stb_image_write.h>
#else
#error "dualgrad/io/image_codec.hpp needs stb_image.h and stb_image_write.h (Debian: libstb-dev)"
#endif


#include "dualgrad/error.hpp"
#include "dualgrad/io/detail/files.hpp"
#include "dualgrad/io/image_types.hpp"

namespace dualgrad::io {

namespace detail {

inline void check_channels(std::string_view who, int channels) {
    if (channels < 0 || channels > 4)
        dualgrad::detail::raise<value_error>(who, ": channels is ", channels,
                                             "; use 0 (as stored), 1 (gray), 2 (gray + alpha), 3 (RGB) or 4 (RGBA)");
}

struct StbFree {
    void operator()(unsigned char* p) const noexcept { stbi_image_free(p); }
};

} // namespace detail

// --- reading and writing -----------------------------------------------------------------------

/// Decodes an encoded image held in memory; `source` names it in errors. `channels`: 3 (RGB,
/// the default), 1, 2, 4, or 0 for the channels as stored. An undecodable image is an
/// `io_error` "<source>: cannot decode the image (stb_image: <reason>)".
[[nodiscard]] inline Image decode_image(std::span<const std::byte> bytes, std::string_view source = "<memory>",
                                        int channels = 3) {
    detail::check_channels("decode_image", channels);
    if (bytes.empty()) detail::fail_file(source, "cannot decode the image: the file is empty");
    if (bytes.size() > static_cast<std::size_t>(INT_MAX))
        detail::fail_file(source, "cannot decode the image: the file is larger than 2 GiB");
    int w = 0, h = 0, stored = 0;
    std::unique_ptr<unsigned char, detail::StbFree> data(
        stbi_load_from_memory(reinterpret_cast<const stbi_uc*>(bytes.data()), static_cast<int>(bytes.size()), &w, &h,
                              &stored, channels));
    if (!data) {
        const char* reason = stbi_failure_reason();
        detail::fail_file(source, "cannot decode the image (stb_image: ", reason ? reason : "unknown error", ")");
    }
    Image img;
    img.height = h;
    img.width = w;
    img.channels = channels == 0 ? stored : channels;
    const std::size_t n = static_cast<std::size_t>(h) * static_cast<std::size_t>(w) * static_cast<std::size_t>(img.channels);
    img.pixels.assign(data.get(), data.get() + n);
    return img;
}

/// Reads and decodes the image at `path` (see `decode_image`). A missing file is an
/// `io_error` "<path>: cannot open: no such file".
[[nodiscard]] inline Image read_image(const std::filesystem::path& path, int channels = 3) {
    detail::check_channels("read_image", channels);
    const auto bytes = detail::read_file_bytes(path);
    return decode_image(bytes, path.string(), channels);
}

/// The size and stored channels of the image at `path`, from its header only (stb_image's
/// `stbi_info`): how a dataset without `image_sizes.txt` gets its image sizes cheaply.
[[nodiscard]] inline ImageInfo read_image_info(const std::filesystem::path& path) {
    const std::string source = path.string();
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) detail::fail_file(source, "is a directory, not a file");
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        if (!std::filesystem::exists(path, ec)) detail::fail_file(source, "cannot open: no such file");
        detail::fail_file(source, "cannot open for reading");
    }
    stbi_io_callbacks cb{};
    cb.read = [](void* user, char* data, int size) -> int {
        auto& s = *static_cast<std::ifstream*>(user);
        s.read(data, size);
        return static_cast<int>(s.gcount());
    };
    cb.skip = [](void* user, int n) {
        auto& s = *static_cast<std::ifstream*>(user);
        s.clear();
        s.seekg(n, std::ios::cur);
    };
    cb.eof = [](void* user) -> int {
        auto& s = *static_cast<std::ifstream*>(user);
        return s.peek() == std::char_traits<char>::eof() ? 1 : 0;
    };
    ImageInfo info;
    if (!stbi_info_from_callbacks(&cb, &in, &info.width, &info.height, &info.channels)) {
        const char* reason = stbi_failure_reason();
        detail::fail_file(source, "cannot read the image header (stb_image: ", reason ? reason : "unknown error", ")");
    }
    return info;
}

/// Encodes `img` as PNG (stb_image_write, default compression).
[[nodiscard]] inline std::vector<std::byte> encode_png(const Image& img) {
    if (img.empty() || img.channels < 1 || img.channels > 4)
        dualgrad::detail::raise<shape_error>("encode_png: cannot encode an image of size ", img.height, "x", img.width,
                                             "x", img.channels);
    std::vector<std::byte> out;
    auto sink = [](void* context, void* data, int size) {
        auto& v = *static_cast<std::vector<std::byte>*>(context);
        const auto* p = static_cast<const std::byte*>(data);
        v.insert(v.end(), p, p + size);
    };
    if (!stbi_write_png_to_func(sink, &out, img.width, img.height, img.channels, img.pixels.data(),
                                img.width * img.channels))
        dualgrad::detail::raise<io_error>("encode_png: stb_image_write failed on a ", img.height, "x", img.width, "x",
                                          img.channels, " image");
    return out;
}

/// Writes `img` as a PNG file; failures are `io_error`s naming the file.
inline void write_png(const std::filesystem::path& path, const Image& img) {
    detail::write_file_bytes(path, encode_png(img));
}

} // namespace dualgrad::io

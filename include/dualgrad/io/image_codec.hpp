#pragma once
/// \file
/// Images in and out: `read_image`, `decode_image`, `read_image_info`, `encode_png`, `write_png`.
///
///     auto img = dualgrad::io::read_image("bird.jpg");   // H x W x 3, uint8 RGB
///     dualgrad::io::write_png("bird.png", img);
///
/// Part of the `dualgrad::image` CMake component, which links libspng (PNG) and libjpeg-turbo's
/// TurboJPEG API (JPEG); Debian: `libspng-dev`, `libturbojpeg0-dev`.
///
/// Formats. PNG and JPEG only, told apart by their first bytes (the PNG signature; the JPEG SOI
/// marker `FF D8 FF`), never by the file name. Anything else is refused with what its first bytes
/// are. PNG: every colour type and bit depth, interlaced or not; palette and tRNS transparency
/// expanded; 16-bit samples reduced to 8 as `v >> 8` (as OpenCV's and PIL's readers do); CRC
/// errors are errors. JPEG: baseline and progressive, 8-bit, gray or YCbCr (CMYK is refused),
/// decoded with libjpeg's accurate integer IDCT and fancy upsampling, the defaults of OpenCV and
/// PIL, so pixels equal theirs. A libjpeg warning (a truncated or corrupt stream, which libjpeg
/// would otherwise fill with gray) is an error. EXIF orientation is ignored, as PIL's
/// `Image.open` (the PyTorch references) ignores it.
///
/// Limits (`DecodeLimits`): the file's size, each side and the pixel count are checked against
/// the header before any pixel buffer is allocated; a progressive JPEG with an unreasonable number
/// of scans and PNG chunks over a size budget are refused. So a hostile file costs at most the
/// limits' memory and time, and the error names the file and the limit.
///
/// Channels: decode to the channels as stored (`channels = 0`) or convert: gray -> RGB replicates,
/// RGBA -> RGB drops alpha (as PIL's `convert('RGB')`), RGB -> gray is `(77 r + 150 g + 29 b) >> 8`,
/// gray + alpha -> gray drops alpha.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <spng.h>
#include <turbojpeg.h>

#include "dualgrad/error.hpp"
#include "dualgrad/io/detail/files.hpp"
#include "dualgrad/io/image_types.hpp"

namespace dualgrad::io {

/// What a decoder accepts before it allocates. The defaults admit a 134-megapixel image and
/// refuse a header that claims more; raise them for larger images.
struct DecodeLimits {
    std::uint64_t max_file_bytes = std::uint64_t{256} << 20; ///< 256 MiB
    std::uint32_t max_side = 1u << 15;                        ///< width and height, each
    std::uint64_t max_pixels = std::uint64_t{1} << 27;        ///< width * height (134 megapixels)
    std::size_t max_png_chunk_bytes = std::size_t{64} << 20;  ///< one chunk (IDAT pieces excepted)
    std::size_t max_png_chunk_cache = std::size_t{64} << 20;  ///< all ancillary chunks together
};

/// The encoded format of a byte string, from its first bytes.
enum class ImageFormat { png, jpeg, unknown };

/// Detects PNG (the 8-byte signature) or JPEG (`FF D8 FF`) from the first bytes.
[[nodiscard]] inline ImageFormat sniff_image_format(std::span<const std::byte> head) noexcept {
    static constexpr std::array<unsigned char, 8> png_sig{0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    auto at = [&](std::size_t i) { return static_cast<unsigned char>(head[i]); };
    if (head.size() >= png_sig.size() &&
        std::equal(png_sig.begin(), png_sig.end(), head.begin(),
                   [](unsigned char a, std::byte b) { return a == static_cast<unsigned char>(b); }))
        return ImageFormat::png;
    if (head.size() >= 3 && at(0) == 0xff && at(1) == 0xd8 && at(2) == 0xff) return ImageFormat::jpeg;
    return ImageFormat::unknown;
}

namespace detail {

inline void check_channels(std::string_view who, int channels) {
    if (channels < 0 || channels > 4)
        dualgrad::detail::raise<value_error>(who, ": channels is ", channels,
                                             "; use 0 (as stored), 1 (gray), 2 (gray + alpha), 3 (RGB) or 4 (RGBA)");
}

/// "starts with 47 49 46 38 (GIF8)": what an unrecognized file is, for the error.
[[nodiscard]] inline std::string describe_head(std::span<const std::byte> bytes) {
    static constexpr char hex[] = "0123456789abcdef";
    std::string out = "starts with";
    std::string text;
    for (std::size_t i = 0; i < std::min<std::size_t>(bytes.size(), 8); ++i) {
        const auto b = static_cast<unsigned char>(bytes[i]);
        out += ' ';
        out += hex[b >> 4];
        out += hex[b & 15];
        text += (b >= 0x20 && b < 0x7f) ? static_cast<char>(b) : '.';
    }
    return out + " (" + text + ")";
}

inline void check_size(std::string_view source, std::uint64_t width, std::uint64_t height,
                       const DecodeLimits& limits) {
    if (width == 0 || height == 0)
        fail_file(source, "cannot decode the image: its header gives a size of ", width, "x", height);
    if (width > limits.max_side || height > limits.max_side)
        fail_file(source, "cannot decode the image: ", width, "x", height, " exceeds the limit of ",
                  limits.max_side, " pixels a side (io::DecodeLimits::max_side)");
    if (width * height > limits.max_pixels)
        fail_file(source, "cannot decode the image: ", width, "x", height, " = ", width * height,
                  " pixels exceeds the limit of ", limits.max_pixels, " (io::DecodeLimits::max_pixels)");
}

/// Converts 8-bit pixels from `from` to `to` channels (both 1..4), as the header's notes say.
[[nodiscard]] inline std::vector<std::uint8_t> convert_channels(const std::vector<std::uint8_t>& in, int from,
                                                                int to) {
    if (from == to) return in;
    const std::size_t n = in.size() / static_cast<std::size_t>(from);
    std::vector<std::uint8_t> out(n * static_cast<std::size_t>(to));
    for (std::size_t i = 0; i < n; ++i) {
        const std::uint8_t* p = in.data() + i * static_cast<std::size_t>(from);
        std::uint8_t* q = out.data() + i * static_cast<std::size_t>(to);
        const bool gray_in = from <= 2;
        const std::uint8_t alpha = (from == 2 || from == 4) ? p[from - 1] : 255;
        if (to <= 2) {
            q[0] = gray_in ? p[0] : static_cast<std::uint8_t>((77 * p[0] + 150 * p[1] + 29 * p[2]) >> 8);
        } else {
            q[0] = p[0];
            q[1] = gray_in ? p[0] : p[1];
            q[2] = gray_in ? p[0] : p[2];
        }
        if (to == 2 || to == 4) q[to - 1] = alpha;
    }
    return out;
}

struct SpngFree {
    void operator()(spng_ctx* c) const noexcept { spng_ctx_free(c); }
};
struct TjFree {
    void operator()(void* h) const noexcept { tjDestroy(h); }
};

[[noreturn]] inline void fail_spng(std::string_view source, std::string_view doing, int err) {
    fail_file(source, doing, " (libspng: ", spng_strerror(err), ")");
}

[[nodiscard]] inline std::unique_ptr<spng_ctx, SpngFree> png_decoder(std::span<const std::byte> bytes,
                                                                     std::string_view source,
                                                                     const DecodeLimits& limits) {
    std::unique_ptr<spng_ctx, SpngFree> ctx(spng_ctx_new(0));
    if (!ctx) fail_file(source, "cannot decode the image: out of memory for the PNG decoder");
    // libspng's own size limit stays at the PNG maximum: check_size reports dualgrad's limits.
    if (int e = spng_set_image_limits(ctx.get(), 0x7fffffffu, 0x7fffffffu))
        fail_spng(source, "cannot set the PNG limits", e);
    if (int e = spng_set_chunk_limits(ctx.get(), limits.max_png_chunk_bytes, limits.max_png_chunk_cache))
        fail_spng(source, "cannot set the PNG limits", e);
    spng_set_crc_action(ctx.get(), SPNG_CRC_ERROR, SPNG_CRC_ERROR);
    if (int e = spng_set_png_buffer(ctx.get(), bytes.data(), bytes.size()))
        fail_spng(source, "cannot decode the image", e);
    return ctx;
}

/// The channels a PNG holds, from its header: gray 1, gray + alpha 2, RGB 3, RGBA 4; a palette
/// is 3, or 4 with a tRNS chunk.
[[nodiscard]] inline int png_stored_channels(spng_ctx* ctx, const spng_ihdr& ihdr) {
    switch (ihdr.color_type) {
    case SPNG_COLOR_TYPE_GRAYSCALE: return 1;
    case SPNG_COLOR_TYPE_GRAYSCALE_ALPHA: return 2;
    case SPNG_COLOR_TYPE_TRUECOLOR: return 3;
    case SPNG_COLOR_TYPE_TRUECOLOR_ALPHA: return 4;
    default: {
        spng_trns trns{};
        return spng_get_trns(ctx, &trns) == 0 ? 4 : 3;
    }
    }
}

[[nodiscard]] inline Image decode_png(std::span<const std::byte> bytes, std::string_view source, int channels,
                                      const DecodeLimits& limits) {
    auto ctx = png_decoder(bytes, source, limits);
    spng_ihdr ihdr{};
    if (int e = spng_get_ihdr(ctx.get(), &ihdr)) fail_spng(source, "cannot decode the image", e);
    check_size(source, ihdr.width, ihdr.height, limits);
    const int stored = png_stored_channels(ctx.get(), ihdr);
    // Gray images decode as gray (libspng's G8 takes depths up to 8, GA8 depth 8); all else as RGBA8.
    int fmt = SPNG_FMT_RGBA8, got = 4;
    if (ihdr.color_type == SPNG_COLOR_TYPE_GRAYSCALE && ihdr.bit_depth <= 8) {
        fmt = SPNG_FMT_G8;
        got = 1;
    } else if (ihdr.color_type == SPNG_COLOR_TYPE_GRAYSCALE_ALPHA && ihdr.bit_depth == 8) {
        fmt = SPNG_FMT_GA8;
        got = 2;
    }
    std::size_t size = 0;
    if (int e = spng_decoded_image_size(ctx.get(), fmt, &size)) fail_spng(source, "cannot decode the image", e);
    std::vector<std::uint8_t> pixels(size);
    if (int e = spng_decode_image(ctx.get(), pixels.data(), size, fmt, SPNG_DECODE_TRNS))
        fail_spng(source, "cannot decode the image", e);
    const int target = channels == 0 ? stored : channels;
    Image img;
    img.height = static_cast<int>(ihdr.height);
    img.width = static_cast<int>(ihdr.width);
    img.channels = target;
    // A 16-bit gray (+ alpha) image came as RGBA8 with R = G = B: back to its stored channels
    // first (exact), so that "as stored" keeps them.
    if (got == 4 && stored <= 2) {
        pixels = convert_channels(pixels, 4, stored);
        got = stored;
    }
    img.pixels = convert_channels(pixels, got, target);
    return img;
}

[[noreturn]] inline void fail_tj(std::string_view source, std::string_view doing, void* handle) {
    fail_file(source, doing, " (libjpeg-turbo: ", tjGetErrorStr2(handle), ")");
}

struct JpegHeader {
    int width = 0, height = 0, colorspace = 0;
};

[[nodiscard]] inline JpegHeader jpeg_header(void* handle, std::span<const std::byte> bytes, std::string_view source) {
    if (bytes.size() > std::numeric_limits<unsigned long>::max())
        fail_file(source, "cannot decode the image: the file is too large");
    JpegHeader h;
    int subsamp = 0;
    if (tjDecompressHeader3(handle, reinterpret_cast<const unsigned char*>(bytes.data()),
                            static_cast<unsigned long>(bytes.size()), &h.width, &h.height, &subsamp, &h.colorspace) != 0)
        fail_tj(source, "cannot decode the image", handle);
    if (h.width <= 0 || h.height <= 0)
        fail_file(source, "cannot decode the image: the JPEG ends before its frame header (is the file truncated?)");
    if (h.colorspace == TJCS_CMYK || h.colorspace == TJCS_YCCK)
        fail_file(source, "cannot decode the image: CMYK JPEGs are not supported; convert it to RGB");
    return h;
}

[[nodiscard]] inline Image decode_jpeg(std::span<const std::byte> bytes, std::string_view source, int channels,
                                       const DecodeLimits& limits) {
    std::unique_ptr<void, TjFree> handle(tjInitDecompress());
    if (!handle) fail_file(source, "cannot decode the image: the JPEG decoder failed to start");
    const auto h = jpeg_header(handle.get(), bytes, source);
    check_size(source, static_cast<std::uint64_t>(h.width), static_cast<std::uint64_t>(h.height), limits);
    const int stored = h.colorspace == TJCS_GRAY ? 1 : 3;
    const int target = channels == 0 ? stored : channels;
    const int decoded = (target <= 2 && stored == 1) ? 1 : 3;
    std::vector<std::uint8_t> pixels(static_cast<std::size_t>(h.width) * static_cast<std::size_t>(h.height) *
                                     static_cast<std::size_t>(decoded));
    const int flags = TJFLAG_ACCURATEDCT | TJFLAG_STOPONWARNING | TJFLAG_LIMITSCANS;
    if (tjDecompress2(handle.get(), reinterpret_cast<const unsigned char*>(bytes.data()),
                      static_cast<unsigned long>(bytes.size()), pixels.data(), h.width, 0, h.height,
                      decoded == 1 ? TJPF_GRAY : TJPF_RGB, flags) != 0)
        fail_tj(source, "cannot decode the image", handle.get());
    Image img;
    img.height = h.height;
    img.width = h.width;
    img.channels = target;
    img.pixels = convert_channels(pixels, decoded, target);
    return img;
}

} // namespace detail

// --- reading and writing -----------------------------------------------------------------------

/// Decodes a PNG or JPEG held in memory; `source` names it in errors. `channels`: 3 (RGB, the
/// default), 1, 2, 4, or 0 for the channels as stored. Errors are `io_error`s
/// "<source>: cannot decode the image ...", with the decoder's reason or the limit exceeded.
[[nodiscard]] inline Image decode_image(std::span<const std::byte> bytes, std::string_view source = "<memory>",
                                        int channels = 3, const DecodeLimits& limits = {}) {
    detail::check_channels("decode_image", channels);
    if (bytes.empty()) detail::fail_file(source, "cannot decode the image: the file is empty");
    if (bytes.size() > limits.max_file_bytes)
        detail::fail_file(source, "cannot decode the image: ", bytes.size(), " bytes exceeds the limit of ",
                          limits.max_file_bytes, " (io::DecodeLimits::max_file_bytes)");
    switch (sniff_image_format(bytes)) {
    case ImageFormat::png: return detail::decode_png(bytes, source, channels, limits);
    case ImageFormat::jpeg: return detail::decode_jpeg(bytes, source, channels, limits);
    case ImageFormat::unknown: break;
    }
    detail::fail_file(source, "cannot decode the image: not a PNG or JPEG file (it ", detail::describe_head(bytes),
                      ")");
}

/// Reads and decodes the image at `path` (see `decode_image`). A missing file is an
/// `io_error` "<path>: cannot open: no such file"; a file over `limits.max_file_bytes` is refused
/// before it is read.
[[nodiscard]] inline Image read_image(const std::filesystem::path& path, int channels = 3,
                                      const DecodeLimits& limits = {}) {
    detail::check_channels("read_image", channels);
    const auto bytes = detail::read_file_bytes(path, limits.max_file_bytes);
    return decode_image(bytes, path.string(), channels, limits);
}

/// The size and stored channels of an encoded PNG or JPEG, from its header only.
[[nodiscard]] inline ImageInfo decode_image_info(std::span<const std::byte> bytes, std::string_view source) {
    ImageInfo info;
    switch (sniff_image_format(bytes)) {
    case ImageFormat::png: {
        const DecodeLimits limits;
        auto ctx = detail::png_decoder(bytes, source, limits);
        spng_ihdr ihdr{};
        if (int e = spng_get_ihdr(ctx.get(), &ihdr)) detail::fail_spng(source, "cannot read the image header", e);
        info.width = static_cast<int>(ihdr.width);
        info.height = static_cast<int>(ihdr.height);
        info.channels = detail::png_stored_channels(ctx.get(), ihdr);
        return info;
    }
    case ImageFormat::jpeg: {
        std::unique_ptr<void, detail::TjFree> handle(tjInitDecompress());
        if (!handle) detail::fail_file(source, "cannot read the image header: the JPEG decoder failed to start");
        const auto h = detail::jpeg_header(handle.get(), bytes, source);
        info.width = h.width;
        info.height = h.height;
        info.channels = h.colorspace == TJCS_GRAY ? 1 : 3;
        return info;
    }
    case ImageFormat::unknown: break;
    }
    detail::fail_file(source, "cannot read the image header: not a PNG or JPEG file (it ",
                      detail::describe_head(bytes), ")");
}

/// The size and stored channels of the image at `path`, from its first 1 MiB at most (enough for
/// the headers of PNG and of JPEG without a huge EXIF block): how a dataset without
/// `image_sizes.txt` gets its image sizes cheaply.
[[nodiscard]] inline ImageInfo read_image_info(const std::filesystem::path& path) {
    const std::string source = path.string();
    detail::check_regular_file(path, source);
    std::ifstream in(path, std::ios::binary);
    if (!in) detail::fail_file(source, "cannot open for reading");
    std::vector<std::byte> head(std::size_t{1} << 20);
    in.read(reinterpret_cast<char*>(head.data()), static_cast<std::streamsize>(head.size()));
    head.resize(static_cast<std::size_t>(in.gcount()));
    if (head.empty()) detail::fail_file(source, "cannot read the image header: the file is empty");
    return decode_image_info(head, source);
}

/// Encodes `img` (8-bit, 1 to 4 channels) as PNG with libspng: adaptive row filters (each row
/// takes the filter libspng's heuristic picks), zlib level 6.
[[nodiscard]] inline std::vector<std::byte> encode_png(const Image& img) {
    if (img.empty() || img.channels < 1 || img.channels > 4)
        dualgrad::detail::raise<shape_error>("encode_png: cannot encode an image of size ", img.height, "x", img.width,
                                             "x", img.channels);
    std::unique_ptr<spng_ctx, detail::SpngFree> ctx(spng_ctx_new(SPNG_CTX_ENCODER));
    if (!ctx) dualgrad::detail::raise<io_error>("encode_png: out of memory for the PNG encoder");
    auto check = [&](int e) {
        if (e != 0)
            dualgrad::detail::raise<io_error>("encode_png: libspng failed on a ", img.height, "x", img.width, "x",
                                              img.channels, " image (", spng_strerror(e), ")");
    };
    check(spng_set_option(ctx.get(), SPNG_ENCODE_TO_BUFFER, 1));
    check(spng_set_option(ctx.get(), SPNG_FILTER_CHOICE, SPNG_FILTER_CHOICE_ALL));
    check(spng_set_option(ctx.get(), SPNG_IMG_COMPRESSION_LEVEL, 6));
    static constexpr std::array<std::uint8_t, 5> color_type{0, SPNG_COLOR_TYPE_GRAYSCALE,
                                                            SPNG_COLOR_TYPE_GRAYSCALE_ALPHA, SPNG_COLOR_TYPE_TRUECOLOR,
                                                            SPNG_COLOR_TYPE_TRUECOLOR_ALPHA};
    spng_ihdr ihdr{};
    ihdr.width = static_cast<std::uint32_t>(img.width);
    ihdr.height = static_cast<std::uint32_t>(img.height);
    ihdr.bit_depth = 8;
    ihdr.color_type = color_type[static_cast<std::size_t>(img.channels)];
    check(spng_set_ihdr(ctx.get(), &ihdr));
    check(spng_encode_image(ctx.get(), img.pixels.data(), img.pixels.size(), SPNG_FMT_PNG, SPNG_ENCODE_FINALIZE));
    std::size_t len = 0;
    int err = 0;
    std::unique_ptr<void, decltype(&std::free)> buffer(spng_get_png_buffer(ctx.get(), &len, &err), &std::free);
    check(err);
    if (!buffer) check(SPNG_EINTERNAL);
    const auto* p = static_cast<const std::byte*>(buffer.get());
    return std::vector<std::byte>(p, p + len);
}

/// Writes `img` as a PNG file, atomically; failures are `io_error`s naming the file.
inline void write_png(const std::filesystem::path& path, const Image& img) {
    detail::write_file_bytes(path, encode_png(img));
}

} // namespace dualgrad::io

#pragma once
/// \file
/// A PNG encoder on zlib, for writing datasets. stb_image_write (io/image.hpp's encoder) deflates
/// with fixed Huffman codes and no row-filter choice; on FashionLoc's noisy canvases its files
/// are about 40% larger than these (adaptive row filters, zlib's dynamic Huffman codes), which
/// matters for tens of thousands of images. Decoding stays with io/image.hpp.

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <initializer_list>
#include <span>
#include <string_view>
#include <vector>

#include <zlib.h>

#include "dualgrad/error.hpp"
#include "dualgrad/io/detail/files.hpp"
#include "dualgrad/io/image_types.hpp"

namespace dualgrad::datasets::detail {

inline void png_put32(std::vector<std::byte>& out, std::uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<std::byte>((v >> shift) & 0xffu));
}

inline void png_chunk(std::vector<std::byte>& out, std::string_view type, std::span<const std::byte> data) {
    png_put32(out, static_cast<std::uint32_t>(data.size()));
    const std::size_t start = out.size();
    for (char c : type) out.push_back(static_cast<std::byte>(c));
    out.insert(out.end(), data.begin(), data.end());
    const auto* p = reinterpret_cast<const Bytef*>(out.data() + start);
    png_put32(out, static_cast<std::uint32_t>(crc32(0L, p, static_cast<uInt>(out.size() - start))));
}

/// The Paeth predictor of the PNG specification.
[[nodiscard]] constexpr int png_paeth(int a, int b, int c) noexcept {
    const int p = a + b - c;
    const int pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - c);
    return (pa <= pb && pa <= pc) ? a : (pb <= pc ? b : c);
}

/// Encodes an 8-bit gray (1 channel) or RGB (3 channels) image as PNG. Each row takes the filter
/// (None, Sub, Up, Average, Paeth) whose output has the smallest sum of absolute values, the
/// heuristic the PNG specification recommends; the filtered rows are deflated at `level` (0..9).
[[nodiscard]] inline std::vector<std::byte> encode_png_zlib(const io::Image& img, int level = 6) {
    if (img.empty() || (img.channels != 1 && img.channels != 3))
        dualgrad::detail::raise<shape_error>("encode_png: a ", img.height, "x", img.width, "x", img.channels,
                                             " image is not a non-empty gray or RGB image");
    const auto bpp = static_cast<std::size_t>(img.channels);
    const std::size_t stride = static_cast<std::size_t>(img.width) * bpp;
    std::vector<std::uint8_t> filtered;
    filtered.reserve((stride + 1) * static_cast<std::size_t>(img.height));
    std::vector<std::uint8_t> zero(stride, 0);
    std::array<std::vector<std::uint8_t>, 5> candidates;
    for (auto& c : candidates) c.resize(stride);
    for (int y = 0; y < img.height; ++y) {
        const std::uint8_t* row = img.pixels.data() + static_cast<std::size_t>(y) * stride;
        const std::uint8_t* up = y > 0 ? row - stride : zero.data();
        for (std::size_t i = 0; i < stride; ++i) {
            const int a = i >= bpp ? row[i - bpp] : 0, b = up[i], c = i >= bpp ? up[i - bpp] : 0;
            candidates[0][i] = row[i];
            candidates[1][i] = static_cast<std::uint8_t>(row[i] - a);
            candidates[2][i] = static_cast<std::uint8_t>(row[i] - b);
            candidates[3][i] = static_cast<std::uint8_t>(row[i] - (a + b) / 2);
            candidates[4][i] = static_cast<std::uint8_t>(row[i] - png_paeth(a, b, c));
        }
        std::size_t best = 0;
        long best_cost = -1;
        for (std::size_t f = 0; f < candidates.size(); ++f) {
            long cost = 0;
            for (std::uint8_t v : candidates[f]) cost += v < 128 ? v : 256 - v;
            if (best_cost < 0 || cost < best_cost) {
                best_cost = cost;
                best = f;
            }
        }
        filtered.push_back(static_cast<std::uint8_t>(best));
        filtered.insert(filtered.end(), candidates[best].begin(), candidates[best].end());
    }
    uLongf compressed_size = compressBound(static_cast<uLong>(filtered.size()));
    std::vector<std::byte> compressed(compressed_size);
    if (compress2(reinterpret_cast<Bytef*>(compressed.data()), &compressed_size, filtered.data(),
                  static_cast<uLong>(filtered.size()), level) != Z_OK)
        dualgrad::detail::raise<io_error>("encode_png: zlib failed to compress a ", img.height, "x", img.width,
                                          " image");
    compressed.resize(compressed_size);

    std::vector<std::byte> out;
    for (int b : {0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a}) out.push_back(static_cast<std::byte>(b)); // \x89 PNG \r \n \x1a \n
    std::vector<std::byte> header;
    png_put32(header, static_cast<std::uint32_t>(img.width));
    png_put32(header, static_cast<std::uint32_t>(img.height));
    // bit depth 8; colour type 0 (gray) or 2 (RGB); deflate; adaptive filtering; no interlace.
    for (int b : {8, img.channels == 1 ? 0 : 2, 0, 0, 0}) header.push_back(static_cast<std::byte>(b));
    png_chunk(out, "IHDR", header);
    png_chunk(out, "IDAT", compressed);
    png_chunk(out, "IEND", {});
    return out;
}

/// Writes `img` as a PNG file (see `encode_png_zlib`); failures are `io_error`s naming the file.
inline void write_png_zlib(const std::filesystem::path& path, const io::Image& img, int level = 6) {
    io::detail::write_file_bytes(path, encode_png_zlib(img, level));
}

} // namespace dualgrad::datasets::detail

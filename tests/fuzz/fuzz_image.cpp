// libFuzzer harness: PNG (libspng) and JPEG (TurboJPEG) decoding, io/image_codec.hpp.
//
// Runs decode_image_info and decode_image (channels as stored) on the input. An image that
// decodes, and is small, is also decoded to another channel count and round-tripped through
// encode_png: PNG is lossless, so decoding the encoded bytes must give the same image.
//
// Note: libspng and libjpeg-turbo are the system's (not instrumented), so coverage guidance sees
// dualgrad's code and the libraries' entry points only, and ASan checks the libraries' memory
// accesses only through its interceptors (memcpy, ...).

#include <cstddef>
#include <cstdint>
#include <string>

#include "dualgrad/io/image_codec.hpp"
#include "fuzz_common.hpp"

namespace {

dualgrad::io::DecodeLimits fuzz_limits() {
    dualgrad::io::DecodeLimits l;
    l.max_pixels = std::uint64_t{1} << 22; // 4 megapixels: a legitimate large image must not exhaust -rss_limit_mb
    l.max_side = 1u << 14;
    l.max_png_chunk_bytes = std::size_t{4} << 20;
    l.max_png_chunk_cache = std::size_t{8} << 20;
    return l;
}

void run(const std::uint8_t* data, std::size_t size) {
    namespace io = dualgrad::io;
    const auto bytes = dualgrad_fuzz::as_bytes(data, size);
    const auto limits = fuzz_limits();

    io::ImageInfo info{};
    bool have_info = false;
    try {
        info = io::decode_image_info(bytes, "<fuzz>");
        have_info = true;
    } catch (const dualgrad::error&) {
    }

    const io::Image img = io::decode_image(bytes, "<fuzz>", 0, limits);
    if (img.channels < 1 || img.channels > 4 ||
        img.pixels.size() != static_cast<std::size_t>(img.height) * static_cast<std::size_t>(img.width) *
                                 static_cast<std::size_t>(img.channels))
        dualgrad_fuzz::property_failure("image", "decode_image returned an inconsistent image " +
                                                     std::to_string(img.height) + "x" + std::to_string(img.width) + "x" +
                                                     std::to_string(img.channels) + " with " +
                                                     std::to_string(img.pixels.size()) + " bytes");
    if (have_info && (info.width != img.width || info.height != img.height || info.channels != img.channels))
        dualgrad_fuzz::property_failure("image", "decode_image_info says " + std::to_string(info.height) + "x" +
                                                     std::to_string(info.width) + "x" + std::to_string(info.channels) +
                                                     ", decode_image gave " + std::to_string(img.height) + "x" +
                                                     std::to_string(img.width) + "x" + std::to_string(img.channels));

    if (img.pixels.size() > (std::size_t{1} << 16)) return; // keep the executions fast

    // Channel conversions (1, 2, 3, 4: one chosen by the input size).
    const int other = 1 + static_cast<int>(size % 4);
    const io::Image conv = io::decode_image(bytes, "<fuzz>", other, limits);
    if (conv.channels != other || conv.width != img.width || conv.height != img.height)
        dualgrad_fuzz::property_failure("image", "decoding to " + std::to_string(other) + " channels gave " +
                                                     std::to_string(conv.channels));

    // PNG round trip.
    const auto png = io::encode_png(img);
    io::Image back;
    try {
        back = io::decode_image(png, "<encoded>", 0, limits);
    } catch (const dualgrad::error& e) {
        dualgrad_fuzz::property_failure("image", std::string("encode_png output does not decode: ") + e.what());
    }
    if (!(back == img)) dualgrad_fuzz::property_failure("image", "encode_png then decode_image changed the image");
}

} // namespace

DUALGRAD_FUZZ_TARGET(run)

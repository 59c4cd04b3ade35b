// Image decoding (libspng, TurboJPEG) against OpenCV's decode of the same files, PNG writing, the preprocessing
// (bilinear resize against cv2.resize, ImageNet normalization, 10-crop geometry, mapping crop maps
// back), the JET colormap against cv2.applyColorMap, and the bad-input errors. Fixtures:
// tools/fixtures/make_io_fixtures.py.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "temp_files.hpp"

#include <dualgrad/io/image.hpp>
#include <dualgrad/io/masks.hpp>
#include <dualgrad/io/npy.hpp>

using namespace dualgrad;
using Catch::Matchers::Contains;

namespace {

using dgtest::io_error_of;
using dgtest::TempDir;

const std::filesystem::path kDir = std::filesystem::path(DUALGRAD_FIXTURES_DIR) / "images";



/// OpenCV's decode of a fixture, as stored in <name>.npy ([H, W] or [H, W, C], uint8).
io::Image oracle(const std::string& npy) {
    const auto a = io::read_npy(kDir / npy);
    const auto v = a.as_int64();
    io::Image img(static_cast<int>(a.shape()[0]), static_cast<int>(a.shape()[1]),
                  a.rank() == 3 ? static_cast<int>(a.shape()[2]) : 1);
    for (std::size_t i = 0; i < v.size(); ++i) img.pixels[i] = static_cast<std::uint8_t>(v[i]);
    return img;
}

} // namespace

TEST_CASE("image: PNG decodes exactly as OpenCV decodes it", "[io][image]") {
    for (const auto& [file, npy] : {std::pair{"rgb.png", "rgb_png.npy"}, std::pair{"gray.png", "gray_png.npy"},
                                    std::pair{"rgba.png", "rgba_png.npy"}}) {
        INFO(file);
        const auto img = io::read_image(kDir / file, 0); // as stored
        CHECK(img == oracle(npy));
    }
    // Channel conversions: gray -> RGB replicates, RGBA -> RGB drops alpha.
    const auto gray = io::read_image(kDir / "gray.png", 3);
    const auto g = oracle("gray_png.npy");
    REQUIRE(gray.channels == 3);
    for (int y = 0; y < g.height; ++y)
        for (int x = 0; x < g.width; ++x)
            for (int c = 0; c < 3; ++c) CHECK(gray(y, x, c) == g(y, x, 0));
    CHECK(io::read_image(kDir / "rgba.png") == io::read_image(kDir / "rgb.png"));
}

TEST_CASE("image: JPEG decodes exactly as OpenCV's libjpeg decodes it", "[io][image]") {
    // Accurate integer IDCT and fancy upsampling, as libjpeg's defaults (OpenCV, PIL): equal pixels.
    CHECK(io::read_image(kDir / "rgb.jpg") == oracle("rgb_jpg.npy"));
    const auto gray = io::read_image(kDir / "gray.jpg", 0);
    CHECK(gray.channels == 1);
    CHECK(gray == oracle("gray_jpg.npy"));
    CHECK(io::read_image(kDir / "photo.jpg") == oracle("photo_jpg.npy"));             // 4:2:0, quality 75
    CHECK(io::read_image(kDir / "progressive.jpg") == oracle("progressive_jpg.npy")); // progressive
}

TEST_CASE("image: 16-bit PNGs reduce to 8 bits as OpenCV reduces them", "[io][image]") {
    CHECK(io::read_image(kDir / "rgb16.png") == oracle("rgb16_png.npy"));
    const auto gray = io::read_image(kDir / "gray16.png", 0);
    CHECK(gray.channels == 1);
    CHECK(gray == oracle("gray16_png.npy"));
}

TEST_CASE("image: the format comes from the first bytes, and only PNG and JPEG are read", "[io][image][errors]") {
    // A JPEG under a .png name decodes as JPEG; a GIF under a .png name is refused, naming its bytes.
    TempDir tmp;
    std::filesystem::copy_file(kDir / "rgb.jpg", tmp.path / "really_a_jpeg.png");
    CHECK(io::read_image(tmp.path / "really_a_jpeg.png") == oracle("rgb_jpg.npy"));
    CHECK_THAT(io_error_of([] { (void)io::read_image(kDir / "gif_bytes.png"); }),
               Contains("gif_bytes.png: cannot decode the image: not a PNG or JPEG file (it starts with 47 49 46 38 "
                        "39 61 01 00 (GIF89a..))"));
}

TEST_CASE("image: limits are checked against the header before any pixel is allocated", "[io][image][errors]") {
    // The header claims 100000 x 100000 RGBA (40 GB); the file is 33 bytes.
    CHECK_THAT(io_error_of([] { (void)io::read_image(kDir / "huge_header.png"); }),
               Contains("huge_header.png: cannot decode the image: 100000x100000 exceeds the limit of 32768 pixels "
                        "a side"));
    const auto info = io::read_image_info(kDir / "huge_header.png");
    CHECK(info.width == 100000);
    CHECK(info.height == 100000);
    io::DecodeLimits small;
    small.max_pixels = 17 * 23 - 1;
    CHECK_THAT(io_error_of([&] { (void)io::read_image(kDir / "rgb.jpg", 3, small); }),
               Contains("rgb.jpg: cannot decode the image: 23x17 = 391 pixels exceeds the limit of 390"));
    CHECK_THAT(io_error_of([&] { (void)io::read_image(kDir / "rgb.png", 3, small); }),
               Contains("rgb.png: cannot decode the image: 23x17 = 391 pixels exceeds the limit of 390"));
    small = {};
    small.max_side = 22;
    CHECK_THAT(io_error_of([&] { (void)io::read_image(kDir / "rgb.png", 3, small); }), Contains("max_side"));
    small = {};
    small.max_file_bytes = 64;
    CHECK_THAT(io_error_of([&] { (void)io::read_image(kDir / "rgb.jpg", 3, small); }),
               Contains("over the limit of 64 bytes"));
}

TEST_CASE("image: devices and FIFOs are refused rather than read", "[io][image][errors]") {
    CHECK_THAT(io_error_of([] { (void)io::read_image("/dev/zero"); }), Contains("/dev/zero: is not a regular file"));
    CHECK_THAT(io_error_of([] { (void)io::read_image_info("/dev/zero"); }),
               Contains("/dev/zero: is not a regular file"));
}

TEST_CASE("image: header-only size query", "[io][image]") {
    const auto info = io::read_image_info(kDir / "rgb.jpg");
    CHECK(info.height == 17);
    CHECK(info.width == 23);
    CHECK(info.channels == 3);
    CHECK(io::read_image_info(kDir / "rgba.png").channels == 4);
    CHECK_THAT(io_error_of([] { (void)io::read_image_info(kDir / "not_an_image.png"); }),
               Contains("not_an_image.png: cannot read the image header: not a PNG or JPEG file"));
    CHECK_THAT(io_error_of([] { (void)io::read_image_info(kDir / "missing.png"); }), Contains("no such file"));
}

TEST_CASE("image: a missing or undecodable image names the file and the reason", "[io][image][errors]") {
    const auto missing = kDir / "no_such_image.jpg";
    CHECK_THAT(io_error_of([&] { (void)io::read_image(missing); }),
               Contains(missing.string() + ": cannot open: no such file"));
    CHECK_THAT(io_error_of([] { (void)io::read_image(kDir / "not_an_image.png"); }),
               Contains("not_an_image.png: cannot decode the image: not a PNG or JPEG file (it starts with 74 68 69 "
                        "73 20 69 73 20 (this is ))"));
    CHECK_THAT(io_error_of([] { (void)io::read_image(kDir / "truncated.jpg"); }),
               Contains("truncated.jpg: cannot decode the image: the JPEG ends before its frame header (is the "
                        "file truncated?)"));
    // Cut inside the entropy-coded data: libjpeg would warn and fill the rest with gray; it is an error.
    TempDir cut;
    auto bytes = dualgrad::io::detail::read_file_bytes(kDir / "photo.jpg");
    bytes.resize(bytes.size() * 3 / 5);
    dualgrad::io::detail::write_file_bytes(cut.path / "cut.jpg", bytes);
    CHECK_THAT(io_error_of([&] { (void)io::read_image(cut.path / "cut.jpg"); }),
               Contains("cut.jpg: cannot decode the image (libjpeg-turbo: "));
    // A PNG cut short, and one with a flipped byte (its CRC catches it).
    bytes = dualgrad::io::detail::read_file_bytes(kDir / "rgb.png");
    auto png_cut = bytes;
    png_cut.resize(png_cut.size() / 2);
    dualgrad::io::detail::write_file_bytes(cut.path / "cut.png", png_cut);
    CHECK_THAT(io_error_of([&] { (void)io::read_image(cut.path / "cut.png"); }),
               Contains("cut.png: cannot decode the image (libspng: "));
    bytes[bytes.size() / 2] ^= std::byte{0x40};
    dualgrad::io::detail::write_file_bytes(cut.path / "flipped.png", bytes);
    CHECK_THAT(io_error_of([&] { (void)io::read_image(cut.path / "flipped.png"); }),
               Contains("flipped.png: cannot decode the image (libspng: "));
    CHECK_THAT(io_error_of([] { (void)io::read_image(kDir); }), Contains("is a directory"));
    TempDir tmp;
    std::ofstream(tmp.path / "empty.png").close();
    CHECK_THAT(io_error_of([&] { (void)io::read_image(tmp.path / "empty.png"); }), Contains("the file is empty"));
    CHECK_THROWS_AS(io::read_image(kDir / "rgb.png", 5), value_error);
}

TEST_CASE("image: PNG writing round-trips exactly", "[io][image]") {
    TempDir tmp;
    for (const char* name : {"rgb.png", "gray.png", "rgba.png"}) {
        INFO(name);
        const auto img = io::read_image(kDir / name, 0);
        io::write_png(tmp.path / "out.png", img);
        CHECK(io::read_image(tmp.path / "out.png", 0) == img);
    }
    CHECK_THAT(io_error_of([&] { io::write_png(tmp.path / "nodir" / "x.png", io::Image(2, 2, 3)); }),
               Contains("x.png: cannot open for writing"));
}

TEST_CASE("image: JET colormap equals cv2.applyColorMap(COLORMAP_JET) on all 256 values", "[io][image]") {
    const auto lut = io::read_npy(kDir / "jet_lut.npy").as_int64();
    REQUIRE(lut.size() == 256 * 3);
    for (int v = 0; v < 256; ++v) {
        const auto c = io::jet_color(static_cast<std::uint8_t>(v));
        INFO("value " << v);
        CHECK(int{c[0]} == lut[static_cast<std::size_t>(3 * v)]);
        CHECK(int{c[1]} == lut[static_cast<std::size_t>(3 * v + 1)]);
        CHECK(int{c[2]} == lut[static_cast<std::size_t>(3 * v + 2)]);
    }
}

TEST_CASE("image: preprocess = cv2.resize(float32, INTER_LINEAR) then ImageNet normalization", "[io][image]") {
    const auto img = io::read_image(kDir / "rgb.png");
    const auto ref = io::read_npy_float(kDir / "rgb_resized_31x9.npy", 3); // [31, 9, 3]
    const auto t = io::preprocess(img, {.height = 31, .width = 9});
    CHECK(t.shape == std::array<std::int64_t, 4>{1, 3, 31, 9});
    const float mean[3] = {0.485f, 0.456f, 0.406f}, stdv[3] = {0.229f, 0.224f, 0.225f};
    float worst = 0;
    for (int c = 0; c < 3; ++c)
        for (int y = 0; y < 31; ++y)
            for (int x = 0; x < 9; ++x) {
                const float want = (ref.values[static_cast<std::size_t>((y * 9 + x) * 3 + c)] / 255.f - mean[c]) / stdv[c];
                const float got = t.values[static_cast<std::size_t>((c * 31 + y) * 9 + x)];
                worst = std::max(worst, std::abs(got - want));
            }
    CHECK(worst < 1e-5f);

    // The 8-bit resize is the same resize rounded to the nearest level.
    const auto small = io::resize_image(img, 31, 9);
    for (int y = 0; y < 31; ++y)
        for (int x = 0; x < 9; ++x)
            for (int c = 0; c < 3; ++c)
                CHECK(std::abs(small(y, x, c) - ref.values[static_cast<std::size_t>((y * 9 + x) * 3 + c)]) <= 0.5f + 1e-3f);

    // A batch of two without resizing, and a size mismatch.
    const std::vector<io::Image> two{img, img};
    const auto b = io::preprocess(two, {.resize = false});
    CHECK(b.shape == std::array<std::int64_t, 4>{2, 3, 17, 23});
    CHECK(b.values[0] == Approx((img(0, 0, 0) / 255.f - 0.485f) / 0.229f));
    const std::vector<io::Image> mixed{img, io::Image(4, 4, 3)};
    CHECK_THROWS_AS(io::preprocess(mixed, {.resize = false}), shape_error);
    CHECK_THROWS_AS(io::preprocess(io::read_image(kDir / "gray.png", 1)), shape_error);
}

TEST_CASE("image: 10-crop geometry follows torchvision's TenCrop", "[io][image]") {
    const auto g = io::ten_crop_geometry(256, 256, 224, 224);
    using G = io::CropGeometry;
    CHECK(g[0] == G{0, 0, 224, 224, false});
    CHECK(g[1] == G{0, 32, 224, 224, false});
    CHECK(g[2] == G{32, 0, 224, 224, false});
    CHECK(g[3] == G{32, 32, 224, 224, false});
    CHECK(g[4] == G{16, 16, 224, 224, false});
    // Crops of the mirror image: its top-left corner is the image's top-right corner, mirrored.
    CHECK(g[5] == G{0, 32, 224, 224, true});
    CHECK(g[6] == G{0, 0, 224, 224, true});
    CHECK(g[7] == G{32, 32, 224, 224, true});
    CHECK(g[8] == G{32, 0, 224, 224, true});
    CHECK(g[9] == G{16, 16, 224, 224, true});
    // Centre: Python's round, half to even: round(1.5) = 2, round(2.5) = 2.
    const auto odd = io::ten_crop_geometry(7, 10, 4, 5);
    CHECK(odd[4] == G{2, 2, 4, 5, false});
    CHECK(odd[9] == G{2, 3, 4, 5, true}); // mirror's centre at column 2 -> image columns [3, 8)
    CHECK_THROWS_AS(io::ten_crop_geometry(200, 256, 224, 224), value_error);
}

TEST_CASE("image: 10-crop pixels come from the geometry, flips mirrored", "[io][image]") {
    // A 12 x 10 image resized to its own size (a copy), crops of 8 x 6.
    io::Image img(12, 10, 3);
    for (int y = 0; y < 12; ++y)
        for (int x = 0; x < 10; ++x)
            for (int c = 0; c < 3; ++c) img(y, x, c) = static_cast<std::uint8_t>(y * 20 + x * 2 + c);
    const io::Normalization norm{{0.f, 0.f, 0.f}, {1.f, 1.f, 1.f}};
    const auto tc = io::ten_crop(img, {.resize_height = 12, .resize_width = 10, .crop_height = 8, .crop_width = 6, .norm = norm});
    CHECK(tc.batch.shape == std::array<std::int64_t, 4>{10, 3, 8, 6});
    for (std::size_t i = 0; i < 10; ++i) {
        const auto& g = tc.crops[i];
        const auto s = tc.batch.sample(static_cast<std::int64_t>(i));
        for (int c = 0; c < 3; ++c)
            for (int y = 0; y < 8; ++y)
                for (int x = 0; x < 6; ++x) {
                    const int sx = g.flipped ? g.left + g.width - 1 - x : g.left + x;
                    CHECK(s[static_cast<std::size_t>((c * 8 + y) * 6 + x)] == img(g.top + y, sx, c) / 255.f);
                }
    }
}

TEST_CASE("image: crop maps go back to image coordinates before averaging", "[io][image]") {
    const auto crops = io::ten_crop_geometry(12, 10, 8, 6);
    // Each crop's map is the crop of one global map G (mirrored for flipped crops): the average
    // gives G back exactly.
    ScoreMap global(12, 10);
    for (int y = 0; y < 12; ++y)
        for (int x = 0; x < 10; ++x) global(y, x) = static_cast<float>(y * 10 + x) * 0.25f;
    std::vector<ScoreMap> maps;
    for (const auto& g : crops) {
        ScoreMap m(g.height, g.width);
        for (int y = 0; y < g.height; ++y)
            for (int x = 0; x < g.width; ++x) m(y, x) = global(g.top + y, g.flipped ? g.left + g.width - 1 - x : g.left + x);
        maps.push_back(m);
    }
    CHECK(io::average_crop_maps(maps, crops, 12, 10) == global);

    // Constant maps of any size: pixel (0, 0) is covered by crop 0 (top-left) and crop 6 (the
    // mirror's top-right corner), so it averages 1 and 7.
    std::vector<ScoreMap> constant;
    for (int i = 0; i < 10; ++i) constant.emplace_back(2, 3, static_cast<float>(i + 1));
    const auto avg = io::average_crop_maps(constant, crops, 12, 10);
    CHECK(avg(0, 0) == 4.f);
    // Pixel (0, 9): crops 1 (top-right) and 5 (the mirror's top-left).
    CHECK(avg(0, 9) == 4.f);
    // Pixel (6, 5): every crop covers it.
    CHECK(avg(6, 5) == 5.5f);

    CHECK_THROWS_AS(io::average_crop_maps(std::span<const ScoreMap>(constant).first(3), crops, 12, 10), shape_error);
    CHECK_THROWS_AS(io::average_crop_maps(constant, crops, 8, 10), shape_error);
}

TEST_CASE("image: heatmap overlay blends JET and draws the box", "[io][image]") {
    const io::Image black(6, 8, 3, 0);
    // A map of the image's size (resize is a copy) that is already normalized: m(y, x) = x / 7.
    ScoreMap ramp(6, 8);
    for (int y = 0; y < 6; ++y)
        for (int x = 0; x < 8; ++x) ramp(y, x) = static_cast<float>(x) / 7.f;
    const auto out = io::heatmap_overlay(black, ramp, Box{1, 1, 6, 4}, {.alpha = 0.5f, .box_thickness = 1});
    CHECK(out.height == 6);
    CHECK(out.width == 8);
    for (int x : {0, 7}) {
        // Outside the box: 0.5 * jet(trunc(255 * x / 7)) on black, rounded half to even.
        const auto c = io::jet_color(static_cast<std::uint8_t>(static_cast<float>(x) / 7.f * 255.f));
        for (int k = 0; k < 3; ++k) CHECK(int{out(5, x, k)} == static_cast<int>(std::nearbyint(c[static_cast<std::size_t>(k)] * 0.5f)));
    }
    CHECK((out(0, 0, 0) == 0 && out(0, 0, 1) == 0 && out(0, 0, 2) == 64)); // jet(0) = (0, 0, 128)
    CHECK((out(0, 7, 0) == 64 && out(0, 7, 1) == 0 && out(0, 7, 2) == 0)); // jet(255) = (128, 0, 0)
    // The box outline is green, its inside is not.
    CHECK((out(1, 1, 0) == 0 && out(1, 1, 1) == 255 && out(1, 1, 2) == 0));
    CHECK((out(4, 6, 1) == 255 && out(2, 3, 1) != 255));
    // A constant map normalizes to zeros: jet(0) everywhere; alpha 0 keeps the image.
    const auto flat = io::heatmap_overlay(black, ScoreMap(3, 3, 2.f));
    CHECK((flat(3, 3, 0) == 0 && flat(3, 3, 2) == 64));
    CHECK(io::heatmap_overlay(black, ramp, std::nullopt, {.alpha = 0.f}) == black);
    CHECK_THROWS_AS(io::heatmap_overlay(io::Image(6, 8, 1), ramp), shape_error);
    CHECK_THROWS_AS(io::heatmap_overlay(black, ScoreMap{}), shape_error);
    CHECK_THROWS_AS(io::heatmap_overlay(black, ramp, std::nullopt, {.alpha = 2.f}), value_error);
}

TEST_CASE("masks: nearest-neighbour resize equals cv2.resize(INTER_NEAREST)", "[io][image][masks]") {
    const auto img = io::read_image(kDir / "mask_13x11.png", 1);
    const Mask m(img.height, img.width, std::span<const std::uint8_t>(img.pixels));
    for (const auto& [h, w] : {std::pair{20, 30}, std::pair{5, 4}}) {
        const auto want = io::read_npy(kDir / ("mask_nearest_" + std::to_string(h) + "x" + std::to_string(w) + ".npy")).as_int64();
        const Mask got = io::resize_nearest(m, h, w);
        REQUIRE(got.size() == want.size());
        for (std::size_t i = 0; i < want.size(); ++i) CHECK(int{got.values()[i]} == want[i]);
    }
}

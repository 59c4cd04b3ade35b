// Regression tests for the hostile inputs of issue 14's table, one per class (and the fuzz suite's
// findings, tests/fuzz/regressions/, run by the fuzz build's ctest). Each bad input must give an
// io_error / value_error naming the input and what was wrong; never a crash, a hang, an unbounded
// allocation, a silent zero or a wrong number. Image decoding's cases are in test_image.cpp
// (format by magic bytes, the 100000 x 100000 header, truncated and corrupt files, /dev/zero).
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <zlib.h>

#include <csignal>
#include <iterator>
#include <signal.h>
#include <sys/resource.h>

#include "temp_files.hpp"

#include <dualgrad/io/datasets.hpp>
#include <dualgrad/io/detail/files.hpp>
#include <dualgrad/io/idx.hpp>
#include <dualgrad/io/image_codec.hpp>
#include <dualgrad/io/safetensors.hpp>
#include <dualgrad/eval/runs.hpp>
#include <dualgrad/metrics/serialize.hpp>
#include <dualgrad/models/weights_config.hpp>

using namespace dualgrad;
using Catch::Matchers::Contains;
using dgtest::io_error_of;
using dgtest::TempDir;

namespace {

/// A safetensors file of the given header text and a zero data buffer of `buffer` bytes.
std::vector<std::byte> safetensors_of(std::string_view header, std::size_t buffer) {
    std::vector<std::byte> out;
    io::detail::store_le(out, static_cast<std::uint64_t>(header.size()));
    for (char c : header) out.push_back(static_cast<std::byte>(c));
    out.resize(out.size() + buffer, std::byte{0});
    return out;
}

void write_text(const std::filesystem::path& p, std::string_view text) {
    std::ofstream(p, std::ios::binary) << text;
}

/// A metrics JSON of one run with 0.5-spaced thresholds and one image everywhere, as
/// metrics_to_json writes it.
nlohmann::json one_image_metrics() {
    LocMetrics m = LocMetrics::with_interval(0.5);
    const std::vector<Box> gt{{0, 0, 1, 1}};
    const std::vector<std::vector<Box>> boxes(m.cam_thresholds().size(), gt);
    const std::vector<int> ranked{0, 1};
    m.add({.gt_boxes = gt, .largest = boxes, .multi = boxes, .gt_class = 0, .ranked_classes = ranked});
    ScoreMap score(2, 2);
    Mask mask(2, 2);
    score(0, 0) = 0.9f;
    mask(0, 0) = 1;
    m.add_mask(score, mask);
    return metrics_to_json(m);
}

} // namespace

TEST_CASE("hostile: safetensors shapes that hold no data do not size a model", "[hostile][safetensors]") {
    // fc.weight [2000000000, 0] has no bytes; it used to set the class count and allocate terabytes.
    const auto huge_rows = io::SafetensorsFile::from_bytes(
        safetensors_of(R"({"fc.weight":{"dtype":"F32","shape":[2000000000,0],"data_offsets":[0,0]},)"
                       R"("conv1.weight":{"dtype":"F32","shape":[8,3,7,7],"data_offsets":[0,4704]}})",
                       4704),
        "huge_rows.safetensors");
    CHECK_THAT(io_error_of([&] { (void)models::config_from_weights("resnet50", huge_rows); }),
               Contains("huge_rows.safetensors': tensor 'fc.weight' has shape [2000000000, 0]; the classifier head "
                        "needs a non-empty matrix"));
    // [3e9, 0] used to wrap to a negative class count.
    const auto wrap = io::SafetensorsFile::from_bytes(
        safetensors_of(R"({"fc.weight":{"dtype":"F32","shape":[3000000000,0],"data_offsets":[0,0]}})", 0),
        "wrap.safetensors");
    CHECK_THAT(io_error_of([&] { (void)models::config_from_weights("resnet50", wrap); }),
               Contains("wrap.safetensors': tensor 'fc.weight' has shape [3000000000, 0]"));
    // Rows with data but over the class limit.
    const auto many = io::SafetensorsFile::from_bytes(
        safetensors_of(R"({"fc.weight":{"dtype":"U8","shape":[2000000,1],"data_offsets":[0,2000000]}})", 2000000),
        "many.safetensors");
    CHECK_THAT(io_error_of([&] { (void)models::config_from_weights("resnet50", many); }),
               Contains("has 2000000 rows, over the limit of 1048576 for the classifier head"));
    // A scalar weight (it used to end in std::out_of_range, "unexpected error").
    const auto scalar = io::SafetensorsFile::from_bytes(
        safetensors_of(R"({"fc.weight":{"dtype":"F32","shape":[],"data_offsets":[0,4]}})", 4), "scalar.safetensors");
    CHECK_THAT(io_error_of([&] { (void)models::config_from_weights("resnet50", scalar); }),
               Contains("scalar.safetensors': tensor 'fc.weight' has shape []"));
}

TEST_CASE("hostile: safetensors numbers out of range, wrong JSON types, folders", "[hostile][safetensors]") {
    auto error_of = [](std::string_view header) {
        return io_error_of([&] { (void)io::SafetensorsFile::from_bytes(safetensors_of(header, 8), "h.safetensors"); });
    };
    // 1e999 in the header: nlohmann reports out_of_range, not a parse_error; it used to escape.
    CHECK_THAT(error_of(R"({"w":{"dtype":"F32","shape":[1e999],"data_offsets":[0,8]}})"),
               Contains("h.safetensors': the header is not valid JSON"));
    CHECK_THAT(error_of(R"({"w":{"dtype":7,"shape":[2],"data_offsets":[0,8]}})"),
               Contains("tensor 'w': \"dtype\" is a JSON number, not a string"));
    CHECK_THAT(error_of(R"({"w":{"dtype":"F32","shape":"2","data_offsets":[0,8]}})"),
               Contains("tensor 'w': \"shape\" is a JSON string, not an array"));
    CHECK_THAT(error_of(R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})"),
               Contains("not a non-negative integer"));
    CHECK_THAT(error_of(R"({"w":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,8]}})"),
               Contains("too many"));
    // --weights some_dir/: a folder used to read as 2^63 - 1 bytes and abort with bad_alloc.
    TempDir tmp;
    CHECK_THAT(io_error_of([&] { (void)io::SafetensorsFile::open(tmp.path); }), Contains("is a directory"));
    CHECK_THAT(io_error_of([] { (void)io::SafetensorsFile::open("/dev/zero"); }), Contains("not a regular file"));
}

TEST_CASE("hostile: metrics JSON counts are non-negative integers, merged with checked sums", "[hostile][metrics]") {
    const auto good = one_image_metrics();
    REQUIRE_NOTHROW(metrics_from_json(good, "good.json"));
    // A fraction used to be truncated silently; a negative count and a string are named.
    auto fraction = good;
    fraction["counts"]["loc"]["num_images"] = 2.5;
    CHECK_THAT(io_error_of([&] { (void)metrics_from_json(fraction, "shard.json"); }),
               Contains("shard.json: metrics JSON field 'num_images' holds 2.5 (a JSON number), not a non-negative "
                        "integer count"));
    auto negative = good;
    negative["counts"]["pxap"]["positive"][0] = -3;
    CHECK_THAT(io_error_of([&] { (void)metrics_from_json(negative, "shard.json"); }),
               Contains("field 'positive' holds -3, a negative count"));
    auto too_big = good;
    too_big["counts"]["loc"]["top1_cls"] = std::numeric_limits<std::uint64_t>::max();
    CHECK_THAT(io_error_of([&] { (void)metrics_from_json(too_big, "shard.json"); }),
               Contains("too large for a 64-bit count"));
    auto text = good;
    text["counts"]["max_box_acc"]["num_correct"][0][0] = "7";
    CHECK_THAT(io_error_of([&] { (void)metrics_from_json(text, "shard.json"); }),
               Contains("field 'num_correct' holds \"7\" (a JSON string)"));

    // Two shards whose counts are each valid but whose sum overflows int64: merge refuses, and
    // the first is unchanged (it used to print -8446744073709551616 images, exit 0).
    auto big = good;
    const std::int64_t half = std::numeric_limits<std::int64_t>::max() / 2 + 1;
    for (const char* part : {"max_box_acc", "max_box_acc_v2", "loc", "pxap"}) big["counts"][part]["num_images"] = half;
    auto a = metrics_from_json(big, "a.json");
    const auto b = metrics_from_json(big, "b.json");
    const auto before = metrics_to_json(a);
    try {
        a += b;
        FAIL("the overflowing merge did not throw");
    } catch (const value_error& e) {
        CHECK_THAT(std::string(e.what()), Contains("overflows 64-bit integers"));
    }
    CHECK(metrics_to_json(a) == before);
}

TEST_CASE("hostile: dataset paths stay under their roots", "[hostile][datasets]") {
    TempDir tmp;
    const auto dir = tmp.path;
    write_text(dir / "class_labels.txt", "a.png,0\n");
    write_text(dir / "image_sizes.txt", "a.png,4,4\n");
    write_text(dir / "localization.txt", "a.png,0,0,2,2\n");
    for (const std::string& bad :
         std::vector<std::string>{"../secret.png", "/etc/passwd", "a/../../b.png", std::string("a\0b.png", 7)}) {
        INFO(bad);
        write_text(dir / "image_ids.txt", bad + "\n");
        const auto msg = io_error_of([&] { (void)io::read_wsol_metadata(dir); });
        CHECK_THAT(msg, Contains("image_ids.txt:1: image id"));
    }
    // Mask and ignore paths (OpenImages layout) too.
    write_text(dir / "image_ids.txt", "a.png\n");
    write_text(dir / "localization.txt", "a.png,../../m.png,\n");
    CHECK_THAT(io_error_of([&] { (void)io::read_wsol_metadata(dir); }),
               Contains("localization.txt:1: mask path '../../m.png' has a '..' component"));
    write_text(dir / "localization.txt", "a.png,m.png,/abs/ignore.png\n");
    CHECK_THAT(io_error_of([&] { (void)io::read_wsol_metadata(dir); }),
               Contains("localization.txt:1: ignore path '/abs/ignore.png' is absolute"));
    // A name that merely contains dots is fine.
    write_text(dir / "localization.txt", "a.png,m..png,\n");
    CHECK_NOTHROW(io::read_wsol_metadata(dir));
}

TEST_CASE("hostile: a gzip bomb stops at the byte budget", "[hostile][idx]") {
    // 64 MiB of zeros deflate to about 64 KiB; with a 1 MiB budget, decompression stops there.
    std::vector<std::uint8_t> zeros(std::size_t{64} << 20, 0);
    z_stream zs{};
    REQUIRE(deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 9, Z_DEFAULT_STRATEGY) == Z_OK);
    std::vector<std::uint8_t> gz(deflateBound(&zs, static_cast<uLong>(zeros.size())));
    zs.next_in = zeros.data();
    zs.avail_in = static_cast<uInt>(zeros.size());
    zs.next_out = gz.data();
    zs.avail_out = static_cast<uInt>(gz.size());
    REQUIRE(deflate(&zs, Z_FINISH) == Z_STREAM_END);
    gz.resize(zs.total_out);
    deflateEnd(&zs);
    INFO("compressed to " << gz.size() << " bytes");
    CHECK_THAT(io_error_of([&] { (void)io::gunzip(gz, "bomb.gz", std::size_t{1} << 20); }),
               Contains("IDX file 'bomb.gz': decompresses to more than 1048576 bytes (the byte budget)"));
    CHECK(io::gunzip(gz, "bomb.gz", std::size_t{64} << 20).size() == zeros.size());
}

TEST_CASE("hostile: only PNG and JPEG reach a decoder, by their magic bytes", "[hostile][image]") {
    TempDir tmp;
    auto as_bytes = [](std::string_view s) {
        std::vector<std::byte> b;
        for (char c : s) b.push_back(static_cast<std::byte>(c));
        return b;
    };
    // A 49-byte Radiance HDR file named .png: sent stb_image 2.27 into an endless loop
    // (CVE-2021-42715's RLE path). Now refused by its first bytes.
    std::string hdr = "#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 8 +X 8\n";
    hdr += std::string("\x02\x02\x00\x08", 4);
    REQUIRE(hdr.size() == 49);
    write_text(tmp.path / "sunset.png", hdr);
    CHECK_THAT(io_error_of([&] { (void)io::read_image(tmp.path / "sunset.png"); }),
               Contains("sunset.png") && Contains("not a PNG or JPEG file"));
    // An 18-byte TGA header of 8000 x 8000 (TGA has no magic number; stb decoded it as a black
    // image of 192 MB, exit 0).
    std::string tga(18, '\0');
    tga[2] = 2;                                      // uncompressed true colour
    tga[12] = '\x40', tga[13] = '\x1f';              // width 8000
    tga[14] = '\x40', tga[15] = '\x1f';              // height 8000
    tga[16] = 24;                                    // bits per pixel
    CHECK_THAT(io_error_of([&] { (void)io::decode_image(as_bytes(tga), "black.png"); }),
               Contains("black.png") && Contains("not a PNG or JPEG file"));
    CHECK_THAT(io_error_of([&] { (void)io::decode_image_info(as_bytes(tga), "black.png"); }),
               Contains("black.png") && Contains("not a PNG or JPEG file"));
}

TEST_CASE("hostile: a write that fails half-way (a full disk) is an error and leaves the file as it was",
          "[hostile][files]") {
    // RLIMIT_FSIZE makes write() fail with EFBIG past 1000 bytes, as a full disk fails with ENOSPC.
    TempDir tmp;
    const auto path = tmp.path / "metrics.json";
    io::detail::write_file_text(path, "{\"complete\": true}\n");
    struct sigaction ignore {}, old_action{};
    ignore.sa_handler = SIG_IGN;
    REQUIRE(::sigaction(SIGXFSZ, &ignore, &old_action) == 0);
    rlimit old_limit{};
    REQUIRE(::getrlimit(RLIMIT_FSIZE, &old_limit) == 0);
    rlimit small = old_limit;
    small.rlim_cur = 1000;
    REQUIRE(::setrlimit(RLIMIT_FSIZE, &small) == 0);
    const std::string big(100000, 'x');
    const auto msg = io_error_of([&] { io::detail::write_file_text(path, big); });
    ::setrlimit(RLIMIT_FSIZE, &old_limit);
    ::sigaction(SIGXFSZ, &old_action, nullptr);
    CHECK_THAT(msg, Contains("metrics.json") && Contains("write error"));
    std::ifstream in(path, std::ios::binary);
    const std::string now((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    CHECK(now == "{\"complete\": true}\n");
    // No temporary file is left beside it.
    std::size_t files = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(tmp.path)) ++files;
    CHECK(files == 1);
}

// Found by tests/fuzz (fuzz_metrics_json, fuzz_safetensors); their inputs are also in
// tests/fuzz/regressions/.
TEST_CASE("hostile: fuzz findings in metrics JSON and safetensors headers", "[hostile][metrics][safetensors]") {
    const auto good = one_image_metrics();
    SECTION("PxAP histogram counts that fit one by one but not summed") {
        auto j = good;
        j["counts"]["pxap"]["positive"][0] = std::numeric_limits<std::int64_t>::max();
        j["counts"]["pxap"]["positive"][1] = 1;
        CHECK_THAT(io_error_of([&] { (void)metrics_from_json(j, "sum.json"); }),
                   Contains("sum.json: inconsistent metrics counts") && Contains("overflows 64-bit integers"));
        // And a merge whose per-bin sums fit but whose total does not.
        auto half = good;
        half["counts"]["pxap"]["positive"][0] = std::numeric_limits<std::int64_t>::max() / 4;
        half["counts"]["pxap"]["positive"][1] = std::numeric_limits<std::int64_t>::max() / 4;
        auto a = metrics_from_json(half, "a.json");
        const auto b = metrics_from_json(half, "b.json");
        CHECK_THROWS_AS(a += b, value_error);
    }
    SECTION("images but no positive pixel: the counts round-trip, PxAP's result is absent") {
        auto j = good;
        for (auto& c : j["counts"]["pxap"]["positive"]) c = 0;
        const auto m = metrics_from_json(j, "nopos.json");
        const auto out = metrics_to_json(m);
        CHECK(out["counts"] == j["counts"]);
        CHECK_FALSE(out["results"].contains("pxap"));
    }
    SECTION("num_correct rows of the wrong length") {
        auto j = good;
        auto& rows = j["counts"]["max_box_acc_v2"]["num_correct"];
        REQUIRE(rows.size() >= 2);
        rows[0].push_back(rows[1].back()); // one row longer, the next shorter: same total
        rows[1].erase(rows[1].size() - 1);
        CHECK_THAT(io_error_of([&] { (void)metrics_from_json(j, "rows.json"); }),
                   Contains("rows.json: metrics JSON field 'max_box_acc_v2.num_correct' has a row of"));
    }
    SECTION("a count nested 20000 arrays deep") {
        const std::string text = "{\"counts\": {\"cam_thresholds\": " + std::string(20000, '[') + std::string(20000, ']') + "}}";
        // From a file: refused by the bounded parser before anything recurses.
        TempDir tmp;
        write_text(tmp.path / "metrics.json", text);
        CHECK_THAT(io_error_of([&] { (void)eval::read_json_file(tmp.path / "metrics.json"); }),
                   Contains("metrics.json' is not a dualgrad file: JSON nested more than 64 levels deep"));
        // Given as a value: refused by type, without copying or dumping the nest.
        const auto deep = nlohmann::json::parse(text);
        CHECK_THAT(io_error_of([&] { (void)metrics_from_json(deep, "deep.json"); }), Contains("deep.json"));
    }
    SECTION("a safetensors shape nested 20000 arrays deep") {
        const std::string header =
            "{\"w\":{\"dtype\":\"F32\",\"shape\":" + std::string(20000, '[') + std::string(20000, ']') + ",\"data_offsets\":[0,8]}}";
        CHECK_THAT(io_error_of([&] { (void)io::SafetensorsFile::from_bytes(safetensors_of(header, 8), "deep.safetensors"); }),
                   Contains("deep.safetensors': the header is not a safetensors header: JSON nested more than 64 levels"));
        // A shape with an array for a dimension is described, not dumped.
        CHECK_THAT(io_error_of([&] {
                       (void)io::SafetensorsFile::from_bytes(
                           safetensors_of(R"({"w":{"dtype":"F32","shape":[[1,2],2],"data_offsets":[0,8]}})", 8), "n.safetensors");
                   }),
                   Contains("shape an array of 2 elements has a dimension that is not a non-negative integer: [1,2]"));
    }
}

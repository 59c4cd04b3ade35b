// Safetensors reading, writing and loading against tests/fixtures/io/, made by
// tools/fixtures/make_safetensors_fixture.py: the files are written by hand from the format's
// definition and every expected float (F16/BF16 widening, float32 -> F16/BF16 rounding) is
// PyTorch's own conversion.
#include <bit>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <cstring>
#include <iterator>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "temp_files.hpp"
#include <nlohmann/json.hpp>

#include <dualgrad/io/float16.hpp>
#include <dualgrad/io/safetensors.hpp>
#include <dualgrad/nn/layer.hpp>

using namespace dualgrad;
using Catch::Matchers::Contains;

namespace {

const std::string kDir = DUALGRAD_FIXTURES_DIR "/io/";

const nlohmann::json& expected() {
    static const nlohmann::json j = [] {
        std::ifstream in(kDir + "expected.json");
        REQUIRE(in.good());
        return nlohmann::json::parse(in);
    }();
    return j;
}

std::vector<std::byte> file_bytes(const std::string& path) { return dgtest::read_bytes(path); }

std::vector<std::uint32_t> bits_of(const std::vector<float>& v) {
    std::vector<std::uint32_t> out;
    for (float x : v) out.push_back(std::bit_cast<std::uint32_t>(x));
    return out;
}

std::vector<float> floats_of_bits(const std::vector<std::uint32_t>& bits) {
    std::vector<float> out;
    for (auto b : bits) out.push_back(std::bit_cast<float>(b));
    return out;
}



} // namespace

TEST_CASE("F16 and BF16 widen exactly: every bit pattern survives a round trip through float", "[io][float16]") {
    for (std::uint32_t b = 0; b <= 0xFFFF; ++b) {
        const auto h = static_cast<std::uint16_t>(b);
        const float f = io::f16_to_float(h);
        const bool nan16 = (h & 0x7C00) == 0x7C00 && (h & 0x3FF) != 0;
        REQUIRE(std::isnan(f) == nan16);
        REQUIRE(std::signbit(f) == ((h & 0x8000) != 0));
        if (!nan16) REQUIRE(io::float_to_f16(f) == h);

        const float g = io::bf16_to_float(h);
        const bool nanb = (h & 0x7F80) == 0x7F80 && (h & 0x7F) != 0;
        REQUIRE(std::isnan(g) == nanb);
        if (!nanb) REQUIRE(io::float_to_bf16(g) == h);
        else REQUIRE(std::isnan(io::bf16_to_float(io::float_to_bf16(g))));
    }
    // Spot values anyone can check by hand.
    CHECK(io::f16_to_float(0x0001) == std::ldexp(1.0f, -24));
    CHECK(io::f16_to_float(0x03FF) == 1023 * std::ldexp(1.0f, -24));
    CHECK(io::f16_to_float(0x7BFF) == 65504.0f);
    CHECK(io::bf16_to_float(0x3F80) == 1.0f);
}

TEST_CASE("float to F16/BF16 picks the nearest value, ties to even", "[io][float16]") {
    // An oracle independent of the bit tricks: among the two neighbours of the result, none is
    // strictly closer in double arithmetic, and a tie is resolved to the even pattern.
    auto check = [](float x, std::uint16_t r, auto widen, std::uint16_t inf) {
        if ((r & 0x7FFF) == inf) return; // overflow is checked against PyTorch in the next test
        const double d = std::abs(static_cast<double>(x) - widen(r));
        for (int step : {-1, 1}) {
            const auto m = static_cast<std::uint16_t>(r + step);
            if ((m & 0x7FFF) > inf || ((m ^ r) & 0x8000) != 0) continue; // past inf or across the sign
            const double dm = std::abs(static_cast<double>(x) - widen(m));
            INFO("x bits " << std::bit_cast<std::uint32_t>(x) << ", result " << r << ", neighbour " << m);
            REQUIRE(d <= dm);
            if (d == dm) REQUIRE((r & 1) == 0);
        }
    };
    std::mt19937 rng(7);
    std::uniform_int_distribution<std::uint32_t> any;
    for (int i = 0; i < 200000; ++i) {
        // Magnitudes in [2^-30, 2^17) for F16, everything finite for BF16; low mantissa bits often
        // zero so that ties are common.
        std::uint32_t bits = any(rng);
        if (i % 2 == 0) bits &= 0xFFFFF000u;
        const float x16 = std::bit_cast<float>((bits & 0x80FFFFFFu) | ((97u + (bits >> 24) % 47u) << 23));
        check(x16, io::float_to_f16(x16), [](std::uint16_t h) { return double(io::f16_to_float(h)); }, 0x7C00);
        const float xb = std::bit_cast<float>(bits & 0xFFFEFFFFu); // exponent never all ones
        check(xb, io::float_to_bf16(xb), [](std::uint16_t h) { return double(io::bf16_to_float(h)); }, 0x7F80);
    }
}

TEST_CASE("float to F16/BF16 rounding equals PyTorch's", "[io][float16][fixture]") {
    const auto& r = expected()["rounding"];
    const auto inputs = r["inputs_bits"].get<std::vector<std::uint32_t>>();
    const auto f16 = r["f16_bits"].get<std::vector<std::uint16_t>>();
    const auto bf16 = r["bf16_bits"].get<std::vector<std::uint16_t>>();
    REQUIRE(inputs.size() == f16.size());
    for (std::size_t i = 0; i < inputs.size(); ++i) {
        INFO("input " << i << ": float bits 0x" << std::hex << inputs[i]);
        CHECK(io::float_to_f16(std::bit_cast<float>(inputs[i])) == f16[i]);
        CHECK(io::float_to_bf16(std::bit_cast<float>(inputs[i])) == bf16[i]);
    }
}

TEST_CASE("PyTorch's state dicts in F32, F16 and BF16 read bit for bit", "[io][safetensors][fixture]") {
    for (const auto& [file_name, want] : expected()["files"].items()) {
        INFO("file " << file_name);
        const auto file = io::SafetensorsFile::open(kDir + file_name);
        CHECK(file.source() == kDir + file_name);
        CHECK(file.mapped()); // a regular file is mapped, not copied
        CHECK(file.metadata() == want["metadata"].get<io::Metadata>());

        std::vector<std::string> names;
        for (const auto& [name, t] : want["tensors"].items()) names.push_back(name);
        CHECK(file.names() == names); // both sorted
        CHECK(file.size() == names.size());

        for (const auto& [name, t] : want["tensors"].items()) {
            INFO("tensor " << name);
            REQUIRE(file.contains(name));
            const auto& info = file.info(name);
            CHECK(io::dtype_name(info.dtype) == t["dtype"].get<std::string>());
            CHECK(info.shape == t["shape"].get<std::vector<std::int64_t>>());
            if (t.contains("float_bits")) {
                CHECK(io::is_floating(info.dtype));
                CHECK(bits_of(file.read_float(name)) == t["float_bits"].get<std::vector<std::uint32_t>>());
                const auto d = file.read_double(name);
                const auto f = file.read_float(name);
                for (std::size_t i = 0; i < f.size(); ++i)
                    if (!std::isnan(f[i])) CHECK(d[i] == static_cast<double>(f[i]));
            } else {
                CHECK(file.read_int64(name) == t["int64"].get<std::vector<std::int64_t>>());
                CHECK_THAT(dgtest::io_error_of([&] { (void)file.read_float(name); }),
                           Contains(name) && Contains("I64") && Contains("read_int64"));
            }
        }
        CHECK_THAT(dgtest::io_error_of([&] { (void)file.read_int64("fc.weight"); }),
                   Contains("'fc.weight'") && Contains("read_float"));
        CHECK_THAT(dgtest::io_error_of([&] { (void)file.info("fc.weights"); }),
                   Contains("no tensor 'fc.weights'") && Contains("'fc.weight'") && Contains(file_name));
    }
}

TEST_CASE("the writer's output equals the reference layout byte for byte", "[io][safetensors][fixture]") {
    const auto& r = expected()["rounding"];
    const auto inputs = floats_of_bits(r["inputs_bits"].get<std::vector<std::uint32_t>>());
    const auto& w = expected()["writer"];
    for (auto [dtype, file_name] : {std::pair{io::Dtype::F32, "writer_f32.safetensors"},
                                    std::pair{io::Dtype::F16, "writer_f16.safetensors"},
                                    std::pair{io::Dtype::BF16, "writer_bf16.safetensors"}}) {
        INFO("file " << file_name);
        io::SafetensorsWriter writer;
        // Added out of order: the writer sorts.
        writer.add("weights", {static_cast<std::int64_t>(inputs.size())}, inputs, dtype);
        const std::int64_t batches = 7;
        writer.add_int64("bn.num_batches_tracked", {}, std::span(&batches, 1));
        writer.add("a.bias", {3, 2}, std::span(inputs).first(6), dtype);
        for (const auto& [k, v] : w["metadata"].items()) writer.set_metadata(k, v.get<std::string>());
        const auto bytes = writer.bytes();
        CHECK(bytes == file_bytes(kDir + file_name));
    }
}

TEST_CASE("save_safetensors round trips in F32, F16 and BF16 with PyTorch's rounding", "[io][safetensors][fixture]") {
    const auto& r = expected()["rounding"];
    const auto input_bits = r["inputs_bits"].get<std::vector<std::uint32_t>>();
    auto inputs = floats_of_bits(input_bits);
    const std::vector<float> second{1.5f, -2.25f, 0.0f, 1e-3f};
    const io::Metadata metadata{{"format", "pt"}, {"note", "round trip"}};

    for (auto [dtype, want] :
         {std::pair{io::Dtype::F32, input_bits},
          std::pair{io::Dtype::F16, r["f16_as_float_bits"].get<std::vector<std::uint32_t>>()},
          std::pair{io::Dtype::BF16, r["bf16_as_float_bits"].get<std::vector<std::uint32_t>>()}}) {
        INFO("dtype " << io::dtype_name(dtype));
        dgtest::TempDir tmp_dir("safetensors");
        const auto tmp_path = tmp_dir.path / "roundtrip.safetensors";
        const std::vector<io::TensorView> tensors{
            {"layer1.0.conv1.weight", {static_cast<std::int64_t>(inputs.size())}, inputs},
            {"fc.bias", {2, 2}, second}};
        io::save_safetensors(tmp_path, tensors, dtype, metadata);

        const auto file = io::SafetensorsFile::open(tmp_path);
        CHECK(file.metadata() == metadata);
        CHECK(file.names() == std::vector<std::string>{"fc.bias", "layer1.0.conv1.weight"});
        CHECK(file.info("layer1.0.conv1.weight").dtype == dtype);
        CHECK(file.info("fc.bias").shape == std::vector<std::int64_t>{2, 2});
        CHECK(bits_of(file.read_float("layer1.0.conv1.weight")) == want);
        CHECK(file_bytes(tmp_path.string()) == io::serialize_safetensors(tensors, dtype, metadata));
        // The header length is a multiple of 8.
        const auto bytes = file_bytes(tmp_path.string());
        CHECK(io::detail::load_le<8>(bytes.data()) % 8 == 0);
    }

    SECTION("NaN stays NaN with its sign") {
        const std::vector<float> nans{std::numeric_limits<float>::quiet_NaN(), -std::numeric_limits<float>::quiet_NaN()};
        for (auto dtype : {io::Dtype::F32, io::Dtype::F16, io::Dtype::BF16}) {
            const std::vector<io::TensorView> t{{"x", {2}, nans}};
            const auto back = io::SafetensorsFile::from_bytes(io::serialize_safetensors(t, dtype)).read_float("x");
            CHECK((std::isnan(back[0]) && !std::signbit(back[0])));
            CHECK((std::isnan(back[1]) && std::signbit(back[1])));
        }
    }
    SECTION("the writer refuses bad input") {
        io::SafetensorsWriter w;
        CHECK_THROWS_AS(w.add("x", {2, 3}, second), shape_error);
        CHECK_THROWS_AS(w.add("x", {-1}, second), shape_error);
        CHECK_THROWS_AS(w.add("x", {4}, second, io::Dtype::I32), value_error);
        CHECK_THROWS_AS(w.add("__metadata__", {4}, second), value_error);
        w.add("x", {4}, second);
        CHECK_THROWS_AS(w.add("x", {4}, second), value_error);
        CHECK_THROWS_AS(w.save("/nonexistent-dir/x.safetensors"), io_error);
    }
    SECTION("an empty file has an empty header") {
        const auto f = io::SafetensorsFile::from_bytes(io::SafetensorsWriter{}.bytes());
        CHECK(f.size() == 0);
        CHECK(f.names().empty());
    }
}

TEST_CASE("load_parameters fills nn::Parameter after checking names, dtypes and shapes", "[io][safetensors][load]") {
    static_assert(io::ParameterSlot<nn::Parameter>);
    const auto file = io::SafetensorsFile::open(kDir + "state_dict_f16.safetensors");
    const auto& want = expected()["files"]["state_dict_f16.safetensors"]["tensors"];

    // A model's parameters: name suffix, shape, storage (what a layer's parameters() gives).
    struct Model {
        std::vector<float> conv_w, conv_b, bn_w, bn_b, bn_mean, bn_var, fc_w, fc_b;
        std::vector<std::pair<std::string, nn::Parameter>> params(std::int64_t fc_out = 5) {
            return {{"conv1.weight", {"weight", {4, 3, 3, 3}, &conv_w}},
                    {"conv1.bias", {"bias", {4}, &conv_b}},
                    {"bn1.weight", {"weight", {4}, &bn_w}},
                    {"bn1.bias", {"bias", {4}, &bn_b}},
                    {"bn1.running_mean", {"running_mean", {4}, &bn_mean}},
                    {"bn1.running_var", {"running_var", {4}, &bn_var}},
                    {"fc.weight", {"weight", {fc_out, 4}, &fc_w}},
                    {"fc.bias", {"bias", {fc_out}, &fc_b}}};
        }
    } model;

    SECTION("a matching model loads; num_batches_tracked is ignored") {
        auto params = model.params();
        const auto summary = io::load_parameters(file, params, {.allow_unused = true});
        CHECK(summary.loaded == 8);
        CHECK(summary.ignored == std::vector<std::string>{"bn1.num_batches_tracked", "special"});
        for (const auto& [key, p] : params)
            CHECK(bits_of(*p.data) == want[key]["float_bits"].get<std::vector<std::uint32_t>>());
        // The number of classes comes from the weights.
        CHECK(file.info("fc.weight").shape[0] == 5);
    }
    SECTION("loading from a path, every float tensor used") {
        auto params = model.params();
        std::vector<float> special;
        params.emplace_back("special", nn::Parameter{"special", {18}, &special});
        const auto summary = io::load_parameters(kDir + "state_dict_f16.safetensors", params);
        CHECK(summary.loaded == 9);
        CHECK(summary.ignored == std::vector<std::string>{"bn1.num_batches_tracked"});
        CHECK(bits_of(special) == want["special"]["float_bits"].get<std::vector<std::uint32_t>>());
    }
    SECTION("an unused float tensor is an error naming it") {
        auto params = model.params();
        const auto msg = dgtest::io_error_of([&] { io::load_parameters(file, params); });
        CHECK_THAT(msg, Contains("state_dict_f16.safetensors") &&
                            Contains("does not use: 'special'") && Contains("allow_unused"));
        CHECK(model.conv_w.empty()); // nothing written
    }
    SECTION("a wrong shape names the tensor and both shapes") {
        auto params = model.params(10);
        const auto msg = dgtest::io_error_of([&] { io::load_parameters(file, params, {.allow_unused = true}); });
        CHECK_THAT(msg, Contains("tensor 'fc.weight' has shape [5, 4] in the file but the model expects [10, 4]"));
        CHECK(model.conv_w.empty());
    }
    SECTION("missing tensors are listed") {
        auto params = model.params();
        std::vector<float> extra;
        params.emplace_back("layer3.0.conv1.weight", nn::Parameter{"weight", {8, 4, 1, 1}, &extra});
        params.emplace_back("fc.weigth", nn::Parameter{"weight", {5, 4}, &extra});
        const auto msg = dgtest::io_error_of([&] { io::load_parameters(file, params, {.allow_unused = true}); });
        CHECK_THAT(msg, Contains("missing 2 tensors") && Contains("'layer3.0.conv1.weight'") &&
                            Contains("'fc.weigth'"));
        CHECK(model.conv_w.empty());
    }
    SECTION("a missing tensor hints at the file's nearest names") {
        std::vector<float> extra;
        std::vector<std::pair<std::string, nn::Parameter>> params{{"conv1.weights", {"weights", {1}, &extra}}};
        const auto msg = dgtest::io_error_of([&] { io::load_parameters(file, params, {.allow_unused = true}); });
        CHECK_THAT(msg, Contains("missing 1 tensor the model expects: 'conv1.weights'") &&
                            Contains("nearest to 'conv1.weights': 'conv1.weight'"));
    }
    SECTION("an integer tensor cannot be a parameter") {
        std::vector<float> extra;
        std::vector<std::pair<std::string, nn::Parameter>> params{
            {"bn1.num_batches_tracked", {"num_batches_tracked", {}, &extra}}};
        const auto msg = dgtest::io_error_of([&] { io::load_parameters(file, params, {.allow_unused = true}); });
        CHECK_THAT(msg, Contains("tensor 'bn1.num_batches_tracked' has dtype I64"));
    }
    SECTION("a parameter listed twice or without storage is a programming error") {
        auto params = model.params();
        params.push_back(params.front());
        CHECK_THROWS_AS(io::load_parameters(file, params, {.allow_unused = true}), error);
        std::vector<std::pair<std::string, nn::Parameter>> null_data{{"fc.bias", {"bias", {5}, nullptr}}};
        CHECK_THROWS_AS(io::load_parameters(file, null_data, {.allow_unused = true}), error);
    }
}

TEST_CASE("a mapped file outlives its SafetensorsFile's copies; bytes in memory are not mapped", "[io][safetensors]") {
    const auto path = kDir + std::string("state_dict_f32.safetensors");
    std::vector<float> first;
    std::optional<io::SafetensorsFile> copy;
    {
        const auto file = io::SafetensorsFile::open(path);
        REQUIRE(file.mapped());
        first = file.read_float("conv1.weight");
        copy.emplace(file); // shares the mapping
    }
    CHECK(copy->read_float("conv1.weight") == first);
    std::ifstream in(path, std::ios::binary);
    std::vector<char> raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<std::byte> bytes(raw.size());
    std::memcpy(bytes.data(), raw.data(), raw.size());
    const auto mem = io::SafetensorsFile::from_bytes(bytes, "mem");
    CHECK_FALSE(mem.mapped());
    CHECK(mem.read_float("conv1.weight") == first);
    // An empty file cannot be mapped: it is read, and refused by the format's own check.
    dgtest::TempDir tmp;
    std::ofstream(tmp.path / "empty.safetensors").close();
    CHECK_THAT(dgtest::io_error_of([&] { (void)io::SafetensorsFile::open(tmp.path / "empty.safetensors"); }),
               Contains("empty.safetensors"));
}

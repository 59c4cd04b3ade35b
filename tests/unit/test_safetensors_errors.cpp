// Every malformed safetensors file gives an io_error naming the file and, where there is one, the
// tensor; never a crash. The files are built here from bytes: a valid file truncated, headers
// corrupted one field at a time.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>

#include <dualgrad/io/safetensors.hpp>

using namespace dualgrad;
using Catch::Matchers::Contains;

namespace {

constexpr const char* kName = "bad.safetensors";

/// A file with this header text (its true length unless `declared` is given) and a zero-filled
/// data buffer of `buffer` bytes.
std::vector<std::byte> file_of(std::string_view header, std::size_t buffer, std::uint64_t declared = ~0ull) {
    std::vector<std::byte> out;
    io::detail::store_le(out, declared == ~0ull ? static_cast<std::uint64_t>(header.size()) : declared);
    for (char c : header) out.push_back(static_cast<std::byte>(c));
    out.resize(out.size() + buffer, std::byte{0});
    return out;
}

/// The message of the io_error opening `bytes` throws.
std::string open_error(const std::vector<std::byte>& bytes) {
    try {
        (void)io::SafetensorsFile::from_bytes(bytes, kName);
    } catch (const io_error& e) {
        return e.what();
    }
    FAIL("no io_error was thrown");
    return {};
}

/// A header with one tensor 'conv.weight' whose entry is `entry`, over a 64-byte buffer.
std::string one_tensor(std::string_view entry) { return R"({"conv.weight":)" + std::string(entry) + "}"; }

const std::string kGood = R"({"dtype":"F32","shape":[2,2],"data_offsets":[0,16]})";

} // namespace

TEST_CASE("a valid hand-made file opens", "[io][safetensors][errors]") {
    const auto f = io::SafetensorsFile::from_bytes(file_of(one_tensor(kGood), 16), kName);
    CHECK(f.read_float("conv.weight") == std::vector<float>(4, 0.0f));
    // Keys in any order, whitespace, and trailing bytes after the last tensor are accepted.
    CHECK_NOTHROW(io::SafetensorsFile::from_bytes(
        file_of(R"( {"conv.weight": {"data_offsets": [0, 16], "shape": [2, 2], "dtype": "F32"}}   )", 20)));
    // Scalars and empty tensors.
    const auto g = io::SafetensorsFile::from_bytes(file_of(
        R"({"s":{"dtype":"I64","shape":[],"data_offsets":[0,8]},"e":{"dtype":"F32","shape":[0,3],"data_offsets":[8,8]}})",
        8));
    CHECK(g.read_int64("s") == std::vector<std::int64_t>{0});
    CHECK(g.read_float("e").empty());
}

TEST_CASE("malformed safetensors files are io_errors naming the file and the tensor", "[io][safetensors][errors]") {
    SECTION("empty file") {
        CHECK_THAT(open_error({}), Contains(kName) && Contains("0 bytes long, shorter than the 8-byte header length"));
    }
    SECTION("file shorter than 8 bytes") {
        auto bytes = file_of(one_tensor(kGood), 16);
        bytes.resize(5);
        CHECK_THAT(open_error(bytes), Contains(kName) && Contains("5 bytes long"));
    }
    SECTION("header length larger than the file") {
        const auto bytes = file_of(one_tensor(kGood), 16, 1000000);
        CHECK_THAT(open_error(bytes), Contains(kName) && Contains("header length 1000000 is larger than the file (" +
                                                                  std::to_string(bytes.size()) + " bytes)"));
    }
    SECTION("truncated file") {
        const auto whole = file_of(one_tensor(kGood), 16);
        auto bytes = whole;
        bytes.resize(whole.size() - 3);
        const auto msg = open_error(bytes);
        CHECK_THAT(msg, Contains(kName) && Contains("truncated") && Contains("conv.weight") &&
                            Contains("the file has " + std::to_string(bytes.size()) + " bytes but needs at least " +
                                     std::to_string(whole.size())));
    }
    SECTION("truncated inside the header") {
        auto bytes = file_of(one_tensor(kGood), 16);
        bytes.resize(20);
        CHECK_THAT(open_error(bytes), Contains("is larger than the file (20 bytes)"));
    }
    SECTION("header not valid JSON") {
        CHECK_THAT(open_error(file_of(R"({"conv.weight":{"dtype":"F32",)", 16)),
                   Contains(kName) && Contains("not valid JSON"));
    }
    SECTION("header not UTF-8") {
        CHECK_THAT(open_error(file_of("{\"conv\xff\":" + kGood + "}", 16)), Contains("not valid JSON"));
    }
    SECTION("header not an object") {
        CHECK_THAT(open_error(file_of(R"([1, 2, 3])", 16)), Contains(kName) && Contains("array, not an object"));
    }
    SECTION("entry not an object") {
        CHECK_THAT(open_error(file_of(one_tensor("[0, 16]"), 16)),
                   Contains("tensor 'conv.weight'") && Contains("not an object"));
    }
    SECTION("entry missing dtype") {
        CHECK_THAT(open_error(file_of(one_tensor(R"({"shape":[2,2],"data_offsets":[0,16]})"), 16)),
                   Contains("tensor 'conv.weight'") && Contains("lacks \"dtype\""));
    }
    SECTION("entry missing shape") {
        CHECK_THAT(open_error(file_of(one_tensor(R"({"dtype":"F32","data_offsets":[0,16]})"), 16)),
                   Contains("tensor 'conv.weight'") && Contains("lacks \"shape\""));
    }
    SECTION("entry missing data_offsets") {
        CHECK_THAT(open_error(file_of(one_tensor(R"({"dtype":"F32","shape":[2,2]})"), 16)),
                   Contains("tensor 'conv.weight'") && Contains("lacks \"data_offsets\""));
    }
    SECTION("dtype of the wrong JSON type") {
        CHECK_THAT(open_error(file_of(one_tensor(R"({"dtype":32,"shape":[2,2],"data_offsets":[0,16]})"), 16)),
                   Contains("tensor 'conv.weight'") && Contains("\"dtype\" is a JSON number, not a string"));
    }
    SECTION("shape of the wrong JSON type") {
        CHECK_THAT(open_error(file_of(one_tensor(R"({"dtype":"F32","shape":"2x2","data_offsets":[0,16]})"), 16)),
                   Contains("tensor 'conv.weight'") && Contains("\"shape\" is a JSON string, not an array"));
    }
    SECTION("data_offsets of the wrong JSON type") {
        CHECK_THAT(open_error(file_of(one_tensor(R"({"dtype":"F32","shape":[2,2],"data_offsets":{"begin":0}})"), 16)),
                   Contains("tensor 'conv.weight'") && Contains("two non-negative integers"));
        CHECK_THAT(open_error(file_of(one_tensor(R"({"dtype":"F32","shape":[2,2],"data_offsets":[0]})"), 16)),
                   Contains("two non-negative integers [begin, end], got [0]"));
        CHECK_THAT(open_error(file_of(one_tensor(R"({"dtype":"F32","shape":[2,2],"data_offsets":[-8,8]})"), 16)),
                   Contains("got [-8,8]"));
        CHECK_THAT(open_error(file_of(one_tensor(R"({"dtype":"F32","shape":[2,2],"data_offsets":[0,"16"]})"), 16)),
                   Contains("two non-negative integers"));
    }
    SECTION("unknown dtype") {
        const auto msg = open_error(file_of(one_tensor(R"({"dtype":"F8_E4M3","shape":[2,2],"data_offsets":[0,4]})"), 16));
        CHECK_THAT(msg, Contains("tensor 'conv.weight'") && Contains("unknown dtype 'F8_E4M3'") && Contains("BF16"));
    }
    SECTION("negative shape dimension") {
        CHECK_THAT(open_error(file_of(one_tensor(R"({"dtype":"F32","shape":[-2,2],"data_offsets":[0,16]})"), 16)),
                   Contains("tensor 'conv.weight'") && Contains("not a non-negative integer: -2"));
    }
    SECTION("non-integer shape dimension") {
        CHECK_THAT(open_error(file_of(one_tensor(R"({"dtype":"F32","shape":[2.5,2],"data_offsets":[0,16]})"), 16)),
                   Contains("tensor 'conv.weight'") && Contains("not a non-negative integer: 2.5"));
        CHECK_THAT(open_error(file_of(one_tensor(R"({"dtype":"F32","shape":[2,null],"data_offsets":[0,16]})"), 16)),
                   Contains("not a non-negative integer: null"));
    }
    SECTION("shape with an overflowing element count") {
        CHECK_THAT(
            open_error(file_of(
                one_tensor(R"({"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,16]})"), 16)),
            Contains("tensor 'conv.weight'") && Contains("too many"));
    }
    SECTION("data_offsets reversed") {
        CHECK_THAT(open_error(file_of(one_tensor(R"({"dtype":"F32","shape":[2,2],"data_offsets":[16,0]})"), 16)),
                   Contains("tensor 'conv.weight'") && Contains("data_offsets [16, 0] are reversed"));
    }
    SECTION("data_offsets beyond the buffer") {
        const auto msg =
            open_error(file_of(one_tensor(R"({"dtype":"F32","shape":[2,2],"data_offsets":[4096,4112]})"), 16));
        CHECK_THAT(msg, Contains("tensor 'conv.weight'") && Contains("data_offsets [4096, 4112] beyond the 16-byte") &&
                            Contains("truncated"));
    }
    SECTION("byte size not matching shape and dtype") {
        const auto msg = open_error(file_of(one_tensor(R"({"dtype":"F16","shape":[2,2],"data_offsets":[0,16]})"), 16));
        CHECK_THAT(msg, Contains("tensor 'conv.weight'") &&
                            Contains("hold 16 bytes, but shape [2, 2] of dtype F16 needs 8 (4 elements x 2 bytes)"));
    }
    SECTION("overlapping tensors") {
        const auto msg = open_error(file_of(
            R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})",
            16));
        CHECK_THAT(msg, Contains("tensors 'a'") && Contains("and 'b'") && Contains("overlap"));
    }
    SECTION("metadata not an object of strings") {
        CHECK_THAT(open_error(file_of(R"({"__metadata__":["pt"]})", 0)),
                   Contains(kName) && Contains("\"__metadata__\" is a JSON array"));
        CHECK_THAT(open_error(file_of(R"({"__metadata__":{"epoch":3}})", 0)),
                   Contains("\"__metadata__\" entry 'epoch' is a JSON number, not a string"));
    }
    SECTION("a file that does not exist") {
        try {
            (void)io::SafetensorsFile::open("/nonexistent/weights.safetensors");
            FAIL("no io_error was thrown");
        } catch (const io_error& e) {
            CHECK_THAT(std::string(e.what()), Contains("/nonexistent/weights.safetensors") && Contains("no such file"));
        }
    }
    SECTION("a U64 value outside the int64 range") {
        auto bytes = file_of(R"({"n":{"dtype":"U64","shape":[1],"data_offsets":[0,8]}})", 8);
        for (std::size_t i = bytes.size() - 8; i < bytes.size(); ++i) bytes[i] = std::byte{0xFF};
        const auto f = io::SafetensorsFile::from_bytes(bytes, kName);
        CHECK_THROWS_WITH(f.read_int64("n"), Contains("tensor 'n' element 0") && Contains("int64 range"));
    }
}

TEST_CASE("every prefix of a valid file is rejected cleanly", "[io][safetensors][errors]") {
    // A file with two tensors and metadata, cut at every length: an io_error each time, never a
    // crash or a silently short tensor.
    io::SafetensorsWriter w;
    const std::vector<float> a{1, 2, 3, 4, 5, 6};
    w.add("a", {2, 3}, a, io::Dtype::BF16);
    w.add("b", {6}, a);
    w.set_metadata("format", "pt");
    const auto whole = w.bytes();
    for (std::size_t n = 0; n < whole.size(); ++n) {
        INFO("first " << n << " of " << whole.size() << " bytes");
        const std::vector<std::byte> cut(whole.begin(), whole.begin() + static_cast<std::ptrdiff_t>(n));
        CHECK_THROWS_AS(io::SafetensorsFile::from_bytes(cut, kName), io_error);
    }
    CHECK(io::SafetensorsFile::from_bytes(whole).read_float("a") == a);
}

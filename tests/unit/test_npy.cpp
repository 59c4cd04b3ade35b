// .npy reading and writing against files numpy itself wrote (tools/fixtures/make_io_fixtures.py):
// every dtype and header version dualgrad reads, the writer byte for byte against numpy.save, and
// every malformed input as an io_error that names the file.
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "temp_files.hpp"

#include <dualgrad/io/npy.hpp>

using namespace dualgrad;
using Catch::Matchers::Contains;

namespace {

using dgtest::io_error_of;
using dgtest::write_bytes;
using dgtest::read_bytes;
using dgtest::TempDir;

const std::filesystem::path kDir = std::filesystem::path(DUALGRAD_FIXTURES_DIR) / "io_npy";





} // namespace

TEST_CASE("npy: every supported dtype reads as numpy wrote it", "[io][npy]") {
    const auto f4 = io::read_npy(kDir / "f4_2x3.npy");
    CHECK(f4.dtype() == io::NpyDtype::f4);
    CHECK(f4.shape() == std::vector<std::int64_t>{2, 3});
    CHECK(f4.as_float() == std::vector<float>{0.f, 1.5f, -2.f, 3.25f, 1e-8f, 65504.f});

    const auto f8 = io::read_npy(kDir / "f8_2x2.npy");
    CHECK(f8.dtype() == io::NpyDtype::f8);
    CHECK(f8.as_double() == std::vector<double>{0.1, -0.2, 1e300, 5.0});
    CHECK(f8.as_float()[0] == 0.1f); // rounded to nearest

    const auto i8 = io::read_npy_int64(kDir / "i8_3x4x5.npy", 3);
    CHECK(i8.shape == std::vector<std::int64_t>{3, 4, 5});
    REQUIRE(i8.values.size() == 60);
    for (std::size_t i = 0; i < 60; ++i) CHECK(i8.values[i] == static_cast<std::int64_t>(i) - 30);

    CHECK(io::read_npy(kDir / "i4_4.npy").as_int64() == std::vector<std::int64_t>{-2147483648LL, -1, 0, 2147483647});
    const auto u1 = io::read_npy(kDir / "u1_2x2.npy");
    CHECK(u1.dtype() == io::NpyDtype::u1);
    CHECK(u1.as_int64() == std::vector<std::int64_t>{0, 255, 7, 128});

    const auto scalar = io::read_npy(kDir / "f4_scalar.npy");
    CHECK(scalar.rank() == 0);
    CHECK(scalar.size() == 1);
    CHECK(scalar.as_float() == std::vector<float>{2.5f});

    const auto empty = io::read_npy_float(kDir / "f4_empty_0x3.npy", 2);
    CHECK(empty.shape == std::vector<std::int64_t>{0, 3});
    CHECK(empty.values.empty());
}

TEST_CASE("npy: header versions 2.0 and 3.0", "[io][npy]") {
    const auto v1 = io::read_npy(kDir / "f4_2x3.npy").as_float();
    CHECK(io::read_npy(kDir / "f4_v2.npy").as_float() == v1);
    CHECK(io::read_npy(kDir / "f4_v3.npy").as_float() == v1);
}

TEST_CASE("npy: a score map reads as a ScoreMap, float64 rounded", "[io][npy]") {
    const ScoreMap m = io::read_score_map(kDir / "f4_2x3.npy");
    CHECK(m.height() == 2);
    CHECK(m.width() == 3);
    CHECK(m(1, 0) == 3.25f);
    const ScoreMap d = io::read_score_map(kDir / "f8_2x2.npy"); // wsolevaluation saves float64
    CHECK(d(0, 1) == -0.2f);
}

TEST_CASE("npy: the writer matches numpy.save byte for byte", "[io][npy]") {
    const auto np_f4 = read_bytes(kDir / "np_save_f4_2x3.npy");
    const std::vector<float> f{0.f, 1.5f, -2.f, 3.25f, 1e-8f, 65504.f};
    const std::int64_t s23[] = {2, 3};
    CHECK(io::detail::npy_encode<float>(f, s23, "x") == np_f4);

    const std::vector<std::int64_t> i{5, -1, 0, 1LL << 40, -(1LL << 62)};
    const std::int64_t s5[] = {5};
    CHECK(io::detail::npy_encode<std::int64_t>(i, s5, "x") == read_bytes(kDir / "np_save_i8_5.npy"));

    const std::vector<std::uint8_t> u{1, 2, 3};
    const std::int64_t s13[] = {1, 3};
    CHECK(io::detail::npy_encode<std::uint8_t>(u, s13, "x") == read_bytes(kDir / "np_save_u1_1x3.npy"));

    TempDir tmp;
    io::write_npy(tmp.path / "a.npy", f, {2, 3});
    CHECK(read_bytes(tmp.path / "a.npy") == np_f4);
    ScoreMap m(2, 3, std::span<const float>(f));
    io::write_npy(tmp.path / "m.npy", m);
    CHECK(io::read_score_map(tmp.path / "m.npy") == m);
    io::write_npy(tmp.path / "t.npy", i, {5});
    CHECK(io::read_npy_int64(tmp.path / "t.npy", 1).values == i);

    // 0-d and 4-d shapes round-trip.
    const std::vector<float> one{7.f};
    io::write_npy(tmp.path / "s.npy", one, {});
    CHECK(io::read_npy(tmp.path / "s.npy").rank() == 0);
    const std::vector<float> four(2 * 1 * 3 * 2, 0.5f);
    io::write_npy(tmp.path / "n.npy", four, {2, 1, 3, 2});
    CHECK(io::read_npy_float(tmp.path / "n.npy", 4).shape == std::vector<std::int64_t>{2, 1, 3, 2});
}

TEST_CASE("npy: writer errors", "[io][npy][errors]") {
    TempDir tmp;
    const std::vector<float> f(5);
    CHECK_THROWS_AS(io::write_npy(tmp.path / "a.npy", f, {2, 3}), shape_error);
    CHECK_THAT(io_error_of([&] { io::write_npy(tmp.path / "no_such_dir" / "a.npy", f, {5}); }),
               Contains("no_such_dir") && Contains("does not exist"));
}

TEST_CASE("npy: wrong dtype or rank names the file, the expectation and what it holds", "[io][npy][errors]") {
    const auto path = kDir / "i8_3x4x5.npy";
    CHECK_THAT(io_error_of([&] { (void)io::read_npy_float(path, 2); }),
               Contains(path.string() + ": expected a float32 array of rank 2, got int64 of shape [3, 4, 5]"));
    CHECK_THAT(io_error_of([&] { (void)io::read_npy_float(path); }),
               Contains("expected a float32 array, got int64 of shape [3, 4, 5]"));
    CHECK_THAT(io_error_of([&] { (void)io::read_score_map(kDir / "f4_scalar.npy"); }),
               Contains("expected a float32 array of rank 2, got float32 of shape []"));
    CHECK_THAT(io_error_of([&] { (void)io::read_npy_int64(kDir / "f4_2x3.npy", 2); }),
               Contains("expected an int64 array of rank 2, got float32 of shape [2, 3]"));
    CHECK_THAT(io_error_of([&] { (void)io::read_npy(kDir / "u1_2x2.npy").as_float(); }),
               Contains("u1_2x2.npy") && Contains("floating-point"));
    CHECK_THAT(io_error_of([&] { (void)io::read_npy(kDir / "f4_2x3.npy").as_int64(); }), Contains("integer array"));
    CHECK_THAT(io_error_of([&] { io::read_npy(kDir / "f4_2x3.npy").require_rank(3, "a map stack"); }),
               Contains("expected a map stack of rank 3, got float32 of shape [2, 3]"));
}

TEST_CASE("npy: unsupported layouts and dtypes", "[io][npy][errors]") {
    CHECK_THAT(io_error_of([&] { (void)io::read_npy(kDir / "f4_fortran.npy"); }),
               Contains("f4_fortran.npy: ") && Contains("Fortran order"));
    CHECK_THAT(io_error_of([&] { (void)io::read_npy(kDir / "f4_bigendian.npy"); }),
               Contains("f4_bigendian.npy: ") && Contains("big-endian dtype '>f4'"));
    CHECK_THAT(io_error_of([&] { (void)io::read_npy(kDir / "c8_complex.npy"); }),
               Contains("c8_complex.npy: ") && Contains("unsupported dtype '<c8'"));
}

TEST_CASE("npy: missing, foreign, truncated and padded files", "[io][npy][errors]") {
    TempDir tmp;
    CHECK_THAT(io_error_of([&] { (void)io::read_npy(tmp.path / "nope.npy"); }),
               Contains("nope.npy: cannot open: no such file"));
    CHECK_THAT(io_error_of([&] { (void)io::read_npy(tmp.path); }), Contains("is a directory"));

    const auto good = read_bytes(kDir / "f4_2x3.npy"); // 128-byte header + 24 bytes of data
    REQUIRE(good.size() == 128 + 24);
    const auto bad = tmp.path / "bad.npy";

    auto with = [&](std::vector<std::byte> b) {
        write_bytes(bad, b);
        return io_error_of([&] { (void)io::read_npy(bad); });
    };
    std::vector<std::byte> magic = good;
    magic[1] = std::byte{'X'};
    CHECK_THAT(with(magic), Contains(bad.string() + ": not a .npy file"));
    CHECK_THAT(with({}), Contains("not a .npy file"));
    CHECK_THAT(with(std::vector<std::byte>(good.begin(), good.begin() + 8)), Contains("truncated .npy header"));
    CHECK_THAT(with(std::vector<std::byte>(good.begin(), good.begin() + 60)), Contains("truncated .npy header"));
    CHECK_THAT(with(std::vector<std::byte>(good.begin(), good.end() - 1)),
               Contains("truncated data") && Contains("needs 24 bytes, the file has 23"));
    auto longer = good;
    longer.push_back(std::byte{0});
    CHECK_THAT(with(longer), Contains("1 unexpected bytes after the data"));
    auto version = good;
    version[6] = std::byte{4};
    CHECK_THAT(with(version), Contains("unsupported .npy format version 4.0"));

    // A corrupted header dict.
    auto header = good;
    const std::string text(reinterpret_cast<const char*>(good.data()) + 10, 118);
    const auto at = text.find("'shape'");
    REQUIRE(at != std::string::npos);
    header[10 + at + 1] = std::byte{'X'}; // 'Xhape'
    CHECK_THAT(with(header), Contains("malformed .npy header") && Contains("Xhape"));
    auto tuple = good;
    tuple[10 + text.find('(') + 1] = std::byte{'-'};
    CHECK_THAT(with(tuple), Contains("malformed .npy header"));
}

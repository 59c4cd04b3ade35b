// io/idx.hpp: IDX parsing, gzip, Fashion-MNIST loading and every error it names. The files are
// built here from bytes; one test reads Debian's dataset-fashion-mnist when it is installed.
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "temp_files.hpp"
#include <unistd.h>
#include <zlib.h>

#include "dualgrad/io/idx.hpp"

namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<std::uint8_t>;
using Catch::Matchers::Contains;

/// An IDX file of unsigned bytes: magic 00 00 08 <rank>, big-endian sizes, then `data`.
Bytes make_idx(const std::vector<std::uint32_t>& dims, const Bytes& data) {
    Bytes b{0, 0, 0x08, static_cast<std::uint8_t>(dims.size())};
    for (std::uint32_t d : dims)
        for (int shift = 24; shift >= 0; shift -= 8) b.push_back(static_cast<std::uint8_t>(d >> shift));
    b.insert(b.end(), data.begin(), data.end());
    return b;
}

/// `bytes` as one gzip member (zlib's deflate with the gzip wrapper).
Bytes gzip(const Bytes& bytes) {
    z_stream zs{};
    REQUIRE(deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) == Z_OK);
    Bytes out(deflateBound(&zs, static_cast<uLong>(bytes.size())) + 32);
    zs.next_in = const_cast<Bytef*>(bytes.data());
    zs.avail_in = static_cast<uInt>(bytes.size());
    zs.next_out = out.data();
    zs.avail_out = static_cast<uInt>(out.size());
    REQUIRE(deflate(&zs, Z_FINISH) == Z_STREAM_END);
    out.resize(zs.total_out);
    deflateEnd(&zs);
    return out;
}


using dgtest::TempDir;

/// 3 images of 2 x 4 with pixel values 0..23 and labels 7, 0, 9.
const Bytes tiny_pixels = [] {
    Bytes p(24);
    for (std::size_t i = 0; i < p.size(); ++i) p[i] = static_cast<std::uint8_t>(i);
    return p;
}();
const Bytes tiny_labels{7, 0, 9};

} // namespace

TEST_CASE("parse_idx reads sizes and bytes as the format lays them out", "[idx]") {
    const auto a = dualgrad::io::parse_idx(make_idx({3, 2, 4}, tiny_pixels), "mem", 3);
    CHECK(a.dims == std::vector<int>{3, 2, 4});
    CHECK(a.data == tiny_pixels);
    // Sizes are big-endian: 0x00000102 = 258.
    const auto b = dualgrad::io::parse_idx(make_idx({258}, Bytes(258, 5)), "mem");
    CHECK(b.dims == std::vector<int>{258});
}

TEST_CASE("read_idx reads gzip-compressed and plain files alike", "[idx]") {
    TempDir dir;
    const Bytes idx = make_idx({3, 2, 4}, tiny_pixels);
    const auto gz = dualgrad::io::read_idx(dir.write("a-idx3-ubyte.gz", gzip(idx)), 3);
    const auto plain = dualgrad::io::read_idx(dir.write("a-idx3-ubyte", idx), 3);
    CHECK(gz.dims == plain.dims);
    CHECK(gz.data == tiny_pixels);
    CHECK(plain.data == tiny_pixels);
    // Concatenated gzip members are one stream (RFC 1952), as gunzip reads them.
    Bytes two = gzip(Bytes(idx.begin(), idx.begin() + 10));
    const Bytes rest = gzip(Bytes(idx.begin() + 10, idx.end()));
    two.insert(two.end(), rest.begin(), rest.end());
    CHECK(dualgrad::io::read_idx(dir.write("b.gz", two)).data == tiny_pixels);
}

TEST_CASE("a wrong magic number is an io_error naming the file", "[idx]") {
    TempDir dir;
    Bytes bad = make_idx({3, 2, 4}, tiny_pixels);
    bad[0] = 0x12;
    const auto p = dir.write("bad-magic.gz", gzip(bad));
    CHECK_THROWS_AS(dualgrad::io::read_idx(p), dualgrad::io_error);
    CHECK_THROWS_WITH(dualgrad::io::read_idx(p), Contains("bad-magic.gz") && Contains("wrong magic number 0x12000803"));

    Bytes f32 = make_idx({3, 2, 4}, tiny_pixels);
    f32[2] = 0x0d; // float elements
    CHECK_THROWS_WITH(dualgrad::io::read_idx(dir.write("float.gz", gzip(f32))),
                      Contains("wrong magic number") && Contains("element type 0x0d"));

    // A label file (rank 1) where images (rank 3) are expected.
    const auto labels_as_images = dir.write("labels.gz", gzip(make_idx({3}, tiny_labels)));
    CHECK_THROWS_WITH(dualgrad::io::read_idx(labels_as_images, 3),
                      Contains("labels.gz") && Contains("1 dimensions, expected 3") && Contains("0x00000803"));
}

TEST_CASE("truncated or overlong IDX data is an io_error", "[idx]") {
    TempDir dir;
    Bytes idx = make_idx({3, 2, 4}, tiny_pixels);
    idx.pop_back();
    CHECK_THROWS_WITH(dualgrad::io::read_idx(dir.write("short.gz", gzip(idx))),
                      Contains("short.gz") && Contains("truncated") && Contains("24 elements") && Contains("23"));
    CHECK_THROWS_WITH(dualgrad::io::read_idx(dir.write("header.gz", gzip(Bytes{0, 0, 8, 3, 0, 0}))),
                      Contains("truncated") && Contains("header"));
    CHECK_THROWS_WITH(dualgrad::io::read_idx(dir.write("tiny", Bytes{0, 0})), Contains("truncated"));
    Bytes longer = make_idx({3, 2, 4}, tiny_pixels);
    longer.push_back(1);
    CHECK_THROWS_WITH(dualgrad::io::read_idx(dir.write("long", longer)), Contains("1 bytes of trailing data"));
}

TEST_CASE("a corrupt or truncated gzip stream is an io_error", "[idx]") {
    TempDir dir;
    const Bytes gz = gzip(make_idx({3, 2, 4}, tiny_pixels));

    const Bytes cut(gz.begin(), gz.begin() + static_cast<std::ptrdiff_t>(gz.size() / 2));
    CHECK_THROWS_WITH(dualgrad::io::read_idx(dir.write("cut.gz", cut)),
                      Contains("cut.gz") && Contains("bad gzip stream: truncated"));

    Bytes corrupt = gz;
    corrupt[3] = 0xe0; // reserved FLG bits set: zlib rejects the header
    CHECK_THROWS_WITH(dualgrad::io::read_idx(dir.write("flags.gz", corrupt)),
                      Contains("flags.gz") && Contains("bad gzip stream"));

    Bytes crc = gz;
    crc[crc.size() - 6] ^= 0xff; // the CRC-32 of the trailer no longer matches the data
    CHECK_THROWS_WITH(dualgrad::io::read_idx(dir.write("crc.gz", crc)), Contains("bad gzip stream"));

    Bytes trailing = gz;
    trailing.push_back(0x42);
    CHECK_THROWS_WITH(dualgrad::io::read_idx(dir.write("trail.gz", trailing)), Contains("trailing data"));

    CHECK_THROWS_WITH(dualgrad::io::read_idx(dir.write("plain.gz", make_idx({3}, tiny_labels))),
                      Contains("plain.gz") && Contains("bad gzip stream") && Contains("1f 8b"));
}

TEST_CASE("load_idx_dataset pairs images with labels and checks their counts", "[idx]") {
    TempDir dir;
    const auto images = dir.write("i.gz", gzip(make_idx({3, 2, 4}, tiny_pixels)));
    const auto labels = dir.write("l.gz", gzip(make_idx({3}, tiny_labels)));
    const auto d = dualgrad::io::load_idx_dataset(images, labels);
    CHECK(d.size() == 3);
    CHECK(d.rows() == 2);
    CHECK(d.cols() == 4);
    CHECK(d.label(0) == 7);
    CHECK(d.label(2) == 9);
    const auto img1 = d.image(1);
    REQUIRE(img1.size() == 8);
    CHECK(int{img1[0]} == 8); // second image starts at byte 8
    CHECK(int{img1[7]} == 15);
    CHECK_THROWS_AS(d.image(3), dualgrad::value_error);

    const auto two_labels = dir.write("l2.gz", gzip(make_idx({2}, Bytes{1, 2})));
    CHECK_THROWS_AS(dualgrad::io::load_idx_dataset(images, two_labels), dualgrad::io_error);
    CHECK_THROWS_WITH(dualgrad::io::load_idx_dataset(images, two_labels),
                      Contains("i.gz") && Contains("l2.gz") && Contains("3 images but 2 labels"));

    const auto bad_label = dir.write("l3.gz", gzip(make_idx({3}, Bytes{1, 10, 2})));
    CHECK_THROWS_WITH(dualgrad::io::load_idx_dataset(images, bad_label),
                      Contains("l3.gz") && Contains("label 10 of item 1"));
}

TEST_CASE("a missing Fashion-MNIST says which Debian package to install", "[idx]") {
    TempDir dir;
    const fs::path nowhere = dir.path / "not-there";
    CHECK_THROWS_AS(dualgrad::io::load_fashion_mnist(dualgrad::io::FashionMnistSplit::test, nowhere),
                    dualgrad::io_error);
    CHECK_THROWS_WITH(dualgrad::io::load_fashion_mnist(dualgrad::io::FashionMnistSplit::test, nowhere),
                      Contains("dataset-fashion-mnist") && Contains("t10k-images-idx3-ubyte.gz") &&
                          Contains("not-there"));
    CHECK_THROWS_WITH(dualgrad::io::load_fashion_mnist(dualgrad::io::FashionMnistSplit::train, nowhere),
                      Contains("dataset-fashion-mnist") && Contains("train-images-idx3-ubyte.gz"));
    CHECK_THROWS_WITH(dualgrad::io::read_idx(nowhere / "x.gz"), Contains("x.gz") && Contains("no such file"));
}

TEST_CASE("load_fashion_mnist finds the Debian file names, compressed or not", "[idx]") {
    TempDir dir;
    dir.write("t10k-images-idx3-ubyte.gz", gzip(make_idx({3, 2, 4}, tiny_pixels)));
    dir.write("t10k-labels-idx1-ubyte", make_idx({3}, tiny_labels)); // an unpacked label file
    const auto d = dualgrad::io::load_fashion_mnist(dualgrad::io::FashionMnistSplit::test, dir.path);
    CHECK(d.size() == 3);
    CHECK(d.label(0) == 7);
    // Only the test files exist: the train split is missing.
    CHECK_THROWS_WITH(dualgrad::io::load_fashion_mnist(dualgrad::io::FashionMnistSplit::train, dir.path),
                      Contains("dataset-fashion-mnist"));
}

TEST_CASE("Debian's Fashion-MNIST t10k holds its published labels", "[idx][dataset]") {
    const fs::path dir(dualgrad::io::fashion_mnist_default_dir);
    // ctest runs the [dataset] tests only where Fashion-MNIST is installed (tests/CMakeLists.txt).
    REQUIRE(fs::exists(dir / "t10k-labels-idx1-ubyte.gz"));
    REQUIRE(fs::exists(dir / "t10k-images-idx3-ubyte.gz"));
    const auto t = dualgrad::io::load_fashion_mnist(dualgrad::io::FashionMnistSplit::test);
    REQUIRE(t.size() == 10000);
    CHECK(t.rows() == 28);
    CHECK(t.cols() == 28);
    // The first labels of t10k (ankle boot, pullover, trouser, trouser, shirt, ...), as in
    // zalandoresearch/fashion-mnist, and its 1000 items per class.
    const std::vector<int> first{9, 2, 1, 1, 6, 1, 4, 6, 5, 7, 4, 5, 7, 3, 4, 1, 2, 4, 8, 0};
    for (std::size_t i = 0; i < first.size(); ++i) CHECK(t.label(static_cast<int>(i)) == first[i]);
    std::vector<int> per_class(10, 0);
    for (auto l : t.labels()) ++per_class[l];
    CHECK(per_class == std::vector<int>(10, 1000));
    // The first image's pixel sum, from Python's gzip + struct on the same file.
    long sum = 0;
    for (auto v : t.image(0)) sum += v;
    CHECK(sum == 33456);
}

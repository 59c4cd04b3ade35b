#pragma once
/// \file
/// Reading IDX files (the MNIST / Fashion-MNIST array format), plain or gzip-compressed, and
/// loading Fashion-MNIST from Debian's `dataset-fashion-mnist` package.
///
/// IDX layout (http://yann.lecun.com/exdb/mnist/): a 4-byte magic `00 00 TT NN` where TT is the
/// element type (0x08 = unsigned byte, the only type Fashion-MNIST uses and the only one read
/// here) and NN the number of dimensions, then NN big-endian uint32 sizes, then the elements,
/// row-major. Images are `idx3` (count x rows x cols, magic 0x00000803 = 2051), labels `idx1`
/// (count, magic 0x00000801 = 2049).
///
/// Every problem is an `io_error` naming the file: missing file (for Fashion-MNIST the message
/// says to install `dataset-fashion-mnist`), a corrupt or truncated gzip stream, a wrong magic,
/// fewer or more bytes than the sizes announce, and images and labels that disagree in count.
///
///     auto test = dualgrad::io::load_fashion_mnist(dualgrad::io::FashionMnistSplit::test);
///     int label = test.label(0);                       // 9: ankle boot
///     std::span<const std::uint8_t> px = test.image(0); // 28*28 gray values, row-major

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <zlib.h>

#include "dualgrad/error.hpp"

namespace dualgrad::io {

/// An IDX array of unsigned bytes: its sizes (outermost first) and its row-major elements.
struct IdxArray {
    std::vector<int> dims;
    std::vector<std::uint8_t> data;
};

namespace detail {

/// Throws `io_error` "IDX file '<source>': <what...>".
template <class... Args>
[[noreturn]] void idx_fail(std::string_view source, Args&&... what) {
    dualgrad::detail::raise<io_error>("IDX file '", source, "': ", std::forward<Args>(what)...);
}

/// The byte budget of an IDX file, compressed or decompressed: 512 MiB (the Fashion-MNIST train
/// images are 47 MB). Decompression stops when its output would pass it, before allocating more.
inline constexpr std::size_t idx_max_bytes = std::size_t{1} << 29;

[[nodiscard]] inline std::vector<std::uint8_t> idx_read_file(const std::filesystem::path& path) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec))
        idx_fail(path.string(), "no such file");
    std::ifstream in(path, std::ios::binary);
    if (!in) idx_fail(path.string(), "cannot be opened for reading");
    in.seekg(0, std::ios::end);
    const auto size = static_cast<std::streamoff>(in.tellg());
    if (size < 0) idx_fail(path.string(), "cannot determine its size");
    if (static_cast<std::uint64_t>(size) > idx_max_bytes)
        idx_fail(path.string(), "is ", size, " bytes, over the limit of ", idx_max_bytes, " bytes");
    in.seekg(0, std::ios::beg);
    std::vector<std::uint8_t> bytes(static_cast<std::size_t>(size));
    if (size > 0 && !in.read(reinterpret_cast<char*>(bytes.data()), size))
        idx_fail(path.string(), "read failed after ", in.gcount(), " of ", size, " bytes");
    return bytes;
}

[[nodiscard]] constexpr std::uint32_t idx_load_be32(const std::uint8_t* p) noexcept {
    return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
           std::uint32_t{p[3]};
}

} // namespace detail

/// Whether `bytes` start with the gzip magic (1f 8b).
[[nodiscard]] inline bool is_gzip(std::span<const std::uint8_t> bytes) noexcept {
    return bytes.size() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b;
}

/// Decompresses a gzip stream (one or more concatenated members, RFC 1952) held in memory.
/// `source` names the data in error messages. Throws `io_error` on a corrupt stream, a stream
/// that ends early, trailing bytes that are not another gzip member, or output that would pass
/// `max_bytes` (checked before each append, so a decompression bomb allocates at most about
/// `max_bytes`).
[[nodiscard]] inline std::vector<std::uint8_t> gunzip(std::span<const std::uint8_t> bytes, std::string_view source,
                                                      std::size_t max_bytes = detail::idx_max_bytes) {
    if (!is_gzip(bytes)) detail::idx_fail(source, "not a gzip stream (it does not start with 1f 8b)");
    z_stream zs{};
    // 16 + MAX_WBITS: gzip wrapper only, so that a zlib or raw stream is reported, not guessed.
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) detail::idx_fail(source, "zlib could not start inflating");
    struct End {
        z_stream* z;
        ~End() { inflateEnd(z); }
    } end{&zs};

    std::vector<std::uint8_t> out;
    std::array<std::uint8_t, 1 << 16> chunk{};
    std::size_t offset = 0;
    while (true) {
        const std::size_t in_left = bytes.size() - offset;
        zs.next_in = const_cast<Bytef*>(reinterpret_cast<const Bytef*>(bytes.data() + offset));
        zs.avail_in = static_cast<uInt>(std::min<std::size_t>(in_left, std::numeric_limits<uInt>::max()));
        const uInt given = zs.avail_in;
        zs.next_out = chunk.data();
        zs.avail_out = static_cast<uInt>(chunk.size());
        const int rc = inflate(&zs, Z_NO_FLUSH);
        offset += given - zs.avail_in;
        const std::size_t produced = chunk.size() - zs.avail_out;
        if (produced > max_bytes - out.size())
            detail::idx_fail(source, "decompresses to more than ", max_bytes, " bytes (the byte budget)");
        out.insert(out.end(), chunk.begin(), chunk.begin() + static_cast<std::ptrdiff_t>(produced));
        if (rc == Z_STREAM_END) {
            if (offset == bytes.size()) break;
            // Another member follows (gzip allows concatenation), or garbage does.
            if (!is_gzip(bytes.subspan(offset)))
                detail::idx_fail(source, "bad gzip stream: ", bytes.size() - offset,
                                 " bytes of trailing data after the compressed stream");
            if (inflateReset(&zs) != Z_OK) detail::idx_fail(source, "zlib could not restart inflating");
            continue;
        }
        if (rc == Z_OK) continue;
        if (rc == Z_BUF_ERROR && offset == bytes.size())
            detail::idx_fail(source, "bad gzip stream: truncated (the compressed data ends after ", bytes.size(),
                             " bytes, before the end of the stream)");
        detail::idx_fail(source, "bad gzip stream: ", zs.msg != nullptr ? zs.msg : "corrupt data",
                         " (zlib error ", rc, ")");
    }
    return out;
}

/// Parses an IDX array of unsigned bytes from `bytes` (already decompressed). `expected_rank`,
/// when not negative, is the number of dimensions required (3 for images, 1 for labels).
[[nodiscard]] inline IdxArray parse_idx(std::span<const std::uint8_t> bytes, std::string_view source,
                                        int expected_rank = -1) {
    if (bytes.size() < 4)
        detail::idx_fail(source, "truncated: ", bytes.size(), " bytes, too short for the 4-byte magic number");
    const std::uint32_t magic = detail::idx_load_be32(bytes.data());
    const auto hex = [](std::uint32_t v, int digits = 8) {
        static constexpr char hexdigits[] = "0123456789abcdef";
        std::string s = "0x";
        for (int shift = 4 * (digits - 1); shift >= 0; shift -= 4) s += hexdigits[(v >> shift) & 0xfu];
        return s;
    };
    if (bytes[0] != 0 || bytes[1] != 0)
        detail::idx_fail(source, "wrong magic number ", hex(magic),
                         ": an IDX file starts with two zero bytes (is it still compressed, or not IDX?)");
    if (bytes[2] != 0x08)
        detail::idx_fail(source, "wrong magic number ", hex(magic), ": element type ", hex(bytes[2], 2),
                         " is not 0x08 (unsigned byte), the only type read here");
    const int rank = bytes[3];
    if (expected_rank >= 0 && rank != expected_rank)
        detail::idx_fail(source, "wrong magic number ", hex(magic), ": ", rank, " dimensions, expected ",
                         expected_rank, " (magic ", hex(0x0800u + static_cast<std::uint32_t>(expected_rank)), ")");
    if (rank == 0) detail::idx_fail(source, "wrong magic number ", hex(magic), ": zero dimensions");
    const std::size_t header = 4 + 4 * static_cast<std::size_t>(rank);
    if (bytes.size() < header)
        detail::idx_fail(source, "truncated: ", bytes.size(), " bytes, the header of ", rank,
                         " dimensions needs ", header);
    IdxArray a;
    std::size_t count = 1;
    for (int d = 0; d < rank; ++d) {
        const std::uint32_t n = detail::idx_load_be32(bytes.data() + 4 + 4 * static_cast<std::size_t>(d));
        if (n > static_cast<std::uint32_t>(std::numeric_limits<int>::max()))
            detail::idx_fail(source, "dimension ", d, " has size ", n, ", too large");
        a.dims.push_back(static_cast<int>(n));
        if (n != 0 && count > detail::idx_max_bytes / n)
            detail::idx_fail(source, "sizes announce more than ", detail::idx_max_bytes, " elements");
        count *= n;
    }
    const std::size_t have = bytes.size() - header;
    if (have < count)
        detail::idx_fail(source, "truncated: the sizes announce ", count, " elements, the file holds ", have);
    if (have > count)
        detail::idx_fail(source, have - count, " bytes of trailing data after the ", count, " elements");
    a.data.assign(bytes.begin() + static_cast<std::ptrdiff_t>(header), bytes.end());
    return a;
}

/// Reads an IDX array of unsigned bytes from `path`, gzip-compressed (detected by its magic, as
/// Debian and the upstream distribution ship them) or plain.
[[nodiscard]] inline IdxArray read_idx(const std::filesystem::path& path, int expected_rank = -1) {
    const std::vector<std::uint8_t> raw = detail::idx_read_file(path);
    const std::string source = path.string();
    if (is_gzip(raw)) return parse_idx(gunzip(raw, source), source, expected_rank);
    if (path.extension() == ".gz")
        detail::idx_fail(source, "bad gzip stream: the name ends in .gz but the data does not start with "
                                 "the gzip magic 1f 8b");
    return parse_idx(raw, source, expected_rank);
}

// --- Fashion-MNIST -------------------------------------------------------------------------------

/// The two parts of Fashion-MNIST: 60000 training items and 10000 test ("t10k") items.
enum class FashionMnistSplit { train, test };

/// Where Debian's `dataset-fashion-mnist` installs the IDX files.
inline constexpr std::string_view fashion_mnist_default_dir = "/usr/share/datasets/fashion-mnist";

/// The ten Fashion-MNIST classes, by label.
inline constexpr std::array<std::string_view, 10> fashion_mnist_class_names = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};

/// Fashion-MNIST items (or any set of labelled gray images of one size): `count` images of
/// `rows` x `cols` unsigned bytes (0 = background, 255 = full ink), row-major, and their labels.
class FashionMnist {
public:
    FashionMnist() = default;
    /// Takes the images (count*rows*cols bytes) and labels (count values, each 0..9); throws
    /// `value_error` if the sizes disagree or a label is out of range. `source` names the data.
    FashionMnist(int count, int rows, int cols, std::vector<std::uint8_t> images, std::vector<std::uint8_t> labels,
                 std::string source = "Fashion-MNIST (in memory)")
        : count_(count), rows_(rows), cols_(cols), images_(std::move(images)), labels_(std::move(labels)),
          source_(std::move(source)) {
        if (count < 0 || rows <= 0 || cols <= 0)
            dualgrad::detail::raise<value_error>(source_, ": invalid sizes ", count, " items of ", rows, "x", cols);
        const std::size_t pixels = static_cast<std::size_t>(count) * static_cast<std::size_t>(rows) *
                                   static_cast<std::size_t>(cols);
        if (images_.size() != pixels)
            dualgrad::detail::raise<value_error>(source_, ": ", images_.size(), " image bytes for ", count,
                                                 " items of ", rows, "x", cols, " (", pixels, " expected)");
        if (labels_.size() != static_cast<std::size_t>(count))
            dualgrad::detail::raise<value_error>(source_, ": ", labels_.size(), " labels for ", count, " images");
        for (std::size_t i = 0; i < labels_.size(); ++i)
            if (labels_[i] >= fashion_mnist_class_names.size())
                dualgrad::detail::raise<value_error>(source_, ": label ", int{labels_[i]}, " of item ", i,
                                                     " is not a class 0..9");
    }

    [[nodiscard]] int size() const noexcept { return count_; }
    [[nodiscard]] int rows() const noexcept { return rows_; }
    [[nodiscard]] int cols() const noexcept { return cols_; }
    /// What the items were read from (file names), for messages.
    [[nodiscard]] const std::string& source() const noexcept { return source_; }

    /// Item `i`'s rows*cols gray values, row-major. Throws `value_error` if `i` is out of range.
    [[nodiscard]] std::span<const std::uint8_t> image(int i) const {
        check(i);
        const std::size_t n = static_cast<std::size_t>(rows_) * static_cast<std::size_t>(cols_);
        return std::span<const std::uint8_t>(images_).subspan(static_cast<std::size_t>(i) * n, n);
    }
    /// Item `i`'s class, 0..9.
    [[nodiscard]] int label(int i) const {
        check(i);
        return labels_[static_cast<std::size_t>(i)];
    }
    [[nodiscard]] std::span<const std::uint8_t> labels() const noexcept { return labels_; }

private:
    void check(int i) const {
        if (i < 0 || i >= count_)
            dualgrad::detail::raise<value_error>(source_, ": item ", i, " out of range (", count_, " items)");
    }
    int count_ = 0;
    int rows_ = 0;
    int cols_ = 0;
    std::vector<std::uint8_t> images_;
    std::vector<std::uint8_t> labels_;
    std::string source_;
};

/// Loads an IDX image file (count x rows x cols) and its IDX label file (count), gzip-compressed
/// or plain. Throws `io_error` naming the file on any problem, including a count mismatch.
[[nodiscard]] inline FashionMnist load_idx_dataset(const std::filesystem::path& images_path,
                                                   const std::filesystem::path& labels_path) {
    const IdxArray images = read_idx(images_path, 3);
    const IdxArray labels = read_idx(labels_path, 1);
    if (images.dims[0] != labels.dims[0])
        dualgrad::detail::raise<io_error>("IDX files '", images_path.string(), "' and '", labels_path.string(),
                                          "': ", images.dims[0], " images but ", labels.dims[0], " labels");
    for (std::size_t i = 0; i < labels.data.size(); ++i)
        if (labels.data[i] >= fashion_mnist_class_names.size())
            detail::idx_fail(labels_path.string(), "label ", int{labels.data[i]}, " of item ", i,
                             " is not a class 0..9");
    return FashionMnist(images.dims[0], images.dims[1], images.dims[2], images.data, labels.data,
                        images_path.string());
}

/// Loads one split of Fashion-MNIST from `dir` (default: where Debian's `dataset-fashion-mnist`
/// puts it): `{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz`, or the same names without `.gz`.
/// A missing file gives an `io_error` that names it and the Debian package to install.
[[nodiscard]] inline FashionMnist load_fashion_mnist(FashionMnistSplit split,
                                                     const std::filesystem::path& dir = fashion_mnist_default_dir) {
    const std::string prefix = split == FashionMnistSplit::train ? "train" : "t10k";
    const auto locate = [&](const std::string& stem) {
        std::error_code ec;
        const std::filesystem::path gz = dir / (stem + ".gz");
        if (std::filesystem::is_regular_file(gz, ec)) return gz;
        const std::filesystem::path plain = dir / stem;
        if (std::filesystem::is_regular_file(plain, ec)) return plain;
        dualgrad::detail::raise<io_error>(
            "Fashion-MNIST file '", gz.string(), "' not found (nor '", plain.string(), "'): install the Debian ",
            "package dataset-fashion-mnist (apt install dataset-fashion-mnist), or pass the directory that holds ",
            "the IDX files");
    };
    const std::filesystem::path images = locate(prefix + "-images-idx3-ubyte");
    const std::filesystem::path labels = locate(prefix + "-labels-idx1-ubyte");
    return load_idx_dataset(images, labels);
}

} // namespace dualgrad::io

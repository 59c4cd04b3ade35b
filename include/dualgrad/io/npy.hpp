#pragma once
/// \file
/// Reading and writing NumPy `.npy` files: score maps (`dualgrad score` reads `<image_id>.npy`),
/// raw maps, logits and targets (`dualgrad maps` writes them).
///
/// Format (numpy/lib/format.py): the magic `\x93NUMPY`, a major and a minor version byte, the
/// header length (2 bytes little-endian for version 1.0, 4 bytes for 2.0 and 3.0), then a Python
/// dict literal `{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }` padded with spaces
/// and ended by '\n' (latin-1 in 1.0 and 2.0, UTF-8 in 3.0), then the elements in C order.
///
/// Read: versions 1.0, 2.0 and 3.0; dtypes `<f4`, `<f8`, `<i4`, `<i8` and `|u1` (`<u1`, `=u1`
/// accepted as numpy treats them alike), C order. Fortran order, big-endian dtypes, other dtypes,
/// a truncated header or data, and bytes after the data are `io_error`s that start with the
/// file's path. Written: float32 (`<f4`), int64 (`<i8`) and uint8 (`|u1`), version 1.0 (2.0 when
/// the header would not fit), header padded to a multiple of 64 bytes as numpy does.
///
///     auto maps = dualgrad::io::read_npy_float("out/run.layer4.npy", 4);   // [N, T, h, w]
///     dualgrad::ScoreMap m = dualgrad::io::read_score_map("scoremaps/a/b.jpg.npy");
///     dualgrad::io::write_npy("out/run.logits.npy", logits, {n, classes});

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <initializer_list>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "dualgrad/error.hpp"
#include "dualgrad/io/detail/files.hpp"
#include "dualgrad/map2d.hpp"

namespace dualgrad::io {

/// The element types dualgrad reads from and writes to `.npy` files (little-endian).
enum class NpyDtype : std::uint8_t { f4, f8, i4, i8, u1 };

/// numpy's name of `d` ("float32", "int64", ...).
[[nodiscard]] constexpr std::string_view npy_dtype_name(NpyDtype d) noexcept {
    switch (d) {
    case NpyDtype::f4: return "float32";
    case NpyDtype::f8: return "float64";
    case NpyDtype::i4: return "int32";
    case NpyDtype::i8: return "int64";
    case NpyDtype::u1: return "uint8";
    }
    return "?";
}

/// The `descr` string of `d` in a header ("<f4", "|u1", ...).
[[nodiscard]] constexpr std::string_view npy_descr(NpyDtype d) noexcept {
    switch (d) {
    case NpyDtype::f4: return "<f4";
    case NpyDtype::f8: return "<f8";
    case NpyDtype::i4: return "<i4";
    case NpyDtype::i8: return "<i8";
    case NpyDtype::u1: return "|u1";
    }
    return "?";
}

/// Bytes per element of `d`.
[[nodiscard]] constexpr std::size_t npy_itemsize(NpyDtype d) noexcept {
    switch (d) {
    case NpyDtype::f4:
    case NpyDtype::i4: return 4;
    case NpyDtype::f8:
    case NpyDtype::i8: return 8;
    case NpyDtype::u1: return 1;
    }
    return 0;
}

[[nodiscard]] constexpr bool is_floating(NpyDtype d) noexcept { return d == NpyDtype::f4 || d == NpyDtype::f8; }

/// A shape and row-major (C order) values: what the typed readers return.
template <class T>
struct NpyData {
    std::vector<std::int64_t> shape; ///< empty for a 0-d array
    std::vector<T> values;
};

namespace detail {

/// "[3, 4, 5]" ("[]" for a 0-d array).
[[nodiscard]] inline std::string npy_shape_string(std::span<const std::int64_t> shape) {
    std::string s = "[";
    for (std::size_t i = 0; i < shape.size(); ++i) {
        if (i > 0) s += ", ";
        s += std::to_string(shape[i]);
    }
    return s + "]";
}

/// Throws `io_error` "<source>: <what...>".
template <class... Args>
[[noreturn]] void npy_fail(std::string_view source, Args&&... what) {
    fail_file(source, std::forward<Args>(what)...);
}

/// A cursor over the header dict literal. numpy writes it with `repr`, so the grammar is small:
/// `{` (key `:` value `,`?)* `}`; keys are quoted strings; values a quoted string, True/False,
/// or a tuple of non-negative integers.
class NpyHeaderParser {
public:
    NpyHeaderParser(std::string_view text, std::string_view source) : s_(text), source_(source) {}

    struct Result {
        std::string descr;
        bool fortran_order = false;
        std::vector<std::int64_t> shape;
    };

    Result parse() {
        Result r;
        bool have_descr = false, have_order = false, have_shape = false;
        expect('{');
        while (true) {
            skip_space();
            if (peek() == '}') {
                ++pos_;
                break;
            }
            const std::string key = quoted();
            expect(':');
            if (key == "descr") {
                skip_space();
                if (peek() != '\'' && peek() != '"')
                    fail("the 'descr' is not a simple dtype string (structured dtypes are not supported)");
                r.descr = quoted();
                have_descr = true;
            } else if (key == "fortran_order") {
                r.fortran_order = boolean();
                have_order = true;
            } else if (key == "shape") {
                r.shape = tuple();
                have_shape = true;
            } else {
                fail("unexpected key '", key, "' in the header");
            }
            skip_space();
            if (peek() == ',') ++pos_;
            else if (peek() != '}') fail("expected ',' or '}' at offset ", pos_, " of the header");
        }
        skip_space();
        if (pos_ != s_.size()) fail("unexpected text after the header dict");
        if (!have_descr) fail("the header has no 'descr'");
        if (!have_order) fail("the header has no 'fortran_order'");
        if (!have_shape) fail("the header has no 'shape'");
        return r;
    }

private:
    template <class... Args>
    [[noreturn]] void fail(Args&&... what) const {
        npy_fail(source_, "malformed .npy header: ", std::forward<Args>(what)...);
    }
    [[nodiscard]] char peek() const noexcept { return pos_ < s_.size() ? s_[pos_] : '\0'; }
    void skip_space() noexcept {
        while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r'))
            ++pos_;
    }
    void expect(char c) {
        skip_space();
        if (peek() != c) fail("expected '", c, "' at offset ", pos_, " of the header");
        ++pos_;
    }
    std::string quoted() {
        skip_space();
        const char q = peek();
        if (q != '\'' && q != '"') fail("expected a quoted string at offset ", pos_, " of the header");
        const std::size_t end = s_.find(q, pos_ + 1);
        if (end == std::string_view::npos) fail("unterminated string in the header");
        std::string out(s_.substr(pos_ + 1, end - pos_ - 1));
        pos_ = end + 1;
        return out;
    }
    bool boolean() {
        skip_space();
        if (s_.substr(pos_, 4) == "True") {
            pos_ += 4;
            return true;
        }
        if (s_.substr(pos_, 5) == "False") {
            pos_ += 5;
            return false;
        }
        fail("'fortran_order' is neither True nor False");
    }
    std::vector<std::int64_t> tuple() {
        std::vector<std::int64_t> out;
        expect('(');
        while (true) {
            skip_space();
            if (peek() == ')') {
                ++pos_;
                return out;
            }
            if (peek() < '0' || peek() > '9') fail("the 'shape' holds something other than non-negative integers");
            std::int64_t v = 0;
            while (peek() >= '0' && peek() <= '9') {
                const int digit = peek() - '0';
                if (v > (std::numeric_limits<std::int64_t>::max() - digit) / 10) fail("a dimension of 'shape' overflows");
                v = v * 10 + digit;
                ++pos_;
            }
            if (peek() == 'L') ++pos_; // Python 2 longs
            out.push_back(v);
            skip_space();
            if (peek() == ',') ++pos_;
            else if (peek() != ')') fail("expected ',' or ')' in 'shape'");
        }
    }

    std::string_view s_;
    std::string_view source_;
    std::size_t pos_ = 0;
};

/// The dtype of a header `descr`, or an `io_error` saying why it is not supported.
[[nodiscard]] inline NpyDtype parse_npy_descr(const std::string& descr, std::string_view source) {
    if (descr.size() >= 2 && descr[0] == '>' && descr.substr(1) != "u1" && descr.substr(1) != "i1")
        npy_fail(source, "big-endian dtype '", descr,
                 "' is not supported; convert it with arr.astype(arr.dtype.newbyteorder('<'))");
    if (descr == "<f4") return NpyDtype::f4;
    if (descr == "<f8") return NpyDtype::f8;
    if (descr == "<i4") return NpyDtype::i4;
    if (descr == "<i8") return NpyDtype::i8;
    if (descr == "|u1" || descr == "<u1" || descr == "=u1" || descr == ">u1") return NpyDtype::u1;
    npy_fail(source, "unsupported dtype '", descr,
             "'; dualgrad reads float32 ('<f4'), float64 ('<f8'), int32 ('<i4'), int64 ('<i8') and uint8 ('|u1')");
}

template <std::size_t Bytes>
[[nodiscard]] inline auto npy_load_le(const std::byte* p) noexcept {
    using U = std::conditional_t<Bytes == 4, std::uint32_t, std::uint64_t>;
    U v = 0;
    if constexpr (std::endian::native == std::endian::little) {
        std::memcpy(&v, p, Bytes);
    } else {
        for (std::size_t i = 0; i < Bytes; ++i) v = static_cast<U>(v | (static_cast<U>(p[i]) << (8 * i)));
    }
    return v;
}

} // namespace detail

/// One array read from a `.npy` file: dtype, shape and its little-endian data, validated.
/// Typed access converts: `as_float` / `as_double` for floating-point arrays, `as_int64` for
/// integer arrays; asking for the wrong kind is an `io_error` naming the file.
class NpyArray {
public:
    /// Reads and validates the file at `path`.
    [[nodiscard]] static NpyArray read(const std::filesystem::path& path) {
        return parse(detail::read_file_bytes(path), path.string());
    }

    /// Validates the bytes of a `.npy` file; `source` names it in error messages.
    [[nodiscard]] static NpyArray parse(std::span<const std::byte> bytes, std::string source = "<memory>") {
        NpyArray a;
        a.source_ = std::move(source);
        const std::string_view src = a.source_;
        constexpr unsigned char magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
        if (bytes.size() < 6 || std::memcmp(bytes.data(), magic, 6) != 0)
            detail::npy_fail(src, "not a .npy file (the file does not start with the magic \"\\x93NUMPY\")");
        if (bytes.size() < 10) detail::npy_fail(src, "truncated .npy header (", bytes.size(), " bytes)");
        const auto major = static_cast<unsigned>(bytes[6]), minor = static_cast<unsigned>(bytes[7]);
        std::size_t header_len = 0, prefix = 0;
        if (major == 1) {
            header_len = static_cast<std::size_t>(bytes[8]) | (static_cast<std::size_t>(bytes[9]) << 8);
            prefix = 10;
        } else if (major == 2 || major == 3) {
            if (bytes.size() < 12) detail::npy_fail(src, "truncated .npy header (", bytes.size(), " bytes)");
            header_len = detail::npy_load_le<4>(bytes.data() + 8);
            prefix = 12;
        } else {
            detail::npy_fail(src, "unsupported .npy format version ", major, ".", minor, " (1.0, 2.0 and 3.0 are read)");
        }
        if (bytes.size() - prefix < header_len)
            detail::npy_fail(src, "truncated .npy header: it declares ", header_len, " bytes, the file has ",
                             bytes.size() - prefix, " after the preamble");
        const std::string_view header(reinterpret_cast<const char*>(bytes.data() + prefix), header_len);
        const auto parsed = detail::NpyHeaderParser(header, src).parse();
        if (parsed.fortran_order)
            detail::npy_fail(src, "the array is in Fortran order; dualgrad reads C order only "
                                  "(save numpy.ascontiguousarray(arr))");
        a.dtype_ = detail::parse_npy_descr(parsed.descr, src);
        a.shape_ = parsed.shape;

        std::uint64_t count = 1;
        for (auto d : a.shape_) {
            const auto u = static_cast<std::uint64_t>(d);
            if (u != 0 && count > std::numeric_limits<std::uint64_t>::max() / u / 8)
                detail::npy_fail(src, "the shape ", detail::npy_shape_string(a.shape_), " is too large");
            count *= u;
        }
        const std::uint64_t need = count * npy_itemsize(a.dtype_);
        const std::uint64_t have = bytes.size() - prefix - header_len;
        if (have < need)
            detail::npy_fail(src, "truncated data: a ", npy_dtype_name(a.dtype_), " array of shape ",
                             detail::npy_shape_string(a.shape_), " needs ", need, " bytes, the file has ", have);
        if (have > need)
            detail::npy_fail(src, have - need, " unexpected bytes after the data of a ", npy_dtype_name(a.dtype_),
                             " array of shape ", detail::npy_shape_string(a.shape_));
        const auto* data = bytes.data() + prefix + header_len;
        a.data_.assign(data, data + need);
        return a;
    }

    [[nodiscard]] NpyDtype dtype() const noexcept { return dtype_; }
    [[nodiscard]] const std::vector<std::int64_t>& shape() const noexcept { return shape_; }
    [[nodiscard]] std::size_t rank() const noexcept { return shape_.size(); }
    /// Number of elements (1 for a 0-d array).
    [[nodiscard]] std::size_t size() const noexcept { return data_.size() / npy_itemsize(dtype_); }
    /// The path or label the array was read from.
    [[nodiscard]] const std::string& source() const noexcept { return source_; }
    /// The raw little-endian bytes, C order.
    [[nodiscard]] std::span<const std::byte> bytes() const noexcept { return data_; }

    /// "int64 of shape [3, 4, 5]".
    [[nodiscard]] std::string describe() const {
        return std::string(npy_dtype_name(dtype_)) + " of shape " + detail::npy_shape_string(shape_);
    }

    /// Throws `io_error` "<file>: expected <what> of rank <rank>, got <dtype> of shape [...]" unless
    /// the array has `rank` dimensions (any rank when `rank` < 0).
    void require_rank(int rank, std::string_view what = "an array") const {
        if (rank >= 0 && shape_.size() != static_cast<std::size_t>(rank))
            detail::npy_fail(source_, "expected ", what, " of rank ", rank, ", got ", describe());
    }

    /// The values as float (float64 rounds to nearest). Floating-point arrays only.
    [[nodiscard]] std::vector<float> as_float() const { return floating_as<float>(); }
    /// The values as double (exact). Floating-point arrays only.
    [[nodiscard]] std::vector<double> as_double() const { return floating_as<double>(); }

    /// The values as int64 (exact). Integer arrays only.
    [[nodiscard]] std::vector<std::int64_t> as_int64() const {
        if (is_floating(dtype_))
            detail::npy_fail(source_, "expected an integer array (int32, int64 or uint8), got ", describe());
        std::vector<std::int64_t> out(size());
        const std::byte* p = data_.data();
        for (std::size_t i = 0; i < out.size(); ++i) {
            switch (dtype_) {
            case NpyDtype::u1: out[i] = static_cast<std::uint8_t>(p[i]); break;
            case NpyDtype::i4: out[i] = static_cast<std::int32_t>(detail::npy_load_le<4>(p + 4 * i)); break;
            case NpyDtype::i8: out[i] = static_cast<std::int64_t>(detail::npy_load_le<8>(p + 8 * i)); break;
            default: break;
            }
        }
        return out;
    }

private:
    template <class T>
    [[nodiscard]] std::vector<T> floating_as() const {
        if (!is_floating(dtype_))
            detail::npy_fail(source_, "expected a floating-point array (float32 or float64), got ", describe());
        std::vector<T> out(size());
        const std::byte* p = data_.data();
        if (dtype_ == NpyDtype::f4) {
            for (std::size_t i = 0; i < out.size(); ++i)
                out[i] = static_cast<T>(std::bit_cast<float>(detail::npy_load_le<4>(p + 4 * i)));
        } else {
            for (std::size_t i = 0; i < out.size(); ++i)
                out[i] = static_cast<T>(std::bit_cast<double>(detail::npy_load_le<8>(p + 8 * i)));
        }
        return out;
    }

    NpyDtype dtype_ = NpyDtype::f4;
    std::vector<std::int64_t> shape_;
    std::vector<std::byte> data_;
    std::string source_;
};

/// Reads any supported `.npy` file.
[[nodiscard]] inline NpyArray read_npy(const std::filesystem::path& path) { return NpyArray::read(path); }

/// Reads a float32 (or float64, rounded) array of `rank` dimensions (any rank if `rank` < 0).
/// Otherwise `io_error`, e.g. "scoremaps/abc.npy: expected a float32 array of rank 2, got int64
/// of shape [3, 4, 5]".
[[nodiscard]] inline NpyData<float> read_npy_float(const std::filesystem::path& path, int rank = -1) {
    const NpyArray a = NpyArray::read(path);
    const bool kind_ok = is_floating(a.dtype());
    const bool rank_ok = rank < 0 || a.rank() == static_cast<std::size_t>(rank);
    if (!kind_ok || !rank_ok) {
        if (rank >= 0)
            detail::npy_fail(a.source(), "expected a float32 array of rank ", rank, ", got ", a.describe());
        detail::npy_fail(a.source(), "expected a float32 array, got ", a.describe());
    }
    return {a.shape(), a.as_float()};
}

/// Reads an integer array (int32, int64 or uint8) of `rank` dimensions (any if `rank` < 0) as int64.
[[nodiscard]] inline NpyData<std::int64_t> read_npy_int64(const std::filesystem::path& path, int rank = -1) {
    const NpyArray a = NpyArray::read(path);
    const bool kind_ok = !is_floating(a.dtype());
    const bool rank_ok = rank < 0 || a.rank() == static_cast<std::size_t>(rank);
    if (!kind_ok || !rank_ok) {
        if (rank >= 0)
            detail::npy_fail(a.source(), "expected an int64 array of rank ", rank, ", got ", a.describe());
        detail::npy_fail(a.source(), "expected an int64 array, got ", a.describe());
    }
    return {a.shape(), a.as_int64()};
}

/// Reads an H x W score map (float32, or float64 rounded to float as wsolevaluation saves them).
[[nodiscard]] inline ScoreMap read_score_map(const std::filesystem::path& path) {
    auto d = read_npy_float(path, 2);
    constexpr auto max_int = static_cast<std::int64_t>(std::numeric_limits<int>::max());
    if (d.shape[0] > max_int || d.shape[1] > max_int)
        detail::npy_fail(path.string(), "the score map ", detail::npy_shape_string(d.shape), " is too large");
    return ScoreMap(static_cast<int>(d.shape[0]), static_cast<int>(d.shape[1]), std::span<const float>(d.values));
}

// --- writing -----------------------------------------------------------------------------------

namespace detail {

template <class T>
constexpr NpyDtype npy_dtype_of() {
    if constexpr (std::is_same_v<T, float>) return NpyDtype::f4;
    else if constexpr (std::is_same_v<T, std::int64_t>) return NpyDtype::i8;
    else return NpyDtype::u1;
}

/// The complete bytes of a `.npy` file holding `values` with `shape`.
template <class T>
[[nodiscard]] std::vector<std::byte> npy_encode(std::span<const T> values, std::span<const std::int64_t> shape,
                                                std::string_view what) {
    std::uint64_t count = 1;
    for (auto d : shape) {
        if (d < 0) dualgrad::detail::raise<shape_error>(what, ": negative dimension in shape ", npy_shape_string(shape));
        count *= static_cast<std::uint64_t>(d);
    }
    if (count != values.size())
        dualgrad::detail::raise<shape_error>(what, ": ", values.size(), " values for the shape ",
                                             npy_shape_string(shape), " (", count, " expected)");
    std::string dict = "{'descr': '";
    dict += npy_descr(npy_dtype_of<T>());
    dict += "', 'fortran_order': False, 'shape': (";
    for (std::size_t i = 0; i < shape.size(); ++i) {
        if (i > 0) dict += ", ";
        dict += std::to_string(shape[i]);
    }
    if (shape.size() == 1) dict += ",";
    dict += "), }";
    // numpy pads magic + version + length + dict + '\n' to a multiple of 64 bytes.
    std::size_t prefix = 10;
    std::size_t total = prefix + dict.size() + 1;
    if ((total + 63) / 64 * 64 - prefix > 0xFFFF) {
        prefix = 12;
        total = prefix + dict.size() + 1;
    }
    const std::size_t padded = (total + 63) / 64 * 64;
    dict.append(padded - total, ' ');
    dict += '\n';
    const std::size_t header_len = dict.size();

    std::vector<std::byte> out;
    out.reserve(padded + values.size() * sizeof(T));
    for (const int c : {0x93, int{'N'}, int{'U'}, int{'M'}, int{'P'}, int{'Y'}}) out.push_back(static_cast<std::byte>(c));
    out.push_back(static_cast<std::byte>(prefix == 10 ? 1 : 2));
    out.push_back(std::byte{0});
    for (std::size_t i = 0; i < prefix - 8; ++i) out.push_back(static_cast<std::byte>((header_len >> (8 * i)) & 0xFF));
    for (char c : dict) out.push_back(static_cast<std::byte>(c));
    for (const T& v : values) {
        using U = std::conditional_t<sizeof(T) == 1, std::uint8_t, std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>>;
        const U u = std::bit_cast<U>(v);
        for (std::size_t i = 0; i < sizeof(T); ++i) out.push_back(static_cast<std::byte>((u >> (8 * i)) & 0xFFu));
    }
    return out;
}

} // namespace detail

/// Writes `values` (C order) with `shape` as a float32 `.npy` file. Throws `shape_error` if the
/// counts disagree, `io_error` naming the file if it cannot be written.
inline void write_npy(const std::filesystem::path& path, std::span<const float> values,
                      std::span<const std::int64_t> shape) {
    detail::write_file_bytes(path, detail::npy_encode(values, shape, path.string()));
}
/// Writes an int64 `.npy` file (targets, class indices).
inline void write_npy(const std::filesystem::path& path, std::span<const std::int64_t> values,
                      std::span<const std::int64_t> shape) {
    detail::write_file_bytes(path, detail::npy_encode(values, shape, path.string()));
}
/// Writes a uint8 `.npy` file (masks).
inline void write_npy(const std::filesystem::path& path, std::span<const std::uint8_t> values,
                      std::span<const std::int64_t> shape) {
    detail::write_file_bytes(path, detail::npy_encode(values, shape, path.string()));
}
inline void write_npy(const std::filesystem::path& path, const std::vector<float>& values,
                      std::initializer_list<std::int64_t> shape) {
    write_npy(path, std::span<const float>(values), std::span<const std::int64_t>(shape.begin(), shape.size()));
}
inline void write_npy(const std::filesystem::path& path, const std::vector<std::int64_t>& values,
                      std::initializer_list<std::int64_t> shape) {
    write_npy(path, std::span<const std::int64_t>(values), std::span<const std::int64_t>(shape.begin(), shape.size()));
}
/// Writes a score map as a float32 H x W `.npy` file.
inline void write_npy(const std::filesystem::path& path, const ScoreMap& map) {
    const std::int64_t shape[2] = {map.height(), map.width()};
    write_npy(path, map.values(), shape);
}

} // namespace dualgrad::io

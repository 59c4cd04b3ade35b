#pragma once
/// \file
/// Reading and writing safetensors files, the format network weights come in. Tensor names are
/// PyTorch `state_dict` keys ("layer3.0.conv1.weight", "bn1.running_var", ...).
///
/// Layout (https://github.com/huggingface/safetensors): an 8-byte little-endian length N, N bytes
/// of UTF-8 JSON header `{"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]},
/// ..., "__metadata__": {str: str}}` (optional metadata), then the data buffer; offsets count from
/// the buffer's start, data is little-endian and row-major.
///
/// Everything about a file is checked when it is opened (header JSON, dtypes, shapes, offsets,
/// sizes, overlaps), and loading into a model checks each tensor's presence, dtype and shape
/// against the model before any parameter is written. Every problem is an `io_error` that names
/// the file and the tensor.
///
///     auto file = dualgrad::io::SafetensorsFile::open("resnet50_cam.safetensors");
///     int classes = int(file.info("fc.weight").shape[0]);
///     dualgrad::io::load_parameters(file, model_parameters);   // (state_dict key, Parameter) pairs

#include <algorithm>
#include <bit>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <ranges>
#include <set>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "dualgrad/error.hpp"
#include "dualgrad/io/detail/files.hpp"
#include "dualgrad/io/detail/json.hpp"
#include "dualgrad/io/float16.hpp"

namespace dualgrad::io {

// --- dtypes ------------------------------------------------------------------------------------

/// The element types of the safetensors format that dualgrad reads. The 8-bit float types
/// (F8_E4M3, F8_E5M2) are not supported and are reported as unknown.
enum class Dtype : std::uint8_t { BOOL, U8, I8, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64 };

/// The header spelling of `d` ("F32", "BF16", "I64", ...).
[[nodiscard]] constexpr std::string_view dtype_name(Dtype d) noexcept {
    switch (d) {
    case Dtype::BOOL: return "BOOL";
    case Dtype::U8: return "U8";
    case Dtype::I8: return "I8";
    case Dtype::I16: return "I16";
    case Dtype::U16: return "U16";
    case Dtype::F16: return "F16";
    case Dtype::BF16: return "BF16";
    case Dtype::I32: return "I32";
    case Dtype::U32: return "U32";
    case Dtype::F32: return "F32";
    case Dtype::F64: return "F64";
    case Dtype::I64: return "I64";
    case Dtype::U64: return "U64";
    }
    return "?";
}

/// Bytes per element of `d`.
[[nodiscard]] constexpr std::size_t dtype_size(Dtype d) noexcept {
    switch (d) {
    case Dtype::BOOL:
    case Dtype::U8:
    case Dtype::I8: return 1;
    case Dtype::I16:
    case Dtype::U16:
    case Dtype::F16:
    case Dtype::BF16: return 2;
    case Dtype::I32:
    case Dtype::U32:
    case Dtype::F32: return 4;
    case Dtype::F64:
    case Dtype::I64:
    case Dtype::U64: return 8;
    }
    return 0;
}

/// Whether `d` is a floating-point type (F16, BF16, F32, F64): the types model parameters have.
[[nodiscard]] constexpr bool is_floating(Dtype d) noexcept {
    return d == Dtype::F16 || d == Dtype::BF16 || d == Dtype::F32 || d == Dtype::F64;
}

/// The dtype spelled `name` in a header, or nothing if the name is not one of `Dtype`'s.
[[nodiscard]] constexpr std::optional<Dtype> parse_dtype(std::string_view name) noexcept {
    for (auto d : {Dtype::BOOL, Dtype::U8, Dtype::I8, Dtype::I16, Dtype::U16, Dtype::F16, Dtype::BF16, Dtype::I32,
                   Dtype::U32, Dtype::F32, Dtype::F64, Dtype::I64, Dtype::U64})
        if (dtype_name(d) == name) return d;
    return std::nullopt;
}

/// Free-form string metadata of a file (the header's "__metadata__"), e.g. {"format": "pt"}.
using Metadata = std::map<std::string, std::string>;

/// What a file's header says about one tensor.
struct TensorInfo {
    Dtype dtype = Dtype::F32;
    std::vector<std::int64_t> shape; ///< empty for a scalar
    std::uint64_t begin = 0;         ///< byte offsets of the data in the data buffer, [begin, end)
    std::uint64_t end = 0;

    /// Number of elements: the product of `shape` (1 for a scalar).
    [[nodiscard]] std::int64_t numel() const noexcept {
        std::int64_t n = 1;
        for (auto d : shape) n *= d;
        return n;
    }
};

namespace detail {

/// "[64, 256, 1, 1]".
[[nodiscard]] inline std::string format_shape(std::span<const std::int64_t> shape) {
    std::string s = "[";
    for (std::size_t i = 0; i < shape.size(); ++i) {
        if (i > 0) s += ", ";
        s += std::to_string(shape[i]);
    }
    return s + "]";
}

/// "'a', 'b', 'c' and 4 more": at most `shown` names, quoted.
[[nodiscard]] inline std::string format_names(const std::vector<std::string>& names, std::size_t shown = 5) {
    std::string s;
    for (std::size_t i = 0; i < names.size() && i < shown; ++i) {
        if (i > 0) s += ", ";
        s += "'" + names[i] + "'";
    }
    if (names.size() > shown) s += " and " + std::to_string(names.size() - shown) + " more";
    return s;
}

/// Throws `io_error` "safetensors file '<source>': <what...>".
template <class... Args>
[[noreturn]] void fail(std::string_view source, Args&&... what) {
    dualgrad::detail::raise<io_error>("safetensors file '", source, "': ", std::forward<Args>(what)...);
}

/// Unsigned integer of `Bytes` bytes.
template <std::size_t Bytes>
using uint_of_size = std::conditional_t<
    Bytes == 1, std::uint8_t,
    std::conditional_t<Bytes == 2, std::uint16_t, std::conditional_t<Bytes == 4, std::uint32_t, std::uint64_t>>>;

/// The little-endian unsigned integer of `Bytes` bytes at `p` (any alignment).
template <std::size_t Bytes>
[[nodiscard]] inline uint_of_size<Bytes> load_le(const std::byte* p) noexcept {
    uint_of_size<Bytes> v = 0;
    if constexpr (std::endian::native == std::endian::little) {
        std::memcpy(&v, p, Bytes);
    } else {
        for (std::size_t i = 0; i < Bytes; ++i)
            v = static_cast<uint_of_size<Bytes>>(v | (static_cast<uint_of_size<Bytes>>(p[i]) << (8 * i)));
    }
    return v;
}

/// Appends the little-endian bytes of `v`.
template <std::unsigned_integral U>
inline void store_le(std::vector<std::byte>& out, U v) {
    for (std::size_t i = 0; i < sizeof(U); ++i) out.push_back(static_cast<std::byte>((v >> (8 * i)) & 0xFFu));
}

/// `a * b`, or nothing if it overflows `std::uint64_t`.
[[nodiscard]] constexpr std::optional<std::uint64_t> checked_mul(std::uint64_t a, std::uint64_t b) noexcept {
    if (a != 0 && b > std::numeric_limits<std::uint64_t>::max() / a) return std::nullopt;
    return a * b;
}

/// A JSON value as a non-negative integer that fits `max`, or nothing.
[[nodiscard]] inline std::optional<std::uint64_t> as_count(const nlohmann::json& v, std::uint64_t max) {
    std::uint64_t u = 0;
    if (v.is_number_unsigned()) u = v.get<std::uint64_t>();
    else if (v.is_number_integer() && v.get<std::int64_t>() >= 0) u = static_cast<std::uint64_t>(v.get<std::int64_t>());
    else return std::nullopt;
    if (u > max) return std::nullopt;
    return u;
}

/// Up to three names of `known` that share the longest prefix with `wanted`: a hint for a
/// missing tensor ("did you mean ...").
[[nodiscard]] inline std::vector<std::string> nearest_names(std::string_view wanted,
                                                            const std::vector<std::string>& known) {
    std::size_t best = 0;
    std::vector<std::string> out;
    for (const auto& k : known) {
        const auto diff = std::mismatch(wanted.begin(), wanted.end(), k.begin(), k.end());
        const auto common = static_cast<std::size_t>(diff.first - wanted.begin());
        if (common > best) {
            best = common;
            out.clear();
        }
        if (common == best && common > 0 && out.size() < 3) out.push_back(k);
    }
    return out;
}

} // namespace detail

// --- reading -----------------------------------------------------------------------------------

/// A safetensors file held in memory, its header parsed and validated.
///
/// Floating-point tensors (F32, F16, BF16, F64) are read as float with `read_float` (F16 and BF16
/// widen exactly, F64 rounds to nearest); integer and BOOL tensors, such as BatchNorm's
/// `num_batches_tracked` (I64), are listed and read with `read_int64`.
class SafetensorsFile {
public:
    /// The largest file `open` reads: 16 GiB.
    static constexpr std::uint64_t max_file_bytes = std::uint64_t{16} << 30;

    /// Reads and validates the file at `path`.
    [[nodiscard]] static SafetensorsFile open(const std::filesystem::path& path) {
        const std::string source = path.string();
        // A regular file of at most max_file_bytes (a folder, device or FIFO is an error), mapped
        // read-only where the system allows (no copy of the weights), else read.
        auto file = io::detail::map_file_bytes(path, max_file_bytes);
        return SafetensorsFile(std::move(file.owner), file.bytes, source, file.mapped);
    }

    /// Validates a file's bytes; `source` names it in error messages.
    [[nodiscard]] static SafetensorsFile from_bytes(std::vector<std::byte> bytes, std::string source = "<memory>") {
        auto owned = std::make_shared<std::vector<std::byte>>(std::move(bytes));
        const std::span<const std::byte> view(owned->data(), owned->size());
        return SafetensorsFile(std::move(owned), view, std::move(source));
    }
    [[nodiscard]] static SafetensorsFile from_bytes(std::span<const std::byte> bytes, std::string source = "<memory>") {
        return from_bytes(std::vector<std::byte>(bytes.begin(), bytes.end()), std::move(source));
    }
    /// True when the file's bytes are a mapping of the file (`open`), not a copy.
    [[nodiscard]] bool mapped() const noexcept { return mapped_; }

    /// The path or label the file was opened from.
    [[nodiscard]] const std::string& source() const noexcept { return source_; }
    /// Number of tensors.
    [[nodiscard]] std::size_t size() const noexcept { return tensors_.size(); }
    /// The tensor names, sorted.
    [[nodiscard]] std::vector<std::string> names() const {
        std::vector<std::string> out;
        out.reserve(tensors_.size());
        for (const auto& [name, info] : tensors_) out.push_back(name);
        return out;
    }
    [[nodiscard]] bool contains(std::string_view name) const { return tensors_.find(name) != tensors_.end(); }
    /// Dtype, shape and offsets of tensor `name`; an `io_error` if there is none.
    [[nodiscard]] const TensorInfo& info(std::string_view name) const {
        const auto it = tensors_.find(name);
        if (it == tensors_.end()) {
            const auto near = detail::nearest_names(name, names());
            detail::fail(source_, "no tensor '", name, "' among its ", tensors_.size(), " tensors",
                         near.empty() ? std::string() : " (nearest: " + detail::format_names(near) + ")");
        }
        return it->second;
    }
    /// The header's "__metadata__" (empty if absent).
    [[nodiscard]] const Metadata& metadata() const noexcept { return metadata_; }

    /// The raw little-endian bytes of tensor `name`.
    [[nodiscard]] std::span<const std::byte> raw_bytes(std::string_view name) const {
        const TensorInfo& t = info(name);
        return bytes_.subspan(data_start_ + t.begin, t.end - t.begin);
    }

    /// Tensor `name` as float, row-major. It must have a floating-point dtype.
    [[nodiscard]] std::vector<float> read_float(std::string_view name) const {
        std::vector<float> out(static_cast<std::size_t>(info(name).numel()));
        read_float_into(name, out);
        return out;
    }

    /// Tensor `name` converted into `out`, which must hold exactly its number of elements.
    void read_float_into(std::string_view name, std::span<float> out) const {
        const TensorInfo& t = info(name);
        if (!is_floating(t.dtype))
            detail::fail(source_, "tensor '", name, "' has dtype ", dtype_name(t.dtype),
                         ", not a floating-point type (read it with read_int64)");
        if (out.size() != static_cast<std::size_t>(t.numel()))
            dualgrad::detail::raise<shape_error>("safetensors file '", source_, "': tensor '", name, "' has ",
                                                 t.numel(), " elements, the destination ", out.size());
        if (out.empty()) return; // memcpy must not see the null pointer of an empty vector
        const std::byte* p = bytes_.data() + data_start_ + t.begin;
        switch (t.dtype) {
        case Dtype::F32:
            if constexpr (std::endian::native == std::endian::little) {
                std::memcpy(out.data(), p, out.size() * 4);
            } else {
                for (std::size_t i = 0; i < out.size(); ++i) out[i] = std::bit_cast<float>(detail::load_le<4>(p + 4 * i));
            }
            break;
        case Dtype::F16:
            for (std::size_t i = 0; i < out.size(); ++i) out[i] = f16_to_float(detail::load_le<2>(p + 2 * i));
            break;
        case Dtype::BF16:
            for (std::size_t i = 0; i < out.size(); ++i) out[i] = bf16_to_float(detail::load_le<2>(p + 2 * i));
            break;
        case Dtype::F64:
            for (std::size_t i = 0; i < out.size(); ++i)
                out[i] = static_cast<float>(std::bit_cast<double>(detail::load_le<8>(p + 8 * i)));
            break;
        default: break; // not floating: rejected above
        }
    }

    /// Tensor `name` as double (exact for every floating-point dtype).
    [[nodiscard]] std::vector<double> read_double(std::string_view name) const {
        const TensorInfo& t = info(name);
        if (t.dtype != Dtype::F64) {
            const auto f = read_float(name);
            return std::vector<double>(f.begin(), f.end());
        }
        std::vector<double> out(static_cast<std::size_t>(t.numel()));
        const std::byte* p = bytes_.data() + data_start_ + t.begin;
        for (std::size_t i = 0; i < out.size(); ++i) out[i] = std::bit_cast<double>(detail::load_le<8>(p + 8 * i));
        return out;
    }

    /// Tensor `name` as int64. It must have an integer or BOOL dtype; a U64 value above the
    /// int64 range is an error.
    [[nodiscard]] std::vector<std::int64_t> read_int64(std::string_view name) const {
        const TensorInfo& t = info(name);
        std::vector<std::int64_t> out(static_cast<std::size_t>(t.numel()));
        const std::byte* p = bytes_.data() + data_start_ + t.begin;
        for (std::size_t i = 0; i < out.size(); ++i) {
            switch (t.dtype) {
            case Dtype::BOOL:
            case Dtype::U8: out[i] = detail::load_le<1>(p + i); break;
            case Dtype::I8: out[i] = static_cast<std::int8_t>(detail::load_le<1>(p + i)); break;
            case Dtype::U16: out[i] = detail::load_le<2>(p + 2 * i); break;
            case Dtype::I16: out[i] = static_cast<std::int16_t>(detail::load_le<2>(p + 2 * i)); break;
            case Dtype::U32: out[i] = detail::load_le<4>(p + 4 * i); break;
            case Dtype::I32: out[i] = static_cast<std::int32_t>(detail::load_le<4>(p + 4 * i)); break;
            case Dtype::I64: out[i] = static_cast<std::int64_t>(detail::load_le<8>(p + 8 * i)); break;
            case Dtype::U64: {
                const std::uint64_t v = detail::load_le<8>(p + 8 * i);
                if (v > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
                    detail::fail(source_, "tensor '", name, "' element ", i, " = ", v, " exceeds the int64 range");
                out[i] = static_cast<std::int64_t>(v);
                break;
            }
            default:
                detail::fail(source_, "tensor '", name, "' has dtype ", dtype_name(t.dtype),
                             ", not an integer type (read it with read_float)");
            }
        }
        return out;
    }

private:
    SafetensorsFile(std::shared_ptr<const void> owner, std::span<const std::byte> bytes, std::string source,
                    bool mapped = false)
        : source_(std::move(source)), owner_(std::move(owner)), bytes_(bytes), mapped_(mapped) {
        parse();
    }

    void parse() {
        const std::size_t size = bytes_.size();
        if (size < 8)
            detail::fail(source_, "the file is ", size, " bytes long, shorter than the 8-byte header length; ",
                         "not a safetensors file or truncated");
        const std::uint64_t header_len = detail::load_le<8>(bytes_.data());
        if (header_len > size - 8)
            detail::fail(source_, "the header length ", header_len, " is larger than the file (", size,
                         " bytes); not a safetensors file or truncated");
        data_start_ = 8 + static_cast<std::size_t>(header_len);
        const std::uint64_t buffer_size = size - data_start_;

        const char* text = reinterpret_cast<const char*>(bytes_.data() + 8);
        nlohmann::json header;
        try {
            header = detail::parse_json(text, text + header_len);
        } catch (const nlohmann::json::exception& e) {
            // parse errors, and numbers out of range such as 1e999
            detail::fail(source_, "the header is not valid JSON: ", e.what());
        } catch (const detail::json_too_deep& e) {
            detail::fail(source_, "the header is not a safetensors header: ", e.what());
        }
        if (!header.is_object()) detail::fail(source_, "the header is a JSON ", header.type_name(), ", not an object");

        for (const auto& [name, entry] : header.items()) {
            if (name == "__metadata__") {
                parse_metadata(entry);
                continue;
            }
            tensors_.emplace(name, parse_entry(name, entry));
        }
        check_layout(buffer_size);
    }

    void parse_metadata(const nlohmann::json& entry) {
        if (!entry.is_object())
            detail::fail(source_, "\"__metadata__\" is a JSON ", entry.type_name(), ", not an object of strings");
        for (const auto& [key, value] : entry.items()) {
            if (!value.is_string())
                detail::fail(source_, "\"__metadata__\" entry '", key, "' is a JSON ", value.type_name(),
                             ", not a string");
            metadata_.emplace(key, value.get<std::string>());
        }
    }

    [[nodiscard]] TensorInfo parse_entry(const std::string& name, const nlohmann::json& entry) const {
        const auto bad = [&](auto&&... what) { detail::fail(source_, "tensor '", name, "': ", what...); };
        if (!entry.is_object()) bad("its header entry is a JSON ", entry.type_name(), ", not an object");
        for (const char* key : {"dtype", "shape", "data_offsets"})
            if (!entry.contains(key)) bad("its header entry lacks \"", key, "\"");

        TensorInfo t;
        const auto& dtype = entry["dtype"];
        if (!dtype.is_string()) bad("\"dtype\" is a JSON ", dtype.type_name(), ", not a string");
        const auto parsed = parse_dtype(dtype.get<std::string>());
        if (!parsed)
            bad("unknown dtype '", dtype.get<std::string>(),
                "' (supported: F32, F16, BF16, F64, I64, I32, I16, I8, U64, U32, U16, U8, BOOL)");
        t.dtype = *parsed;

        const auto& shape = entry["shape"];
        if (!shape.is_array()) bad("\"shape\" is a JSON ", shape.type_name(), ", not an array");
        std::uint64_t numel = 1;
        for (const auto& dim : shape) {
            const auto d = detail::as_count(dim, static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()));
            if (!d) bad("shape ", detail::describe_json(shape), " has a dimension that is not a non-negative integer: ", detail::describe_json(dim));
            t.shape.push_back(static_cast<std::int64_t>(*d));
            const auto n = detail::checked_mul(numel, *d);
            if (!n || *n > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
                bad("shape ", detail::describe_json(shape), " has too many elements");
            numel = *n;
        }
        const auto nbytes = detail::checked_mul(numel, dtype_size(t.dtype));
        if (!nbytes) bad("shape ", detail::describe_json(shape), " has too many bytes");

        const auto& offsets = entry["data_offsets"];
        const auto max = std::numeric_limits<std::uint64_t>::max();
        if (!offsets.is_array() || offsets.size() != 2 || !detail::as_count(offsets[0], max) ||
            !detail::as_count(offsets[1], max))
            bad("\"data_offsets\" must be two non-negative integers [begin, end], got ", detail::describe_json(offsets));
        t.begin = *detail::as_count(offsets[0], max);
        t.end = *detail::as_count(offsets[1], max);
        if (t.begin > t.end) bad("data_offsets [", t.begin, ", ", t.end, "] are reversed (begin > end)");
        if (t.end - t.begin != *nbytes)
            bad("data_offsets [", t.begin, ", ", t.end, "] hold ", t.end - t.begin, " bytes, but shape ",
                detail::format_shape(t.shape), " of dtype ", dtype_name(t.dtype), " needs ", *nbytes, " (", numel,
                " elements x ", dtype_size(t.dtype), " bytes)");
        return t;
    }

    /// Every tensor inside the buffer, no two overlapping.
    void check_layout(std::uint64_t buffer_size) const {
        const std::pair<const std::string, TensorInfo>* last = nullptr;
        for (const auto& entry : tensors_)
            if (last == nullptr || entry.second.end > last->second.end) last = &entry;
        if (last != nullptr && last->second.end > buffer_size)
            detail::fail(source_, "truncated or corrupt: the file has ", bytes_.size(), " bytes but needs at least ",
                         data_start_ + last->second.end, " (8 + header ", data_start_ - 8, " + data ", last->second.end,
                         "): tensor '", last->first, "' has data_offsets [", last->second.begin, ", ",
                         last->second.end, "] beyond the ", buffer_size, "-byte data buffer");

        std::vector<const std::pair<const std::string, TensorInfo>*> order;
        for (const auto& entry : tensors_)
            if (entry.second.end > entry.second.begin) order.push_back(&entry);
        std::sort(order.begin(), order.end(),
                  [](auto* a, auto* b) { return a->second.begin < b->second.begin; });
        for (std::size_t i = 1; i < order.size(); ++i)
            if (order[i]->second.begin < order[i - 1]->second.end)
                detail::fail(source_, "tensors '", order[i - 1]->first, "' (data_offsets [", order[i - 1]->second.begin,
                             ", ", order[i - 1]->second.end, "]) and '", order[i]->first, "' (data_offsets [",
                             order[i]->second.begin, ", ", order[i]->second.end, "]) overlap");
    }

    std::string source_;
    std::shared_ptr<const void> owner_; ///< keeps `bytes_` alive: a mapping or a buffer, shared by copies
    std::span<const std::byte> bytes_;
    bool mapped_ = false;
    std::size_t data_start_ = 0; ///< 8 + header length: where the data buffer begins in `bytes_`
    std::map<std::string, TensorInfo, std::less<>> tensors_;
    Metadata metadata_;
};

// --- loading into a model ----------------------------------------------------------------------

/// A destination for one tensor: an expected `shape` and a `data` vector to fill, like
/// `dualgrad::nn::Parameter`. (io/ names no nn/ type, so that reading weights does not pull in the
/// network engine.)
template <class P>
concept ParameterSlot = requires(const P& p) {
    { p.shape } -> std::convertible_to<std::span<const std::int64_t>>;
    { p.data } -> std::convertible_to<std::vector<float>*>;
};

/// A range of pairs (full `state_dict` key, ParameterSlot), e.g.
/// `std::vector<std::pair<std::string, nn::Parameter>>`.
template <class R>
concept NamedParameterRange = std::ranges::input_range<R> && requires(std::ranges::range_reference_t<R> e) {
    { e.first } -> std::convertible_to<std::string_view>;
    requires ParameterSlot<std::remove_cvref_t<decltype(e.second)>>;
};

/// How strict `load_parameters` is.
struct LoadOptions {
    /// Accept floating-point tensors that no parameter asks for (a classifier head a backbone
    /// leaves out, say). By default they are an error: they usually mean the wrong model.
    bool allow_unused = false;
};

/// What `load_parameters` did.
struct LoadSummary {
    std::size_t loaded = 0;           ///< parameters filled
    std::vector<std::string> ignored; ///< integer tensors (num_batches_tracked), and unused ones if allowed
};

/// Fills each parameter from the tensor of the same key: `params` is a range of (full
/// `state_dict` key, parameter) pairs such as ("layer3.0.conv1.weight", conv's weight Parameter).
///
/// Every check runs before any data is written, so a failed load leaves the model untouched:
/// - every key must be in the file with a floating-point dtype and exactly the parameter's shape
///   ("tensor 'layer3.0.conv1.weight' has shape [64, 256, 1, 1] in the file but the model expects
///   [128, 256, 1, 1]");
/// - every floating-point tensor of the file must be used, unless `options.allow_unused`;
///   integer tensors (BatchNorm's `num_batches_tracked`) are ignored.
template <NamedParameterRange R>
LoadSummary load_parameters(const SafetensorsFile& file, R&& params, const LoadOptions& options = {}) {
    const std::string& src = file.source();
    std::set<std::string, std::less<>> wanted;
    std::vector<std::string> missing;
    for (auto&& [key, param] : params) {
        const std::string_view k = key;
        if (!wanted.emplace(k).second)
            dualgrad::detail::raise<error>("load_parameters: the model lists parameter '", k, "' twice");
        if (param.data == nullptr)
            dualgrad::detail::raise<error>("load_parameters: parameter '", k, "' has no data vector");
        if (!file.contains(k)) {
            missing.emplace_back(k);
            continue;
        }
        const TensorInfo& t = file.info(k);
        const std::span<const std::int64_t> expected = param.shape;
        if (!is_floating(t.dtype))
            detail::fail(src, "tensor '", k, "' has dtype ", dtype_name(t.dtype),
                         " but the model expects a floating-point parameter of shape ",
                         detail::format_shape(expected));
        if (!std::ranges::equal(t.shape, expected))
            detail::fail(src, "tensor '", k, "' has shape ", detail::format_shape(t.shape),
                         " in the file but the model expects ", detail::format_shape(expected));
    }
    if (!missing.empty()) {
        const auto near = detail::nearest_names(missing.front(), file.names());
        detail::fail(src, "missing ", missing.size(), " tensor", missing.size() == 1 ? "" : "s",
                     " the model expects: ", detail::format_names(missing),
                     near.empty() ? std::string() : "; the file's nearest to '" + missing.front() +
                                                        "': " + detail::format_names(near));
    }

    LoadSummary summary;
    std::vector<std::string> unused;
    for (const auto& name : file.names()) {
        if (wanted.contains(name)) continue;
        if (is_floating(file.info(name).dtype) && !options.allow_unused) unused.push_back(name);
        else summary.ignored.push_back(name);
    }
    if (!unused.empty())
        detail::fail(src, unused.size(), " floating-point tensor", unused.size() == 1 ? "" : "s",
                     " the model does not use: ", detail::format_names(unused),
                     " (a different model or width? LoadOptions::allow_unused accepts them)");

    for (auto&& [key, param] : params) {
        const std::string_view k = key;
        param.data->resize(static_cast<std::size_t>(file.info(k).numel()));
        file.read_float_into(k, *param.data);
        ++summary.loaded;
    }
    return summary;
}

/// `load_parameters` from the file at `path`.
template <NamedParameterRange R>
LoadSummary load_parameters(const std::filesystem::path& path, R&& params, const LoadOptions& options = {}) {
    return load_parameters(SafetensorsFile::open(path), std::forward<R>(params), options);
}

// --- writing -----------------------------------------------------------------------------------

/// Builds a safetensors file tensor by tensor. The header lists the tensors with sorted keys and is
/// padded with spaces to a multiple of 8 bytes, as the reference implementation does; the data is
/// laid out by decreasing element size, then name, so every tensor is aligned to its element size.
///
///     SafetensorsWriter w;
///     w.add("fc.weight", {10, 512}, weights, Dtype::BF16);
///     w.save("model.safetensors");
class SafetensorsWriter {
public:
    /// Adds float values stored as `dtype` (F32, F16 or BF16; rounded to nearest, ties to even).
    void add(std::string name, std::vector<std::int64_t> shape, std::span<const float> values,
             Dtype dtype = Dtype::F32) {
        check_new(name, shape, values.size());
        Entry e{dtype, std::move(shape), {}};
        e.data.reserve(values.size() * dtype_size(dtype));
        switch (dtype) {
        case Dtype::F32:
            for (float v : values) detail::store_le(e.data, std::bit_cast<std::uint32_t>(v));
            break;
        case Dtype::F16:
            for (float v : values) detail::store_le(e.data, float_to_f16(v));
            break;
        case Dtype::BF16:
            for (float v : values) detail::store_le(e.data, float_to_bf16(v));
            break;
        default:
            dualgrad::detail::raise<value_error>("SafetensorsWriter: tensor '", name, "': dtype ", dtype_name(dtype),
                                                 " is not one of F32, F16, BF16 for float values");
        }
        entries_.emplace(std::move(name), std::move(e));
    }

    /// Adds int64 values stored as I64 (e.g. BatchNorm's `num_batches_tracked`, shape {}).
    void add_int64(std::string name, std::vector<std::int64_t> shape, std::span<const std::int64_t> values) {
        check_new(name, shape, values.size());
        Entry e{Dtype::I64, std::move(shape), {}};
        e.data.reserve(values.size() * 8);
        for (auto v : values) detail::store_le(e.data, static_cast<std::uint64_t>(v));
        entries_.emplace(std::move(name), std::move(e));
    }

    /// Sets a "__metadata__" entry.
    void set_metadata(std::string key, std::string value) { metadata_[std::move(key)] = std::move(value); }

    /// The file's bytes.
    [[nodiscard]] std::vector<std::byte> bytes() const {
        std::vector<const std::pair<const std::string, Entry>*> order;
        for (const auto& entry : entries_) order.push_back(&entry);
        std::stable_sort(order.begin(), order.end(), [](auto* a, auto* b) {
            return dtype_size(a->second.dtype) > dtype_size(b->second.dtype);
        }); // entries_ is sorted by name already: stable keeps that order within a size

        nlohmann::json header = nlohmann::json::object();
        std::uint64_t offset = 0;
        for (const auto* entry : order) {
            const std::uint64_t end = offset + entry->second.data.size();
            header[entry->first] = {{"dtype", dtype_name(entry->second.dtype)},
                                    {"shape", entry->second.shape},
                                    {"data_offsets", {offset, end}}};
            offset = end;
        }
        if (!metadata_.empty()) header["__metadata__"] = metadata_;
        std::string text;
        try {
            text = header.dump();
        } catch (const nlohmann::json::exception& e) {
            dualgrad::detail::raise<value_error>("SafetensorsWriter: a name or metadata string is not valid UTF-8: ",
                                                 e.what());
        }
        text.append((8 - text.size() % 8) % 8, ' ');

        std::vector<std::byte> out;
        out.reserve(8 + text.size() + offset);
        detail::store_le(out, static_cast<std::uint64_t>(text.size()));
        for (char c : text) out.push_back(static_cast<std::byte>(c));
        for (const auto* entry : order) out.insert(out.end(), entry->second.data.begin(), entry->second.data.end());
        return out;
    }

    /// Writes the file to `path` (through a temporary file renamed into place, so that a failed
    /// write never leaves a partial file under `path`).
    void save(const std::filesystem::path& path) const {
        const auto data = bytes();
        std::filesystem::path tmp = path;
        tmp += ".tmp";
        {
            std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
            if (!out) detail::fail(path.string(), "cannot open '", tmp.string(), "' for writing");
            out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
            out.close();
            if (!out) {
                std::error_code ignored;
                std::filesystem::remove(tmp, ignored);
                detail::fail(path.string(), "write error (disk full?)");
            }
        }
        std::error_code ec;
        std::filesystem::rename(tmp, path, ec);
        if (ec) {
            std::error_code ignored;
            std::filesystem::remove(tmp, ignored);
            detail::fail(path.string(), "cannot move the written file into place: ", ec.message());
        }
    }

private:
    struct Entry {
        Dtype dtype;
        std::vector<std::int64_t> shape;
        std::vector<std::byte> data;
    };

    void check_new(const std::string& name, const std::vector<std::int64_t>& shape, std::size_t count) const {
        if (name == "__metadata__")
            dualgrad::detail::raise<value_error>("SafetensorsWriter: '__metadata__' is reserved, not a tensor name");
        if (entries_.contains(name))
            dualgrad::detail::raise<value_error>("SafetensorsWriter: tensor '", name, "' added twice");
        std::uint64_t numel = 1;
        for (auto d : shape) {
            if (d < 0)
                dualgrad::detail::raise<shape_error>("SafetensorsWriter: tensor '", name, "' has a negative dimension in ",
                                                     detail::format_shape(shape));
            numel *= static_cast<std::uint64_t>(d);
        }
        if (numel != count)
            dualgrad::detail::raise<shape_error>("SafetensorsWriter: tensor '", name, "' has shape ",
                                                 detail::format_shape(shape), " (", numel, " elements) but ", count,
                                                 " values");
    }

    std::map<std::string, Entry> entries_;
    Metadata metadata_;
};

/// A float tensor to save: a name, a shape and row-major values.
struct TensorView {
    std::string name;
    std::vector<std::int64_t> shape;
    std::span<const float> data;
};

/// The bytes of a safetensors file holding `tensors` stored as `dtype` (F32, F16 or BF16).
[[nodiscard]] inline std::vector<std::byte> serialize_safetensors(std::span<const TensorView> tensors,
                                                                  Dtype dtype = Dtype::F32,
                                                                  const Metadata& metadata = {}) {
    SafetensorsWriter w;
    for (const auto& t : tensors) w.add(t.name, t.shape, t.data, dtype);
    for (const auto& [k, v] : metadata) w.set_metadata(k, v);
    return w.bytes();
}

/// Writes `tensors` stored as `dtype` (F32, F16 or BF16) with optional `metadata` to `path`.
inline void save_safetensors(const std::filesystem::path& path, std::span<const TensorView> tensors,
                             Dtype dtype = Dtype::F32, const Metadata& metadata = {}) {
    SafetensorsWriter w;
    for (const auto& t : tensors) w.add(t.name, t.shape, t.data, dtype);
    for (const auto& [k, v] : metadata) w.set_metadata(k, v);
    w.save(path);
}

} // namespace dualgrad::io

#pragma once
/// \file
/// Whole-file reads and writes shared by the io readers; every failure is an `io_error` whose
/// message starts with the file's path.

#include <cstddef>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "dualgrad/error.hpp"

namespace dualgrad::io::detail {

/// Throws `io_error` "<source>: <what...>".
template <class... Args>
[[noreturn]] void fail_file(std::string_view source, Args&&... what) {
    dualgrad::detail::raise<io_error>(source, ": ", std::forward<Args>(what)...);
}

/// Reads a whole file; a missing, unreadable or directory path is an `io_error` naming it.
[[nodiscard]] inline std::vector<std::byte> read_file_bytes(const std::filesystem::path& path) {
    const std::string source = path.string();
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) fail_file(source, "is a directory, not a file");
    std::ifstream in(path, std::ios::binary | std::ios::ate);
    if (!in) {
        if (!std::filesystem::exists(path, ec)) fail_file(source, "cannot open: no such file");
        fail_file(source, "cannot open for reading");
    }
    const std::streamoff size = in.tellg();
    if (size < 0) fail_file(source, "cannot determine the file size");
    std::vector<std::byte> bytes(static_cast<std::size_t>(size));
    in.seekg(0);
    if (size > 0 && !in.read(reinterpret_cast<char*>(bytes.data()), size))
        fail_file(source, "read error after ", in.gcount(), " of ", size, " bytes");
    return bytes;
}

/// Writes `bytes` to `path`, replacing it; failures are `io_error`s naming it.
inline void write_file_bytes(const std::filesystem::path& path, std::span<const std::byte> bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    if (!out) {
        std::error_code ec;
        const auto parent = path.parent_path();
        if (!parent.empty() && !std::filesystem::is_directory(parent, ec))
            fail_file(path.string(), "cannot open for writing: the folder ", parent.string(), " does not exist");
        fail_file(path.string(), "cannot open for writing");
    }
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    out.flush();
    if (!out) fail_file(path.string(), "write error");
}

} // namespace dualgrad::io::detail

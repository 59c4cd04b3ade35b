#pragma once
/// \file
/// Whole-file reads and writes shared by the io readers; every failure is an `io_error` whose
/// message starts with the file's path.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <unistd.h>

#include "dualgrad/error.hpp"

namespace dualgrad::io::detail {

/// Throws `io_error` "<source>: <what...>".
template <class... Args>
[[noreturn]] void fail_file(std::string_view source, Args&&... what) {
    dualgrad::detail::raise<io_error>(source, ": ", std::forward<Args>(what)...);
}

/// The largest file `read_file_bytes` reads unless told otherwise: 1 GiB.
inline constexpr std::uint64_t default_max_file_bytes = std::uint64_t{1} << 30;

/// Reads a whole file of at most `max_bytes` bytes. A missing or unreadable path, a folder, a
/// device or FIFO (which could block or never end) and a file over the limit are `io_error`s
/// naming it; nothing is allocated for an oversized file.
[[nodiscard]] inline std::vector<std::byte> read_file_bytes(const std::filesystem::path& path,
                                                            std::uint64_t max_bytes = default_max_file_bytes) {
    const std::string source = path.string();
    std::error_code ec;
    const auto status = std::filesystem::status(path, ec);
    if (status.type() == std::filesystem::file_type::not_found) fail_file(source, "cannot open: no such file");
    if (status.type() == std::filesystem::file_type::directory) fail_file(source, "is a directory, not a file");
    if (!ec && status.type() != std::filesystem::file_type::regular)
        fail_file(source, "is not a regular file (a device, FIFO or socket); dualgrad reads files only");
    std::ifstream in(path, std::ios::binary | std::ios::ate);
    if (!in) fail_file(source, "cannot open for reading");
    const std::streamoff size = in.tellg();
    if (size < 0) fail_file(source, "cannot determine the file size");
    if (static_cast<std::uint64_t>(size) > max_bytes)
        fail_file(source, "is ", size, " bytes, over the limit of ", max_bytes, " bytes for this kind of file");
    std::vector<std::byte> bytes(static_cast<std::size_t>(size));
    in.seekg(0);
    if (size > 0 && !in.read(reinterpret_cast<char*>(bytes.data()), size))
        fail_file(source, "read error after ", in.gcount(), " of ", size, " bytes");
    return bytes;
}

/// Writes `bytes` to `path` all or nothing: into a temporary file in the same folder, checked on
/// close, then renamed over `path`. A failed write (a full disk, a read-only folder) is an
/// `io_error` naming `path`, and leaves `path` as it was.
inline void write_file_bytes(const std::filesystem::path& path, std::span<const std::byte> bytes) {
    std::error_code ec;
    const auto parent = path.parent_path();
    if (!parent.empty() && !std::filesystem::is_directory(parent, ec))
        fail_file(path.string(), "cannot open for writing: the folder ", parent.string(), " does not exist");
    if (std::filesystem::is_directory(path, ec)) fail_file(path.string(), "cannot write: it is a folder");
    static std::atomic<unsigned> counter{0};
    std::filesystem::path tmp = path;
    tmp += ".tmp-" + std::to_string(static_cast<unsigned long>(::getpid())) + "-" + std::to_string(counter++);
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        if (!out) fail_file(path.string(), "cannot open for writing (", tmp.filename().string(), " in its folder)");
        out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
        out.flush();
        out.close();
        if (!out) {
            std::filesystem::remove(tmp, ec);
            fail_file(path.string(), "write error (disk full?); the file was left as it was");
        }
    }
    std::filesystem::rename(tmp, path, ec);
    if (ec) {
        std::error_code ignored;
        std::filesystem::remove(tmp, ignored);
        fail_file(path.string(), "cannot replace the file (", ec.message(), ")");
    }
}

/// `write_file_bytes` of a text.
inline void write_file_text(const std::filesystem::path& path, std::string_view text) {
    write_file_bytes(path, std::as_bytes(std::span<const char>(text.data(), text.size())));
}

} // namespace dualgrad::io::detail

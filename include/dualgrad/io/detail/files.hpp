#pragma once
/// \file
/// Whole-file reads and writes shared by the io readers; every failure is an `io_error` whose
/// message starts with the file's path.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
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

/// A missing path, a folder, a device, FIFO or socket (which could block or never end) is an
/// `io_error` naming `source`.
inline void check_regular_file(const std::filesystem::path& path, std::string_view source) {
    std::error_code ec;
    const auto status = std::filesystem::status(path, ec);
    if (status.type() == std::filesystem::file_type::not_found) fail_file(source, "cannot open: no such file");
    if (status.type() == std::filesystem::file_type::directory) fail_file(source, "is a directory, not a file");
    if (!ec && status.type() != std::filesystem::file_type::regular)
        fail_file(source, "is not a regular file (a device, FIFO or socket); dualgrad reads files only");
}

/// Reads a whole file of at most `max_bytes` bytes. A missing or unreadable path, a folder, a
/// device or FIFO (which could block or never end) and a file over the limit are `io_error`s
/// naming it; nothing is allocated for an oversized file.
[[nodiscard]] inline std::vector<std::byte> read_file_bytes(const std::filesystem::path& path,
                                                            std::uint64_t max_bytes = default_max_file_bytes) {
    const std::string source = path.string();
    check_regular_file(path, source);
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

/// A whole file's bytes, read-only, with their owner: a read-only private mapping of the file
/// where the system maps it, else a buffer the file was read into. Copies share the bytes.
struct FileBytes {
    std::shared_ptr<const void> owner;
    std::span<const std::byte> bytes;
    bool mapped = false; ///< true: a mapping (no copy of the file was made)
};

/// `read_file_bytes`' checks (a regular file of at most `max_bytes`), then the file mapped
/// read-only and populated at once (one system call instead of a page fault per page, no copy,
/// no zero-filled buffer). A file that cannot be mapped (an empty file, a filesystem without
/// mmap) is read instead, with no error. The mapping shows the file as it is on disk: a file
/// truncated by another process while it is mapped ends the process with SIGBUS when the lost
/// pages are read, as with every mmap-based weight loader (safetensors, PyTorch).
[[nodiscard]] inline FileBytes map_file_bytes(const std::filesystem::path& path,
                                              std::uint64_t max_bytes = default_max_file_bytes) {
    const std::string source = path.string();
    check_regular_file(path, source);
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        struct stat st {};
        if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
            const auto size = static_cast<std::uint64_t>(st.st_size);
            if (size > max_bytes) {
                ::close(fd);
                fail_file(source, "is ", size, " bytes, over the limit of ", max_bytes, " bytes for this kind of file");
            }
            void* p = ::mmap(nullptr, static_cast<std::size_t>(size), PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
            ::close(fd);
            if (p != MAP_FAILED) {
                const auto n = static_cast<std::size_t>(size);
                FileBytes f;
                f.owner = std::shared_ptr<const void>(p, [n](const void* q) { ::munmap(const_cast<void*>(q), n); });
                f.bytes = std::span<const std::byte>(static_cast<const std::byte*>(p), n);
                f.mapped = true;
                return f;
            }
        } else {
            ::close(fd);
        }
    }
    auto buffer = std::make_shared<std::vector<std::byte>>(read_file_bytes(path, max_bytes));
    FileBytes f;
    f.bytes = std::span<const std::byte>(buffer->data(), buffer->size());
    f.owner = std::move(buffer);
    return f;
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

#pragma once
// Files for the I/O tests: a temporary folder removed with the object, whole-file byte reads and
// writes, and the message of the io_error a call throws.
#include <atomic>
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>
#include <unistd.h>

#include <dualgrad/error.hpp>

namespace dgtest {

/// The bytes of the file at `p` (REQUIRE that it opens).
inline std::vector<std::byte> read_bytes(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    REQUIRE(in.good());
    std::vector<char> c((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<std::byte> out(c.size());
    for (std::size_t i = 0; i < c.size(); ++i) out[i] = static_cast<std::byte>(c[i]);
    return out;
}

/// Writes `bytes` (any contiguous container of one-byte elements) to `p`.
template <class Bytes>
void write_bytes(const std::filesystem::path& p, const Bytes& bytes) {
    static_assert(sizeof(typename Bytes::value_type) == 1);
    std::ofstream(p, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

/// A fresh, empty folder under the system's temporary folder, removed with the object.
struct TempDir {
    std::filesystem::path path;
    explicit TempDir(std::string_view tag = "test") {
        static std::atomic<int> counter{0};
        path = std::filesystem::temp_directory_path() /
               ("dualgrad_" + std::string(tag) + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
        std::filesystem::remove_all(path);
        std::filesystem::create_directories(path);
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    /// Writes `bytes` to `name` in the folder; returns its path.
    template <class Bytes>
    std::filesystem::path write(const std::string& name, const Bytes& bytes) const {
        write_bytes(path / name, bytes);
        return path / name;
    }
};

/// The message of the `io_error` that `f()` throws (FAIL if it throws none).
template <class F>
std::string io_error_of(F&& f) {
    try {
        f();
    } catch (const dualgrad::io_error& e) {
        return e.what();
    }
    FAIL("no io_error was thrown");
    return {};
}

} // namespace dgtest

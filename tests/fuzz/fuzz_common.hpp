#pragma once
// Shared by the libFuzzer harnesses of tests/fuzz: byte views, a scratch folder per process for
// the readers that take a path, the multi-file input format, and the property-failure exit.
//
// Every harness catches `dualgrad::error` (a rejected input is the expected outcome) and lets any
// other exception escape, so that libFuzzer reports it: the library promises that malformed input
// is an `io_error` naming the file, never a `std::out_of_range`, a `bad_alloc` or a crash.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <unistd.h>

#include "dualgrad/error.hpp"

namespace dualgrad_fuzz {

[[nodiscard]] inline std::span<const std::byte> as_bytes(const std::uint8_t* data, std::size_t size) noexcept {
    return {reinterpret_cast<const std::byte*>(data), size};
}

[[nodiscard]] inline std::string_view as_text(const std::uint8_t* data, std::size_t size) noexcept {
    return {reinterpret_cast<const char*>(data), size};
}

/// A bug the harness detected itself (a broken round trip or invariant): print and abort, which
/// libFuzzer reports as a crash with the input saved.
[[noreturn]] inline void property_failure(const char* harness, const std::string& what) {
    std::fprintf(stderr, "\n==dualgrad-fuzz== %s: property violated: %s\n", harness, what.c_str());
    std::fflush(stderr);
    std::abort();
}

/// A problem of the harness's own set-up (the scratch folder cannot be written): not a finding.
[[noreturn]] inline void setup_failure(const std::string& what) {
    std::fprintf(stderr, "\n==dualgrad-fuzz== harness set-up failed: %s\n", what.c_str());
    std::fflush(stderr);
    std::_Exit(2);
}

/// A folder of this process under the temp directory (/tmp/dualgrad_fuzz_<name>_<pid>), emptied
/// and removed at exit. The readers that take a path read the fuzz input from files in it.
class ScratchDir {
public:
    explicit ScratchDir(std::string_view name) {
        std::error_code ec;
        auto base = std::filesystem::temp_directory_path(ec);
        if (ec) base = "/tmp";
        dir_ = base / ("dualgrad_fuzz_" + std::string(name) + "_" + std::to_string(static_cast<long>(::getpid())));
        std::filesystem::remove_all(dir_, ec);
        std::filesystem::create_directories(dir_, ec);
        if (ec) setup_failure("cannot create " + dir_.string() + ": " + ec.message());
    }
    ScratchDir(const ScratchDir&) = delete;
    ScratchDir& operator=(const ScratchDir&) = delete;
    ~ScratchDir() {
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }

    [[nodiscard]] const std::filesystem::path& path() const noexcept { return dir_; }

    /// Writes `bytes` to `name` in the folder (replacing it) and returns its path.
    std::filesystem::path write(const std::string& name, std::string_view bytes) const {
        const auto p = dir_ / name;
        std::ofstream out(p, std::ios::binary | std::ios::trunc);
        if (!out) setup_failure("cannot open " + p.string() + " for writing");
        out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
        out.close();
        if (!out) setup_failure("cannot write " + p.string());
        return p;
    }

    /// Removes `name` from the folder if it is there.
    void remove(const std::string& name) const {
        std::error_code ec;
        std::filesystem::remove(dir_ / name, ec);
    }

private:
    std::filesystem::path dir_;
};

/// The input of the harnesses of folder readers (several files):
///
///     <options byte, rest of the line ignored>
///     <file 1 ...>
///     %%
///     <file 2 ...>
///     %%
///     ...
///
/// A line that is exactly "%%" ends a file; the newline before it belongs to the file. Files not
/// given are absent from the folder (the reader's "no such file" path).
struct MultiFile {
    unsigned char options = 0;
    std::vector<std::string_view> files;
};

[[nodiscard]] inline MultiFile split_files(std::string_view text) {
    MultiFile m;
    const std::size_t first_end = text.find('\n');
    if (!text.empty()) m.options = static_cast<unsigned char>(text.front());
    if (first_end == std::string_view::npos) return m;
    std::string_view rest = text.substr(first_end + 1);
    std::size_t start = 0, pos = 0;
    while (pos <= rest.size()) {
        const std::size_t end = rest.find('\n', pos);
        const std::size_t line_end = end == std::string_view::npos ? rest.size() : end;
        if (rest.substr(pos, line_end - pos) == "%%") {
            m.files.push_back(rest.substr(start, pos - start));
            start = end == std::string_view::npos ? rest.size() : end + 1;
        }
        if (end == std::string_view::npos) break;
        pos = end + 1;
    }
    if (start < rest.size() || m.files.empty()) m.files.push_back(rest.substr(start));
    return m;
}

} // namespace dualgrad_fuzz

/// Defines libFuzzer's entry point around `run(data, size)`: a `dualgrad::error` is a rejected
/// input, the expected outcome; anything else escapes to libFuzzer, which reports it.
#define DUALGRAD_FUZZ_TARGET(run)                                                      \
    extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) { \
        try {                                                                            \
            run(data, size);                                                             \
        } catch (const dualgrad::error&) {                                               \
        }                                                                                \
        return 0;                                                                        \
    }

#pragma once
// Output folders of the `dualgrad` command line, all or nothing.
//
//   check_writable_folder(dir, "--out")  // before the work: creates dir, writes and removes a probe
//   OutputFolder out(dir, "--out", "metrics.json");
//   io::detail::write_file_text(out.staged("table.md"), ...);   // into a staging folder inside dir
//   out.commit();                                                // the earlier run's outputs replaced
//
// A run that fails (or is interrupted) before `commit` leaves the folder as it was: its files are in
// the staging folder, which the destructor removes. `commit` first removes the earlier run's
// marker (metrics.json, boxes.json: the file that says a run completed), then the earlier files
// that the marker lists and this run does not write, then moves the staged files into place, the
// marker last. So a folder holds one run's outputs, and a folder whose marker is missing holds no
// completed run.
#include <algorithm>
#include <atomic>
#include <filesystem>
#include <functional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <unistd.h>

#include <dualgrad/error.hpp>
#include <dualgrad/io/detail/files.hpp>

namespace dualgrad::cli {

/// Creates `dir` (and its parents) and checks that a file can be created and removed in it, so
/// that a read-only or missing output folder is found before the work, not after it. Errors name
/// the option and the folder.
inline void check_writable_folder(const std::filesystem::path& dir, const std::string& option) {
    std::error_code ec;
    const std::filesystem::path d = dir.empty() ? std::filesystem::path(".") : dir;
    if (std::filesystem::exists(d, ec) && !std::filesystem::is_directory(d, ec))
        detail::raise<io_error>(option, " '", d.string(), "': exists and is not a folder");
    std::filesystem::create_directories(d, ec);
    if (ec) detail::raise<io_error>(option, " '", d.string(), "': cannot create the output folder (", ec.message(), ")");
    static std::atomic<unsigned> counter{0};
    const auto probe = d / (".dualgrad-probe-" + std::to_string(static_cast<long>(::getpid())) + "-" +
                            std::to_string(counter++));
    try {
        io::detail::write_file_text(probe, "");
    } catch (const error&) {
        detail::raise<io_error>(option, " '", d.string(), "': the output folder is not writable");
    }
    std::filesystem::remove(probe, ec);
}

/// The folder that holds a file path given to an option (`--out FILE.json`, `--montage F.png`).
inline void check_writable_parent(const std::filesystem::path& file, const std::string& option) {
    if (file.empty()) detail::raise<value_error>(option, ": an empty path");
    if (!file.has_filename() || file.filename() == "." || file.filename() == "..")
        detail::raise<value_error>(option, " '", file.string(), "': names a folder, not a file");
    std::error_code ec;
    if (std::filesystem::is_directory(file, ec))
        detail::raise<io_error>(option, " '", file.string(), "': is a folder, not a file");
    check_writable_folder(file.parent_path(), option);
}

/// A file name with no folder part: what an output folder holds and an earlier run may list.
[[nodiscard]] inline bool is_plain_file_name(const std::string& name) {
    return !name.empty() && name != "." && name != ".." && !std::filesystem::path(name).has_parent_path();
}

class OutputFolder {
public:
    /// `marker`: the file (in `dir`) that says a run completed, written last. `earlier_files`
    /// lists, from an earlier run's marker, the other files that run wrote (plain names in
    /// `dir`); they are removed at `commit` unless this run writes them too.
    OutputFolder(std::filesystem::path dir, std::string option, std::string marker,
                 std::function<std::vector<std::string>(const std::filesystem::path&)> earlier_files = {})
        : dir_(std::move(dir)), option_(std::move(option)), marker_(std::move(marker)),
          earlier_files_(std::move(earlier_files)) {
        check_writable_folder(dir_, option_);
        static std::atomic<unsigned> counter{0};
        staging_ = dir_ / (".dualgrad-staging-" + std::to_string(static_cast<long>(::getpid())) + "-" +
                           std::to_string(counter++));
        std::error_code ec;
        std::filesystem::remove_all(staging_, ec);
        std::filesystem::create_directory(staging_, ec);
        if (ec)
            detail::raise<io_error>(option_, " '", dir_.string(), "': cannot create the staging folder ",
                                    staging_.filename().string(), " (", ec.message(), ")");
    }
    OutputFolder(const OutputFolder&) = delete;
    OutputFolder& operator=(const OutputFolder&) = delete;
    ~OutputFolder() {
        std::error_code ec;
        std::filesystem::remove_all(staging_, ec);
    }

    [[nodiscard]] const std::filesystem::path& dir() const noexcept { return dir_; }

    /// Where this run writes `name` (a plain file name) until `commit`.
    [[nodiscard]] std::filesystem::path staged(const std::string& name) {
        if (!is_plain_file_name(name))
            detail::raise<value_error>("output file name '", name, "' is not a plain file name");
        names_.push_back(name);
        return staging_ / name;
    }

    /// Replaces the earlier run's outputs with this run's (see the file comment).
    void commit() {
        std::error_code ec;
        const auto marker = dir_ / marker_;
        std::vector<std::string> old;
        if (earlier_files_ && std::filesystem::is_regular_file(marker, ec)) {
            try {
                old = earlier_files_(marker);
            } catch (const std::exception&) {
                old.clear(); // an unreadable earlier marker lists nothing; it is replaced below
            }
        }
        if (std::filesystem::exists(marker, ec) || std::filesystem::is_symlink(marker, ec)) {
            std::filesystem::remove(marker, ec);
            if (ec)
                detail::raise<io_error>(marker.string(), ": cannot remove the earlier run's ", marker_, " (",
                                        ec.message(), "); nothing was replaced");
        }
        for (const auto& name : old) {
            if (!is_plain_file_name(name) || name == marker_) continue;
            if (std::find(names_.begin(), names_.end(), name) != names_.end()) continue;
            std::filesystem::remove(dir_ / name, ec); // best effort: a file already gone is fine
        }
        bool wrote_marker = false;
        for (const auto& name : names_) {
            if (name == marker_) {
                wrote_marker = true;
                continue;
            }
            move_into_place(name);
        }
        if (wrote_marker) move_into_place(marker_);
        std::filesystem::remove_all(staging_, ec);
    }

private:
    void move_into_place(const std::string& name) {
        std::error_code ec;
        const auto from = staging_ / name;
        if (!std::filesystem::exists(from, ec)) return; // staged but not written: nothing to move
        std::filesystem::rename(from, dir_ / name, ec);
        if (ec)
            detail::raise<io_error>((dir_ / name).string(), ": cannot move the new file into place (", ec.message(), ")");
    }

    std::filesystem::path dir_;
    std::string option_;
    std::string marker_;
    std::function<std::vector<std::string>(const std::filesystem::path&)> earlier_files_;
    std::filesystem::path staging_;
    std::vector<std::string> names_;
};

} // namespace dualgrad::cli

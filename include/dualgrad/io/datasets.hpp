#pragma once
/// \file
/// Dataset metadata: clovaai/wsolevaluation's metadata folders (CUB, ILSVRC, OpenImages) and
/// CUB-200-2011's own files. Every malformed line is an `io_error` "<file>:<line>: <what>"
/// (lines count from 1).
///
///     auto test = dualgrad::io::read_wsol_metadata("metadata/CUB/test");
///     for (const auto& im : test.images) use(im.id, im.label, im.size, im.boxes);
///     auto cub = dualgrad::io::read_cub("CUB_200_2011", {.split = dualgrad::io::CubSplit::test});
///
/// wsolevaluation layout (`data_loaders.py`), one folder per split, comma-separated lines:
/// - `image_ids.txt`: `<id>`, the image's path relative to the image root (the evaluation order);
///   `image_ids_proxy.txt` instead with `proxy`;
/// - `class_labels.txt`: `<id>,<class>`, class a 0-based integer;
/// - `image_sizes.txt`: `<id>,<width>,<height>`;
/// - `localization.txt`, boxes (CUB, ILSVRC): `<id>,<x0>,<y0>,<x1>,<y1>`, one line per box,
///   several per image; masks (OpenImages): `<id>,<mask_path>,<ignore_path>`, one line per
///   instance mask, paths relative to the mask root; the ignore path is given on the image's
///   first line only (later lines leave it empty, as wsolevaluation asserts). dualgrad also
///   accepts an empty ignore path on the first line: the image has no ignore region.
/// Boxes are pixel-inclusive `Box`es (box.hpp), as wsolevaluation reads them; they must satisfy
/// 0 <= x0 <= x1 <= width - 1 and 0 <= y0 <= y1 <= height - 1 with the image_sizes.txt size.
///
/// Parsing: a '\r' before the line end is dropped, blank lines are skipped, numbers may carry
/// surrounding spaces and a '+' (as Python's `int()` accepts), ids are taken verbatim. Ids
/// listed in class_labels.txt, image_sizes.txt or localization.txt but not in image_ids.txt are
/// ignored (the proxy split lists a subset); an id of image_ids.txt missing from another file, a
/// duplicated id, a line with too few or too many fields, a non-number, x1 < x0 or y1 < y0, a box
/// outside the image and a non-positive size are errors.
///
/// CUB-200-2011 (`CUB_200_2011/`, space-separated, image numbers from 1):
/// - `images.txt`: `<n> <path>`; the path under `images/` is the image id, as in wsolevaluation;
/// - `image_class_labels.txt`: `<n> <class>`, class from 1; dualgrad's labels are class - 1
///   (wsolevaluation's CUB metadata: `001.Black_footed_Albatross/...` is class 0);
/// - `train_test_split.txt`: `<n> <is_training>` (1 train, 0 test);
/// - `bounding_boxes.txt`: `<n> <x> <y> <width> <height>`, floats. Converted exactly as
///   wsolevaluation's CUB metadata was made: `(x0, y0, x1, y1) = (int(x), int(y), int(x + width),
///   int(y + height))`, Python's `int()` truncation (image 1, `60 27 325 304`, is
///   `(60, 27, 385, 331)` in wsolevaluation's `metadata/CUB/test/localization.txt`). Note that
///   `x + width` is one past the last pixel of an `(x, y, width, height)` box: the literature's CUB
///   numbers use this convention, and dualgrad keeps it so that they are comparable.
/// CUB has no size file: give `CubReadOptions::image_size` (e.g. `read_image_info` from
/// io/image.hpp) to fill the sizes and check the boxes against them.

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

#include "dualgrad/box.hpp"
#include "dualgrad/error.hpp"
#include "dualgrad/io/detail/files.hpp"

namespace dualgrad::io {

/// How a dataset's objects are annotated.
enum class Localization {
    none,      ///< labels only
    boxes,     ///< `DatasetImage::boxes`
    masks,     ///< `DatasetImage::mask_paths` and `ignore_path` (OpenImages)
    automatic, ///< read option only: boxes or masks, from the field count of localization.txt
};

/// One image of a dataset split.
struct DatasetImage {
    std::string id;                      ///< path relative to the image root, e.g. "001.Black_footed_Albatross/x.jpg"
    int label = -1;                      ///< 0-based class
    ImageSize size{};                    ///< height and width in pixels; {0, 0} when unknown
    std::vector<Box> boxes;              ///< pixel-inclusive ground-truth boxes
    std::vector<std::string> mask_paths; ///< instance masks, relative to the mask root
    std::string ignore_path;             ///< ignore region relative to the mask root; empty: none
};

/// The images of one split, in evaluation order, with a lookup by id.
class Dataset {
public:
    /// The folder (or files) it was read from.
    std::string source;
    Localization localization = Localization::none;
    std::vector<DatasetImage> images;

    [[nodiscard]] std::size_t size() const noexcept { return images.size(); }
    /// Number of classes: the largest label + 1 (0 for no labels).
    [[nodiscard]] int num_classes() const noexcept {
        int n = 0;
        for (const auto& im : images) n = std::max(n, im.label + 1);
        return n;
    }
    /// The image with id `id`, or nullptr.
    [[nodiscard]] DatasetImage* find(std::string_view id) {
        return const_cast<DatasetImage*>(std::as_const(*this).find(id));
    }
    /// The image with id `id`, or nullptr.
    [[nodiscard]] const DatasetImage* find(std::string_view id) const {
        if (index_.size() == images.size()) {
            const auto it = index_.find(std::string(id));
            return it == index_.end() ? nullptr : &images[it->second];
        }
        for (const auto& im : images) // the index is stale: images were changed after reading
            if (im.id == id) return &im;
        return nullptr;
    }
    /// The image with id `id`; an `io_error` naming the dataset if there is none.
    [[nodiscard]] const DatasetImage& at(std::string_view id) const {
        if (const auto* im = find(id)) return *im;
        dualgrad::detail::raise<io_error>(source, ": no image with id '", id, "' among its ", images.size(), " images");
    }
    /// Rebuilds the id lookup after `images` was changed; throws `value_error` on a duplicate id.
    void reindex() {
        index_.clear();
        for (std::size_t i = 0; i < images.size(); ++i)
            if (!index_.emplace(images[i].id, i).second)
                dualgrad::detail::raise<value_error>(source, ": duplicate image id '", images[i].id, "'");
    }

private:
    std::unordered_map<std::string, std::size_t> index_;
};

namespace detail {

/// A text file split into lines, each with its 1-based number; '\r' before '\n' dropped, blank
/// lines left out.
struct TextLine {
    std::size_t number = 0;
    std::string_view text;
};

class TextFile {
public:
    explicit TextFile(const std::filesystem::path& path) : source_(path.string()) {
        const auto bytes = read_file_bytes(path);
        text_.assign(reinterpret_cast<const char*>(bytes.data()), bytes.size());
        std::size_t start = 0, number = 0;
        while (start < text_.size()) {
            std::size_t end = text_.find('\n', start);
            if (end == std::string::npos) end = text_.size();
            ++number;
            std::string_view line(text_.data() + start, end - start);
            if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
            if (line.find_first_not_of(" \t") != std::string_view::npos) lines_.push_back({number, line});
            start = end + 1;
        }
    }
    [[nodiscard]] const std::string& source() const noexcept { return source_; }
    [[nodiscard]] const std::vector<TextLine>& lines() const noexcept { return lines_; }

    /// Throws `io_error` "<file>:<line>: <what...>".
    template <class... Args>
    [[noreturn]] void fail(const TextLine& line, Args&&... what) const {
        dualgrad::detail::raise<io_error>(source_, ":", line.number, ": ", std::forward<Args>(what)...);
    }

private:
    std::string source_;
    std::string text_;
    std::vector<TextLine> lines_;
};

/// The fields of `line` separated by `sep` (a space separator also splits on runs of blanks
/// and tabs). Fewer than `n` fields, or more when `exact`, is an error naming `layout`.
[[nodiscard]] inline std::vector<std::string_view> split_fields(const TextFile& file, const TextLine& line, char sep,
                                                                std::size_t n, std::string_view layout) {
    std::vector<std::string_view> out;
    const std::string_view s = line.text;
    if (sep == ' ') {
        std::size_t i = 0;
        while (i < s.size()) {
            while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
            if (i == s.size()) break;
            std::size_t j = i;
            while (j < s.size() && s[j] != ' ' && s[j] != '\t') ++j;
            out.push_back(s.substr(i, j - i));
            i = j;
        }
    } else {
        std::size_t start = 0;
        while (true) {
            const std::size_t end = s.find(sep, start);
            out.push_back(s.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
            if (end == std::string_view::npos) break;
            start = end + 1;
        }
    }
    if (out.size() < n)
        file.fail(line, "too few fields: ", out.size(), " where ", n, " are expected (", layout, ")");
    if (out.size() > n)
        file.fail(line, "too many fields: ", out.size(), " where ", n, " are expected (", layout, ")");
    return out;
}

/// A path read from a metadata file must stay under its root: a NUL byte, an absolute path or a
/// `..` component is refused (with the file and line) before any file is opened.
inline void check_relative_path(const TextFile& file, const TextLine& line, std::string_view path,
                                std::string_view what) {
    if (path.empty()) file.fail(line, "empty ", what);
    if (path.find('\0') != std::string_view::npos) file.fail(line, what, " contains a NUL byte");
    if (path.front() == '/' || path.front() == '\\' || std::filesystem::path(std::string(path)).is_absolute())
        file.fail(line, what, " '", path, "' is absolute; paths in metadata are relative to their root");
    std::size_t start = 0;
    while (start <= path.size()) {
        std::size_t end = path.find_first_of("/\\", start);
        if (end == std::string_view::npos) end = path.size();
        if (path.substr(start, end - start) == "..")
            file.fail(line, what, " '", path, "' has a '..' component; paths in metadata stay under their root");
        start = end + 1;
    }
}

[[nodiscard]] inline std::string_view trim(std::string_view s) noexcept {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

/// `field` as an int (surrounding blanks and a leading '+' allowed), or an error naming `what`.
[[nodiscard]] inline int parse_int(const TextFile& file, const TextLine& line, std::string_view field,
                                   std::string_view what) {
    std::string_view s = trim(field);
    if (!s.empty() && s.front() == '+') s.remove_prefix(1);
    int v = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc() || end != s.data() + s.size())
        file.fail(line, what, " is not an integer: '", field, "'");
    return v;
}

/// `field` as a finite double, or an error naming `what`.
[[nodiscard]] inline double parse_double(const TextFile& file, const TextLine& line, std::string_view field,
                                         std::string_view what) {
    std::string_view s = trim(field);
    if (!s.empty() && s.front() == '+') s.remove_prefix(1);
    double v = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc() || end != s.data() + s.size() || !std::isfinite(v))
        file.fail(line, what, " is not a number: '", field, "'");
    return v;
}

/// Checks a box read from `line` against the image size (when known); `size_where` says where
/// the size came from.
inline void check_box_line(const TextFile& file, const TextLine& line, const Box& b, ImageSize size,
                           std::string_view size_where) {
    if (b.x1 < b.x0) file.fail(line, "box ", b, " has x1 < x0");
    if (b.y1 < b.y0) file.fail(line, "box ", b, " has y1 < y0");
    if (size.width > 0 && size.height > 0 &&
        (b.x0 < 0 || b.y0 < 0 || b.x1 > size.width - 1 || b.y1 > size.height - 1))
        file.fail(line, "box ", b, " lies outside the image of width ", size.width, " and height ", size.height, " (",
                  size_where, "); pixel-inclusive boxes need 0 <= x0 <= x1 <= ", size.width - 1,
                  " and 0 <= y0 <= y1 <= ", size.height - 1);
    if (b.x0 < 0 || b.y0 < 0) file.fail(line, "box ", b, " has a negative coordinate");
}

/// Where an id was first seen, for duplicate and missing-id messages.
using IdLines = std::unordered_map<std::string, std::size_t>;


} // namespace detail

/// wsolevaluation's `resize_bbox` (evaluation.py): a box of an image of size `from` expressed in
/// an image of size `to`, each coordinate `int(float(c) * to / from)` in double (truncated).
/// wsolevaluation's `BoxEvaluator` compares the score maps (224 x 224) with the ground-truth
/// boxes scaled this way to 224 x 224; scaling to a map's own size reproduces that, and leaves
/// boxes unchanged when the map has the image's size.
[[nodiscard]] inline Box scale_box(const Box& b, ImageSize from, ImageSize to) {
    if (from.width <= 0 || from.height <= 0 || to.width <= 0 || to.height <= 0)
        dualgrad::detail::raise<value_error>("scale_box: sizes must be positive (from ", from.width, "x", from.height,
                                             " to ", to.width, "x", to.height, ", width x height)");
    const double fw = from.width, fh = from.height, tw = to.width, th = to.height;
    auto s = [](int c, double t, double f) { return static_cast<int>(static_cast<double>(c) * t / f); };
    return Box{s(b.x0, tw, fw), s(b.y0, th, fh), s(b.x1, tw, fw), s(b.y1, th, fh)};
}

// --- wsolevaluation metadata -------------------------------------------------------------------

/// Options of `read_wsol_metadata`.
struct WsolReadOptions {
    /// Read `image_ids_proxy.txt` (wsolevaluation's proxy training set) instead of `image_ids.txt`.
    bool proxy = false;
    /// What localization.txt holds; `automatic` decides from its first line (5 fields: boxes,
    /// 3: masks); `none` reads neither it nor requires image_sizes.txt.
    Localization localization = Localization::automatic;
};

/// Reads a wsolevaluation metadata folder (see the file comment for the formats and checks).
[[nodiscard]] inline Dataset read_wsol_metadata(const std::filesystem::path& dir, const WsolReadOptions& opts = {}) {
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec))
        dualgrad::detail::raise<io_error>(dir.string(), ": not a metadata folder (no such directory)");
    Dataset ds;
    ds.source = dir.string();

    // image_ids.txt: the evaluation order.
    const detail::TextFile ids(dir / (opts.proxy ? "image_ids_proxy.txt" : "image_ids.txt"));
    detail::IdLines id_line;
    for (const auto& line : ids.lines()) {
        std::string id(line.text);
        detail::check_relative_path(ids, line, id, "image id");
        const auto [it, fresh] = id_line.emplace(id, line.number);
        if (!fresh) ids.fail(line, "duplicate image id '", id, "' (first on line ", it->second, ")");
        DatasetImage im;
        im.id = std::move(id);
        ds.images.push_back(std::move(im));
    }
    ds.reindex();
    auto slot = [&](std::string_view id) { return ds.find(id); };

    // class_labels.txt
    {
        const detail::TextFile f(dir / "class_labels.txt");
        detail::IdLines seen;
        for (const auto& line : f.lines()) {
            const auto fields = detail::split_fields(f, line, ',', 2, "id,class");
            const auto [it, fresh] = seen.emplace(std::string(fields[0]), line.number);
            if (!fresh) f.fail(line, "duplicate image id '", fields[0], "' (first on line ", it->second, ")");
            const int label = detail::parse_int(f, line, fields[1], "the class");
            if (label < 0) f.fail(line, "negative class ", label);
            if (auto* im = slot(fields[0])) im->label = label;
        }
        for (const auto& im : ds.images)
            if (!seen.contains(im.id))
                dualgrad::detail::raise<io_error>(f.source(), ": no class label for image '", im.id, "' (", ids.source(),
                                                  ":", id_line.at(im.id), ")");
    }

    // image_sizes.txt
    const auto sizes_path = dir / "image_sizes.txt";
    const bool want_sizes = opts.localization != Localization::none || std::filesystem::exists(sizes_path, ec);
    detail::IdLines size_line;
    if (want_sizes) {
        const detail::TextFile f(sizes_path);
        detail::IdLines& seen = size_line;
        for (const auto& line : f.lines()) {
            const auto fields = detail::split_fields(f, line, ',', 3, "id,width,height");
            const auto [it, fresh] = seen.emplace(std::string(fields[0]), line.number);
            if (!fresh) f.fail(line, "duplicate image id '", fields[0], "' (first on line ", it->second, ")");
            const int w = detail::parse_int(f, line, fields[1], "the width");
            const int h = detail::parse_int(f, line, fields[2], "the height");
            if (w <= 0 || h <= 0) f.fail(line, "the image size ", w, "x", h, " (width x height) must be positive");
            if (auto* im = slot(fields[0])) im->size = ImageSize{h, w};
        }
        for (const auto& im : ds.images)
            if (!seen.contains(im.id))
                dualgrad::detail::raise<io_error>(f.source(), ": no size for image '", im.id, "' (", ids.source(), ":",
                                                  id_line.at(im.id), ")");
    }

    // localization.txt
    if (opts.localization == Localization::none) return ds;
    const detail::TextFile f(dir / "localization.txt");
    Localization kind = opts.localization;
    if (kind == Localization::automatic) {
        if (f.lines().empty()) dualgrad::detail::raise<io_error>(f.source(), ": the file is empty");
        const auto& first = f.lines().front();
        const auto n = static_cast<std::size_t>(std::count(first.text.begin(), first.text.end(), ',')) + 1;
        if (n == 5) kind = Localization::boxes;
        else if (n == 3) kind = Localization::masks;
        else
            f.fail(first, n, " fields: expected 5 (id,x0,y0,x1,y1: boxes) or 3 (id,mask_path,ignore_path: masks)");
    }
    ds.localization = kind;
    std::unordered_map<std::string, std::size_t> first_line;
    for (const auto& line : f.lines()) {
        if (kind == Localization::boxes) {
            const auto fields = detail::split_fields(f, line, ',', 5, "id,x0,y0,x1,y1");
            const Box b{detail::parse_int(f, line, fields[1], "x0"), detail::parse_int(f, line, fields[2], "y0"),
                        detail::parse_int(f, line, fields[3], "x1"), detail::parse_int(f, line, fields[4], "y1")};
            if (auto* im = slot(fields[0])) {
                const auto sl = size_line.find(im->id);
                detail::check_box_line(f, line, b, im->size,
                                       sl == size_line.end() ? std::string("size unknown")
                                                             : "image_sizes.txt:" + std::to_string(sl->second));
                im->boxes.push_back(b);
            } else {
                detail::check_box_line(f, line, b, ImageSize{}, "");
            }
            first_line.emplace(std::string(fields[0]), line.number);
        } else {
            const auto fields = detail::split_fields(f, line, ',', 3, "id,mask_path,ignore_path");
            if (fields[1].empty()) f.fail(line, "empty mask path");
            detail::check_relative_path(f, line, fields[1], "mask path");
            if (!fields[2].empty()) detail::check_relative_path(f, line, fields[2], "ignore path");
            const auto [it, fresh] = first_line.emplace(std::string(fields[0]), line.number);
            if (!fresh && !fields[2].empty())
                f.fail(line, "an ignore path on a later line of image '", fields[0],
                       "' (only its first line, line ", it->second, ", may name one)");
            if (auto* im = slot(fields[0])) {
                im->mask_paths.emplace_back(fields[1]);
                if (fresh) im->ignore_path = std::string(fields[2]);
            }
        }
    }
    for (const auto& im : ds.images)
        if (!first_line.contains(im.id))
            dualgrad::detail::raise<io_error>(f.source(), ": no ", kind == Localization::boxes ? "box" : "mask",
                                              " for image '", im.id, "' (", ids.source(), ":", id_line.at(im.id), ")");
    return ds;
}

/// Writes `ds` as a wsolevaluation metadata folder (created if needed): image_ids.txt,
/// class_labels.txt, image_sizes.txt (when every size is known) and localization.txt (boxes or
/// masks, as `ds.localization`). Reading the folder back gives `ds` again.
inline void write_wsol_metadata(const std::filesystem::path& dir, const Dataset& ds) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) dualgrad::detail::raise<io_error>(dir.string(), ": cannot create the folder (", ec.message(), ")");
    std::string ids, labels, sizes, loc;
    bool all_sizes = true;
    for (const auto& im : ds.images) {
        if (im.id.empty() || im.id.find_first_of(",\n\r") != std::string::npos)
            dualgrad::detail::raise<value_error>("write_wsol_metadata: image id '", im.id,
                                                 "' is empty or holds a comma or a line break");
        ids += im.id + "\n";
        labels += im.id + "," + std::to_string(im.label) + "\n";
        if (im.size.width > 0 && im.size.height > 0)
            sizes += im.id + "," + std::to_string(im.size.width) + "," + std::to_string(im.size.height) + "\n";
        else all_sizes = false;
        if (ds.localization == Localization::boxes) {
            for (const auto& b : im.boxes)
                loc += im.id + "," + std::to_string(b.x0) + "," + std::to_string(b.y0) + "," + std::to_string(b.x1) +
                       "," + std::to_string(b.y1) + "\n";
        } else if (ds.localization == Localization::masks) {
            for (std::size_t k = 0; k < im.mask_paths.size(); ++k)
                loc += im.id + "," + im.mask_paths[k] + "," + (k == 0 ? im.ignore_path : std::string()) + "\n";
        }
    }
    auto put = [&](const char* name, const std::string& text) {
        detail::write_file_bytes(dir / name, std::as_bytes(std::span<const char>(text.data(), text.size())));
    };
    put("image_ids.txt", ids);
    put("class_labels.txt", labels);
    if (all_sizes) put("image_sizes.txt", sizes);
    if (ds.localization == Localization::boxes || ds.localization == Localization::masks) put("localization.txt", loc);
}

// --- CUB-200-2011 ------------------------------------------------------------------------------

/// Which images of CUB-200-2011 to read (`train_test_split.txt`).
enum class CubSplit { train, test, all };

/// Options of `read_cub`.
struct CubReadOptions {
    CubSplit split = CubSplit::test;
    /// If set, called with each selected image id to get its size: the sizes are stored and the
    /// boxes checked against them (e.g. `[&](auto& id) { auto i = read_image_info(root / "images" / id);
    /// return ImageSize{i.height, i.width}; }`).
    std::function<ImageSize(const std::string& id)> image_size{};
};

/// Reads CUB-200-2011's own files from `dir` (the folder holding images.txt); see the file
/// comment for the formats and the box conversion. The images come in images.txt order.
[[nodiscard]] inline Dataset read_cub(const std::filesystem::path& dir, const CubReadOptions& opts = {}) {
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec))
        dualgrad::detail::raise<io_error>(dir.string(), ": not a CUB-200-2011 folder (no such directory)");
    Dataset ds;
    ds.source = dir.string();
    ds.localization = Localization::boxes;

    // Every file is keyed by the image number; keep the line of each for messages.
    struct Entry {
        std::string path;
        std::size_t line = 0;
        int label = -1;
        int split = -1;
        bool has_box = false;
        Box box{};
        std::size_t box_line = 0;
    };
    std::unordered_map<long long, Entry> entries;
    std::vector<long long> order;

    const detail::TextFile images(dir / "images.txt");
    for (const auto& line : images.lines()) {
        const auto fields = detail::split_fields(images, line, ' ', 2, "image_number path");
        const long long n = detail::parse_int(images, line, fields[0], "the image number");
        detail::check_relative_path(images, line, fields[1], "image path");
        const auto [it, fresh] = entries.emplace(n, Entry{std::string(fields[1]), line.number});
        if (!fresh) images.fail(line, "duplicate image number ", n, " (first on line ", it->second.line, ")");
        order.push_back(n);
    }
    auto lookup = [&](const detail::TextFile& f, const detail::TextLine& line, std::string_view field) -> Entry& {
        const long long n = detail::parse_int(f, line, field, "the image number");
        const auto it = entries.find(n);
        if (it == entries.end()) f.fail(line, "image number ", n, " is not in ", images.source());
        return it->second;
    };

    const detail::TextFile labels(dir / "image_class_labels.txt");
    for (const auto& line : labels.lines()) {
        const auto fields = detail::split_fields(labels, line, ' ', 2, "image_number class");
        Entry& e = lookup(labels, line, fields[0]);
        const int c = detail::parse_int(labels, line, fields[1], "the class");
        if (c < 1) labels.fail(line, "class ", c, ": CUB classes count from 1");
        e.label = c - 1;
    }
    const detail::TextFile split(dir / "train_test_split.txt");
    for (const auto& line : split.lines()) {
        const auto fields = detail::split_fields(split, line, ' ', 2, "image_number is_training_image");
        Entry& e = lookup(split, line, fields[0]);
        const int s = detail::parse_int(split, line, fields[1], "is_training_image");
        if (s != 0 && s != 1) split.fail(line, "is_training_image is ", s, "; it must be 0 or 1");
        e.split = s;
    }
    const detail::TextFile boxes(dir / "bounding_boxes.txt");
    for (const auto& line : boxes.lines()) {
        const auto fields = detail::split_fields(boxes, line, ' ', 5, "image_number x y width height");
        Entry& e = lookup(boxes, line, fields[0]);
        const double x = detail::parse_double(boxes, line, fields[1], "x");
        const double y = detail::parse_double(boxes, line, fields[2], "y");
        const double w = detail::parse_double(boxes, line, fields[3], "width");
        const double h = detail::parse_double(boxes, line, fields[4], "height");
        if (w < 0) boxes.fail(line, "negative box width ", w);
        if (h < 0) boxes.fail(line, "negative box height ", h);
        auto trunc_int = [&](double v) {
            if (!(std::abs(v) < 1e9)) boxes.fail(line, "box coordinate ", v, " is out of range");
            return static_cast<int>(v); // Python's int(): truncation toward zero
        };
        if (e.has_box) boxes.fail(line, "a second box for image ", fields[0], " (first on line ", e.box_line, ")");
        e.box = Box{trunc_int(x), trunc_int(y), trunc_int(x + w), trunc_int(y + h)};
        e.has_box = true;
        e.box_line = line.number;
        detail::check_box_line(boxes, line, e.box, ImageSize{}, "");
    }

    for (const long long n : order) {
        Entry& e = entries.at(n);
        const std::string where = images.source() + ":" + std::to_string(e.line);
        if (e.label < 0)
            dualgrad::detail::raise<io_error>(labels.source(), ": no class for image ", n, " (", where, ")");
        if (e.split < 0)
            dualgrad::detail::raise<io_error>(split.source(), ": no train/test flag for image ", n, " (", where, ")");
        if (!e.has_box)
            dualgrad::detail::raise<io_error>(boxes.source(), ": no box for image ", n, " (", where, ")");
        const bool keep = opts.split == CubSplit::all || (opts.split == CubSplit::train) == (e.split == 1);
        if (!keep) continue;
        DatasetImage im;
        im.id = e.path;
        im.label = e.label;
        if (opts.image_size) {
            im.size = opts.image_size(e.path);
            if (im.size.width <= 0 || im.size.height <= 0)
                dualgrad::detail::raise<io_error>(where, ": image '", e.path, "' has size ", im.size.width, "x",
                                                  im.size.height, " (width x height)");
            const detail::TextLine box_line{e.box_line, {}};
            detail::check_box_line(boxes, box_line, e.box, im.size, "from the image file");
        }
        im.boxes.push_back(e.box);
        ds.images.push_back(std::move(im));
    }
    ds.reindex();
    return ds;
}

} // namespace dualgrad::io

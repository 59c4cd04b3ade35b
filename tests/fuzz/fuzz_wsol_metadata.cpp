// libFuzzer harness: wsolevaluation metadata folders (io/datasets.hpp, read_wsol_metadata).
//
// The input is split with dualgrad_fuzz::split_files (fuzz_common.hpp) into image_ids.txt,
// class_labels.txt, image_sizes.txt and localization.txt, written into this process's scratch
// folder (a file not given is absent). The options byte picks the read options:
//   bit 0     proxy: the first file is image_ids_proxy.txt instead of image_ids.txt;
//   bits 1-2  localization: automatic, boxes, masks, none.
// An accepted dataset must satisfy the documented checks (labels >= 0, boxes inside their image,
// one mask line per masked image at least) and round-trip through write_wsol_metadata: reading
// the written folder back gives the same dataset.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "dualgrad/io/datasets.hpp"
#include "fuzz_common.hpp"

namespace {

namespace io = dualgrad::io;

constexpr const char* kFiles[] = {"image_ids.txt", "class_labels.txt", "image_sizes.txt", "localization.txt"};

[[noreturn]] void fail(const std::string& what) { dualgrad_fuzz::property_failure("wsol_metadata", what); }

bool clean(std::string_view s) { return s.find_first_of(",\r\n") == std::string_view::npos; }

// write_wsol_metadata refuses ids holding a comma or a line break (documented); a path holding
// '\r' may lose it at a line end when read back. Such datasets are not round-tripped.
bool writable(const io::Dataset& ds) {
    for (const auto& im : ds.images) {
        if (!clean(im.id) || im.ignore_path.find('\r') != std::string::npos) return false;
        for (const auto& m : im.mask_paths)
            if (m.find('\r') != std::string::npos) return false;
    }
    return true;
}

void check_invariants(const io::Dataset& ds, io::Localization asked) {
    if (asked != io::Localization::automatic && ds.localization != asked && asked != io::Localization::none)
        fail("localization differs from the one asked for");
    for (const auto& im : ds.images) {
        if (im.id.empty()) fail("an empty image id was accepted");
        if (im.label < 0) fail("image '" + im.id + "' has no label");
        if (ds.find(im.id) != &im) fail("find('" + im.id + "') does not return the image");
        const bool sized = im.size.width > 0 && im.size.height > 0;
        if (ds.localization == io::Localization::boxes) {
            if (im.boxes.empty()) fail("image '" + im.id + "' has no box");
            if (!sized) fail("image '" + im.id + "' has boxes but no size");
            for (const auto& b : im.boxes)
                if (b.x0 < 0 || b.y0 < 0 || b.x1 < b.x0 || b.y1 < b.y0 || b.x1 > im.size.width - 1 ||
                    b.y1 > im.size.height - 1)
                    fail("image '" + im.id + "' has a box outside its image");
        } else if (ds.localization == io::Localization::masks) {
            if (im.mask_paths.empty()) fail("image '" + im.id + "' has no mask");
        }
    }
}

void check_same(const io::Dataset& a, const io::Dataset& b) {
    if (a.localization != b.localization) fail("round trip changed the localization kind");
    if (a.images.size() != b.images.size())
        fail("round trip changed the image count: " + std::to_string(a.images.size()) + " -> " +
             std::to_string(b.images.size()));
    for (std::size_t i = 0; i < a.images.size(); ++i) {
        const auto &x = a.images[i], &y = b.images[i];
        if (x.id != y.id) fail("round trip changed id '" + x.id + "' to '" + y.id + "'");
        if (x.label != y.label) fail("round trip changed the label of '" + x.id + "'");
        if (!(x.size == y.size)) fail("round trip changed the size of '" + x.id + "'");
        if (x.boxes != y.boxes) fail("round trip changed the boxes of '" + x.id + "'");
        if (x.mask_paths != y.mask_paths) fail("round trip changed the mask paths of '" + x.id + "'");
        if (x.ignore_path != y.ignore_path) fail("round trip changed the ignore path of '" + x.id + "'");
    }
}

void run(const std::uint8_t* data, std::size_t size) {
    static const dualgrad_fuzz::ScratchDir in("wsol");
    static const dualgrad_fuzz::ScratchDir out("wsol_rt");
    const auto input = dualgrad_fuzz::split_files(dualgrad_fuzz::as_text(data, size));

    io::WsolReadOptions opts;
    opts.proxy = (input.options & 1u) != 0;
    constexpr io::Localization kinds[] = {io::Localization::automatic, io::Localization::boxes,
                                          io::Localization::masks, io::Localization::none};
    opts.localization = kinds[(input.options >> 1) & 3u];

    in.remove("image_ids.txt");
    in.remove("image_ids_proxy.txt");
    for (const char* f : kFiles) in.remove(f);
    for (std::size_t i = 0; i < 4 && i < input.files.size(); ++i) {
        const std::string name = i == 0 && opts.proxy ? "image_ids_proxy.txt" : kFiles[i];
        in.write(name, input.files[i]);
    }

    const io::Dataset ds = io::read_wsol_metadata(in.path(), opts);
    check_invariants(ds, opts.localization);
    if (!writable(ds)) return;

    for (const char* f : kFiles) out.remove(f);
    try {
        io::write_wsol_metadata(out.path(), ds);
    } catch (const dualgrad::error& e) {
        fail(std::string("write_wsol_metadata refused an accepted dataset: ") + e.what());
    }
    io::WsolReadOptions back_opts;
    back_opts.localization = ds.localization;
    try {
        check_same(ds, io::read_wsol_metadata(out.path(), back_opts));
    } catch (const dualgrad::error& e) {
        fail(std::string("the folder written by write_wsol_metadata does not read back: ") + e.what());
    }
}

} // namespace

DUALGRAD_FUZZ_TARGET(run)

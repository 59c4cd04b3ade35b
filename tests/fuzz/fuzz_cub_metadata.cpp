// libFuzzer harness: CUB-200-2011's own metadata files (io/datasets.hpp, read_cub).
//
// The input is split with dualgrad_fuzz::split_files (fuzz_common.hpp) into images.txt,
// image_class_labels.txt, train_test_split.txt and bounding_boxes.txt, written into this
// process's scratch folder (a file not given is absent). The options byte picks the options:
//   bits 0-1  split: test, train, all, all;
//   bit 2     give CubReadOptions::image_size: a size from bits 3-7 and the id's length (a zero
//             width or height exercises the "bad size" error).
// An accepted dataset must satisfy the documented checks (labels >= 0, one box per image with
// non-negative, ordered coordinates, inside the image when its size is known) and, when sizes
// are known, round-trip through write_wsol_metadata / read_wsol_metadata.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "dualgrad/io/datasets.hpp"
#include "fuzz_common.hpp"

namespace {

namespace io = dualgrad::io;

constexpr const char* kFiles[] = {"images.txt", "image_class_labels.txt", "train_test_split.txt",
                                  "bounding_boxes.txt"};

[[noreturn]] void fail(const std::string& what) { dualgrad_fuzz::property_failure("cub_metadata", what); }

void run(const std::uint8_t* data, std::size_t size) {
    static const dualgrad_fuzz::ScratchDir in("cub");
    static const dualgrad_fuzz::ScratchDir out("cub_rt");
    const auto input = dualgrad_fuzz::split_files(dualgrad_fuzz::as_text(data, size));

    io::CubReadOptions opts;
    constexpr io::CubSplit splits[] = {io::CubSplit::test, io::CubSplit::train, io::CubSplit::all,
                                       io::CubSplit::all};
    opts.split = splits[input.options & 3u];
    const bool sized = (input.options & 4u) != 0;
    const int base_w = 40 * ((input.options >> 3) & 3u);  // 0, 40, 80, 120
    const int base_h = 100 * ((input.options >> 5) & 7u); // 0, 100, ..., 700
    if (sized)
        opts.image_size = [&](const std::string& id) {
            const int extra = static_cast<int>(id.size() % 64);
            return dualgrad::ImageSize{base_h == 0 ? 0 : base_h + extra, base_w == 0 ? 0 : base_w + extra};
        };

    for (const char* f : kFiles) in.remove(f);
    for (std::size_t i = 0; i < 4 && i < input.files.size(); ++i) in.write(kFiles[i], input.files[i]);

    const io::Dataset ds = io::read_cub(in.path(), opts);
    if (ds.localization != io::Localization::boxes) fail("read_cub did not report boxes");
    bool ids_writable = true;
    for (const auto& im : ds.images) {
        if (im.id.empty()) fail("an empty image id was accepted");
        if (im.label < 0) fail("image '" + im.id + "' has a negative label");
        if (ds.find(im.id) != &im) fail("find('" + im.id + "') does not return the image");
        if (im.boxes.size() != 1) fail("image '" + im.id + "' has " + std::to_string(im.boxes.size()) + " boxes");
        const auto& b = im.boxes.front();
        if (b.x0 < 0 || b.y0 < 0 || b.x1 < b.x0 || b.y1 < b.y0) fail("image '" + im.id + "' has an invalid box");
        if (sized) {
            if (im.size.width <= 0 || im.size.height <= 0) fail("image '" + im.id + "' kept a non-positive size");
            if (b.x1 > im.size.width - 1 || b.y1 > im.size.height - 1)
                fail("image '" + im.id + "' has a box outside its image");
        } else if (!(im.size == dualgrad::ImageSize{})) {
            fail("image '" + im.id + "' has a size although none was given");
        }
        if (im.id.find_first_of(",\r\n") != std::string::npos) ids_writable = false;
    }

    // With sizes, the dataset is a complete wsolevaluation box split: write it and read it back.
    if (!sized || !ids_writable) return;
    for (const char* f : {"image_ids.txt", "class_labels.txt", "image_sizes.txt", "localization.txt"}) out.remove(f);
    try {
        io::write_wsol_metadata(out.path(), ds);
    } catch (const dualgrad::error& e) {
        fail(std::string("write_wsol_metadata refused a CUB dataset: ") + e.what());
    }
    io::WsolReadOptions back_opts;
    back_opts.localization = io::Localization::boxes;
    io::Dataset back;
    try {
        back = io::read_wsol_metadata(out.path(), back_opts);
    } catch (const dualgrad::error& e) {
        fail(std::string("the CUB dataset written by write_wsol_metadata does not read back: ") + e.what());
    }
    if (back.images.size() != ds.images.size()) fail("round trip changed the image count");
    for (std::size_t i = 0; i < ds.images.size(); ++i) {
        const auto &x = ds.images[i], &y = back.images[i];
        if (x.id != y.id || x.label != y.label || !(x.size == y.size) || x.boxes != y.boxes)
            fail("round trip changed image '" + x.id + "'");
    }
}

} // namespace

DUALGRAD_FUZZ_TARGET(run)

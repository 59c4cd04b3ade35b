// libFuzzer harness: IDX arrays, gzip-compressed or raw (io/idx.hpp: gunzip, parse_idx).
//
// In memory, as read_idx does after reading the file: gunzip when the input starts with the gzip
// magic, then parse_idx. An accepted array must hold the product of its sizes in bytes. A rank-3
// array (of at most 65536 images) is also taken as images and paired with generated labels
// (FashionMnist's checks).

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "dualgrad/io/idx.hpp"
#include "fuzz_common.hpp"

namespace {

void run(const std::uint8_t* data, std::size_t size) {
    namespace io = dualgrad::io;
    const std::span<const std::uint8_t> in(data, size);
    std::vector<std::uint8_t> plain;
    std::span<const std::uint8_t> bytes = in;
    if (io::is_gzip(in)) {
        plain = io::gunzip(in, "<fuzz>");
        bytes = plain;
    }
    const io::IdxArray a = io::parse_idx(bytes, "<fuzz>");
    std::size_t count = 1;
    for (int d : a.dims) {
        if (d < 0) dualgrad_fuzz::property_failure("idx", "negative size " + std::to_string(d));
        count *= static_cast<std::size_t>(d);
    }
    if (a.data.size() != count)
        dualgrad_fuzz::property_failure("idx", std::to_string(a.data.size()) + " bytes for " + std::to_string(count) +
                                                   " elements");
    // The labels are the harness's own: as many as the images, so a header announcing millions of
    // empty (0 x n) images would make the harness, not the library, allocate them. A real label
    // file that large is that large on disk.
    if (a.dims.size() == 3 && a.dims[0] <= (1 << 16)) {
        std::vector<std::uint8_t> labels(static_cast<std::size_t>(a.dims[0]));
        for (std::size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<std::uint8_t>(i % 10);
        const io::FashionMnist ds(a.dims[0], a.dims[1], a.dims[2], a.data, labels, "<fuzz>");
        if (ds.size() > 0) (void)ds.image(ds.size() - 1);
    }
}

} // namespace

DUALGRAD_FUZZ_TARGET(run)

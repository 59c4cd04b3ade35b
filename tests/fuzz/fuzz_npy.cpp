// libFuzzer harness: .npy parsing in memory (io/npy.hpp, NpyArray::parse).
//
// An accepted array is converted by its kind (as_float and as_double, or as_int64) and its size
// checked against its shape; a float array of rank 2 is also read from a file as a score map
// (read_score_map), through the scratch folder of this process.

#include <cstddef>
#include <cstdint>
#include <string>

#include "dualgrad/io/npy.hpp"
#include "fuzz_common.hpp"

namespace {

void run(const std::uint8_t* data, std::size_t size) {
    namespace io = dualgrad::io;
    const auto a = io::NpyArray::parse(dualgrad_fuzz::as_bytes(data, size), "<fuzz>");
    std::size_t count = 1;
    for (auto d : a.shape()) count *= static_cast<std::size_t>(d);
    if (a.size() != count || a.bytes().size() != count * io::npy_itemsize(a.dtype()))
        dualgrad_fuzz::property_failure("npy", "array " + a.describe() + " holds " + std::to_string(a.size()) +
                                                   " elements in " + std::to_string(a.bytes().size()) + " bytes");
    (void)a.describe();
    if (io::is_floating(a.dtype())) {
        if (a.as_float().size() != count || a.as_double().size() != count)
            dualgrad_fuzz::property_failure("npy", "as_float/as_double size differs from the shape");
        if (a.rank() == 2) {
            static const dualgrad_fuzz::ScratchDir dir("npy");
            const auto path = dir.write("map.npy", dualgrad_fuzz::as_text(data, size));
            const auto map = io::read_score_map(path);
            (void)map;
        }
    } else {
        if (a.as_int64().size() != count) dualgrad_fuzz::property_failure("npy", "as_int64 size differs from the shape");
    }
    a.require_rank(static_cast<int>(a.rank()));
}

} // namespace

DUALGRAD_FUZZ_TARGET(run)

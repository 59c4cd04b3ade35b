// libFuzzer harness: safetensors parsing in memory (io/safetensors.hpp,
// SafetensorsFile::from_bytes).
//
// Every tensor of an accepted file is read (as float, double or int64 by its dtype) and written
// back with SafetensorsWriter (floats as F32, integers as I64); the re-parsed values must equal
// the first read bit for bit.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "dualgrad/io/safetensors.hpp"
#include "fuzz_common.hpp"

namespace {

void run(const std::uint8_t* data, std::size_t size) {
    namespace io = dualgrad::io;
    const auto file = io::SafetensorsFile::from_bytes(dualgrad_fuzz::as_bytes(data, size), "<fuzz>");
    (void)file.metadata();

    io::SafetensorsWriter writer;
    std::vector<std::pair<std::string, std::vector<float>>> floats;
    std::vector<std::pair<std::string, std::vector<std::int64_t>>> ints;
    for (const auto& name : file.names()) {
        const auto& t = file.info(name);
        const auto raw = file.raw_bytes(name);
        if (raw.size() != static_cast<std::size_t>(t.numel()) * io::dtype_size(t.dtype))
            dualgrad_fuzz::property_failure("safetensors", "tensor '" + name + "': raw_bytes size disagrees with its shape");
        if (io::is_floating(t.dtype)) {
            auto v = file.read_float(name);
            (void)file.read_double(name);
            writer.add(name, t.shape, v, io::Dtype::F32);
            floats.emplace_back(name, std::move(v));
        } else {
            std::vector<std::int64_t> v;
            try {
                v = file.read_int64(name); // U64 above the int64 range is an error
            } catch (const dualgrad::error&) {
                continue;
            }
            writer.add_int64(name, t.shape, v);
            ints.emplace_back(name, std::move(v));
        }
    }

    const auto bytes = writer.bytes();
    std::optional<io::SafetensorsFile> back;
    try {
        back.emplace(io::SafetensorsFile::from_bytes(bytes, "<rewritten>"));
    } catch (const dualgrad::error& e) {
        dualgrad_fuzz::property_failure("safetensors", std::string("the rewritten file does not parse: ") + e.what());
    }
    for (const auto& [name, v] : floats) {
        const auto w = back->read_float(name);
        if (w.size() != v.size() || (!v.empty() && std::memcmp(w.data(), v.data(), v.size() * sizeof(float)) != 0))
            dualgrad_fuzz::property_failure("safetensors", "tensor '" + name + "' changed in the F32 round trip");
    }
    for (const auto& [name, v] : ints)
        if (back->read_int64(name) != v)
            dualgrad_fuzz::property_failure("safetensors", "tensor '" + name + "' changed in the I64 round trip");
}

} // namespace

DUALGRAD_FUZZ_TARGET(run)

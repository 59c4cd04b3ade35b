#pragma once
// Shared pieces of the `dualgrad` command line: model loading from --arch/--weights, layer name
// to file name, and the error convention (every error names the file or option and what was wrong).
#include <filesystem>
#include <optional>
#include <string>

#include <dualgrad/models/cpu_model.hpp>

namespace dualgrad::cli {

/// `/` in a layer name becomes `_` in output file names ("group2/block5" -> "group2_block5").
inline std::string layer_file_name(std::string name) {
    for (char& c : name)
        if (c == '/') c = '_';
    return name;
}

/// The model of `arch` from a safetensors file, or (no file) an unloaded graph of the given size,
/// for listings.
inline models::CpuModel open_model(const std::string& arch, const std::optional<std::filesystem::path>& weights,
                                   int classes = 1000, double width = 1.0) {
    if (weights) {
        if (!std::filesystem::exists(*weights))
            detail::raise<io_error>("weights file '", weights->string(), "' does not exist");
        return models::load_model(arch, *weights);
    }
    models::ModelConfig cfg;
    cfg.num_classes = classes;
    cfg.width = width;
    models::CpuModel m{models::describe(arch, cfg), nn::Graph(3)};
    m.graph = models::build_graph(m.description);
    return m;
}

} // namespace dualgrad::cli

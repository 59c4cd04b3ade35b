#pragma once
// Shared pieces of the `dualgrad` command line: model loading from --arch/--weights, layer name
// to file name, and the error convention (every error names the file or option and what was wrong).
#include <filesystem>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

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
                                   std::optional<bool> large_feature_map = std::nullopt, int classes = 1000,
                                   double width = 1.0) {
    models::ModelConfig cfg;
    cfg.large_feature_map = large_feature_map;
    if (weights) {
        if (!std::filesystem::exists(*weights))
            detail::raise<io_error>("weights file '", weights->string(), "' does not exist");
        return models::load_model(arch, *weights, cfg);
    }
    cfg.num_classes = classes;
    cfg.width = width;
    models::CpuModel m{models::describe(arch, cfg), nn::Graph(3)};
    m.graph = models::build_graph(m.description);
    return m;
}

/// `--large-feature-map on|off`: wsolevaluation's variant of the backbone (default: the
/// architecture's, or what the weights say; docs/design.md §5).
struct VariantOption {
    std::string text;
    void add(CLI::App* cmd) {
        cmd->add_option("--large-feature-map", text,
                        "wsolevaluation's large_feature_map: on or off (default: VGG16's is read from its tensor names, "
                        "else the weights' metadata, else on for ResNet50/SE-ResNet50/InceptionV3 and off for VGG16)")
            ->check(CLI::IsMember({"on", "off"}));
    }
    [[nodiscard]] std::optional<bool> value() const {
        if (text.empty()) return std::nullopt;
        return text == "on";
    }
};

} // namespace dualgrad::cli

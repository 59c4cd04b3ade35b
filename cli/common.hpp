#pragma once
// Shared pieces of the `dualgrad` command line: model loading from --arch/--weights, layer name
// to file name, and the error convention (every error names the file or option and what was wrong).
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include <dualgrad/core/method_registry.hpp>
#include <dualgrad/models/cpu_model.hpp>

namespace dualgrad::cli {

/// The registered methods' names, comma-separated, for help texts (the registry is the one list).
inline std::string method_names_text() {
    std::string out;
    for (const auto& n : MethodRegistry<EigenBackend>::global().names()) out += (out.empty() ? "" : ", ") + n;
    return out;
}

/// The methods' settings from the command line (`MethodSettings`): --seed, --samples, --noise-std,
/// --input-batch, --head-batch. `noise_std` is kept apart (CLI11 fills a plain float) and copied in
/// by `method_settings`.
struct MethodSettingsCli {
    MethodSettings settings;
    float noise_std = 2.0f;
    [[nodiscard]] MethodSettings value() const {
        MethodSettings s = settings;
        s.noise_std = noise_std;
        return s;
    }
};

inline void add_method_settings_options(CLI::App* cmd, MethodSettingsCli& m) {
    cmd->add_option("--seed", m.settings.seed, "Seed of Random-CAM's weights and SS-CAM's noise")->capture_default_str();
    cmd->add_option("--samples", m.settings.samples,
                    "IS-CAM's steps and SS-CAM's noisy copies per channel (0: torch-cam's 10 and 35)")
        ->capture_default_str()
        ->check(CLI::Range(0, 1000));
    cmd->add_option("--noise-std", m.noise_std, "SS-CAM's noise standard deviation")
        ->capture_default_str()
        ->check(CLI::Validator(
            [](std::string& text) -> std::string {
                const double v = std::strtod(text.c_str(), nullptr);
                return std::isfinite(v) && v >= 0 ? std::string{} : "'" + text + "' is not a finite number >= 0";
            },
            "FINITE >= 0"));
    cmd->add_option("--input-batch", m.settings.input_batch, "Masked inputs per forward pass (Score-CAM, IS-CAM, SS-CAM)")
        ->capture_default_str()
        ->check(CLI::Range(1, 4096));
    cmd->add_option("--head-batch", m.settings.head_batch, "Rows per head pass (Ablation-CAM)")
        ->capture_default_str()
        ->check(CLI::Range(1, 4096));
}

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

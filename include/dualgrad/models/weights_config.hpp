#pragma once
/// \file
/// What a checkpoint says about its model: the number of classes (rows of the CAM head's weight)
/// and the width multiplier (the first convolution's output channels against the full width).
/// Shared by the CPU engine's `load_model` and LibTorch's `load_torch_model`.

#include <cstdint>
#include <string>
#include <string_view>
#include <optional>
#include <utility>

#include "dualgrad/io/safetensors.hpp"
#include "dualgrad/models/backbones.hpp"

namespace dualgrad::models {

/// The first convolution's weight name and full-width output channels, for inferring the width.
[[nodiscard]] inline std::pair<std::string, int> width_probe(std::string_view arch) {
    if (arch == "vgg16") return {"features.0.weight", 64};
    if (arch == "inception_v3") return {"Conv2d_1a_3x3.conv.weight", 32};
    return {"conv1.weight", 64};
}

/// wsolevaluation's `large_feature_map` of a checkpoint. VGG16's variants differ in their tensor
/// names (conv5 is `features.24/26/28` with pool4 kept, `features.23/25/27` without), so there it
/// is read from the names, and a `requested` setting that contradicts them is an error naming the
/// file. The ResNets' and InceptionV3's variants have the same names: the weights' metadata
/// (`large_feature_map`: "true" or "false", which dualgrad_train records) decides, else
/// `requested`, else the architecture's default (`ModelConfig`).
[[nodiscard]] inline std::optional<bool> large_feature_map_of(std::string_view arch, const io::SafetensorsFile& weights,
                                                              std::optional<bool> requested) {
    std::optional<bool> recorded;
    if (const auto it = weights.metadata().find("large_feature_map"); it != weights.metadata().end()) {
        if (it->second != "true" && it->second != "false")
            dualgrad::detail::raise<io_error>("weights '", weights.source(), "': metadata large_feature_map is '",
                                              it->second, "'; expected true or false");
        recorded = it->second == "true";
    }
    if (arch == "vgg16") {
        const bool pool4 = weights.contains("features.24.weight") && weights.contains("features.28.weight");
        const bool no_pool4 = weights.contains("features.23.weight") && weights.contains("features.27.weight");
        if (pool4 == no_pool4)
            dualgrad::detail::raise<io_error>("weights '", weights.source(), "' have neither VGG16's conv5 with pool4 ",
                                              "(features.24/26/28) nor without it (features.23/25/27)");
        const bool large = no_pool4;
        for (const auto& [what, v] : {std::pair{"the requested", requested}, std::pair{"the recorded", recorded}})
            if (v && *v != large)
                dualgrad::detail::raise<value_error>("weights '", weights.source(), "' are VGG16 ",
                                                     large ? "without pool4 (large_feature_map on)" : "with pool4 (large_feature_map off)",
                                                     " by their tensor names, but ", what, " setting is ", *v ? "on" : "off");
        return large;
    }
    if (recorded && requested && *recorded != *requested)
        dualgrad::detail::raise<value_error>("weights '", weights.source(), "' record large_feature_map ",
                                             *recorded ? "on" : "off", ", but ", *requested ? "on" : "off", " was requested");
    return recorded ? recorded : requested;
}

/// The largest class count and width multiplier `config_from_weights` accepts from a file.
inline constexpr std::int64_t max_classes = 1 << 20;
inline constexpr int max_width_multiplier = 8;

/// `cfg` with `num_classes` and `width` read from `weights`, and `large_feature_map` as
/// `large_feature_map_of` decides; errors name the file and the tensor.
[[nodiscard]] inline ModelConfig config_from_weights(std::string_view arch, const io::SafetensorsFile& weights,
                                                     ModelConfig cfg = {}) {
    const ModelDescription probe = describe(arch, ModelConfig{});
    if (!weights.contains(probe.cam_weight))
        dualgrad::detail::raise<io_error>("weights '", weights.source(), "' have no tensor '", probe.cam_weight,
                                          "', so they are not a ", arch, " model (or a different variant)");
    // Shapes are data from the file: range-checked here, before any layer is sized by them.
    const auto checked_rows = [&](const std::string& tensor, std::int64_t max, std::string_view what) {
        const auto& t = weights.info(tensor);
        if (t.shape.size() < 2 || t.numel() <= 0)
            dualgrad::detail::raise<io_error>("weights '", weights.source(), "': tensor '", tensor, "' has shape ",
                                              io::detail::format_shape(t.shape), "; the ", what,
                                              " needs a non-empty matrix or convolution kernel");
        if (t.shape[0] > max)
            dualgrad::detail::raise<io_error>("weights '", weights.source(), "': tensor '", tensor, "' has ",
                                              t.shape[0], " rows, over the limit of ", max, " for the ", what);
        return t.shape[0];
    };
    cfg.num_classes = static_cast<int>(checked_rows(probe.cam_weight, max_classes, "classifier head"));
    const auto [name, full] = width_probe(arch);
    if (!weights.contains(name))
        dualgrad::detail::raise<io_error>("weights '", weights.source(), "' have no tensor '", name, "' for a ", arch,
                                          " model");
    cfg.width = static_cast<double>(checked_rows(name, std::int64_t{max_width_multiplier} * full, "first convolution")) /
                full;
    cfg.large_feature_map = large_feature_map_of(arch, weights, cfg.large_feature_map);
    return cfg;
}

} // namespace dualgrad::models

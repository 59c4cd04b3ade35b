#pragma once
/// \file
/// What a checkpoint says about its model: the number of classes (rows of the CAM head's weight)
/// and the width multiplier (the first convolution's output channels against the full width).
/// Shared by the CPU engine's `load_model` and LibTorch's `load_torch_model`.

#include <string>
#include <string_view>
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

/// `cfg` with `num_classes` and `width` read from `weights`; errors name the file and the tensor.
[[nodiscard]] inline ModelConfig config_from_weights(std::string_view arch, const io::SafetensorsFile& weights,
                                                     ModelConfig cfg = {}) {
    const ModelDescription probe = describe(arch, ModelConfig{});
    if (!weights.contains(probe.cam_weight))
        dualgrad::detail::raise<io_error>("weights '", weights.source(), "' have no tensor '", probe.cam_weight,
                                          "', so they are not a ", arch, " model (or a different variant)");
    cfg.num_classes = static_cast<int>(weights.info(probe.cam_weight).shape.at(0));
    const auto [name, full] = width_probe(arch);
    if (!weights.contains(name))
        dualgrad::detail::raise<io_error>("weights '", weights.source(), "' have no tensor '", name, "' for a ", arch,
                                          " model");
    cfg.width = static_cast<double>(weights.info(name).shape.at(0)) / full;
    return cfg;
}

} // namespace dualgrad::models

#pragma once
// The shared job of `maps`, `localize` and `eval`: one forward and one batched backward pass of a
// CPU-engine model for a batch, then the maps of every requested method at every requested layer.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <CLI/CLI.hpp>

#include <dualgrad/core/cost.hpp>
#include <dualgrad/core/methods.hpp>
#include <dualgrad/core/score_maps.hpp>
#include <dualgrad/io/image.hpp>
#include <dualgrad/models/cpu_model.hpp>

namespace dualgrad::cli {

/// DGL's cost policy as chosen on the command line (`--cost reference|xent --alpha A`).
using AnyCost = std::variant<ReferenceCost, CrossEntropyCost>;

inline AnyCost parse_cost(const std::string& name, float alpha) {
    if (name == "reference") return ReferenceCost{alpha};
    if (name == "xent") return CrossEntropyCost{alpha};
    detail::raise<value_error>("--cost: unknown cost '", name, "'; valid: reference, xent");
}

/// `top1`, `topk:K`, `class:C` (every sample) or `gt:FILE` (one class per line, or
/// `image_id,class` lines as in wsolevaluation's class_labels.txt, in sample order).
inline TargetRule parse_target(const std::string& text, std::int64_t samples);

/// Comma-separated method names -> methods (`cam, gradcam, ...`); the error lists the valid names.
inline std::vector<Method> parse_methods(const std::vector<std::string>& names) {
    std::vector<Method> out;
    for (const auto& n : names) out.push_back(parse_method(n));
    if (out.empty()) detail::raise<value_error>("--method: no method given");
    return out;
}

/// The maps of one batch: maps[method][layer][slot][sample] at feature resolution (raw).
struct BatchMaps {
    Logits logits;
    Targets targets;
    std::vector<std::vector<std::vector<std::vector<ScoreMap>>>> maps;
};

/// Runs `model` once on `input` for all `layers` and `methods` (the gradients are computed only
/// if a method needs them; CAM uses the model's head). CAM exists at the model's CAM layer only:
/// elsewhere it is an error, or (`skip_cam_elsewhere`) an empty entry.
inline BatchMaps compute_maps(models::CpuModel& model, const nn::Tensor& input, const std::vector<std::string>& layers,
                              const std::vector<Method>& methods, const TargetRule& targets, const AnyCost& cost,
                              const nn::ExecContext& ctx = {}, bool skip_cam_elsewhere = false) {
    using B = EigenBackend;
    bool need_grad = false;
    for (Method m : methods) need_grad = need_grad || needs_gradients(m);
    return std::visit(
        [&](const auto& c) {
            using Cost = std::decay_t<decltype(c)>;
            GradientRequest request = request_for(layers, targets, c);
            request.class_vjps = need_grad;
            const auto result = model.graph.gradients(input, request, ctx);
            BatchMaps out{result.logits, result.targets, {}};
            MapOptions<Cost> opts{c, std::nullopt};
            const bool has_cam = std::find(methods.begin(), methods.end(), Method::cam) != methods.end();
            if (has_cam) opts.fc = model.cam_head();
            for (Method m : methods) {
                auto& per_layer = out.maps.emplace_back();
                for (std::size_t l = 0; l < layers.size(); ++l) {
                    auto& per_slot = per_layer.emplace_back();
                    if (m == Method::cam && model.graph.node(layers[l]) != model.graph.node(model.description.cam_layer)) {
                        if (!skip_cam_elsewhere)
                            detail::raise<value_error>("method 'cam' is defined at the CAM layer '",
                                                       model.description.cam_layer, "' only, not at '", layers[l], "'");
                        continue; // left empty
                    }
                    const auto maps = class_maps<B, Cost>(m, result.layers[l], &result.targets, opts);
                    for (const auto& t : maps) per_slot.push_back(to_score_maps<B>(t));
                }
            }
            return out;
        },
        cost);
}

/// `NchwTensor` (the io headers' plain batch) -> the CPU engine's tensor.
inline nn::Tensor to_engine(const io::NchwTensor& x) {
    return EigenBackend::from_host({x.shape[0], x.shape[1], x.shape[2], x.shape[3]}, x.values);
}

/// Preprocessing options shared by `localize` and `eval`.
struct PreprocessCli {
    int size = 224;          ///< network input side (resize target)
    bool no_resize = false;  ///< keep the image size
    std::vector<float> mean{0.485f, 0.456f, 0.406f};
    std::vector<float> std{0.229f, 0.224f, 0.225f};
    int tencrop_resize = 256;

    void add(CLI::App* cmd) {
        cmd->add_option("--size", size, "Network input side: images are resized to SIZE x SIZE (bilinear)")
            ->capture_default_str()
            ->check(CLI::PositiveNumber);
        cmd->add_flag("--no-resize", no_resize, "Feed images at their own size");
        cmd->add_option("--mean", mean, "Normalization mean per RGB channel (of values in [0, 1])")
            ->expected(3)
            ->delimiter(',')
            ->capture_default_str();
        cmd->add_option("--std", std, "Normalization std per RGB channel")->expected(3)->delimiter(',')->capture_default_str();
        cmd->add_option("--tencrop-resize", tencrop_resize, "10-crop: resize to this side before the crops of --size")
            ->capture_default_str();
    }
    [[nodiscard]] io::PreprocessOptions options() const {
        io::PreprocessOptions o;
        o.height = o.width = size;
        o.resize = !no_resize;
        for (int c = 0; c < 3; ++c) {
            o.norm.mean[static_cast<std::size_t>(c)] = mean[static_cast<std::size_t>(c)];
            o.norm.std[static_cast<std::size_t>(c)] = std[static_cast<std::size_t>(c)];
        }
        return o;
    }
};

} // namespace dualgrad::cli

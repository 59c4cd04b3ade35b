#pragma once
/// \file
/// The backbones on the CPU engine: `build_graph` instantiates a `ModelDescription` as an
/// `nn::Graph`, and `load_model` reads a safetensors file of PyTorch `state_dict` keys, infers
/// the number of classes and the width multiplier from it, builds the graph and loads every
/// parameter (a missing, extra or mis-shaped tensor is an error naming it).
///
///     auto model = dualgrad::models::load_model("resnet50", "weights.safetensors");
///     auto result = model.graph.gradients(image, {{"layer3.5"}, dualgrad::TargetRule::top1()});

#include <cmath>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dualgrad/core/methods.hpp"
#include "dualgrad/io/safetensors.hpp"
#include "dualgrad/models/backbones.hpp"
#include "dualgrad/models/weights_config.hpp"
#include "dualgrad/nn/graph.hpp"
#include "dualgrad/nn/layers.hpp"

namespace dualgrad::models {

/// The CPU engine's graph for a description.
[[nodiscard]] inline nn::Graph build_graph(const ModelDescription& d) {
    nn::Graph g(d.in_channels);
    for (const Op& op : d.ops) {
        std::unique_ptr<nn::Layer> layer;
        switch (op.kind) {
        case OpKind::conv: {
            const auto& c = std::get<Conv>(op.spec);
            layer = std::make_unique<nn::Conv2d>(
                nn::Conv2dOptions{c.in, c.out, c.kh, c.kw, c.sh, c.sw, c.ph, c.pw, c.dh, c.dw, c.bias});
            break;
        }
        case OpKind::batchnorm: {
            const auto& b = std::get<BatchNorm>(op.spec);
            layer = std::make_unique<nn::BatchNorm2d>(b.channels, b.eps);
            break;
        }
        case OpKind::relu: layer = std::make_unique<nn::ReLU>(); break;
        case OpKind::dropout: layer = std::make_unique<nn::Dropout>(); break;
        case OpKind::maxpool:
        case OpKind::avgpool: {
            const auto& p = std::get<Pool>(op.spec);
            nn::Pool2dOptions o;
            o.kh = p.kh, o.kw = p.kw, o.sh = p.sh, o.sw = p.sw, o.ph = p.ph, o.pw = p.pw;
            o.ceil_mode = p.ceil_mode;
            o.count_include_pad = p.count_include_pad;
            if (op.kind == OpKind::maxpool) layer = std::make_unique<nn::MaxPool2d>(o);
            else layer = std::make_unique<nn::AvgPool2d>(o);
            break;
        }
        case OpKind::global_avgpool: layer = std::make_unique<nn::GlobalAvgPool>(); break;
        case OpKind::linear: {
            const auto& l = std::get<Linear>(op.spec);
            layer = std::make_unique<nn::Linear>(l.in, l.out);
            break;
        }
        case OpKind::add: layer = std::make_unique<nn::Add>(); break;
        case OpKind::concat: layer = std::make_unique<nn::Concat>(static_cast<int>(op.inputs.size())); break;
        case OpKind::squeeze_excite: {
            const auto& s = std::get<SqueezeExcite>(op.spec);
            layer = std::make_unique<nn::SqueezeExcitation>(s.channels, s.reduced);
            break;
        }
        }
        std::vector<int> inputs;
        for (const auto& in : op.inputs) inputs.push_back(g.node(in));
        g.add(op.name, std::move(layer), std::move(inputs), op.param_prefix);
    }
    g.set_output(g.node(d.output));
    for (const auto& [alias, target] : d.aliases) g.add_alias(alias, target);
    return g;
}

/// A backbone on the CPU engine, with its description (for CAM's head and the default layers).
/// It is a `GradientSource` that carries its execution settings (`exec.threads`).
struct CpuModel {
    using backend = EigenBackend;
    using input_type = nn::Tensor;

    ModelDescription description;
    nn::Graph graph;
    nn::ExecContext exec{};
    /// The input side the weights were trained at, from their metadata (`input_size`, or the
    /// `canvas` of a dualgrad_train recipe); 0 when they do not say.
    int input_size = 0;

    /// One forward and one batched backward pass on `exec`'s threads (`nn::Graph::gradients`).
    [[nodiscard]] GradientResult<EigenBackend> gradients(const nn::Tensor& x, const GradientRequest& request) const {
        return graph.gradients(x, request, exec);
    }

    /// The logits of a plain forward pass (`nn::Graph::forward`).
    [[nodiscard]] Logits forward(const nn::Tensor& x) const { return graph.forward(x, exec); }

    /// What `head_forward` needs for `layer` (one forward pass of `x`; `nn::Graph::head_state`).
    [[nodiscard]] nn::Graph::HeadState head_state(const nn::Tensor& x, const std::string& layer) const {
        return graph.head_state(x, layer, exec);
    }
    /// The logits of the part above the layer on new values of it (`nn::Graph::head_forward`).
    [[nodiscard]] Logits head_forward(const nn::Graph::HeadState& h, const nn::Tensor& s, std::span<const int> samples) const {
        return graph.head_forward(h, s, samples, exec);
    }

    /// The CAM head (weights and bias of `description.cam_weight`/`cam_bias`), viewing the loaded parameters.
    [[nodiscard]] FcHead cam_head() {
        FcHead head;
        for (auto& [name, p] : graph.parameters()) {
            if (name == description.cam_weight) {
                head.weights = *p.data;
                head.classes = static_cast<int>(p.shape[0]);
                head.channels = static_cast<int>(p.shape[1]);
            } else if (name == description.cam_bias) {
                head.bias = *p.data;
            }
        }
        return head;
    }
};

/// The input side recorded in weights' metadata: `input_size`, or the `canvas` of the `recipe`
/// JSON that dualgrad_train writes; 0 when neither is there or it is not a side in [1, 8192].
[[nodiscard]] inline int recorded_input_size(const io::SafetensorsFile& weights) {
    const auto& meta = weights.metadata();
    long long side = 0;
    if (const auto it = meta.find("input_size"); it != meta.end()) {
        try {
            side = std::stoll(it->second);
        } catch (const std::exception&) {
            side = 0;
        }
    } else if (const auto r = meta.find("recipe"); r != meta.end()) {
        nlohmann::json j;
        try {
            j = io::detail::parse_json(r->second.begin(), r->second.end());
        } catch (const std::exception&) {
            j = nullptr; // an unreadable recipe gives no size
        }
        if (j.is_object() && j.contains("canvas") && j["canvas"].is_number_integer()) side = j["canvas"].get<long long>();
    }
    return side >= 1 && side <= 8192 ? static_cast<int>(side) : 0;
}

/// Loads `arch` from a safetensors file: the number of classes comes from the CAM head's weight,
/// the width multiplier from the first convolution (`config_from_weights`), unless `infer` is
/// false (then `cfg` is used as given).
[[nodiscard]] inline CpuModel load_model(std::string_view arch, const io::SafetensorsFile& weights,
                                         ModelConfig cfg = {}, bool infer = true) {
    if (infer) cfg = config_from_weights(arch, weights, cfg);
    CpuModel m{describe(arch, cfg), nn::Graph(3)};
    m.graph = build_graph(m.description);
    auto params = m.graph.parameters();
    io::load_parameters(weights, params);
    m.input_size = recorded_input_size(weights);
    return m;
}

[[nodiscard]] inline CpuModel load_model(std::string_view arch, const std::filesystem::path& path,
                                         ModelConfig cfg = {}) {
    return load_model(arch, io::SafetensorsFile::open(path), cfg);
}

} // namespace dualgrad::models

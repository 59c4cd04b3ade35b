#pragma once
/// \file
/// The parameters of each operation kind, once, for every engine: their `state_dict` names
/// (relative to the operation's prefix), shapes and initialization for training from scratch.
/// `parameter_specs` lists a whole description's parameters in operation order; the CPU engine's
/// layers (`nn/`) and LibTorch's `TorchModel` both create and load exactly these.
///
/// Adding an operation kind: its hyper-parameters and `OpKind` in description.hpp, its entry in
/// `op_parameters` here, then one builder per engine (`models::build_graph` in cpu_model.hpp, and
/// `TorchModel::compute` in torch_model.hpp). docs/design.md lists the steps.

#include <cstdint>
#include <string>
#include <vector>

#include "dualgrad/models/description.hpp"

namespace dualgrad::models {

/// How a parameter starts when a model is trained from scratch (`TorchModel::init_parameters`).
enum class ParamInit {
    kaiming_fan_out, ///< normal, std sqrt(2 / fan_out) with fan_out = dim0 * dims 2.. (ReLU gain)
    zeros,
    ones,
    residual_gamma,  ///< ones, except zero for the last BatchNorm of a residual branch (`*.bn3`),
                     ///< so that every block starts as an identity
    normal_small,    ///< normal, std 0.01 (classifier heads)
};

/// One parameter of an operation: name suffix, shape, initialization, and whether training
/// updates it (running statistics are buffers).
struct OpParam {
    std::string suffix;
    std::vector<std::int64_t> shape;
    ParamInit init = ParamInit::zeros;
    bool trainable = true;
};

/// The parameters of `op` (empty for operations without any): the one table entry per kind.
[[nodiscard]] inline std::vector<OpParam> op_parameters(const Op& op) {
    switch (op.kind) {
    case OpKind::conv: {
        const auto& c = std::get<Conv>(op.spec);
        std::vector<OpParam> p{{"weight", {c.out, c.in, c.kh, c.kw}, ParamInit::kaiming_fan_out}};
        if (c.bias) p.push_back({"bias", {c.out}, ParamInit::zeros});
        return p;
    }
    case OpKind::batchnorm: {
        const std::int64_t c = std::get<BatchNorm>(op.spec).channels;
        return {{"weight", {c}, ParamInit::residual_gamma},
                {"bias", {c}, ParamInit::zeros},
                {"running_mean", {c}, ParamInit::zeros, false},
                {"running_var", {c}, ParamInit::ones, false}};
    }
    case OpKind::linear: {
        const auto& l = std::get<Linear>(op.spec);
        return {{"weight", {l.out, l.in}, ParamInit::normal_small}, {"bias", {l.out}, ParamInit::zeros}};
    }
    case OpKind::squeeze_excite: {
        const auto& s = std::get<SqueezeExcite>(op.spec);
        return {{"fc1.weight", {s.reduced, s.channels, 1, 1}, ParamInit::kaiming_fan_out},
                {"fc1.bias", {s.reduced}, ParamInit::zeros},
                {"fc2.weight", {s.channels, s.reduced, 1, 1}, ParamInit::kaiming_fan_out},
                {"fc2.bias", {s.channels}, ParamInit::zeros}};
    }
    case OpKind::relu:
    case OpKind::maxpool:
    case OpKind::avgpool:
    case OpKind::global_avgpool:
    case OpKind::add:
    case OpKind::concat:
    case OpKind::dropout: return {};
    }
    return {};
}

/// One parameter of a description: its full `state_dict` name and shape.
struct ParameterSpec {
    std::string name;
    std::vector<std::int64_t> shape;
    std::vector<float>* data = nullptr; ///< filled by the loader (io::ParameterSlot)
    ParamInit init = ParamInit::zeros;
    bool trainable = true;
};

/// The parameters of every operation of `d`, in operation order (`op_parameters` of each).
[[nodiscard]] inline std::vector<ParameterSpec> parameter_specs(const ModelDescription& d) {
    std::vector<ParameterSpec> out;
    for (const Op& op : d.ops)
        for (auto& p : op_parameters(op))
            out.push_back({op.param_prefix + "." + p.suffix, std::move(p.shape), nullptr, p.init, p.trainable});
    return out;
}

} // namespace dualgrad::models

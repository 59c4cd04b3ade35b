#pragma once
/// \file
/// Training a `TorchModel` (what tools/train's `dualgrad_train` and `TorchBackbone` in training
/// mode use): a forward pass with BatchNorm batch statistics and dropout, the learned parameters
/// an optimizer updates, and the initialization for training from scratch (`models/op_table.hpp`
/// gives each parameter's rule). Localization needs none of it.
///
///     auto model = dualgrad::models::TorchModel(dualgrad::models::describe("resnet50", cfg));
///     dualgrad::models::init_parameters(model, at::make_generator<at::CPUGeneratorImpl>(1));
///     dualgrad::models::set_trainable(model, true);
///     torch::optim::AdamW opt(dualgrad::models::trainable_parameters(model));
///     auto loss = at::cross_entropy_loss(dualgrad::models::forward_train(model, x, 0.25), y);

#include <cmath>
#include <string>
#include <string_view>
#include <vector>

#include <ATen/ATen.h>

#include "dualgrad/models/op_table.hpp"
#include "dualgrad/models/torch_model.hpp"

namespace dualgrad::models {

/// The training side of `TorchModel` (a friend of it); use the free functions below.
struct TorchTraining {
    [[nodiscard]] static at::Tensor forward_train(TorchModel& m, const at::Tensor& x, double dropout) {
        const TorchModel::TrainMode mode{true, dropout};
        std::vector<at::Tensor> values(m.d_.ops.size() + 1);
        values[0] = m.checked_input(x);
        auto remaining = m.consumer_counts();
        for (int i = 1; i <= static_cast<int>(m.d_.ops.size()); ++i) m.run_node(i, values, remaining, mode);
        return m.logits_of(values[static_cast<std::size_t>(m.output_)]);
    }
};

/// A forward pass with autograd recording, BatchNorm in training mode (batch statistics; the
/// running statistics are updated in place with momentum 0.1, as `torch.nn.BatchNorm2d`) and
/// dropout with probability `dropout` at the description's dropout operations. Call
/// `set_trainable(model, true)` first. Returns the logits, N x classes.
[[nodiscard]] inline at::Tensor forward_train(TorchModel& model, const at::Tensor& x, double dropout = 0.0) {
    return TorchTraining::forward_train(model, x, dropout);
}

/// The learned parameters (weights and biases; not BatchNorm's running statistics), in
/// `parameter_specs` order: what an optimizer updates.
[[nodiscard]] inline std::vector<at::Tensor> trainable_parameters(const TorchModel& model) {
    std::vector<at::Tensor> out;
    for (const auto& spec : parameter_specs(model.description()))
        if (spec.trainable) out.push_back(model.parameters().at(spec.name));
    return out;
}

/// Turns autograd recording of the learned parameters on or off.
inline void set_trainable(TorchModel& model, bool on) {
    for (auto& t : trainable_parameters(model)) t.requires_grad_(on);
}

/// The usual initialization for training from scratch, from `generator`'s stream, each
/// parameter by its `ParamInit` (op_table.hpp): convolutions Kaiming-normal (fan_out, ReLU gain),
/// biases zero, BatchNorm weight 1 and bias 0 (the last BatchNorm of each residual branch,
/// `*.bn3`, weight 0, so that blocks start as identities), running mean 0 and variance 1, linear
/// layers N(0, 0.01).
inline void init_parameters(TorchModel& model, at::Generator generator) {
    at::NoGradGuard no_grad;
    const auto ends = [](const std::string& name, std::string_view s) {
        return name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0;
    };
    for (const auto& spec : parameter_specs(model.description())) {
        auto& t = model.parameters().at(spec.name);
        switch (spec.init) {
        case ParamInit::kaiming_fan_out: {
            double fan_out = static_cast<double>(t.size(0));
            for (std::int64_t k = 2; k < t.dim(); ++k) fan_out *= static_cast<double>(t.size(k));
            t.normal_(0.0, std::sqrt(2.0 / fan_out), generator);
            break;
        }
        case ParamInit::zeros: t.zero_(); break;
        case ParamInit::ones: t.fill_(1.0); break;
        case ParamInit::residual_gamma: t.fill_(ends(spec.name, ".bn3.weight") ? 0.0 : 1.0); break;
        case ParamInit::normal_small: t.normal_(0.0, 0.01, generator); break;
        }
    }
}

} // namespace dualgrad::models

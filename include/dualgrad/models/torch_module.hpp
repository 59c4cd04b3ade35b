#pragma once
/// \file
/// The four backbones as `torch::nn::Module`s (link `dualgrad::torch`): `TorchBackbone` is built
/// from the same `ModelDescription` as the CPU engine and `TorchModel`, and its
/// `named_parameters()` and `named_buffers()` carry the PyTorch `state_dict` names
/// ("layer1.0.conv1.weight", "layer1.0.bn1.running_mean", ...), so that it trains with
/// `torch::optim`, moves with `to(device)` and loads the same safetensors files.
///
///     dualgrad::models::TorchBackbone net(dualgrad::models::describe("resnet50", {.num_classes = 10, .width = 0.25}));
///     torch::optim::SGD opt(net->parameters(), 0.1);
///     net->train();
///     auto loss = torch::nn::functional::cross_entropy(net->forward(x), y);
///     ...
///     net->eval();
///     auto r = net->source().gradients(x, {{"layer3.5"}, dualgrad::TargetRule::top1()});   // DGL and the rest
///
/// The module holds no layer objects of its own: its parameters are those of a `TorchModel`
/// (the same tensors), registered on empty container modules named after the module path, and
/// `forward` runs that model's graph, with BatchNorm batch statistics and dropout (`dropout`) in
/// training mode.

#include <map>
#include <memory>
#include <string>
#include <utility>

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include "dualgrad/models/torch_model.hpp"
#include "dualgrad/models/torch_train.hpp"

namespace dualgrad::models {

class TorchBackboneImpl : public torch::nn::Module {
public:
    explicit TorchBackboneImpl(ModelDescription d) : model_(std::move(d)) {
        for (auto& [name, tensor] : model_.parameters()) {
            const auto dot = name.rfind('.');
            torch::nn::Module& owner = container(name.substr(0, dot));
            const std::string leaf = name.substr(dot + 1);
            if (TorchModel::is_running_statistic(name))
                owner.register_buffer(leaf, tensor);
            else
                owner.register_parameter(leaf, tensor);
        }
    }

    /// The logits, N x classes, with autograd; training mode uses batch statistics and dropout.
    at::Tensor forward(const at::Tensor& x) {
        if (is_training()) return models::forward_train(model_, x, dropout);
        return model_.forward_graph(x);
    }

    /// The gradient source over the same parameters (`GradientSource`, backend `TorchBackend`).
    [[nodiscard]] TorchModel& source() noexcept { return model_; }
    [[nodiscard]] const TorchModel& source() const noexcept { return model_; }
    [[nodiscard]] const ModelDescription& description() const noexcept { return model_.description(); }

    /// Loads a safetensors file in place (the checks of `TorchModel::load`).
    io::LoadSummary load(const std::filesystem::path& path, const io::LoadOptions& options = {}) {
        return model_.load(io::SafetensorsFile::open(path), options);
    }

    void to(torch::Device device, torch::Dtype dtype, bool non_blocking = false) override {
        if (dtype != torch::kFloat)
            dualgrad::detail::raise<value_error>("TorchBackbone: parameters stay float (inputs of other dtypes are "
                                                 "computed in float)");
        to(device, non_blocking);
    }
    void to(torch::Device device, bool non_blocking = false) override {
        (void)non_blocking;
        model_.to(device);
    }
    void to(torch::Dtype dtype, bool non_blocking = false) override { to(model_.device(), dtype, non_blocking); }

    /// Dropout probability at the description's dropout layers in training mode.
    double dropout = 0.0;

private:
    torch::nn::Module& container(const std::string& path) {
        torch::nn::Module* m = this;
        std::string prefix;
        std::size_t start = 0;
        while (start <= path.size()) {
            const auto dot = path.find('.', start);
            const std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
            prefix += (prefix.empty() ? "" : ".") + part;
            auto it = containers_.find(prefix);
            if (it == containers_.end())
                it = containers_.emplace(prefix, m->register_module(part, std::make_shared<torch::nn::Module>())).first;
            m = it->second.get();
            if (dot == std::string::npos) break;
            start = dot + 1;
        }
        return *m;
    }

    TorchModel model_;
    std::map<std::string, std::shared_ptr<torch::nn::Module>> containers_;
};

TORCH_MODULE(TorchBackbone);

} // namespace dualgrad::models

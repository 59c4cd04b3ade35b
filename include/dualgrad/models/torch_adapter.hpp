#pragma once
/// \file
/// Your own LibTorch model as a dualgrad gradient source (link `dualgrad::torch`).
///
/// PyTorch tools read a layer's activations and gradients with forward and backward hooks.
/// LibTorch's C++ `torch::nn::Module` has no hooks, and a TorchScript module's hooks must be
/// compiled into it, so dualgrad cannot reach inside an arbitrary C++ module. It needs the model
/// in one of two shapes:
///
/// 1. **Split into named stages** (`TorchStagedModel`): a chain of functions, each taking the
///    previous stage's output. A `torch::nn::Sequential` (its named children), a TorchScript
///    module whose `forward` chains its children (e.g. a scripted `nn.Sequential`), or stages you
///    write by hand, splitting your module where you want taps:
///
///        dualgrad::models::TorchStagedModel model({
///            {"features", [&](const at::Tensor& x) { return net->features->forward(x); }},
///            {"head",     [&](const at::Tensor& s) { return net->classifier->forward(s); }}});
///        auto r = model.gradients(x, {{"features"}, dualgrad::TargetRule::top_k(5)});
///
///    A requested layer is a stage's output. The stages below the earliest requested one run
///    under `at::NoGradGuard` (nothing recorded); one backward pass per cotangent then yields the
///    VJPs at every requested stage.
/// 2. **A forward that also returns the taps** (`TorchTapsModel`): `x -> (logits, {taps...})`,
///    e.g. a TorchScript method `forward_with_taps`. The whole forward runs with autograd
///    recording (dualgrad cannot stop it below the taps), from an input that requires grad so that
///    the taps are connected even if the parameters are frozen. Use it when the model cannot be
///    split into a chain.
///
/// The logits may be N x C or N x C x 1 x 1. Both classes are `GradientSource`s whose backend is
/// `TorchBackend`: every method, `dualgrad::localize` and the box protocols work on them.

#include <functional>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <ATen/ATen.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/script.h>

#include "dualgrad/backend/torch.hpp"
#include "dualgrad/core/gradient_source.hpp"
#include "dualgrad/models/detail/torch_vjp.hpp"

namespace dualgrad::models {

/// One named stage of a user's model: its output is the layer called `name`.
struct TorchStage {
    std::string name;
    std::function<at::Tensor(const at::Tensor&)> forward;
};

namespace detail {
inline at::Tensor logits_2d(const at::Tensor& out, std::string_view who) {
    if (out.dim() == 2) return out;
    if (out.dim() == 4 && out.size(2) == 1 && out.size(3) == 1) return out.flatten(1);
    dualgrad::detail::raise<shape_error>(who, ": the model's output has shape ", out.sizes(),
                                         "; logits must be N x classes (or N x classes x 1 x 1)");
}

inline std::string join(const std::vector<std::string>& names) {
    std::string s;
    for (const auto& n : names) s += (s.empty() ? "" : ", ") + n;
    return s;
}

/// The informative line of a LibTorch or TorchScript error: TorchScript's interpreter puts the
/// Python-side "RuntimeError: ..." after a traceback.
inline std::string short_error(const std::string& msg) {
    const auto at = msg.rfind("RuntimeError: ");
    std::string s = at == std::string::npos ? msg : msg.substr(at + 14);
    for (auto& c : s)
        if (c == '\n') c = ' ';
    std::string out;
    for (char c : s)
        if (!(c == ' ' && !out.empty() && out.back() == ' ')) out += c;
    return out.substr(0, 400);
}

inline void check_input(const at::Tensor& x, std::string_view who) {
    if (!x.defined() || x.dim() != 4 || x.numel() == 0)
        dualgrad::detail::raise<shape_error>(who, ": the input must be a non-empty N x C x H x W tensor, got ",
                                             x.defined() ? x.sizes() : at::IntArrayRef{});
}
} // namespace detail

/// A user's model as a chain of named stages (see the file comment).
class TorchStagedModel {
public:
    using backend = TorchBackend;
    using input_type = at::Tensor;

    /// Stage names must be unique and non-empty.
    explicit TorchStagedModel(std::vector<TorchStage> stages) : stages_(std::move(stages)) {
        if (stages_.empty()) dualgrad::detail::raise<value_error>("TorchStagedModel: no stage given");
        std::set<std::string> seen;
        for (const auto& s : stages_) {
            if (s.name.empty()) dualgrad::detail::raise<value_error>("TorchStagedModel: a stage has an empty name");
            if (!s.forward) dualgrad::detail::raise<value_error>("TorchStagedModel: stage '", s.name, "' has no function");
            if (!seen.insert(s.name).second)
                dualgrad::detail::raise<value_error>("TorchStagedModel: two stages are named '", s.name, "'");
        }
    }

    /// The named children of a `torch::nn::Sequential`, in order (their names are the layer names).
    [[nodiscard]] static TorchStagedModel from_sequential(const torch::nn::Sequential& seq) {
        std::vector<TorchStage> stages;
        const auto named = seq->named_children();
        auto it = seq->begin();
        for (std::size_t i = 0; i < seq->size(); ++i, ++it) {
            torch::nn::AnyModule any = *it;
            stages.push_back({named[i].key(), [any](const at::Tensor& x) mutable { return any.forward(x); }});
        }
        return TorchStagedModel(std::move(stages));
    }

    /// The children of a TorchScript module, in order, each called with `forward` on the previous
    /// child's output: valid when the module's own `forward` is that chain (a scripted
    /// `nn.Sequential`, or a module written that way). For other scripted models, use
    /// `TorchTapsModel::from_script`.
    [[nodiscard]] static TorchStagedModel from_script(const torch::jit::Module& module) {
        std::vector<TorchStage> stages;
        for (const auto& child : module.named_children()) {
            torch::jit::Module m = child.value;
            stages.push_back({child.name, [m](const at::Tensor& x) mutable { return m.forward({x}).toTensor(); }});
        }
        if (stages.empty())
            dualgrad::detail::raise<value_error>("TorchStagedModel::from_script: the module has no children to split at");
        return TorchStagedModel(std::move(stages));
    }

    /// The layer names, in order.
    [[nodiscard]] std::vector<std::string> layer_names() const {
        std::vector<std::string> out;
        for (const auto& s : stages_) out.push_back(s.name);
        return out;
    }

    /// The logits (N x classes) of a plain forward pass without autograd.
    [[nodiscard]] at::Tensor forward(const at::Tensor& x) const {
        detail::check_input(x, "TorchStagedModel");
        at::NoGradGuard no_grad;
        at::Tensor v = x;
        for (const auto& s : stages_) v = run(s, v);
        return detail::logits_2d(v, "TorchStagedModel");
    }

    [[nodiscard]] GradientResult<TorchBackend> gradients(const at::Tensor& x, const GradientRequest& request) const {
        detail::check_input(x, "TorchStagedModel");
        if (request.layers.empty()) dualgrad::detail::raise<value_error>("gradients: no layer requested");
        std::vector<std::size_t> idx;
        for (const auto& l : request.layers) idx.push_back(index(l));
        const std::size_t earliest = *std::min_element(idx.begin(), idx.end());
        if (earliest + 1 == stages_.size() && request.class_vjps)
            dualgrad::detail::raise<value_error>("layer '", stages_.back().name,
                                                 "' is the model's output; request a layer below it");

        std::vector<at::Tensor> outputs(stages_.size());
        at::Tensor v = TorchBackend::as_float(x, "the input");
        {
            at::NoGradGuard no_grad;
            for (std::size_t i = 0; i <= earliest; ++i) v = outputs[i] = run(stages_[i], v);
        }
        GradientResult<TorchBackend> result;
        result.layer_names = request.layers;
        at::AutoGradMode grad_on(request.class_vjps);
        if (request.class_vjps) v = outputs[earliest] = v.detach().requires_grad_(true);
        for (std::size_t i = earliest + 1; i < stages_.size(); ++i) v = outputs[i] = run(stages_[i], v);
        const at::Tensor out = detail::logits_2d(v, "TorchStagedModel");
        detail::torch_fill_logits(result, out, request);
        if (!request.class_vjps) {
            for (std::size_t i : idx) result.layers.push_back({outputs[i].detach(), {}, {}, {}, {}});
            return result;
        }
        const auto cot = detail::torch_cotangents(result, request, out.device());
        std::vector<at::Tensor> wrt;
        for (std::size_t i : idx) wrt.push_back(outputs[i]);
        const auto grads = detail::torch_vjps_separate(out, wrt, cot);
        for (std::size_t k = 0; k < idx.size(); ++k)
            result.layers.push_back(detail::torch_layer_gradients(outputs[idx[k]].detach(), grads[k], cot));
        return result;
    }

private:
    [[nodiscard]] std::size_t index(std::string_view name) const {
        for (std::size_t i = 0; i < stages_.size(); ++i)
            if (stages_[i].name == name) return i;
        dualgrad::detail::raise<value_error>("unknown layer '", name, "'; the model's stages are: ",
                                             detail::join(layer_names()));
    }

    static at::Tensor run(const TorchStage& s, const at::Tensor& x) {
        try {
            return s.forward(x);
        } catch (const dualgrad::error&) {
            throw;
        } catch (const std::exception& e) { // c10::Error, or a TorchScript interpreter error
            const std::string msg = e.what();
            dualgrad::detail::raise<shape_error>("stage '", s.name, "' failed on input of shape ", x.sizes(), ": ",
                                                 detail::short_error(msg));
        }
    }

    std::vector<TorchStage> stages_;
};

static_assert(GradientSource<TorchStagedModel>);

/// A user's model whose forward returns the logits and the taps (see the file comment).
class TorchTapsModel {
public:
    using backend = TorchBackend;
    using input_type = at::Tensor;
    /// x -> (logits, taps), the taps in the order of `tap_names`.
    using Forward = std::function<std::pair<at::Tensor, std::vector<at::Tensor>>(const at::Tensor&)>;

    TorchTapsModel(Forward forward, std::vector<std::string> tap_names)
        : forward_(std::move(forward)), names_(std::move(tap_names)) {
        if (!forward_) dualgrad::detail::raise<value_error>("TorchTapsModel: no forward function");
        if (names_.empty()) dualgrad::detail::raise<value_error>("TorchTapsModel: no tap names");
        std::set<std::string> seen;
        for (const auto& n : names_)
            if (!seen.insert(n).second) dualgrad::detail::raise<value_error>("TorchTapsModel: two taps are named '", n, "'");
    }

    /// A TorchScript method returning `(logits, [tap, ...])` (a tuple of a tensor and a list or
    /// tuple of tensors), e.g. `forward_with_taps`.
    [[nodiscard]] static TorchTapsModel from_script(const torch::jit::Module& module, const std::string& method,
                                                    std::vector<std::string> tap_names) {
        if (!module.find_method(method))
            dualgrad::detail::raise<value_error>("TorchTapsModel::from_script: the module has no method '", method, "'");
        torch::jit::Module m = module;
        return TorchTapsModel(
            [m, method](const at::Tensor& x) mutable {
                const auto r = m.get_method(method)({x});
                if (!r.isTuple())
                    dualgrad::detail::raise<value_error>("method '", method, "' must return (logits, taps), got ",
                                                         r.tagKind());
                const auto& elems = r.toTupleRef().elements();
                if (elems.size() != 2 || !elems[0].isTensor())
                    dualgrad::detail::raise<value_error>("method '", method, "' must return (logits, taps)");
                std::vector<at::Tensor> taps;
                if (elems[1].isTensorList()) {
                    for (const auto& t : elems[1].toTensorVector()) taps.push_back(t);
                } else if (elems[1].isTuple()) {
                    for (const auto& t : elems[1].toTupleRef().elements()) taps.push_back(t.toTensor());
                } else if (elems[1].isList()) {
                    for (const auto& t : elems[1].toListRef()) taps.push_back(t.toTensor());
                } else {
                    dualgrad::detail::raise<value_error>("method '", method, "': the taps must be a list or tuple of tensors");
                }
                return std::make_pair(elems[0].toTensor(), std::move(taps));
            },
            std::move(tap_names));
    }

    [[nodiscard]] const std::vector<std::string>& layer_names() const noexcept { return names_; }

    [[nodiscard]] at::Tensor forward(const at::Tensor& x) const {
        detail::check_input(x, "TorchTapsModel");
        at::NoGradGuard no_grad;
        return detail::logits_2d(call(x).first, "TorchTapsModel");
    }

    [[nodiscard]] GradientResult<TorchBackend> gradients(const at::Tensor& x, const GradientRequest& request) const {
        detail::check_input(x, "TorchTapsModel");
        if (request.layers.empty()) dualgrad::detail::raise<value_error>("gradients: no layer requested");
        std::vector<std::size_t> idx;
        for (const auto& l : request.layers) idx.push_back(index(l));
        at::AutoGradMode grad_on(request.class_vjps);
        at::Tensor input = TorchBackend::as_float(x, "the input");
        if (request.class_vjps) input = input.detach().requires_grad_(true);
        auto [raw, taps] = call(input);
        const at::Tensor out = detail::logits_2d(raw, "TorchTapsModel");
        GradientResult<TorchBackend> result;
        result.layer_names = request.layers;
        detail::torch_fill_logits(result, out, request);
        if (!request.class_vjps) {
            for (std::size_t i : idx) result.layers.push_back({taps[i].detach(), {}, {}, {}, {}});
            return result;
        }
        std::vector<at::Tensor> wrt;
        for (std::size_t i : idx) {
            if (!taps[i].requires_grad())
                dualgrad::detail::raise<value_error>("tap '", names_[i], "' is not connected to the input in the autograd "
                                                     "graph (was it computed under no_grad or detached?)");
            wrt.push_back(taps[i]);
        }
        const auto cot = detail::torch_cotangents(result, request, out.device());
        const auto grads = detail::torch_vjps_separate(out, wrt, cot);
        for (std::size_t k = 0; k < idx.size(); ++k)
            result.layers.push_back(detail::torch_layer_gradients(taps[idx[k]].detach(), grads[k], cot));
        return result;
    }

private:
    [[nodiscard]] std::size_t index(std::string_view name) const {
        for (std::size_t i = 0; i < names_.size(); ++i)
            if (names_[i] == name) return i;
        dualgrad::detail::raise<value_error>("unknown layer '", name, "'; the model returns the taps: ",
                                             detail::join(names_));
    }

    [[nodiscard]] std::pair<at::Tensor, std::vector<at::Tensor>> call(const at::Tensor& x) const {
        std::pair<at::Tensor, std::vector<at::Tensor>> r;
        try {
            r = forward_(x);
        } catch (const dualgrad::error&) {
            throw;
        } catch (const std::exception& e) { // c10::Error, or a TorchScript interpreter error
            const std::string msg = e.what();
            dualgrad::detail::raise<shape_error>("TorchTapsModel: the forward failed on input of shape ", x.sizes(), ": ",
                                                 detail::short_error(msg));
        }
        if (r.second.size() != names_.size())
            dualgrad::detail::raise<value_error>("TorchTapsModel: the forward returned ", r.second.size(),
                                                 " taps for the ", names_.size(), " names ", detail::join(names_));
        return r;
    }

    Forward forward_;
    std::vector<std::string> names_;
};

static_assert(GradientSource<TorchTapsModel>);

} // namespace dualgrad::models

#pragma once
/// \file
/// The backbones on LibTorch (link `dualgrad::torch`): `TorchModel` instantiates the same
/// `ModelDescription` as the CPU engine (`build_graph`), with its parameters in a
/// `std::map<std::string, at::Tensor>` keyed by the PyTorch `state_dict` names, read from the same
/// safetensors files through dualgrad's reader (so a missing, extra or mis-shaped tensor gives the
/// same error as on the CPU engine). The forward pass is functional ATen code (`at::conv2d`,
/// `at::batch_norm` in inference, `at::max_pool2d` with ceil_mode, ...), on the CPU or a CUDA
/// device.
///
/// `TorchModel` is a `GradientSource` whose backend is `TorchBackend`. `gradients(x, request)`
/// runs the trunk below the earliest requested layer under `at::NoGradGuard`; each requested
/// layer that does not depend on an earlier one becomes an autograd leaf, and the backward pass
/// above it yields the VJPs of every cotangent (T one-hots, J^T p, cost cotangents) at every
/// requested layer. LibTorch 1.13's C++ autograd has no batched-gradient (`is_grads_batched`)
/// call, so the T' cotangents are batched in one of two ways (`CotangentBatching`); benchmarks/
/// bench_engine.cpp measures both and the faster one is the default.
///
///     auto model = dualgrad::models::load_torch_model("resnet50", "weights.safetensors");
///     auto result = model.gradients(image, {{"layer3.5"}, dualgrad::TargetRule::top_k(5)});

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <ATen/ATen.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "dualgrad/backend/torch.hpp"
#include "dualgrad/core/cotangents.hpp"
#include "dualgrad/core/gradient_source.hpp"
#include "dualgrad/io/safetensors.hpp"
#include "dualgrad/models/backbones.hpp"
#include "dualgrad/models/detail/torch_vjp.hpp"
#include "dualgrad/models/op_table.hpp"
#include "dualgrad/models/weights_config.hpp"

namespace dualgrad::models {

/// How the T' cotangents of one request travel through LibTorch's autograd. On the engine
/// benchmark (T' = 6, 3 layers, width 1/4, 224x224, 2 threads) `separate` was 1.7x (ResNet50-CAM)
/// and 1.4x (VGG16-GAP) faster than `repeat`, with a quarter and a half of its peak memory.
enum class CotangentBatching {
    /// One forward pass; then one `autograd::grad` call per cotangent, retaining the graph.
    /// The head is run forward once and backward T' times with batch N.
    separate,
    /// The requested layers are repeated T' times along the batch (sample-major, as the CPU
    /// engine orders its cotangents) before the head runs; one backward pass of batch N*T'.
    /// The head is run forward T' times, in one batch.
    repeat,
};

namespace detail {
/// Whether a `TorchModel` pass trains (BatchNorm batch statistics, dropout) and its dropout.
struct TorchTrainMode {
    bool on = false;
    double dropout = 0.0;
};
} // namespace detail

/// A backbone on LibTorch: a description, its parameters and a device.
class TorchModel {
public:
    using backend = TorchBackend;
    using input_type = at::Tensor;

    /// The network of `d` with zero parameters (fill them with `load` or `parameters()`), on `device`.
    explicit TorchModel(ModelDescription d, at::Device device = at::kCPU)
        : d_(std::move(d)), device_(device) {
        require_device(device_);
        names_.add("input", 0);
        for (std::size_t i = 0; i < d_.ops.size(); ++i) {
            const Op& op = d_.ops[i];
            if (names_.contains(op.name))
                dualgrad::detail::raise<value_error>("TorchModel: duplicate operation name '", op.name, "'");
            std::vector<int> in;
            for (const auto& name : op.inputs) {
                if (!names_.contains(name))
                    dualgrad::detail::raise<value_error>("TorchModel: operation '", op.name, "' reads '", name,
                                                         "', which is not defined before it");
                in.push_back(names_.find(name));
            }
            names_.add(op.name, static_cast<int>(i) + 1);
            inputs_.push_back(std::move(in));
        }
        output_ = node(d_.output);
        for (const auto& [alias, target] : d_.aliases) names_.add_alias(alias, target);
        for (auto& spec : parameter_specs(d_))
            params_[spec.name] = at::zeros(spec.shape, at::TensorOptions().dtype(at::kFloat).device(device_));
    }

    [[nodiscard]] const ModelDescription& description() const noexcept { return d_; }
    [[nodiscard]] at::Device device() const noexcept { return device_; }

    /// The parameters by `state_dict` name (float tensors on `device()`; assign to replace them).
    [[nodiscard]] std::map<std::string, at::Tensor>& parameters() noexcept { return params_; }
    [[nodiscard]] const std::map<std::string, at::Tensor>& parameters() const noexcept { return params_; }

    /// Moves the parameters to `device` in place (tensors that alias them follow); inputs must
    /// then live there too.
    void to(at::Device device) {
        require_device(device);
        at::NoGradGuard no_grad;
        for (auto& [name, t] : params_) t.set_data(t.to(device));
        device_ = device;
    }

    /// Fills every parameter, in place, from the tensor of the same name, with the CPU engine's
    /// checks (`io::load_parameters`): a missing, extra or mis-shaped tensor is an error naming it,
    /// and a failed load leaves the parameters untouched.
    io::LoadSummary load(const io::SafetensorsFile& file, const io::LoadOptions& options = {}) {
        auto specs = parameter_specs(d_);
        std::vector<std::vector<float>> storage(specs.size());
        std::vector<std::pair<std::string, ParameterSpec>> slots;
        for (std::size_t i = 0; i < specs.size(); ++i) {
            specs[i].data = &storage[i];
            slots.emplace_back(specs[i].name, specs[i]);
        }
        auto summary = io::load_parameters(file, slots, options);
        // In place: tensors that alias the parameters (an optimizer's, a TorchBackbone module's)
        // see the loaded values.
        at::NoGradGuard no_grad;
        for (std::size_t i = 0; i < specs.size(); ++i)
            params_.at(specs[i].name).copy_(at::from_blob(storage[i].data(), specs[i].shape, at::TensorOptions().dtype(at::kFloat)));
        return summary;
    }

    /// The node id of a module path or paper alias ("input" is 0); the error lists the valid names.
    [[nodiscard]] int node(std::string_view name) const { return names_.find(name); }

    /// The logits, N x classes (float, on `device()`), of a plain forward pass without autograd.
    [[nodiscard]] at::Tensor forward(const at::Tensor& x) const {
        at::NoGradGuard no_grad;
        std::vector<at::Tensor> values(d_.ops.size() + 1);
        values[0] = checked_input(x);
        auto remaining = consumer_counts();
        for (int i = 1; i <= static_cast<int>(d_.ops.size()); ++i) run_node(i, values, remaining);
        return logits_of(values[static_cast<std::size_t>(output_)]);
    }

    /// The logits of a forward pass in inference mode (BatchNorm running statistics, no
    /// dropout) with autograd recording, for training code that needs them differentiable.
    [[nodiscard]] at::Tensor forward_graph(const at::Tensor& x) const {
        std::vector<at::Tensor> values(d_.ops.size() + 1);
        values[0] = checked_input(x);
        auto remaining = consumer_counts();
        for (int i = 1; i <= static_cast<int>(d_.ops.size()); ++i) run_node(i, values, remaining);
        return logits_of(values[static_cast<std::size_t>(output_)]);
    }

    [[nodiscard]] static bool is_running_statistic(std::string_view name) noexcept {
        const auto ends = [&](std::string_view s) {
            return name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0;
        };
        return ends(".running_mean") || ends(".running_var");
    }

    /// How `gradients` batches the cotangents (see `CotangentBatching`).
    CotangentBatching batching = CotangentBatching::separate;

    /// One forward pass (no autograd below the earliest requested layer) and the VJPs of every
    /// cotangent at every requested layer; the layout is that of `nn::Graph::gradients`.
    [[nodiscard]] GradientResult<TorchBackend> gradients(const at::Tensor& x, const GradientRequest& request) const {
        if (request.layers.empty()) dualgrad::detail::raise<value_error>("gradients: no layer requested");
        std::vector<int> taps;
        for (const auto& l : request.layers) taps.push_back(node(l));
        check_taps_lead_to_output(taps);
        const auto N = d_.ops.size() + 1;
        const int earliest = *std::min_element(taps.begin(), taps.end());
        std::vector<char> is_tap(N, 0);
        for (int t : taps) is_tap[static_cast<std::size_t>(t)] = 1;

        std::vector<at::Tensor> values(N);
        values[0] = checked_input(x);
        const std::int64_t S = values[0].size(0);
        auto remaining = consumer_counts();
        // Requested layers are kept: the result holds S.
        for (int t : taps) remaining[static_cast<std::size_t>(t)] += 1 << 20;

        {   // The trunk, up to and including the earliest requested layer: no autograd recording.
            at::NoGradGuard no_grad;
            for (int i = 1; i <= earliest; ++i) run_node(i, values, remaining);
        }
        GradientResult<TorchBackend> result;
        result.layer_names = request.layers;
        if (!request.class_vjps) {
            at::NoGradGuard no_grad;
            for (int i = earliest + 1; i < static_cast<int>(N); ++i) run_node(i, values, remaining);
            fill_logits(result, values[static_cast<std::size_t>(output_)], S, 1, request);
            for (int t : taps) result.layers.push_back({values[static_cast<std::size_t>(t)], {}, {}, {}, {}});
            return result;
        }

        // `repeat` needs the cotangent count before the head runs: a rule's slot count does not
        // depend on the logits (top_k(k): k; given lists: their length).
        const bool repeat = batching == CotangentBatching::repeat;

        at::AutoGradMode grad_on(true);
        std::vector<at::Tensor> activations(N); // S of each requested layer, batch N
        std::vector<char> repeated(N, 0);
        std::int64_t Tp = 1;
        auto make_leaf = [&](std::size_t i) {
            activations[i] = values[i];
            values[i] = values[i].detach().requires_grad_(true);
        };
        make_leaf(static_cast<std::size_t>(earliest));
        if (repeat) {
            Tp = cotangent_count(request, S);
            values[static_cast<std::size_t>(earliest)] =
                activations[static_cast<std::size_t>(earliest)].repeat_interleave(Tp, 0).detach().requires_grad_(true);
            repeated[static_cast<std::size_t>(earliest)] = 1;
        }
        for (int i = earliest + 1; i < static_cast<int>(N); ++i) {
            const auto iu = static_cast<std::size_t>(i);
            if (repeat)
                for (int j : inputs_[iu - 1]) {
                    const auto ju = static_cast<std::size_t>(j);
                    if (!repeated[ju]) {
                        values[ju] = values[ju].repeat_interleave(Tp, 0);
                        repeated[ju] = 1;
                    }
                }
            run_node(i, values, remaining);
            if (repeat) repeated[iu] = 1;
            if (is_tap[iu]) {
                if (!values[iu].requires_grad()) {
                    // A requested layer that does not depend on an earlier one: its own leaf.
                    if (repeat) {
                        activations[iu] = values[iu].view({S, Tp, -1}).select(1, 0).reshape(sample_shape(values[iu], S));
                        values[iu] = values[iu].detach().requires_grad_(true);
                    } else {
                        make_leaf(iu);
                    }
                } else {
                    activations[iu] = repeat ? values[iu].detach().view({S, Tp, -1}).select(1, 0).reshape(sample_shape(values[iu], S))
                                             : values[iu].detach();
                }
            }
        }
        const at::Tensor& out = values[static_cast<std::size_t>(output_)];
        fill_logits(result, out, S, repeat ? Tp : 1, request);
        const std::int64_t Tp_needed = CotangentLayout::of(request, result.targets.slots()).width();
        if (repeat && Tp_needed != Tp)
            dualgrad::detail::raise<value_error>("TorchModel: the request resolved to ", Tp_needed,
                                                 " cotangents, the repeated batch holds ", Tp);
        Tp = Tp_needed;

        const auto cot = detail::torch_cotangents(result, request, device_);

        // Unique requested nodes (a layer may be requested under two names).
        std::vector<int> uniq(taps);
        std::sort(uniq.begin(), uniq.end());
        uniq.erase(std::unique(uniq.begin(), uniq.end()), uniq.end());
        std::vector<at::Tensor> wrt;
        for (int t : uniq) wrt.push_back(values[static_cast<std::size_t>(t)]);

        // grads[k][slot]: the VJP of cotangent `slot` at node uniq[k], batch N.
        std::vector<std::vector<at::Tensor>> grads;
        if (repeat) {
            grads.assign(uniq.size(), std::vector<at::Tensor>(static_cast<std::size_t>(Tp)));
            const auto g = torch::autograd::grad({out}, wrt, {cot.seed.view(out.sizes())}, false, false, true);
            for (std::size_t k = 0; k < uniq.size(); ++k) {
                const auto shp = sample_shape(g[k], S);
                const auto gv = g[k].view({S, Tp, -1});
                for (std::int64_t s = 0; s < Tp; ++s) grads[k][static_cast<std::size_t>(s)] = gv.select(1, s).reshape(shp);
            }
        } else {
            grads = detail::torch_vjps_separate(out, wrt, cot);
        }

        for (int t : taps) {
            const auto k = static_cast<std::size_t>(std::lower_bound(uniq.begin(), uniq.end(), t) - uniq.begin());
            result.layers.push_back(detail::torch_layer_gradients(activations[static_cast<std::size_t>(t)], grads[k], cot));
        }
        return result;
    }

private:
    using TrainMode = detail::TorchTrainMode;
    // Training (forward_train, init_parameters) lives in models/torch_train.hpp.
    friend struct TorchTraining;

    /// A CUDA device in a LibTorch without CUDA (Debian's libtorch is CPU-only) is an error that
    /// says so, instead of ATen's.
    static void require_device(at::Device device) {
        if (device.is_cuda() && !at::hasCUDA())
            dualgrad::detail::raise<value_error>("TorchModel: device ", device.str(), " requested, but this LibTorch ",
                                                 "build has no CUDA support (or no GPU is visible); use the CPU or a "
                                                 "CUDA build of LibTorch");
    }

    [[nodiscard]] at::Tensor checked_input(const at::Tensor& x) const {
        const Shape4 s = TorchBackend::shape(x);
        if (s.c != d_.in_channels)
            dualgrad::detail::raise<shape_error>("input has ", s.c, " channels, the model expects ", d_.in_channels);
        if (s.n <= 0 || s.h <= 0 || s.w <= 0) dualgrad::detail::raise<shape_error>("input of shape ", s, " is empty");
        if (x.device() != device_)
            dualgrad::detail::raise<value_error>("TorchModel: the input is on ", x.device().str(),
                                                 " but the model's parameters are on ", device_.str());
        return TorchBackend::as_float(x, "the input");
    }

    [[nodiscard]] std::vector<int> consumer_counts() const {
        std::vector<int> r(d_.ops.size() + 1, 0);
        for (const auto& in : inputs_)
            for (int j : in) ++r[static_cast<std::size_t>(j)];
        r[static_cast<std::size_t>(output_)] += 1 << 20;
        return r;
    }

    [[nodiscard]] static std::vector<std::int64_t> sample_shape(const at::Tensor& t, std::int64_t n) {
        auto s = t.sizes().vec();
        s[0] = n;
        return s;
    }

    void check_taps_lead_to_output(const std::vector<int>& taps) const {
        std::vector<std::vector<int>> node_inputs{{}}; // node 0 is the input
        node_inputs.insert(node_inputs.end(), inputs_.begin(), inputs_.end());
        (void)backward_region(node_inputs, taps, output_,
                              [this](int t) { return t == 0 ? std::string("input") : d_.ops[static_cast<std::size_t>(t) - 1].name; });
    }

    /// The number of cotangents of a request, for `repeat`: the slot count of the rule is known
    /// without the logits for top_k and given lists; the logits are needed only to build them.
    [[nodiscard]] std::int64_t cotangent_count(const GradientRequest& request, std::int64_t samples) const {
        // Resolved on zero logits of the right size (top_k(k) checks k <= classes, given lists
        // their count); only the slot count is used, the classes come from the real logits.
        const int C = d_.num_classes;
        const Logits dummy(static_cast<int>(samples), C, std::vector<float>(static_cast<std::size_t>(samples * C), 0.0f));
        return CotangentLayout::of(request, request.targets.resolve(dummy).slots()).width();
    }

    void fill_logits(GradientResult<TorchBackend>& result, const at::Tensor& out, std::int64_t samples,
                     std::int64_t copies, const GradientRequest& request) const {
        auto l = logits_of(out.detach());
        if (copies > 1) l = l.view({samples, copies, -1}).select(1, 0);
        detail::torch_fill_logits(result, l, request);
    }

    [[nodiscard]] at::Tensor logits_of(const at::Tensor& out) const {
        if (out.dim() != 4 || out.size(2) != 1 || out.size(3) != 1)
            dualgrad::detail::raise<shape_error>("the output node '", d_.output, "' has shape ", out.sizes(),
                                                 "; logits must be N x classes x 1 x 1");
        return out.view({out.size(0), out.size(1)});
    }

    [[nodiscard]] const at::Tensor& param(const Op& op, const char* suffix) const {
        return params_.at(op.param_prefix + "." + suffix);
    }

    /// Computes node i (operation i - 1) and frees inputs whose last consumer it was.
    void run_node(int i, std::vector<at::Tensor>& values, std::vector<int>& remaining, TrainMode mode = {}) const {
        const auto iu = static_cast<std::size_t>(i);
        const Op& op = d_.ops[iu - 1];
        const auto& in = inputs_[iu - 1];
        auto arg = [&](std::size_t k) -> const at::Tensor& { return values[static_cast<std::size_t>(in[k])]; };
        try {
            values[iu] = compute(op, in.size(), arg, mode);
        } catch (const c10::Error& e) {
            const std::string msg = e.what_without_backtrace();
            dualgrad::detail::raise<shape_error>("operation '", op.name, "' failed on input of shape ", arg(0).sizes(),
                                                 ": ", msg.substr(0, msg.find('\n')));
        }
        for (int j : in)
            if (--remaining[static_cast<std::size_t>(j)] == 0) values[static_cast<std::size_t>(j)] = at::Tensor();
    }

    template <class Arg>
    [[nodiscard]] at::Tensor compute(const Op& op, std::size_t arity, Arg&& arg, TrainMode mode) const {
        switch (op.kind) {
        case OpKind::conv: {
            const auto& c = std::get<Conv>(op.spec);
            const at::Tensor bias = c.bias ? param(op, "bias") : at::Tensor();
            return at::conv2d(arg(0), param(op, "weight"), bias, {c.sh, c.sw}, {c.ph, c.pw}, {c.dh, c.dw});
        }
        case OpKind::batchnorm:
            return at::batch_norm(arg(0), param(op, "weight"), param(op, "bias"), param(op, "running_mean"),
                                  param(op, "running_var"), mode.on, 0.1, std::get<BatchNorm>(op.spec).eps,
                                  /*cudnn_enabled=*/true);
        case OpKind::relu: return at::relu(arg(0));
        case OpKind::dropout: return mode.on && mode.dropout > 0 ? at::dropout(arg(0), mode.dropout, true) : arg(0);
        case OpKind::maxpool: {
            const auto& p = std::get<Pool>(op.spec);
            return at::max_pool2d(arg(0), {p.kh, p.kw}, {p.sh, p.sw}, {p.ph, p.pw}, {1, 1}, p.ceil_mode);
        }
        case OpKind::avgpool: {
            const auto& p = std::get<Pool>(op.spec);
            return at::avg_pool2d(arg(0), {p.kh, p.kw}, {p.sh, p.sw}, {p.ph, p.pw}, p.ceil_mode, p.count_include_pad);
        }
        case OpKind::global_avgpool: return at::adaptive_avg_pool2d(arg(0), {1, 1});
        case OpKind::linear: {
            const auto& x = arg(0);
            const auto y = at::linear(x.flatten(1), param(op, "weight"), param(op, "bias"));
            return y.view({y.size(0), y.size(1), 1, 1});
        }
        case OpKind::add: return arg(0) + arg(1);
        case OpKind::concat: {
            std::vector<at::Tensor> parts;
            for (std::size_t k = 0; k < arity; ++k) parts.push_back(arg(k));
            return at::cat(parts, 1);
        }
        case OpKind::squeeze_excite: {
            const auto& x = arg(0);
            auto s = x.mean({2, 3}, /*keepdim=*/true);
            s = at::relu(at::conv2d(s, param(op, "fc1.weight"), param(op, "fc1.bias")));
            return x * at::sigmoid(at::conv2d(s, param(op, "fc2.weight"), param(op, "fc2.bias")));
        }
        }
        dualgrad::detail::raise<value_error>("TorchModel: operation '", op.name, "' has an unknown kind");
    }

    ModelDescription d_;
    at::Device device_;
    NodeNames names_;
    std::vector<std::vector<int>> inputs_; ///< per operation: node ids of its inputs
    int output_ = 0;
    std::map<std::string, at::Tensor> params_;
};

static_assert(GradientSource<TorchModel>);

/// Loads `arch` from a safetensors file onto `device`, as `load_model` does for the CPU engine:
/// the number of classes comes from the CAM head's weight and the width multiplier from the first
/// convolution, unless `infer` is false (then `cfg` is used as given).
[[nodiscard]] inline TorchModel load_torch_model(std::string_view arch, const io::SafetensorsFile& weights,
                                                 at::Device device = at::kCPU, ModelConfig cfg = {}, bool infer = true) {
    if (infer) cfg = config_from_weights(arch, weights, cfg);
    TorchModel m(describe(arch, cfg), device);
    m.load(weights);
    return m;
}

[[nodiscard]] inline TorchModel load_torch_model(std::string_view arch, const std::filesystem::path& path,
                                                 at::Device device = at::kCPU, ModelConfig cfg = {}) {
    return load_torch_model(arch, io::SafetensorsFile::open(path), device, cfg);
}

} // namespace dualgrad::models

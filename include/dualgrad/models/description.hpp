#pragma once
/// \file
/// A framework-neutral description of a network: named operations with their hyper-parameters,
/// inputs and `state_dict` prefixes. The four backbones are written once as descriptions; the CPU
/// engine (`nn::build_graph`) and the LibTorch builder instantiate the same description, so both
/// have the same layers, names and parameters.
///
/// Naming: an operation is named by the PyTorch module path of its output ("layer3.5.conv1").
/// A module output that is the result of several operations (a block, a BasicConv2d) is the name
/// of its last operation ("layer3.5" is the block's final ReLU). A module applied several times
/// (ResNet's shared `relu`) is named "<path>" for its first use and "<path>:<k>" for the k-th
/// reuse. Functional operations without a module (Inception's `F.max_pool2d`) get descriptive
/// names ("pool_2b", "Mixed_5b.branch_pool_avg").

#include <algorithm>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "dualgrad/error.hpp"

namespace dualgrad::models {

struct Conv {
    int in = 0, out = 0;
    int kh = 1, kw = 1;
    int sh = 1, sw = 1;
    int ph = 0, pw = 0;
    int dh = 1, dw = 1;
    bool bias = true;
};
struct BatchNorm {
    int channels = 0;
    double eps = 1e-5;
};
struct Pool {
    int kh = 1, kw = 1;
    int sh = 1, sw = 1;
    int ph = 0, pw = 0;
    bool ceil_mode = false;
    bool count_include_pad = true; ///< average pooling only
};
struct Linear {
    int in = 0, out = 0;
};
struct SqueezeExcite {
    int channels = 0, reduced = 0;
};

enum class OpKind { conv, batchnorm, relu, maxpool, avgpool, global_avgpool, linear, add, concat, squeeze_excite, dropout };

struct Op {
    std::string name;
    OpKind kind;
    std::vector<std::string> inputs;
    std::string param_prefix; ///< state_dict prefix of its parameters (empty: none)
    std::variant<std::monostate, Conv, BatchNorm, Pool, Linear, SqueezeExcite> spec;
};

/// A whole network. `ops` are in a valid forward order; the input is named "input".
struct ModelDescription {
    std::string arch;
    int in_channels = 3;
    int num_classes = 0;
    std::vector<Op> ops;
    std::vector<std::pair<std::string, std::string>> aliases; ///< paper name -> op name
    std::string output;        ///< the logits op (N x classes x 1 x 1)
    std::string cam_layer;     ///< the layer whose channels the CAM head weighs
    std::string cam_weight;    ///< the CAM head's weight tensor (classes x channels [x 1 x 1])
    std::string cam_bias;      ///< and its bias
    std::vector<std::string> default_layers; ///< the layers evaluated by default (paper Table 1)
};

/// Builds descriptions op by op, tracking the last op as the default input of the next.
class DescriptionBuilder {
public:
    explicit DescriptionBuilder(ModelDescription& d) : d_(d) {}

    const std::string& add(std::string name, OpKind kind, decltype(Op::spec) spec, std::vector<std::string> inputs = {},
                           std::string param_prefix = {}) {
        if (inputs.empty()) inputs = {last_};
        d_.ops.push_back({std::move(name), kind, std::move(inputs), std::move(param_prefix), std::move(spec)});
        last_ = d_.ops.back().name;
        return last_;
    }
    const std::string& conv(std::string name, Conv c, std::vector<std::string> in = {}) {
        std::string prefix = name;
        return add(std::move(name), OpKind::conv, c, std::move(in), std::move(prefix));
    }
    const std::string& bn(std::string name, int channels, double eps = 1e-5, std::vector<std::string> in = {}) {
        std::string prefix = name;
        return add(std::move(name), OpKind::batchnorm, BatchNorm{channels, eps}, std::move(in), std::move(prefix));
    }
    const std::string& relu(std::string name, std::vector<std::string> in = {}) {
        return add(std::move(name), OpKind::relu, std::monostate{}, std::move(in));
    }
    const std::string& maxpool(std::string name, Pool p, std::vector<std::string> in = {}) {
        return add(std::move(name), OpKind::maxpool, p, std::move(in));
    }
    const std::string& avgpool(std::string name, Pool p, std::vector<std::string> in = {}) {
        return add(std::move(name), OpKind::avgpool, p, std::move(in));
    }
    const std::string& last() const noexcept { return last_; }
    void set_last(std::string name) { last_ = std::move(name); }

private:
    ModelDescription& d_;
    std::string last_ = "input";
};

/// The part of `d` above `layer` (an op name or alias), as a network of its own whose input is that
/// layer's output (`channels` channels): the ops after it, with the layer renamed "input". The
/// layer must be a cut: no later op may read an op before it (else `value_error`). Parameter
/// names are unchanged, so the head loads from the full network's weights. Used to time the
/// "head forward" of DGL's cost floor (benchmarks/bench_engine.cpp).
[[nodiscard]] inline ModelDescription head_above(const ModelDescription& d, std::string_view layer, int channels) {
    std::string target(layer);
    for (const auto& [alias, op] : d.aliases)
        if (alias == layer) target = op;
    std::size_t at = d.ops.size();
    for (std::size_t i = 0; i < d.ops.size(); ++i)
        if (d.ops[i].name == target) at = i;
    if (at == d.ops.size()) detail::raise<value_error>("head_above: unknown layer '", layer, "'");
    ModelDescription h;
    h.arch = d.arch + "_head_above_" + target;
    h.in_channels = channels;
    h.num_classes = d.num_classes;
    h.output = d.output;
    h.cam_layer = d.cam_layer;
    h.cam_weight = d.cam_weight;
    h.cam_bias = d.cam_bias;
    std::vector<std::string> known{target};
    for (std::size_t i = at + 1; i < d.ops.size(); ++i) {
        Op op = d.ops[i];
        for (auto& in : op.inputs) {
            if (in == target) {
                in = "input";
            } else if (std::find(known.begin(), known.end(), in) == known.end()) {
                detail::raise<value_error>("head_above: '", layer, "' is not a cut: operation '", op.name, "' reads '",
                                           in, "', which is computed below it");
            }
        }
        known.push_back(op.name);
        h.ops.push_back(std::move(op));
    }
    for (const auto& [alias, op] : d.aliases)
        if (std::find(known.begin() + 1, known.end(), op) != known.end()) h.aliases.emplace_back(alias, op);
    return h;
}

/// Scales a channel count by the width multiplier (at least 1).
[[nodiscard]] inline int scaled(int channels, double width) {
    const int c = static_cast<int>(channels * width + 0.5);
    return c < 1 ? 1 : c;
}

} // namespace dualgrad::models

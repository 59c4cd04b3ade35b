#pragma once
/// \file
/// `nn::Graph`: the CPU engine's network, a DAG of layers whose nodes are named by PyTorch module
/// path ("features.28", "layer3.5", "Mixed_6e"), with paper aliases ("conv5_3"). It is a
/// `GradientSource`: `gradients(x, request)` runs one forward pass and one batched backward pass.
///
/// - Forward: every node runs once. A value is kept only while a later forward consumer needs it,
///   or when the backward pass will read it: the outputs of requested layers (S), and the inputs or
///   outputs of layers above the earliest requested layer whose VJP reads them (ReLU, MaxPool2d).
///   Below the earliest requested layer nothing is kept.
/// - Backward: the cotangents of all targets (T one-hots, plus J^T p, plus any cost cotangents)
///   travel as one batch of N*T' samples through the layers above the earliest requested layer.
///
///     auto result = graph.gradients(image, {{"layer3.5"}, dualgrad::TargetRule::top_k(5)});

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <map>
#include <mutex>
#include <vector>

#include "dualgrad/backend/eigen.hpp"
#include "dualgrad/core/gradient_source.hpp"
#include "dualgrad/nn/layer.hpp"

namespace dualgrad::nn {

/// One addressable layer of a graph, for listings (`dualgrad layers`).
struct LayerInfo {
    std::string name;                 ///< PyTorch module path
    std::string kind;                 ///< PyTorch class name
    Shape4 shape;                     ///< output shape for the described input
    std::vector<std::string> aliases; ///< paper names
};

class Graph {
public:
    using backend = EigenBackend;
    using input_type = Tensor;

    /// A graph whose input (node 0, named "input") has `in_channels` channels.
    explicit Graph(int in_channels) : in_channels_(in_channels) {
        nodes_.push_back({"input", nullptr, {}, ""});
        index_["input"] = 0;
    }
    Graph(Graph&&) = default;
    Graph& operator=(Graph&&) = default;

    /// Adds a node computing `layer(inputs...)`; returns its id. `param_prefix` is the
    /// `state_dict` prefix of its parameters (default: the node name).
    int add(std::string name, std::unique_ptr<Layer> layer, std::vector<int> inputs,
            std::optional<std::string> param_prefix = std::nullopt) {
        if (index_.count(name)) detail::raise<value_error>("Graph: duplicate node name '", name, "'");
        if (static_cast<int>(inputs.size()) != layer->arity())
            detail::raise<shape_error>("Graph: node '", name, "' (", layer->kind(), ") takes ", layer->arity(),
                                       " inputs, ", inputs.size(), " given");
        for (int i : inputs)
            if (i < 0 || i >= static_cast<int>(nodes_.size()))
                detail::raise<value_error>("Graph: node '", name, "' reads unknown node id ", i);
        const int id = static_cast<int>(nodes_.size());
        std::string prefix = param_prefix ? *param_prefix : name;
        nodes_.push_back({std::move(name), std::move(layer), std::move(inputs), std::move(prefix)});
        index_[nodes_.back().name] = id;
        output_ = id;
        return id;
    }
    int add(std::string name, std::unique_ptr<Layer> layer, int input,
            std::optional<std::string> param_prefix = std::nullopt) {
        return add(std::move(name), std::move(layer), std::vector<int>{input}, std::move(param_prefix));
    }

    /// The logits node (N x classes x 1 x 1); defaults to the last node added.
    void set_output(int id) { output_ = id; }
    [[nodiscard]] int output() const noexcept { return output_; }

    /// Makes `alias` (a paper name) address the node `target`.
    void add_alias(std::string alias, std::string_view target) { aliases_[std::move(alias)] = node(target); }

    /// The node id of a module path or alias; the error lists the valid names.
    [[nodiscard]] int node(std::string_view name) const {
        if (auto it = index_.find(std::string(name)); it != index_.end()) return it->second;
        if (auto it = aliases_.find(std::string(name)); it != aliases_.end()) return it->second;
        std::string valid;
        for (const auto& n : nodes_) valid += (valid.empty() ? "" : ", ") + n.name;
        std::string alias_list;
        for (const auto& [a, id] : aliases_) alias_list += (alias_list.empty() ? "" : ", ") + a;
        detail::raise<value_error>("unknown layer '", name, "'; valid layers: ", valid,
                                   alias_list.empty() ? "" : "; aliases: ", alias_list);
    }
    [[nodiscard]] const std::string& name(int id) const { return nodes_[static_cast<std::size_t>(id)].name; }
    [[nodiscard]] int size() const noexcept { return static_cast<int>(nodes_.size()); }
    [[nodiscard]] int in_channels() const noexcept { return in_channels_; }

    /// Every node with its output shape for an input of shape `in`, in forward order.
    [[nodiscard]] std::vector<LayerInfo> describe(Shape4 in) const {
        const auto shapes = infer_shapes(in);
        std::vector<LayerInfo> out;
        for (std::size_t i = 0; i < nodes_.size(); ++i) {
            LayerInfo info{nodes_[i].name, nodes_[i].layer ? std::string(nodes_[i].layer->kind()) : "Input", shapes[i], {}};
            for (const auto& [a, id] : aliases_)
                if (id == static_cast<int>(i)) info.aliases.push_back(a);
            std::sort(info.aliases.begin(), info.aliases.end());
            out.push_back(std::move(info));
        }
        return out;
    }

    /// All parameters with their full `state_dict` names, in node order.
    [[nodiscard]] std::vector<std::pair<std::string, Parameter>> parameters() {
        std::vector<std::pair<std::string, Parameter>> out;
        for (auto& n : nodes_)
            if (n.layer)
                for (auto& p : n.layer->parameters())
                    out.emplace_back(n.param_prefix.empty() ? p.name : n.param_prefix + "." + p.name, p);
        return out;
    }

    /// Output shapes of every node; throws `shape_error` naming the input or the failing node.
    [[nodiscard]] std::vector<Shape4> infer_shapes(Shape4 in) const {
        if (in.c != in_channels_)
            detail::raise<shape_error>("input has ", in.c, " channels, the model expects ", in_channels_);
        if (in.n <= 0 || in.h <= 0 || in.w <= 0) detail::raise<shape_error>("input of shape ", in, " is empty");
        std::vector<Shape4> shapes(nodes_.size());
        shapes[0] = in;
        for (std::size_t i = 1; i < nodes_.size(); ++i) {
            std::vector<Shape4> ins;
            for (int j : nodes_[i].inputs) ins.push_back(shapes[static_cast<std::size_t>(j)]);
            shapes[i] = nodes_[i].layer->output_shape(ins);
        }
        return shapes;
    }

    /// The logits, N x classes, of a plain forward pass.
    [[nodiscard]] Logits forward(const Tensor& x, const ExecContext& ctx = {}) const {
        std::vector<Tensor> values(nodes_.size());
        (void)run_forward(x, {}, values, ctx);
        auto logits = to_logits(values[static_cast<std::size_t>(output_)]);
        for (auto& v : values) give(v);
        return logits;
    }

    /// One forward pass and one batched backward pass for the request (the gradient source).
    [[nodiscard]] GradientResult<EigenBackend> gradients(const Tensor& x, const GradientRequest& request,
                                                         const ExecContext& ctx = {}) const {
        if (request.layers.empty()) detail::raise<value_error>("gradients: no layer requested");
        std::vector<int> taps;
        for (const auto& l : request.layers) taps.push_back(node(l));

        // The backward region: nodes reachable from a tap (taps included) that lead to the output.
        const auto N = nodes_.size();
        std::vector<char> above(N, 0), leads(N, 0);
        for (int t : taps) above[static_cast<std::size_t>(t)] = 1;
        for (std::size_t i = 0; i < N; ++i)
            for (int j : nodes_[i].inputs)
                if (above[static_cast<std::size_t>(j)]) above[i] = 1;
        leads[static_cast<std::size_t>(output_)] = 1;
        for (std::size_t i = N; i-- > 0;)
            if (leads[i])
                for (int j : nodes_[i].inputs) leads[static_cast<std::size_t>(j)] = 1;
        std::vector<char> region(N);
        for (std::size_t i = 0; i < N; ++i) region[i] = above[i] && leads[i];
        for (int t : taps)
            if (!region[static_cast<std::size_t>(t)])
                detail::raise<value_error>("layer '", name(t), "' does not lead to the logits");

        // Which forward values the backward pass reads.
        std::vector<char> keep(N, 0);
        for (int t : taps) keep[static_cast<std::size_t>(t)] = 1;
        for (std::size_t i = 1; i < N; ++i) {
            if (!region[i] || !request.class_vjps) continue;
            if (nodes_[i].layer->backward_needs_output()) keep[i] = 1;
            if (nodes_[i].layer->backward_needs_inputs())
                for (int j : nodes_[i].inputs) keep[static_cast<std::size_t>(j)] = 1;
        }
        keep[static_cast<std::size_t>(output_)] = 1;

        std::vector<Tensor> values(N);
        const std::vector<Shape4> shapes = run_forward(x, keep, values, ctx);
        GradientResult<EigenBackend> result;
        result.logits = to_logits(values[static_cast<std::size_t>(output_)]);
        result.targets = request.targets.resolve(result.logits);
        result.layer_names = request.layers;
        const int S = result.logits.samples(), C = result.logits.classes(), T = result.targets.slots();

        if (!request.class_vjps) {
            for (int t : taps) result.layers.push_back({values[static_cast<std::size_t>(t)], {}, {}, {}});
            return result;
        }

        // The cotangent batch, sample-major: T one-hots, then p, then T cost cotangents.
        const bool with_p = request.prob_vjp, with_cost = static_cast<bool>(request.cost_cotangent);
        const int Tp = T + (with_p ? 1 : 0) + (with_cost ? T : 0);
        std::vector<Tensor> grads(N);
        Tensor& seed = grads[static_cast<std::size_t>(output_)];
        seed = Tensor(S * Tp, C, 1, 1);
        seed.setZero();
        std::vector<float> buf(static_cast<std::size_t>(C));
        for (int n = 0; n < S; ++n) {
            float* base = seed.data() + static_cast<std::ptrdiff_t>(n) * Tp * C;
            for (int t = 0; t < T; ++t) base[t * C + result.targets(n, t)] = 1.0f;
            if (with_p) softmax(result.logits.row(n), std::span<float>(base + T * C, static_cast<std::size_t>(C)));
            if (with_cost)
                for (int t = 0; t < T; ++t) {
                    request.cost_cotangent(result.logits.row(n), result.targets(n, t), buf);
                    std::copy(buf.begin(), buf.end(), base + (T + (with_p ? 1 : 0) + t) * C);
                }
        }

        const int earliest = *std::min_element(taps.begin(), taps.end());
        std::vector<char> is_tap(N, 0);
        for (int t : taps) is_tap[static_cast<std::size_t>(t)] = 1;
        for (std::size_t i = N; i-- > static_cast<std::size_t>(earliest) + 1;) {
            if (!region[i] || grads[i].size() == 0) continue;
            const Node& nd = nodes_[i];
            std::vector<const Tensor*> ins;
            std::vector<Shape4> in_shapes;
            for (int j : nd.inputs) {
                const Tensor& v = values[static_cast<std::size_t>(j)];
                ins.push_back(v.size() ? &v : nullptr);
                in_shapes.push_back(shapes[static_cast<std::size_t>(j)]);
            }
            std::vector<Tensor> partial(nd.inputs.size());
            for (std::size_t k = 0; k < nd.inputs.size(); ++k)
                partial[k] = take(in_shapes[k].count() * Tp);
            std::vector<Tensor*> outs;
            for (std::size_t k = 0; k < nd.inputs.size(); ++k)
                outs.push_back(region[static_cast<std::size_t>(nd.inputs[k])] ? &partial[k] : nullptr);
            nd.layer->backward(in_shapes, ins, values[i], grads[i], Tp, outs, ctx);
            for (std::size_t k = 0; k < nd.inputs.size(); ++k) {
                if (!outs[k]) continue;
                Tensor& g = grads[static_cast<std::size_t>(nd.inputs[k])];
                if (g.size() == 0) g = std::move(partial[k]);
                else {
                    g += partial[k];
                    give(partial[k]);
                }
            }
            if (!is_tap[i]) give(grads[i]); // recycle as we go
            if (!keep_after_backward(i, taps)) give(values[i]);
        }

        for (int t : taps) {
            const auto ti = static_cast<std::size_t>(t);
            LayerGradients<EigenBackend> lg;
            lg.activations = values[ti];
            const Shape4 s = shape_of(values[ti]);
            const auto per = s.per_sample();
            auto slice = [&](int slot) {
                Tensor out(s.n, s.c, s.h, s.w);
                for (std::int64_t n = 0; n < s.n; ++n)
                    std::copy_n(grads[ti].data() + (n * Tp + slot) * per, per, out.data() + n * per);
                return out;
            };
            for (int t2 = 0; t2 < T; ++t2) lg.class_vjps.push_back(slice(t2));
            if (with_p) lg.prob_vjp = slice(T);
            if (with_cost)
                for (int t2 = 0; t2 < T; ++t2) lg.cost_vjps.push_back(slice(T + (with_p ? 1 : 0) + t2));
            result.layers.push_back(std::move(lg));
        }
        for (auto& v : values) give(v);
        for (auto& g : grads) give(g);
        return result;
    }

private:
    struct Node {
        std::string name;
        std::unique_ptr<Layer> layer;
        std::vector<int> inputs;
        std::string param_prefix;
    };

    [[nodiscard]] static bool keep_after_backward(std::size_t i, const std::vector<int>& taps) {
        return std::find(taps.begin(), taps.end(), static_cast<int>(i)) != taps.end();
    }

    [[nodiscard]] Logits to_logits(const Tensor& out) const {
        const Shape4 s = shape_of(out);
        if (s.h != 1 || s.w != 1)
            detail::raise<shape_error>("the output node '", name(output_), "' has shape ", s,
                                       "; logits must be N x classes x 1 x 1");
        return Logits(static_cast<int>(s.n), static_cast<int>(s.c), {out.data(), out.data() + out.size()});
    }

    /// Runs every node; a value is freed once its last forward consumer has run unless keep[i].
    /// Returns every node's output shape (validated up front, before any work).
    std::vector<Shape4> run_forward(const Tensor& x, const std::vector<char>& keep, std::vector<Tensor>& values,
                                    const ExecContext& ctx) const {
        auto shapes = infer_shapes(shape_of(x));
        const auto N = nodes_.size();
        std::vector<int> remaining(N, 0);
        for (const auto& nd : nodes_)
            for (int j : nd.inputs) ++remaining[static_cast<std::size_t>(j)];
        values[0] = x;
        for (std::size_t i = 1; i < N; ++i) {
            const Node& nd = nodes_[i];
            std::vector<const Tensor*> ins;
            for (int j : nd.inputs) ins.push_back(&values[static_cast<std::size_t>(j)]);
            values[i] = take(shapes[i].count());
            nd.layer->forward(ins, values[i], ctx);
            for (int j : nd.inputs) {
                const auto ju = static_cast<std::size_t>(j);
                if (--remaining[ju] == 0 && !(ju < keep.size() && keep[ju]) && static_cast<int>(ju) != output_)
                    give(values[ju]);
            }
        }
        return shapes;
    }

    int in_channels_;
    std::vector<Node> nodes_;
    std::unordered_map<std::string, int> index_;
    std::unordered_map<std::string, int> aliases_;
    int output_ = 0;

    // Buffers of earlier passes, by element count: a tensor resized to the same element count
    // keeps its buffer, so repeated passes reuse memory instead of mapping fresh pages.
    struct BufferPool {
        std::mutex mutex;
        std::multimap<std::int64_t, Tensor> free;
    };
    std::unique_ptr<BufferPool> pool_ = std::make_unique<BufferPool>();

    [[nodiscard]] Tensor take(std::int64_t count) const {
        std::lock_guard<std::mutex> lock(pool_->mutex);
        auto it = pool_->free.find(count);
        if (it == pool_->free.end()) return Tensor();
        Tensor t = std::move(it->second);
        pool_->free.erase(it);
        return t;
    }
    void give(Tensor& t) const {
        if (t.size() == 0) return;
        std::lock_guard<std::mutex> lock(pool_->mutex);
        pool_->free.emplace(t.size(), std::move(t));
        t = Tensor();
    }

public:
    /// Frees the buffers kept from earlier passes (they are otherwise reused by the next pass).
    void release_buffers() const {
        std::lock_guard<std::mutex> lock(pool_->mutex);
        pool_->free.clear();
    }
};

static_assert(GradientSource<Graph>);

} // namespace dualgrad::nn

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
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <map>
#include <mutex>
#include <vector>

#include "dualgrad/backend/eigen.hpp"
#include "dualgrad/core/cotangents.hpp"
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
        names_.add("input", 0);
    }
    Graph(Graph&&) = default;
    Graph& operator=(Graph&&) = default;

    /// Adds a node computing `layer(inputs...)`; returns its id. `param_prefix` is the
    /// `state_dict` prefix of its parameters (default: the node name).
    int add(std::string name, std::unique_ptr<Layer> layer, std::vector<int> inputs,
            std::optional<std::string> param_prefix = std::nullopt) {
        if (names_.contains(name)) dualgrad::detail::raise<value_error>("Graph: duplicate node name '", name, "'");
        if (static_cast<int>(inputs.size()) != layer->arity())
            dualgrad::detail::raise<shape_error>("Graph: node '", name, "' (", layer->kind(), ") takes ", layer->arity(),
                                       " inputs, ", inputs.size(), " given");
        for (int i : inputs)
            if (i < 0 || i >= static_cast<int>(nodes_.size()))
                dualgrad::detail::raise<value_error>("Graph: node '", name, "' reads unknown node id ", i);
        const int id = static_cast<int>(nodes_.size());
        std::string prefix = param_prefix ? *param_prefix : name;
        nodes_.push_back({std::move(name), std::move(layer), std::move(inputs), std::move(prefix)});
        names_.add(nodes_.back().name, id);
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
    void add_alias(std::string alias, std::string_view target) { names_.add_alias(std::move(alias), target); }

    /// The node id of a module path or alias; the error lists the valid names.
    [[nodiscard]] int node(std::string_view name) const { return names_.find(name); }
    [[nodiscard]] const std::string& name(int id) const { return nodes_[static_cast<std::size_t>(id)].name; }
    [[nodiscard]] int size() const noexcept { return static_cast<int>(nodes_.size()); }
    [[nodiscard]] int in_channels() const noexcept { return in_channels_; }

    /// Every node with its output shape for an input of shape `in`, in forward order.
    [[nodiscard]] std::vector<LayerInfo> describe(Shape4 in) const {
        const auto shapes = infer_shapes(in);
        std::vector<LayerInfo> out;
        for (std::size_t i = 0; i < nodes_.size(); ++i) {
            LayerInfo info{nodes_[i].name, nodes_[i].layer ? std::string(nodes_[i].layer->kind()) : "Input", shapes[i], {}};
            for (const auto& [a, id] : names_.aliases())
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
            dualgrad::detail::raise<shape_error>("input has ", in.c, " channels, the model expects ", in_channels_);
        if (in.n <= 0 || in.h <= 0 || in.w <= 0) dualgrad::detail::raise<shape_error>("input of shape ", in, " is empty");
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
        const PassScope pass(*pool_);
        std::vector<Tensor> values(nodes_.size());
        (void)run_forward(x, {}, values, ctx);
        auto logits = to_logits(values[static_cast<std::size_t>(output_)]);
        for (auto& v : values) give(v);
        return logits;
    }

    /// One forward pass and one batched backward pass for the request (the gradient source).
    [[nodiscard]] GradientResult<EigenBackend> gradients(const Tensor& x, const GradientRequest& request,
                                                         const ExecContext& ctx = {}) const {
        if (request.layers.empty()) dualgrad::detail::raise<value_error>("gradients: no layer requested");
        std::vector<int> taps;
        for (const auto& l : request.layers) taps.push_back(node(l));

        // The backward region: nodes reachable from a tap (taps included) that lead to the output.
        const auto N = nodes_.size();
        std::vector<std::vector<int>> node_inputs;
        for (const auto& nd : nodes_) node_inputs.push_back(nd.inputs);
        const std::vector<char> region = backward_region(node_inputs, taps, output_, [this](int id) { return name(id); });
        const PassScope pass(*pool_);

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
            for (int t : taps) result.layers.push_back({values[static_cast<std::size_t>(t)], {}, {}, {}, {}});
            return result;
        }

        // The cotangent batch (core/cotangents.hpp): N*T' samples.
        const CotangentLayout layout = CotangentLayout::of(request, T);
        const int Tp = layout.width();
        std::vector<Tensor> grads(N);
        Tensor& seed = grads[static_cast<std::size_t>(output_)];
        seed = Tensor(S * Tp, C, 1, 1);
        layout.write(result.logits, result.targets, request, std::span<float>(seed.data(), static_cast<std::size_t>(seed.size())));

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
            const Shape4 s = shape_of(values[ti]);
            const auto per = s.per_sample();
            auto slice = [&](int slot) {
                Tensor out(s.n, s.c, s.h, s.w);
                for (std::int64_t n = 0; n < s.n; ++n)
                    std::copy_n(grads[ti].data() + (n * Tp + slot) * per, per, out.data() + n * per);
                return out;
            };
            result.layers.push_back(layout.gradients<EigenBackend>(values[ti], slice));
        }
        for (auto& v : values) give(v);
        for (auto& g : grads) give(g);
        return result;
    }

    /// What `head_forward` needs of one input batch: the value of the tapped layer (S) and the
    /// values below it that the part above it reads (a skip connection around the layer).
    struct HeadState {
        int layer = -1;
        Shape4 input_shape;
        Tensor activations;            ///< S, N x K x H x W
        std::vector<char> above;       ///< nodes whose value depends on the layer's
        std::map<int, Tensor> frontier; ///< values of other nodes that nodes above read
    };

    /// One forward pass of `x` that keeps what `head_forward` needs for `layer` (Ablation-CAM and
    /// the other perturbation methods re-run the part above the layer only). Throws `value_error`
    /// if the logits do not depend on the layer.
    [[nodiscard]] HeadState head_state(const Tensor& x, std::string_view layer, const ExecContext& ctx = {}) const {
        HeadState h;
        h.layer = node(layer);
        h.input_shape = shape_of(x);
        const auto N = nodes_.size();
        h.above.assign(N, 0);
        h.above[static_cast<std::size_t>(h.layer)] = 1;
        std::vector<char> keep(N, 0);
        keep[static_cast<std::size_t>(h.layer)] = 1;
        for (std::size_t i = static_cast<std::size_t>(h.layer) + 1; i < N; ++i)
            for (int j : nodes_[i].inputs) h.above[i] = h.above[i] || h.above[static_cast<std::size_t>(j)];
        if (!h.above[static_cast<std::size_t>(output_)])
            dualgrad::detail::raise<value_error>("layer '", name(h.layer), "' is not upstream of the logits ('",
                                                 name(output_), "')");
        for (std::size_t i = static_cast<std::size_t>(h.layer) + 1; i < N; ++i)
            if (h.above[i])
                for (int j : nodes_[i].inputs)
                    if (!h.above[static_cast<std::size_t>(j)]) keep[static_cast<std::size_t>(j)] = 1;
        const PassScope pass(*pool_);
        std::vector<Tensor> values(N);
        (void)run_forward(x, keep, values, ctx);
        for (std::size_t i = 0; i < N; ++i) {
            if (!keep[i]) {
                give(values[i]);
                continue;
            }
            if (static_cast<int>(i) == h.layer) h.activations = std::move(values[i]);
            else h.frontier.emplace(static_cast<int>(i), std::move(values[i]));
        }
        return h;
    }

    /// The logits of the part of the graph above `h.layer`, run on `s` (M x K x H x W): row m
    /// replaces the layer's value of sample `sample[m]` of the batch `h` was made from (values
    /// below the layer that the part above reads are those of that sample). With `s` equal to
    /// `h.activations` and `sample` = 0..N-1 this is the plain forward's logits.
    [[nodiscard]] Logits head_forward(const HeadState& h, const Tensor& s, std::span<const int> sample,
                                      const ExecContext& ctx = {}) const {
        const Shape4 ss = shape_of(s), hs = shape_of(h.activations);
        if (ss.c != hs.c || ss.h != hs.h || ss.w != hs.w)
            dualgrad::detail::raise<shape_error>("head_forward: the values for layer '", name(h.layer), "' are ", ss,
                                                 " but the layer's are ", hs, " per sample");
        if (static_cast<std::int64_t>(sample.size()) != ss.n)
            dualgrad::detail::raise<shape_error>("head_forward: ", sample.size(), " sample indices for ", ss.n, " rows");
        for (int n : sample)
            if (n < 0 || n >= hs.n)
                dualgrad::detail::raise<value_error>("head_forward: sample index ", n, " outside [0, ", hs.n, ")");
        const PassScope pass(*pool_);
        const auto N = nodes_.size();
        Shape4 in = h.input_shape;
        in.n = ss.n;
        const std::vector<Shape4> shapes = infer_shapes(in);
        std::vector<int> remaining(N, 0);
        for (std::size_t i = static_cast<std::size_t>(h.layer) + 1; i < N; ++i)
            if (h.above[i])
                for (int j : nodes_[i].inputs) ++remaining[static_cast<std::size_t>(j)];
        std::vector<Tensor> values(N);
        std::map<int, Tensor> gathered; // frontier values, row m from sample[m]
        auto input_of = [&](int j) -> const Tensor* {
            if (j == h.layer) return &s;
            if (h.above[static_cast<std::size_t>(j)]) return &values[static_cast<std::size_t>(j)];
            auto g = gathered.find(j);
            if (g == gathered.end()) {
                const Tensor& f = h.frontier.at(j);
                const Shape4 fs = shape_of(f);
                const auto per = fs.per_sample();
                Tensor t(ss.n, fs.c, fs.h, fs.w);
                for (std::int64_t m = 0; m < ss.n; ++m)
                    std::copy_n(f.data() + sample[static_cast<std::size_t>(m)] * per, per, t.data() + m * per);
                g = gathered.emplace(j, std::move(t)).first;
            }
            return &g->second;
        };
        for (std::size_t i = static_cast<std::size_t>(h.layer) + 1; i < N; ++i) {
            if (!h.above[i]) continue;
            const Node& nd = nodes_[i];
            std::vector<const Tensor*> ins;
            for (int j : nd.inputs) ins.push_back(input_of(j));
            values[i] = take(shapes[i].count());
            nd.layer->forward(ins, values[i], ctx);
            for (int j : nd.inputs) {
                const auto ju = static_cast<std::size_t>(j);
                if (--remaining[ju] == 0 && h.above[ju] && static_cast<int>(ju) != h.layer && static_cast<int>(ju) != output_)
                    give(values[ju]);
            }
        }
        auto logits = to_logits(values[static_cast<std::size_t>(output_)]);
        for (auto& v : values) give(v);
        return logits;
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
            dualgrad::detail::raise<shape_error>("the output node '", name(output_), "' has shape ", s,
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
    NodeNames names_;
    int output_ = 0;

    // Buffers of the last pass, by element count: a tensor resized to the same element count
    // keeps its buffer, so repeated passes of one input size reuse memory instead of mapping fresh
    // pages. The pool is bounded: when a pass ends, the buffers that no pass has used since the
    // previous one ended are freed, so memory follows the last pass and does not grow with the
    // number of distinct input sizes seen.
    struct BufferPool {
        struct Entry {
            Tensor tensor;
            std::uint64_t generation;
        };
        std::mutex mutex;
        std::multimap<std::int64_t, Entry> free;
        std::uint64_t generation = 0;
        int passes = 0; ///< passes running now (threads may share a graph)
    };
    std::unique_ptr<BufferPool> pool_ = std::make_unique<BufferPool>();

    /// Marks one pass: buffers given back before it began and not taken during it are freed when
    /// the last running pass ends.
    class PassScope {
    public:
        explicit PassScope(BufferPool& p) : pool_(p) {
            std::lock_guard<std::mutex> lock(pool_.mutex);
            if (pool_.passes++ == 0) start_ = ++pool_.generation;
            else start_ = pool_.generation;
        }
        ~PassScope() {
            std::lock_guard<std::mutex> lock(pool_.mutex);
            if (--pool_.passes > 0) return;
            for (auto it = pool_.free.begin(); it != pool_.free.end();)
                it = it->second.generation < start_ ? pool_.free.erase(it) : std::next(it);
        }
        PassScope(const PassScope&) = delete;
        PassScope& operator=(const PassScope&) = delete;

    private:
        BufferPool& pool_;
        std::uint64_t start_ = 0;
    };

    [[nodiscard]] Tensor take(std::int64_t count) const {
        std::lock_guard<std::mutex> lock(pool_->mutex);
        auto it = pool_->free.find(count);
        if (it == pool_->free.end()) return Tensor();
        Tensor t = std::move(it->second.tensor);
        pool_->free.erase(it);
        return t;
    }
    void give(Tensor& t) const {
        if (t.size() == 0) return;
        const std::int64_t count = t.size(); // before the move below empties `t`
        std::lock_guard<std::mutex> lock(pool_->mutex);
        pool_->free.emplace(count, BufferPool::Entry{std::move(t), pool_->generation});
        t = Tensor();
    }

public:
    /// Frees the buffers kept from earlier passes (they are otherwise reused by the next pass).
    void release_buffers() const {
        std::lock_guard<std::mutex> lock(pool_->mutex);
        pool_->free.clear();
    }
    /// Bytes held in the pool between passes (at most what the last pass gave back).
    [[nodiscard]] std::size_t pooled_bytes() const {
        std::lock_guard<std::mutex> lock(pool_->mutex);
        std::size_t bytes = 0;
        for (const auto& [count, e] : pool_->free) bytes += static_cast<std::size_t>(count) * sizeof(float);
        return bytes;
    }
};

static_assert(GradientSource<Graph>);

} // namespace dualgrad::nn

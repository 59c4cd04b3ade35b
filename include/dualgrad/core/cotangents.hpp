#pragma once
/// \file
/// The engine-neutral core of every gradient source (the CPU engine's `nn::Graph`, LibTorch's
/// `TorchModel` and its adapters): the layout of the cotangent batch, the region of a graph the
/// backward pass visits, and layer names with aliases. Each engine runs its own forward and
/// backward; what the batch holds, in which order, and which layers may be asked for is decided
/// here, once.
///
/// The cotangent batch of a request with T target slots, per sample (sample-major), C floats
/// each: slot t < T is the one-hot of target t (its VJP is dl_c/dS), slot T is the softmax p when
/// `prob_vjp` is asked (J^T p), then T cost cotangents when the request has a `cost_cotangent`,
/// then T cotangents for each of the request's `method_cotangents` (methods that bring their own
/// objective on the logits, Finer-CAM).

#include <algorithm>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "dualgrad/core/gradient_source.hpp"

namespace dualgrad {

/// Which cotangent sits in which slot of the batch (see the file comment).
struct CotangentLayout {
    int targets = 0;    ///< T
    bool prob = false;  ///< slot T holds p
    bool cost = false;  ///< T cost cotangents follow
    int methods = 0;    ///< then T cotangents per method cotangent

    /// The layout of `request` once its targets resolved to `slots` per sample.
    [[nodiscard]] static CotangentLayout of(const GradientRequest& request, int slots) {
        return {slots, request.prob_vjp, static_cast<bool>(request.cost_cotangent),
                static_cast<int>(request.method_cotangents.size())};
    }
    /// T': the cotangents per sample.
    [[nodiscard]] int width() const noexcept { return targets + (prob ? 1 : 0) + (cost ? targets : 0) + methods * targets; }
    [[nodiscard]] int onehot_slot(int t) const noexcept { return t; }
    [[nodiscard]] int prob_slot() const noexcept { return targets; }
    [[nodiscard]] int cost_slot(int t) const noexcept { return targets + (prob ? 1 : 0) + t; }
    [[nodiscard]] int method_slot(int e, int t) const noexcept {
        return targets + (prob ? 1 : 0) + (cost ? targets : 0) + e * targets + t;
    }

    /// Writes every sample's cotangents into `out` (samples x width() x classes floats, zeroed
    /// first): the one-hots of the targets, p, and the request's cost cotangents.
    void write(const Logits& logits, const Targets& resolved, const GradientRequest& request, std::span<float> out) const {
        const int S = logits.samples(), C = logits.classes(), W = width();
        if (out.size() != static_cast<std::size_t>(S) * static_cast<std::size_t>(W) * static_cast<std::size_t>(C))
            detail::raise<shape_error>("CotangentLayout::write: ", out.size(), " floats for ", S, " samples x ", W,
                                       " cotangents x ", C, " classes");
        std::fill(out.begin(), out.end(), 0.0f);
        std::vector<float> buf(static_cast<std::size_t>(C));
        const auto row = [&](int n, int slot) {
            return out.subspan((static_cast<std::size_t>(n) * static_cast<std::size_t>(W) + static_cast<std::size_t>(slot)) *
                                   static_cast<std::size_t>(C),
                               static_cast<std::size_t>(C));
        };
        for (int n = 0; n < S; ++n) {
            for (int t = 0; t < targets; ++t) row(n, onehot_slot(t))[static_cast<std::size_t>(resolved(n, t))] = 1.0f;
            if (prob) softmax(logits.row(n), row(n, prob_slot()));
            if (cost)
                for (int t = 0; t < targets; ++t) {
                    request.cost_cotangent(logits.row(n), resolved(n, t), buf);
                    std::copy(buf.begin(), buf.end(), row(n, cost_slot(t)).begin());
                }
            for (int e = 0; e < methods; ++e)
                for (int t = 0; t < targets; ++t) {
                    std::fill(buf.begin(), buf.end(), 0.0f);
                    request.method_cotangents[static_cast<std::size_t>(e)](logits.row(n), resolved(n, t), buf);
                    std::copy(buf.begin(), buf.end(), row(n, method_slot(e, t)).begin());
                }
        }
    }

    /// One layer's `LayerGradients` from its activations and `slot(s)`, the VJP of slot s.
    template <TensorBackend B, class SlotFn>
    [[nodiscard]] LayerGradients<B> gradients(typename B::tensor activations, SlotFn&& slot) const {
        LayerGradients<B> lg;
        lg.activations = std::move(activations);
        for (int t = 0; t < targets; ++t) lg.class_vjps.push_back(slot(onehot_slot(t)));
        if (prob) lg.prob_vjp = slot(prob_slot());
        if (cost)
            for (int t = 0; t < targets; ++t) lg.cost_vjps.push_back(slot(cost_slot(t)));
        for (int e = 0; e < methods; ++e) {
            auto& per_target = lg.method_vjps.emplace_back();
            for (int t = 0; t < targets; ++t) per_target.push_back(slot(method_slot(e, t)));
        }
        return lg;
    }
};

/// The nodes the backward pass visits: those reachable from a requested node (`taps`, included)
/// that lead to `output`. `inputs[i]` lists the nodes node i reads (earlier ids). A requested
/// node that does not lead to the output is a `value_error` naming it (`name(id)`).
[[nodiscard]] inline std::vector<char> backward_region(std::span<const std::vector<int>> inputs, std::span<const int> taps,
                                                       int output, const std::function<std::string(int)>& name) {
    const std::size_t N = inputs.size();
    std::vector<char> above(N, 0), leads(N, 0), region(N, 0);
    for (int t : taps) above[static_cast<std::size_t>(t)] = 1;
    for (std::size_t i = 0; i < N; ++i)
        for (int j : inputs[i])
            if (above[static_cast<std::size_t>(j)]) above[i] = 1;
    leads[static_cast<std::size_t>(output)] = 1;
    for (std::size_t i = N; i-- > 0;)
        if (leads[i])
            for (int j : inputs[i]) leads[static_cast<std::size_t>(j)] = 1;
    for (std::size_t i = 0; i < N; ++i) region[i] = above[i] && leads[i];
    for (int t : taps)
        if (!region[static_cast<std::size_t>(t)]) detail::raise<value_error>("layer '", name(t), "' does not lead to the logits");
    return region;
}

/// Layer names of a graph: module paths and their aliases (the paper's names) to node ids.
class NodeNames {
public:
    /// Adds a node's name; throws `value_error` if it is taken.
    void add(std::string name, int id) {
        if (ids_.contains(name) || aliases_.contains(name))
            detail::raise<value_error>("a layer named '", name, "' already exists");
        order_.push_back(name);
        ids_.emplace(std::move(name), id);
    }
    /// Adds an alias of an existing name; throws `value_error` if the target is unknown or the
    /// alias is taken.
    void add_alias(std::string alias, std::string_view target) {
        if (ids_.contains(alias) || aliases_.contains(alias))
            detail::raise<value_error>("alias '", alias, "' is already a layer name or alias");
        const int id = find(target);
        aliases_.emplace(std::move(alias), id);
    }
    [[nodiscard]] bool contains(std::string_view name) const {
        return ids_.contains(std::string(name)) || aliases_.contains(std::string(name));
    }
    /// The node id of a name or alias; the error lists the valid names and aliases.
    [[nodiscard]] int find(std::string_view name) const {
        if (auto it = ids_.find(std::string(name)); it != ids_.end()) return it->second;
        if (auto it = aliases_.find(std::string(name)); it != aliases_.end()) return it->second;
        std::string valid, alias_list;
        for (const auto& n : order_) valid += (valid.empty() ? "" : ", ") + n;
        for (const auto& [a, id] : aliases_) alias_list += (alias_list.empty() ? "" : ", ") + a;
        detail::raise<value_error>("unknown layer '", name, "'; valid layers: ", valid, alias_list.empty() ? "" : "; aliases: ",
                                   alias_list);
    }
    /// The aliases, alias -> node id.
    [[nodiscard]] const std::map<std::string, int, std::less<>>& aliases() const noexcept { return aliases_; }

private:
    std::vector<std::string> order_;
    std::map<std::string, int, std::less<>> ids_;
    std::map<std::string, int, std::less<>> aliases_;
};

} // namespace dualgrad

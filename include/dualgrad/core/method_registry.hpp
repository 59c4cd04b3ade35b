#pragma once
/// \file
/// Methods by name: the built-in CAM family and DGL (`Method`), the projection methods
/// (`eigencam`, `eigengradcam`, `randomcam`), and any method a user registers. A method is
/// a callable from one layer's gradients (`LayerGradients`: S, dl_c/dS per target slot, J^T p or
/// the cost gradients) to one map per slot; once registered, its name works wherever a method
/// name does: `class_maps(name, ...)`, `eval::evaluate` and the command line's `--methods`.
///
///     dualgrad::register_method<dualgrad::EigenBackend>({
///         .name = "dgl-relu-grad",
///         .needs_cost = true,
///         .maps = [](const auto& g, const dualgrad::MethodInputs& in) { return my_maps(g, in); }});
///     auto maps = dualgrad::class_maps<dualgrad::EigenBackend>("dgl-relu-grad", grads.layer("layer3.5"), inputs);
///
/// The callable runs once per layer and batch, over whole tensors: a registered method costs one
/// indirect call per layer, never per pixel, and the built-ins keep their kernels.

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "dualgrad/core/cost.hpp"
#include "dualgrad/core/eigen_smooth.hpp"
#include "dualgrad/core/finer_cam.hpp"
#include "dualgrad/core/methods.hpp"
#include "dualgrad/core/perturbation_methods.hpp"
#include "dualgrad/core/projection_methods.hpp"

namespace dualgrad {

/// What a method is given besides the layer's gradients.
struct MethodInputs {
    const Targets* targets = nullptr; ///< the target class of every sample and slot
    const FcHead* fc = nullptr;       ///< the classifier head, where the layer is the CAM layer
    AnyCost cost = ReferenceCost{};   ///< DGL's cost policy
    std::uint64_t seed = 0;           ///< Random-CAM's and SS-CAM's seed
    const Logits* logits = nullptr;   ///< the pass's logits (methods with `needs_head`)
    HeadForward head = {};            ///< runs the network above the layer (methods with `needs_head`)
    int head_batch = 32;              ///< rows per head pass
    std::shared_ptr<const InputForward> input = {}; ///< the batch's input and forward (methods with `needs_input`)
    int input_batch = 16;             ///< masked inputs per forward pass (Score-CAM, IS-CAM, SS-CAM)
    /// Samples per channel mask, as torch-cam's `num_samples`: IS-CAM's steps and SS-CAM's noisy
    /// copies; 0 takes torch-cam's defaults (10 and 35).
    int samples = 0;
    std::optional<float> noise_std = {}; ///< SS-CAM's noise; unset: torch-cam's 2 (noise seeded by `seed`)
    int cotangent = -1;               ///< the index of the method's own cotangent in `LayerGradients::method_vjps`
};

/// The settings of the methods that draw noise or run extra passes, as one value that a caller
/// (`eval::MapModel::set_method_settings`, the command line) hands to every method of a pass.
struct MethodSettings {
    std::uint64_t seed = 0;  ///< Random-CAM's and SS-CAM's seed
    int head_batch = 32;     ///< rows per head pass (Ablation-CAM)
    int input_batch = 16;    ///< masked inputs per forward pass (Score-CAM, IS-CAM, SS-CAM)
    int samples = 0;         ///< IS-CAM's steps and SS-CAM's noisy copies; 0: torch-cam's 10 and 35
    std::optional<float> noise_std = {}; ///< SS-CAM's noise; unset: torch-cam's 2
};

/// Copies `s` into the matching fields of `in`.
inline void apply_settings(const MethodSettings& s, MethodInputs& in) {
    in.seed = s.seed;
    in.head_batch = s.head_batch;
    in.input_batch = s.input_batch;
    in.samples = s.samples;
    in.noise_std = s.noise_std;
}

/// A method by name.
template <TensorBackend B>
struct MethodSpec {
    std::string name;
    /// Needs dl_c/dS, the gradient of each target's logit (every gradient method does).
    bool needs_class_gradients = true;
    /// Needs the cost's gradient too (J^T p for linear cost policies, else one VJP per target).
    bool needs_cost = false;
    /// Defined at the classifier's CAM layer only (CAM: it reads the head's weights).
    bool cam_layer_only = false;
    /// Runs the network above the layer on perturbed values of it (`MethodInputs::head`).
    bool needs_head = false;
    /// Runs the whole network on perturbed inputs (`MethodInputs::input`).
    bool needs_input = false;
    /// A logit cotangent of the method's own (Finer-CAM's objective): its VJP per target comes in
    /// the same batched backward, at `LayerGradients::method_vjps[MethodInputs::cotangent]`.
    CotangentFunction cotangent = {};

    /// Does the method need the batched backward pass (class gradients, the cost's, or its own)?
    [[nodiscard]] bool needs_backward() const { return needs_class_gradients || needs_cost || static_cast<bool>(cotangent); }
    /// One map per target slot, each N x 1 x H x W at the layer's resolution (raw, unnormalized).
    std::function<std::vector<typename B::tensor>(const LayerGradients<B>&, const MethodInputs&)> maps;
    /// Optional: the weighted activations W the map sums over the channels, one N x K x H x W host
    /// array per target slot. A method that has them also answers to `name + "+eigensmooth"`
    /// (pytorch-grad-cam's `eigen_smooth`, `core/eigen_smooth.hpp`).
    std::function<std::vector<std::vector<float>>(const LayerGradients<B>&, const MethodInputs&)> weighted = {};
};

/// The suffix that names a method's `eigen_smooth` form in the registry.
inline constexpr std::string_view eigen_smooth_suffix = "+eigensmooth";

/// Gives `in` the passes `spec` asks for, from `source` on the batch `input` at `layer`: the
/// logits and the head above the layer (`needs_head`, `HeadSource`s only), the input forward
/// (`needs_input`, `InputSource`s only; made once into `input_pass` and shared by the layers).
/// A source that cannot run a pass leaves it empty, and the method's own error says so.
template <class Source>
void add_pass_inputs(const MethodSpec<typename Source::backend>& spec, MethodInputs& in, const Source& source,
                     const typename Source::input_type& input, const std::string& layer, const Logits& logits,
                     std::shared_ptr<const InputForward>& input_pass) {
    if (spec.needs_head) {
        in.logits = &logits;
        if constexpr (HeadSource<Source>) in.head = make_head_forward(source, input, layer);
    }
    if (spec.needs_input) {
        if constexpr (InputSource<Source>) {
            if (!input_pass) input_pass = make_input_forward(source, input);
            in.input = input_pass;
        }
    }
}

/// The methods known by name on backend `B`. `global()` holds the built-ins (`Method`) and what
/// users register; it is safe to register from several threads.
template <TensorBackend B>
class MethodRegistry {
public:
    /// The process-wide registry, with the built-ins.
    static MethodRegistry& global() {
        static MethodRegistry r;
        return r;
    }

    /// A registry with the built-ins only (`global()` is one of these plus the user's methods).
    MethodRegistry() {
        for (const auto& [m, text] : method_names) {
            MethodSpec<B> spec;
            spec.name = std::string(text);
            spec.needs_class_gradients = needs_gradients(m);
            spec.needs_cost = m == Method::dgl;
            spec.cam_layer_only = m == Method::cam;
            spec.maps = [m](const LayerGradients<B>& g, const MethodInputs& in) {
                return std::visit(
                    [&](const auto& cost) {
                        using Cost = std::decay_t<decltype(cost)>;
                        MapOptions<Cost> o{cost, std::nullopt};
                        if (in.fc) o.fc = *in.fc;
                        return class_maps<B, Cost>(m, g, in.targets, o);
                    },
                    in.cost);
            };
            if (m == Method::gradcam || m == Method::gradcampp || m == Method::xgradcam || m == Method::hirescam ||
                m == Method::gradcam_elementwise || m == Method::layercam)
                spec.weighted = [m](const LayerGradients<B>& g, const MethodInputs&) {
                    g.validate();
                    if (g.class_vjps.empty())
                        detail::raise<value_error>("method '", name(m), "' needs the class gradients dl_c/dS; none given");
                    std::vector<std::vector<float>> out;
                    for (const auto& G : g.class_vjps) out.push_back(weighted_activations<B>(m, g.activations, G));
                    return out;
                };
            order_.push_back(spec.name);
            specs_.emplace(spec.name, std::move(spec));
        }
        // The methods that are not a choice of weights on G (core/projection_methods.hpp).
        auto slots = [](const LayerGradients<B>& g, const MethodInputs& in) {
            return in.targets ? in.targets->slots() : std::max(g.slots(), 1);
        };
        add_builtin({.name = "eigencam", .needs_class_gradients = false,
                     .maps = [slots](const LayerGradients<B>& g, const MethodInputs& in) {
                         return eigen_cam<B>(g.activations, slots(g, in));
                     }});
        add_builtin({.name = "eigengradcam",
                     .maps = [](const LayerGradients<B>& g, const MethodInputs&) {
                         g.validate();
                         if (g.class_vjps.empty())
                             detail::raise<value_error>("method 'eigengradcam' needs the class gradients dl_c/dS; none given");
                         std::vector<typename B::tensor> maps;
                         for (const auto& G : g.class_vjps) maps.push_back(eigen_grad_cam<B>(g.activations, G));
                         return maps;
                     }});
        add_builtin({.name = "finercam", .needs_class_gradients = false, .cotangent = finer_cotangent(),
                     .maps = [](const LayerGradients<B>& g, const MethodInputs& in) {
                         return finer_cam<B>(g, in.cotangent);
                     },
                     .weighted = [](const LayerGradients<B>& g, const MethodInputs& in) {
                         std::vector<std::vector<float>> out;
                         for (const auto& G : finer_gradients<B>(g, in.cotangent))
                             out.push_back(weighted_activations<B>(Method::gradcam, g.activations, G));
                         return out;
                     }});
        add_builtin({.name = "ablationcam", .needs_class_gradients = false, .needs_head = true,
                     .maps = [](const LayerGradients<B>& g, const MethodInputs& in) {
                         if (!in.targets || !in.logits)
                             detail::raise<value_error>("method 'ablationcam' needs the targets and the logits (MethodInputs)");
                         return ablation_cam<B>(g.activations, *in.targets, *in.logits, in.head, in.head_batch);
                     },
                     .weighted = [](const LayerGradients<B>& g, const MethodInputs& in) {
                         if (!in.targets || !in.logits)
                             detail::raise<value_error>("method 'ablationcam' needs the targets and the logits (MethodInputs)");
                         const auto host = B::to_host(g.activations);
                         std::vector<std::vector<float>> out;
                         for (const auto& w : ablation_weights(host, B::shape(g.activations), *in.targets, *in.logits, in.head, in.head_batch))
                             out.push_back(channel_weighted<float>(host, B::shape(g.activations), w));
                         return out;
                     }});
        add_builtin({.name = "scorecam", .needs_class_gradients = false, .needs_input = true,
                     .maps = [](const LayerGradients<B>& g, const MethodInputs& in) {
                         if (!in.targets) detail::raise<value_error>("method 'scorecam' needs the targets (MethodInputs)");
                         return score_cam<B>(g.activations, *in.targets, in.input.get(), in.input_batch);
                     },
                     .weighted = [](const LayerGradients<B>& g, const MethodInputs& in) {
                         if (!in.targets) detail::raise<value_error>("method 'scorecam' needs the targets (MethodInputs)");
                         const auto host = B::to_host(g.activations);
                         std::vector<std::vector<float>> out;
                         for (const auto& w : score_weights(host, B::shape(g.activations), *in.targets, in.input.get(), in.input_batch))
                             out.push_back(channel_weighted<float>(host, B::shape(g.activations), w));
                         return out;
                     }});
        add_builtin({.name = "iscam", .needs_class_gradients = false, .needs_input = true,
                     .maps = [](const LayerGradients<B>& g, const MethodInputs& in) {
                         if (!in.targets) detail::raise<value_error>("method 'iscam' needs the targets (MethodInputs)");
                         return is_cam<B>(g.activations, *in.targets, in.input.get(), in.samples > 0 ? in.samples : 10,
                                          in.input_batch);
                     },
                     .weighted = [](const LayerGradients<B>& g, const MethodInputs& in) {
                         if (!in.targets) detail::raise<value_error>("method 'iscam' needs the targets (MethodInputs)");
                         const auto host = B::to_host(g.activations);
                         std::vector<std::vector<float>> out;
                         for (const auto& w : integrated_score_weights(host, B::shape(g.activations), *in.targets, in.input.get(), in.samples > 0 ? in.samples : 10, in.input_batch))
                             out.push_back(channel_weighted<float>(host, B::shape(g.activations), w));
                         return out;
                     }});
        add_builtin({.name = "sscam", .needs_class_gradients = false, .needs_input = true,
                     .maps = [](const LayerGradients<B>& g, const MethodInputs& in) {
                         if (!in.targets) detail::raise<value_error>("method 'sscam' needs the targets (MethodInputs)");
                         return ss_cam<B>(g.activations, *in.targets, in.input.get(), in.samples > 0 ? in.samples : 35,
                                          in.noise_std.value_or(2.0f), in.seed, in.input_batch);
                     },
                     .weighted = [](const LayerGradients<B>& g, const MethodInputs& in) {
                         if (!in.targets) detail::raise<value_error>("method 'sscam' needs the targets (MethodInputs)");
                         const auto host = B::to_host(g.activations);
                         std::vector<std::vector<float>> out;
                         for (const auto& w : smoothed_score_weights(host, B::shape(g.activations), *in.targets, in.input.get(), in.samples > 0 ? in.samples : 35, in.noise_std.value_or(2.0f), in.seed, in.input_batch))
                             out.push_back(channel_weighted<float>(host, B::shape(g.activations), w));
                         return out;
                     }});
        add_builtin({.name = "randomcam", .needs_class_gradients = false,
                     .maps = [slots](const LayerGradients<B>& g, const MethodInputs& in) {
                         return random_cam<B>(g.activations, slots(g, in), in.seed);
                     }});
    }
    MethodRegistry(const MethodRegistry&) = delete;
    MethodRegistry& operator=(const MethodRegistry&) = delete;

    /// Adds `spec`. Throws `value_error` for an empty name, a name already taken or no callable.
    void add(MethodSpec<B> spec) {
        if (spec.name.empty()) detail::raise<value_error>("register_method: the method has no name");
        if (spec.name.find_first_of(",@ \t") != std::string::npos)
            detail::raise<value_error>("register_method: method name '", spec.name,
                                       "' must not contain ',', '@' or spaces (they separate names on the command line)");
        if (!spec.maps) detail::raise<value_error>("register_method: method '", spec.name, "' has no callable");
        const std::lock_guard lock(mutex_);
        if (specs_.contains(spec.name))
            detail::raise<value_error>("register_method: a method named '", spec.name, "' is already registered");
        order_.push_back(spec.name);
        specs_.emplace(spec.name, std::move(spec));
    }

    [[nodiscard]] bool contains(std::string_view name) const {
        const std::lock_guard lock(mutex_);
        return specs_.contains(std::string(name));
    }

    /// The method named `name`; the error lists the valid names.
    [[nodiscard]] MethodSpec<B> at(std::string_view name) const {
        const std::lock_guard lock(mutex_);
        if (auto it = specs_.find(std::string(name)); it != specs_.end()) return it->second;
        if (name.size() > eigen_smooth_suffix.size() && name.ends_with(eigen_smooth_suffix)) {
            const std::string base(name.substr(0, name.size() - eigen_smooth_suffix.size()));
            if (auto it = specs_.find(base); it != specs_.end()) {
                if (!it->second.weighted) {
                    std::string with;
                    for (const auto& n : order_)
                        if (specs_.at(n).weighted) with += (with.empty() ? "" : ", ") + n;
                    detail::raise<value_error>("method '", base, "' has no weighted activations (MethodSpec::weighted), so no "
                                               "'", eigen_smooth_suffix, "' form; the methods with one: ", with);
                }
                return eigen_smooth_spec(it->second, std::string(name));
            }
        }
        std::string valid;
        for (const auto& n : order_) valid += (valid.empty() ? "" : ", ") + n;
        detail::raise<value_error>("unknown method '", name, "'; valid methods: ", valid);
    }

    /// Every name, built-ins first, then in registration order.
    [[nodiscard]] std::vector<std::string> names() const {
        const std::lock_guard lock(mutex_);
        return order_;
    }

private:
    /// `base`'s eigen_smooth form: relu of the first principal component of its W per slot.
    static MethodSpec<B> eigen_smooth_spec(MethodSpec<B> base, std::string name) {
        base.name = std::move(name);
        base.maps = [w = base.weighted](const LayerGradients<B>& g, const MethodInputs& in) {
            const Shape4 s = B::shape(g.activations);
            std::vector<typename B::tensor> maps;
            for (const auto& W : w(g, in)) maps.push_back(eigen_smooth<B>(W, s, g.activations));
            return maps;
        };
        base.weighted = {};
        return base;
    }

    void add_builtin(MethodSpec<B> spec) {
        order_.push_back(spec.name);
        specs_.emplace(spec.name, std::move(spec));
    }

    mutable std::mutex mutex_;
    std::map<std::string, MethodSpec<B>, std::less<>> specs_;
    std::vector<std::string> order_;
};

/// Registers `spec` in `MethodRegistry<B>::global()`.
template <TensorBackend B>
void register_method(MethodSpec<B> spec) {
    MethodRegistry<B>::global().add(std::move(spec));
}

/// The maps of the method named `method` (built-in or registered) for every slot of one layer.
template <TensorBackend B>
[[nodiscard]] std::vector<typename B::tensor> class_maps(std::string_view method, const LayerGradients<B>& g,
                                                         const MethodInputs& inputs = {}) {
    const MethodSpec<B> spec = MethodRegistry<B>::global().at(method);
    if (spec.cam_layer_only && !inputs.fc)
        detail::raise<value_error>("method '", spec.name, "' needs the classifier head (MethodInputs::fc): it is "
                                   "defined at the CAM layer only");
    return spec.maps(g, inputs);
}

} // namespace dualgrad

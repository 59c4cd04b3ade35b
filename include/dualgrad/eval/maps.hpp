#pragma once
/// \file
/// Maps of many methods at many layers from one pass: `compute_maps` runs a `GradientSource` once
/// (one forward, one batched backward) and applies every requested method (by name: built-in or
/// registered, `core/method_registry.hpp`) at every requested layer. `MapModel` is what the
/// evaluation and the command line drive: a gradient source with what they need to know of the
/// classifier (its CAM layer and head, its default layers, its input size), behind one virtual
/// call per batch, so that models on different engines sit behind one type.
///
///     auto model = dualgrad::eval::cpu_map_model(dualgrad::models::load_model("resnet50", "w.safetensors"));
///     auto bm = model->maps(batch, {"layer3.5", "layer4.2"}, {"gradcam", "dgl"}, dualgrad::TargetRule::top1());
///     // bm.maps[method][layer][slot][sample]: ScoreMap at the layer's resolution

#include <algorithm>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "dualgrad/core/gradient_source.hpp"
#include "dualgrad/core/method_registry.hpp"
#include "dualgrad/core/score_maps.hpp"
#include "dualgrad/io/preprocess.hpp"
#include "dualgrad/models/cpu_model.hpp"

namespace dualgrad::eval {

/// The maps of one batch: maps[method][layer][slot][sample] at the layer's resolution (raw). A
/// method defined at the CAM layer only has an empty entry at other layers when asked to skip.
struct BatchMaps {
    Logits logits;
    Targets targets;
    std::vector<std::vector<std::vector<std::vector<ScoreMap>>>> maps;
};

/// Runs `source` once on `input` for all `layers` and `methods` (the class gradients are computed
/// only if a method needs them). A method that is defined at the CAM layer only (`cam`) gets
/// `head` there (`is_cam_layer`, the layer named `cam_layer`); elsewhere it is an error, or with
/// `skip_cam_elsewhere` an empty entry.
template <GradientSource Source, class IsCamLayer>
[[nodiscard]] BatchMaps compute_maps(Source& source, const typename Source::input_type& input,
                                     const std::vector<std::string>& layers, const std::vector<std::string>& methods,
                                     const TargetRule& targets, const AnyCost& cost, const FcHead* head,
                                     const std::string& cam_layer, IsCamLayer&& is_cam_layer,
                                     bool skip_cam_elsewhere = false, const MethodSettings& settings = {}) {
    using B = typename Source::backend;
    std::vector<MethodSpec<B>> specs;
    bool need_grad = false;
    for (const auto& m : methods) {
        specs.push_back(MethodRegistry<B>::global().at(m));
        need_grad = need_grad || specs.back().needs_backward();
    }
    GradientRequest request = std::visit([&](const auto& c) { return request_for(layers, targets, c); }, cost);
    request.class_vjps = need_grad;
    std::vector<int> cotangent_of; // each method's index in request.method_cotangents, or -1
    for (const auto& spec : specs) {
        cotangent_of.push_back(spec.cotangent ? static_cast<int>(request.method_cotangents.size()) : -1);
        if (spec.cotangent) request.method_cotangents.push_back(spec.cotangent);
    }
    const auto result = source.gradients(input, request);
    BatchMaps out{result.logits, result.targets, {}};
    std::shared_ptr<const InputForward> input_pass; // made once per batch, for the methods that need it
    for (std::size_t si = 0; si < specs.size(); ++si) {
        const auto& spec = specs[si];
        auto& per_layer = out.maps.emplace_back();
        for (std::size_t l = 0; l < layers.size(); ++l) {
            auto& per_slot = per_layer.emplace_back();
            MethodInputs in{&result.targets, nullptr, cost};
            apply_settings(settings, in);
            in.cotangent = cotangent_of[si];
            add_pass_inputs(spec, in, source, input, layers[l], result.logits, input_pass);
            if (spec.cam_layer_only) {
                if (!is_cam_layer(layers[l]) || !head) {
                    if (!skip_cam_elsewhere)
                        dualgrad::detail::raise<value_error>("method '", spec.name, "' is defined at the CAM layer '",
                                                             cam_layer, "' only, not at '", layers[l], "'");
                    continue; // left empty
                }
                in.fc = head;
            }
            for (const auto& t : spec.maps(result.layers[l], in)) per_slot.push_back(to_score_maps<B>(t));
        }
    }
    return out;
}

/// A classifier the evaluation can drive (see the file comment).
class MapModel {
public:
    virtual ~MapModel() = default;
    /// The architecture or model name, for outputs.
    [[nodiscard]] virtual std::string name() const = 0;
    /// The layers evaluated when none are asked for.
    [[nodiscard]] virtual std::vector<std::string> default_layers() const = 0;
    /// The layer the classifier's head weighs (where CAM is defined); empty if none.
    [[nodiscard]] virtual std::string cam_layer() const = 0;
    /// Do two names (module paths or aliases) name the same layer? Unknown names are errors that
    /// list the valid ones.
    [[nodiscard]] virtual bool same_layer(const std::string& a, const std::string& b) const = 0;
    /// Checks a layer name (an error lists the valid ones).
    virtual void check_layer(const std::string& layer) const = 0;
    /// Is the method (by name) defined at the CAM layer only? An unknown name is an error that
    /// lists the valid ones.
    [[nodiscard]] virtual bool cam_layer_only(const std::string& method) const = 0;
    /// Every method this model can run, by name (what `--methods all` expands to); empty if the
    /// model does not say.
    [[nodiscard]] virtual std::vector<std::string> method_names() const { return {}; }
    /// The input side the model was trained at (weights metadata), or 0 if unknown.
    [[nodiscard]] virtual int input_size() const { return 0; }
    /// Does the model run plain forward passes of new inputs (`forward_filled`)?
    [[nodiscard]] virtual bool has_forward() const { return false; }
    /// The logits of M new inputs that `fill` writes (M x C x H x W, preprocessed, row-major,
    /// straight into the engine's buffer): what the faithfulness metrics run. A model that cannot
    /// (the default) throws `value_error` saying so.
    [[nodiscard]] virtual Logits forward_filled(Shape4 shape, const HeadFill& fill) {
        (void)shape, (void)fill;
        dualgrad::detail::raise<value_error>("model '", name(), "' runs no plain forward pass of new inputs, which the "
                                             "faithfulness metrics need (the CPU engine does)");
    }
    /// The settings every method of a pass gets (seed, batches, samples: `MethodSettings`).
    void set_method_settings(const MethodSettings& settings) { settings_ = settings; }
    [[nodiscard]] const MethodSettings& method_settings() const noexcept { return settings_; }
    /// One pass on `input` (float32 NCHW, preprocessed) for every method at every layer.
    [[nodiscard]] virtual BatchMaps maps(const io::NchwTensor& input, const std::vector<std::string>& layers,
                                         const std::vector<std::string>& methods, const TargetRule& targets,
                                         const AnyCost& cost = ReferenceCost{}, bool skip_cam_elsewhere = false) = 0;

protected:
    MethodSettings settings_{};
};

/// A `MapModel` over any `GradientSource` and a `ModelDescription` (for layer names, the CAM
/// layer and head): the CPU engine's `models::CpuModel`, LibTorch's `models::TorchModel`, or a
/// user's source. `to_input` turns the host batch into the source's input; `head` gives the CAM
/// head (it may be called once per batch).
template <GradientSource Source>
class SourceMapModel final : public MapModel {
public:
    using InputFn = std::function<typename Source::input_type(const io::NchwTensor&)>;
    using HeadFn = std::function<std::optional<FcHead>(Source&)>;
    using NodeFn = std::function<int(const Source&, const std::string&)>;

    SourceMapModel(Source source, models::ModelDescription description, InputFn to_input, HeadFn head, NodeFn node,
                   int input_size = 0)
        : source_(std::move(source)), d_(std::move(description)), to_input_(std::move(to_input)),
          head_(std::move(head)), node_(std::move(node)), input_size_(input_size) {}

    [[nodiscard]] std::string name() const override { return d_.arch; }
    [[nodiscard]] std::vector<std::string> default_layers() const override { return d_.default_layers; }
    [[nodiscard]] std::string cam_layer() const override { return d_.cam_layer; }
    [[nodiscard]] bool same_layer(const std::string& a, const std::string& b) const override {
        return node_(source_, a) == node_(source_, b);
    }
    void check_layer(const std::string& layer) const override { (void)node_(source_, layer); }
    [[nodiscard]] bool cam_layer_only(const std::string& method) const override {
        return MethodRegistry<typename Source::backend>::global().at(method).cam_layer_only;
    }
    [[nodiscard]] std::vector<std::string> method_names() const override {
        return MethodRegistry<typename Source::backend>::global().names();
    }
    [[nodiscard]] int input_size() const override { return input_size_; }
    [[nodiscard]] BatchMaps maps(const io::NchwTensor& x, const std::vector<std::string>& layers,
                                 const std::vector<std::string>& methods, const TargetRule& targets, const AnyCost& cost,
                                 bool skip_cam_elsewhere) override {
        std::optional<FcHead> head;
        if (!d_.cam_layer.empty() && std::any_of(methods.begin(), methods.end(), [](const std::string& m) {
                return MethodRegistry<typename Source::backend>::global().at(m).cam_layer_only;
            }))
            head = head_(source_);
        const int cam_node = d_.cam_layer.empty() ? -1 : node_(source_, d_.cam_layer);
        return compute_maps(
            source_, to_input_(x), layers, methods, targets, cost, head ? &*head : nullptr, d_.cam_layer,
            [&](const std::string& l) { return cam_node >= 0 && node_(source_, l) == cam_node; }, skip_cam_elsewhere,
            settings_);
    }
    [[nodiscard]] bool has_forward() const override { return InputSource<Source>; }
    [[nodiscard]] Logits forward_filled(Shape4 shape, const HeadFill& fill) override {
        if constexpr (InputSource<Source>) {
            return dualgrad::detail::run_filled<typename Source::backend>(
                buffer_, shape, fill, [&](const typename Source::backend::tensor& t) { return source_.forward(t); });
        } else {
            return MapModel::forward_filled(shape, fill);
        }
    }
    [[nodiscard]] Source& source() noexcept { return source_; }
    [[nodiscard]] const models::ModelDescription& description() const noexcept { return d_; }

private:
    Source source_;
    models::ModelDescription d_;
    InputFn to_input_;
    HeadFn head_;
    NodeFn node_;
    int input_size_;
    typename Source::backend::tensor buffer_{}; // forward_filled's input, reused while the shape stays
};

/// The CPU engine's model as a `MapModel` (threads from `model.exec`; the input size recorded in
/// its weights unless `input_size` is given).
[[nodiscard]] inline std::unique_ptr<MapModel> cpu_map_model(models::CpuModel model, int input_size = 0) {
    auto description = model.description;
    if (input_size == 0) input_size = model.input_size;
    return std::make_unique<SourceMapModel<models::CpuModel>>(
        std::move(model), std::move(description),
        [](const io::NchwTensor& x) {
            return EigenBackend::from_host({x.shape[0], x.shape[1], x.shape[2], x.shape[3]}, x.values);
        },
        [](models::CpuModel& m) -> std::optional<FcHead> { return m.cam_head(); },
        [](const models::CpuModel& m, const std::string& l) { return m.graph.node(l); }, input_size);
}

} // namespace dualgrad::eval

#pragma once
// The shared job of `maps`, `localize` and `eval`: one forward and one batched backward pass of a
// CPU-engine model for a batch, then the maps of every requested method at every requested layer.
#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <CLI/CLI.hpp>

#include <dualgrad/core/cost.hpp>
#include <dualgrad/core/methods.hpp>
#include <dualgrad/core/score_maps.hpp>
#include <dualgrad/io/image.hpp>
#include <dualgrad/models/cpu_model.hpp>

#include "common.hpp"

namespace dualgrad::cli {

/// DGL's cost policy as chosen on the command line (`--cost reference|xent --alpha A`).
using AnyCost = std::variant<ReferenceCost, CrossEntropyCost>;

inline AnyCost parse_cost(const std::string& name, float alpha) {
    if (name == "reference") return ReferenceCost{alpha};
    if (name == "xent") return CrossEntropyCost{alpha};
    detail::raise<value_error>("--cost: unknown cost '", name, "'; valid: reference, xent");
}

/// `top1`, `topk:K`, `class:C` (every sample) or `gt:FILE` (one class per line, or
/// `image_id,class` lines as in wsolevaluation's class_labels.txt, in sample order).
inline TargetRule parse_target(const std::string& text, std::int64_t samples);

/// Comma-separated method names -> methods (`cam, gradcam, ...`); the error lists the valid names.
inline std::vector<Method> parse_methods(const std::vector<std::string>& names) {
    std::vector<Method> out;
    for (const auto& n : names) out.push_back(parse_method(n));
    if (out.empty()) detail::raise<value_error>("--method: no method given");
    return out;
}

/// The maps of one batch: maps[method][layer][slot][sample] at feature resolution (raw).
struct BatchMaps {
    Logits logits;
    Targets targets;
    std::vector<std::vector<std::vector<std::vector<ScoreMap>>>> maps;
};

/// Runs `source` once on `input` for all `layers` and `methods` (the gradients are computed only
/// if a method needs them; CAM uses `head`). CAM exists at the CAM layer only (`is_cam_layer`):
/// elsewhere it is an error, or (`skip_cam_elsewhere`) an empty entry.
template <class Source, class IsCamLayer>
BatchMaps compute_maps_with(Source& source, const typename Source::input_type& input,
                            const std::vector<std::string>& layers, const std::vector<Method>& methods,
                            const TargetRule& targets, const AnyCost& cost, const FcHead* head,
                            const std::string& cam_layer, IsCamLayer&& is_cam_layer, bool skip_cam_elsewhere) {
    using B = typename Source::backend;
    bool need_grad = false;
    for (Method m : methods) need_grad = need_grad || needs_gradients(m);
    return std::visit(
        [&](const auto& c) {
            using Cost = std::decay_t<decltype(c)>;
            GradientRequest request = request_for(layers, targets, c);
            request.class_vjps = need_grad;
            const auto result = source.gradients(input, request);
            BatchMaps out{result.logits, result.targets, {}};
            MapOptions<Cost> opts{c, std::nullopt};
            if (head) opts.fc = *head;
            for (Method m : methods) {
                auto& per_layer = out.maps.emplace_back();
                for (std::size_t l = 0; l < layers.size(); ++l) {
                    auto& per_slot = per_layer.emplace_back();
                    if (m == Method::cam && !is_cam_layer(layers[l])) {
                        if (!skip_cam_elsewhere)
                            detail::raise<value_error>("method 'cam' is defined at the CAM layer '", cam_layer,
                                                       "' only, not at '", layers[l], "'");
                        continue; // left empty
                    }
                    const auto maps = class_maps<B, Cost>(m, result.layers[l], &result.targets, opts);
                    for (const auto& t : maps) per_slot.push_back(to_score_maps<B>(t));
                }
            }
            return out;
        },
        cost);
}

/// A loaded model on one engine: `--backend cpu` (the CPU engine) or `--backend torch` (LibTorch,
/// when the CLI was built with it; cli/torch_runner.cpp).
class MapRunner {
public:
    virtual ~MapRunner() = default;
    [[nodiscard]] virtual const models::ModelDescription& description() const = 0;
    /// The node of a layer name; an unknown name is an error listing the valid ones.
    [[nodiscard]] virtual int node(const std::string& layer) const = 0;
    [[nodiscard]] virtual BatchMaps run(const io::NchwTensor& input, const std::vector<std::string>& layers,
                                        const std::vector<Method>& methods, const TargetRule& targets,
                                        const AnyCost& cost, bool skip_cam_elsewhere = false) = 0;
};

/// The CPU engine with a thread count, as a `GradientSource`.
struct CpuSource {
    using backend = EigenBackend;
    using input_type = nn::Tensor;
    models::CpuModel& model;
    const nn::ExecContext& ctx;
    GradientResult<EigenBackend> gradients(const nn::Tensor& in, const GradientRequest& req) const {
        return model.graph.gradients(in, req, ctx);
    }
};

class CpuRunner final : public MapRunner {
public:
    CpuRunner(models::CpuModel model, int threads) : model_(std::move(model)) {
        if (threads > 0) ctx_.threads = threads;
    }
    const models::ModelDescription& description() const override { return model_.description; }
    int node(const std::string& layer) const override { return model_.graph.node(layer); }
    BatchMaps run(const io::NchwTensor& x, const std::vector<std::string>& layers, const std::vector<Method>& methods,
                  const TargetRule& targets, const AnyCost& cost, bool skip_cam_elsewhere) override {
        CpuSource source{model_, ctx_};
        const bool cam = std::find(methods.begin(), methods.end(), Method::cam) != methods.end();
        const std::optional<FcHead> head = cam ? std::optional<FcHead>(model_.cam_head()) : std::nullopt;
        const int cam_node = model_.graph.node(model_.description.cam_layer);
        return compute_maps_with(
            source, EigenBackend::from_host({x.shape[0], x.shape[1], x.shape[2], x.shape[3]}, x.values), layers, methods,
            targets, cost, head ? &*head : nullptr, model_.description.cam_layer,
            [&](const std::string& l) { return model_.graph.node(l) == cam_node; }, skip_cam_elsewhere);
    }

private:
    models::CpuModel model_;
    nn::ExecContext ctx_;
};

#ifdef DUALGRAD_CLI_WITH_TORCH
/// Defined in cli/torch_runner.cpp (the CLI's one LibTorch translation unit).
std::unique_ptr<MapRunner> make_torch_runner(const std::string& arch, const std::filesystem::path& weights, int threads);
#endif

/// The model of `arch` from `weights` on `backend` ("cpu" or "torch").
inline std::unique_ptr<MapRunner> make_runner(const std::string& backend, const std::string& arch,
                                              const std::filesystem::path& weights, int threads) {
    if (backend == "cpu") return std::make_unique<CpuRunner>(open_model(arch, weights), threads);
    if (backend == "torch") {
#ifdef DUALGRAD_CLI_WITH_TORCH
        if (!std::filesystem::exists(weights))
            detail::raise<io_error>("weights file '", weights.string(), "' does not exist");
        return make_torch_runner(arch, weights, threads);
#else
        detail::raise<value_error>("--backend torch: this dualgrad was built without LibTorch (install libtorch-dev "
                                   "and reconfigure)");
#endif
    }
    detail::raise<value_error>("--backend: unknown backend '", backend, "'; valid: cpu, torch");
}

/// `--backend` on a subcommand.
inline void add_backend_option(CLI::App* cmd, std::string& backend) {
    cmd->add_option("--backend", backend,
                    "Engine: cpu (dualgrad's CPU engine) or torch (LibTorch, when the CLI was built with it)")
        ->capture_default_str();
}

/// Preprocessing options shared by `localize` and `eval`.
struct PreprocessCli {
    int size = 224;          ///< network input side (resize target)
    bool no_resize = false;  ///< keep the image size
    std::vector<float> mean{0.485f, 0.456f, 0.406f};
    std::vector<float> std{0.229f, 0.224f, 0.225f};
    int tencrop_resize = 256;

    void add(CLI::App* cmd) {
        cmd->add_option("--size", size, "Network input side: images are resized to SIZE x SIZE (bilinear)")
            ->capture_default_str()
            ->check(CLI::PositiveNumber);
        cmd->add_flag("--no-resize", no_resize, "Feed images at their own size");
        cmd->add_option("--mean", mean, "Normalization mean per RGB channel (of values in [0, 1])")
            ->expected(3)
            ->delimiter(',')
            ->capture_default_str();
        cmd->add_option("--std", std, "Normalization std per RGB channel")->expected(3)->delimiter(',')->capture_default_str();
        cmd->add_option("--tencrop-resize", tencrop_resize, "10-crop: resize to this side before the crops of --size")
            ->capture_default_str();
    }
    [[nodiscard]] io::PreprocessOptions options() const {
        io::PreprocessOptions o;
        o.height = o.width = size;
        o.resize = !no_resize;
        for (int c = 0; c < 3; ++c) {
            o.norm.mean[static_cast<std::size_t>(c)] = mean[static_cast<std::size_t>(c)];
            o.norm.std[static_cast<std::size_t>(c)] = std[static_cast<std::size_t>(c)];
        }
        return o;
    }
};

} // namespace dualgrad::cli

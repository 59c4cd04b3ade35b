// `--backend torch`: the CLI's models on LibTorch (models::TorchModel, TorchBackend) as an
// eval::MapModel, in the CLI's one LibTorch translation unit, built as the module dualgrad-torch.so
// (only when dualgrad::torch exists) that the CLI loads with dlopen when --backend torch is given.
#include <cstdio>
#include <filesystem>
#include <optional>

#include <ATen/Parallel.h>

#include <dualgrad/backend/torch.hpp>
#include <dualgrad/models/torch_model.hpp>

#include "job.hpp"

namespace dualgrad::cli {

namespace {

std::unique_ptr<eval::MapModel> load_torch_map_model(const std::string& arch, const std::filesystem::path& weights,
                                                     int threads, std::optional<bool> large_feature_map) {
    if (threads > 0) at::set_num_threads(threads);
    models::ModelConfig cfg;
    cfg.large_feature_map = large_feature_map;
    auto model = models::load_torch_model(arch, weights, at::kCPU, cfg);
    auto description = model.description();
    const at::Device device = model.device();
    // The CAM head is copied to the host once per batch that asks for it; the spans point into
    // these buffers, which live as long as the model.
    auto head_w = std::make_shared<std::vector<float>>();
    auto head_b = std::make_shared<std::vector<float>>();
    return std::make_unique<eval::SourceMapModel<models::TorchModel>>(
        std::move(model), std::move(description),
        [device](const io::NchwTensor& x) {
            return TorchBackend::from_host({x.shape[0], x.shape[1], x.shape[2], x.shape[3]}, x.values).to(device);
        },
        [head_w, head_b](models::TorchModel& m) -> std::optional<FcHead> {
            const auto& d = m.description();
            const auto w = m.parameters().at(d.cam_weight).to(at::kCPU).contiguous();
            head_w->assign(w.data_ptr<float>(), w.data_ptr<float>() + w.numel());
            FcHead head{*head_w, static_cast<int>(w.size(0)), static_cast<int>(w.numel() / w.size(0))};
            if (!d.cam_bias.empty()) {
                const auto b = m.parameters().at(d.cam_bias).to(at::kCPU).contiguous();
                head_b->assign(b.data_ptr<float>(), b.data_ptr<float>() + b.numel());
                head.bias = *head_b;
            }
            return head;
        },
        [](const models::TorchModel& m, const std::string& l) { return m.node(l); },
        models::recorded_input_size(io::SafetensorsFile::open(weights)));
}

} // namespace

} // namespace dualgrad::cli

/// The module's one entry point (cli/job.hpp): the model, or null with the error's message in
/// `error` (no exception crosses the module boundary).
extern "C" __attribute__((visibility("default"))) dualgrad::eval::MapModel*
dualgrad_cli_make_torch_model(const char* arch, const char* weights, int threads, int large_feature_map, char* error,
                              std::size_t error_size) {
    try {
        std::optional<bool> lfm;
        if (large_feature_map >= 0) lfm = large_feature_map != 0;
        if (!std::filesystem::exists(weights))
            dualgrad::detail::raise<dualgrad::io_error>("weights file '", weights, "' does not exist");
        return dualgrad::cli::load_torch_map_model(arch, weights, threads, lfm).release();
    } catch (const std::exception& e) {
        std::snprintf(error, error_size, "%s", e.what());
    } catch (...) {
        std::snprintf(error, error_size, "--backend torch: an unknown error while loading '%s'", weights);
    }
    return nullptr;
}

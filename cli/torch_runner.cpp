// `--backend torch`: the CLI's maps on LibTorch (models::TorchModel, TorchBackend), in the CLI's
// one LibTorch translation unit (built only when dualgrad::torch exists).
#include <ATen/Parallel.h>

#include <dualgrad/backend/torch.hpp>
#include <dualgrad/models/torch_model.hpp>

#include "job.hpp"

namespace dualgrad::cli {

namespace {

class TorchRunner final : public MapRunner {
public:
    TorchRunner(models::TorchModel model, int threads) : model_(std::move(model)) {
        if (threads > 0) at::set_num_threads(threads);
    }
    const models::ModelDescription& description() const override { return model_.description(); }
    int node(const std::string& layer) const override { return model_.node(layer); }
    BatchMaps run(const io::NchwTensor& x, const std::vector<std::string>& layers, const std::vector<Method>& methods,
                  const TargetRule& targets, const AnyCost& cost, bool skip_cam_elsewhere) override {
        const auto input = TorchBackend::from_host({x.shape[0], x.shape[1], x.shape[2], x.shape[3]}, x.values)
                               .to(model_.device());
        const bool cam = std::find(methods.begin(), methods.end(), Method::cam) != methods.end();
        std::optional<FcHead> head;
        if (cam) {
            const auto& d = model_.description();
            const auto w = model_.parameters().at(d.cam_weight).to(at::kCPU).contiguous();
            head_w_.assign(w.data_ptr<float>(), w.data_ptr<float>() + w.numel());
            head = FcHead{head_w_, static_cast<int>(w.size(0)), static_cast<int>(w.numel() / w.size(0))};
            if (!d.cam_bias.empty()) {
                const auto b = model_.parameters().at(d.cam_bias).to(at::kCPU).contiguous();
                head_b_.assign(b.data_ptr<float>(), b.data_ptr<float>() + b.numel());
                head->bias = head_b_;
            }
        }
        const int cam_node = model_.node(model_.description().cam_layer);
        return compute_maps_with(model_, input, layers, methods, targets, cost, head ? &*head : nullptr,
                                 model_.description().cam_layer,
                                 [&](const std::string& l) { return model_.node(l) == cam_node; }, skip_cam_elsewhere);
    }

private:
    models::TorchModel model_;
    std::vector<float> head_w_, head_b_;
};

} // namespace

std::unique_ptr<MapRunner> make_torch_runner(const std::string& arch, const std::filesystem::path& weights, int threads) {
    return std::make_unique<TorchRunner>(models::load_torch_model(arch, weights), threads);
}

} // namespace dualgrad::cli

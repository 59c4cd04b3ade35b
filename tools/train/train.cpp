// dualgrad_train: trains a backbone (VGG16-GAP, InceptionV3-CAM, ResNet50-CAM, SE-ResNet50-CAM)
// at reduced width on FashionLoc with image labels only, on LibTorch's CPU, and writes its
// weights as safetensors with PyTorch state_dict names (they load in the CPU engine and in
// LibTorch).
//
//   dualgrad_train --arch resnet50 --width 0.125 --epochs 6 --out runs/resnet50
//                  --export models/fashionloc/resnet50.safetensors
//
// The samples are generated in memory from the seed (the same bytes `dualgrad_fashionloc`
// writes to disk). After every epoch the tool writes a checkpoint (parameters, optimizer state,
// epoch and RNG seed) to --out; run the same command again and it resumes after the last
// finished epoch. --out/log.jsonl has one line per epoch: loss, train and test accuracy, time.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "dualgrad/datasets/fashionloc.hpp"
#include "dualgrad/io/idx.hpp"
#include "dualgrad/io/safetensors.hpp"
#include "dualgrad/models/torch_model.hpp"

namespace fs = std::filesystem;
using dualgrad::datasets::FashionLocConfig;
using dualgrad::datasets::FashionLocSplit;

namespace {

struct Recipe {
    std::string arch;
    double width = 0.125;
    std::uint64_t seed = 1;      ///< FashionLoc seed (data) and training seed (init, order, flips)
    int canvas = 128;
    int train = 12000;
    int test = 1000;
    int epochs = 6;
    int batch = 64;
    double lr = 2e-3;
    double weight_decay = 5e-4;
    double dropout = 0.25;
    int warmup_steps = 100;
    int threads = 2;
    std::string init; ///< warm start: tensors of the same name and shape are taken from this file
    nlohmann::json to_json() const {
        nlohmann::json j = {{"arch", arch},   {"width", width},   {"seed", seed},   {"canvas", canvas},
                {"train", train}, {"test", test},     {"epochs", epochs}, {"batch", batch},
                {"lr", lr},       {"weight_decay", weight_decay}, {"dropout", dropout},
                {"warmup_steps", warmup_steps}, {"optimizer", "AdamW(betas 0.9,0.999), cosine decay after linear warm-up"},
                {"augmentation", "horizontal flip p=0.5"},
                {"normalization", "ImageNet mean/std"}};
        // Only warm starts record an init (so that earlier from-scratch runs still resume).
        if (!init.empty())
            j["init"] = "warm start from " + std::filesystem::path(init).filename().string() +
                        " (every tensor of the same name and shape), the rest Kaiming";
        return j;
    }
};

/// Samples [0, count) of `split` as uint8 NCHW images and int64 labels.
std::pair<at::Tensor, at::Tensor> make_split(const dualgrad::io::FashionMnist& source, FashionLocConfig cfg,
                                             FashionLocSplit split, int count, int threads) {
    cfg.split = split;
    const int P = cfg.canvas;
    auto images = at::empty({count, P, P, 3}, at::kByte);
    auto labels = at::empty({count}, at::kLong);
    std::uint8_t* img = images.data_ptr<std::uint8_t>();
    std::int64_t* lab = labels.data_ptr<std::int64_t>();
    dualgrad::datasets::generate_parallel(source, 0, count, cfg, threads, [&](dualgrad::datasets::FashionLocSample s, int i) {
        std::copy(s.image.pixels.begin(), s.image.pixels.end(), img + static_cast<std::ptrdiff_t>(i) * P * P * 3);
        lab[i] = s.label;
    });
    return {images.permute({0, 3, 1, 2}).contiguous(), labels};
}

at::Tensor normalize(const at::Tensor& u8) {
    static const auto mean = at::tensor({0.485f, 0.456f, 0.406f}).view({1, 3, 1, 1}) * 255.0f;
    static const auto std = at::tensor({0.229f, 0.224f, 0.225f}).view({1, 3, 1, 1}) * 255.0f;
    return (u8.to(at::kFloat) - mean) / std;
}

double accuracy(dualgrad::models::TorchModel& model, const at::Tensor& images, const at::Tensor& labels, int batch) {
    std::int64_t correct = 0;
    for (std::int64_t i = 0; i < images.size(0); i += batch) {
        const auto n = std::min<std::int64_t>(batch, images.size(0) - i);
        const auto logits = model.forward(normalize(images.narrow(0, i, n)));
        correct += logits.argmax(1).eq(labels.narrow(0, i, n)).sum().item<std::int64_t>();
    }
    return static_cast<double>(correct) / static_cast<double>(images.size(0));
}

void save_params(const dualgrad::models::TorchModel& model, const fs::path& path, dualgrad::io::Dtype dtype,
                 const dualgrad::io::Metadata& meta) {
    std::vector<at::Tensor> host;
    std::vector<dualgrad::io::TensorView> views;
    for (const auto& spec : dualgrad::models::parameter_specs(model.description())) {
        host.push_back(model.parameters().at(spec.name).detach().to(at::kCPU).contiguous());
        const auto& t = host.back();
        views.push_back({spec.name, spec.shape,
                         std::span<const float>(t.data_ptr<float>(), static_cast<std::size_t>(t.numel()))});
    }
    const fs::path tmp = path.string() + ".tmp";
    dualgrad::io::save_safetensors(tmp, views, dtype, meta);
    fs::rename(tmp, path);
}

} // namespace

int main(int argc, char** argv) {
    CLI::App app{"Train a dualgrad backbone on FashionLoc (image labels only, LibTorch CPU)"};
    Recipe r;
    std::string out, export_path, fm_dir{dualgrad::io::fashion_mnist_default_dir};
    app.add_option("--arch", r.arch, "vgg16, inception_v3, resnet50 or se_resnet50")->required();
    app.add_option("--width", r.width, "channel width multiplier")->capture_default_str();
    app.add_option("--seed", r.seed, "FashionLoc and training seed")->capture_default_str();
    app.add_option("--size", r.canvas, "canvas side (the network's input size)")->capture_default_str();
    app.add_option("--train", r.train, "training samples")->capture_default_str();
    app.add_option("--test", r.test, "test samples for the accuracy in the log")->capture_default_str();
    app.add_option("--epochs", r.epochs)->capture_default_str();
    app.add_option("--batch", r.batch)->capture_default_str();
    app.add_option("--lr", r.lr, "peak learning rate")->capture_default_str();
    app.add_option("--weight-decay", r.weight_decay)->capture_default_str();
    app.add_option("--dropout", r.dropout, "probability at the description's dropout layers")->capture_default_str();
    app.add_option("--warmup", r.warmup_steps, "linear warm-up steps")->capture_default_str();
    app.add_option("--threads", r.threads)->capture_default_str();
    app.add_option("--fashion-mnist", fm_dir, "folder of the Fashion-MNIST IDX files")->capture_default_str();
    app.add_option("--out", out, "run folder: checkpoint and log.jsonl")->required();
    app.add_option("--export", export_path, "write the final weights here (F16 safetensors)");
    app.add_option("--init", r.init, "warm start: take every tensor of the same name and shape from this safetensors file");
    CLI11_PARSE(app, argc, argv);

    try {
        at::set_num_threads(r.threads);
        fs::create_directories(out);
        const fs::path ckpt = fs::path(out) / "checkpoint.safetensors";
        const fs::path optim_path = fs::path(out) / "optimizer.pt";
        const fs::path state_path = fs::path(out) / "state.json";
        const fs::path log_path = fs::path(out) / "log.jsonl";

        dualgrad::models::ModelConfig mc;
        mc.num_classes = 10;
        mc.width = r.width;
        dualgrad::models::TorchModel model(dualgrad::models::describe(r.arch, mc));
        auto gen = at::make_generator<at::CPUGeneratorImpl>(r.seed);
        model.init_parameters(gen);
        if (!r.init.empty()) {
            const auto f = dualgrad::io::SafetensorsFile::open(r.init);
            at::NoGradGuard no_grad;
            int taken = 0, fresh = 0;
            for (auto& spec : dualgrad::models::parameter_specs(model.description())) {
                auto& t = model.parameters().at(spec.name);
                if (f.contains(spec.name) && f.info(spec.name).shape == spec.shape) {
                    auto v = f.read_float(spec.name);
                    t.copy_(at::from_blob(v.data(), spec.shape, at::TensorOptions().dtype(at::kFloat)));
                    ++taken;
                } else {
                    ++fresh;
                }
            }
            std::printf("warm start from %s: %d tensors taken, %d fresh\n", r.init.c_str(), taken, fresh);
        }
        model.set_trainable(true);
        std::int64_t n_params = 0;
        for (const auto& p : model.trainable_parameters()) n_params += p.numel();

        int start_epoch = 0;
        if (fs::exists(state_path)) {
            std::ifstream f(state_path);
            const auto state = nlohmann::json::parse(f);
            if (state.at("recipe") != r.to_json())
                throw std::runtime_error("the run folder '" + out + "' holds a checkpoint of another recipe: " +
                                         state.at("recipe").dump() + "; use another --out");
            start_epoch = state.at("epochs_done").get<int>();
            model.load(dualgrad::io::SafetensorsFile::open(ckpt));
            model.set_trainable(true);
        }
        torch::optim::AdamW optimizer(model.trainable_parameters(),
                                      torch::optim::AdamWOptions(r.lr).weight_decay(r.weight_decay));
        if (start_epoch > 0) {
            torch::load(optimizer, optim_path.string());
            std::printf("resuming %s after epoch %d\n", r.arch.c_str(), start_epoch);
        }

        FashionLocConfig fc;
        fc.seed = r.seed;
        fc.canvas = r.canvas;
        const auto t0 = std::chrono::steady_clock::now();
        const auto train_src = dualgrad::io::load_fashion_mnist(dualgrad::io::FashionMnistSplit::train, fm_dir);
        const auto test_src = dualgrad::io::load_fashion_mnist(dualgrad::io::FashionMnistSplit::test, fm_dir);
        auto [train_x, train_y] = make_split(train_src, fc, FashionLocSplit::train, r.train, r.threads);
        auto [test_x, test_y] = make_split(test_src, fc, FashionLocSplit::test, r.test, r.threads);
        std::printf("%s width %g: %lld parameters; data %d+%d samples in %.1f s\n", r.arch.c_str(), r.width,
                    static_cast<long long>(n_params), r.train, r.test,
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());

        const int steps_per_epoch = (r.train + r.batch - 1) / r.batch;
        const int total_steps = steps_per_epoch * r.epochs;
        for (int epoch = start_epoch; epoch < r.epochs; ++epoch) {
            const auto te = std::chrono::steady_clock::now();
            auto eg = at::make_generator<at::CPUGeneratorImpl>(r.seed * 1000003ULL + static_cast<std::uint64_t>(epoch));
            const auto order = at::randperm(r.train, eg, at::kLong);
            const auto flips = at::rand({r.train}, eg).lt(0.5);
            double loss_sum = 0;
            std::int64_t correct = 0, seen = 0;
            for (int s = 0; s < steps_per_epoch; ++s) {
                const int step = epoch * steps_per_epoch + s;
                const double lr = step < r.warmup_steps
                                      ? r.lr * (step + 1) / r.warmup_steps
                                      : 0.5 * r.lr * (1 + std::cos(M_PI * (step - r.warmup_steps) /
                                                                   std::max(1, total_steps - r.warmup_steps)));
                for (auto& g : optimizer.param_groups()) static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);
                const auto idx = order.narrow(0, static_cast<std::int64_t>(s) * r.batch,
                                              std::min<std::int64_t>(r.batch, r.train - static_cast<std::int64_t>(s) * r.batch));
                auto x = train_x.index_select(0, idx);
                const auto f = flips.index_select(0, idx).view({-1, 1, 1, 1});
                x = at::where(f, x.flip({3}), x);
                const auto y = train_y.index_select(0, idx);
                optimizer.zero_grad();
                const auto logits = model.forward_train(normalize(x), r.dropout);
                const auto loss = at::cross_entropy_loss(logits, y);
                loss.backward();
                optimizer.step();
                loss_sum += loss.item<double>() * static_cast<double>(idx.size(0));
                correct += logits.argmax(1).eq(y).sum().item<std::int64_t>();
                seen += idx.size(0);
                if ((s + 1) % 20 == 0) {
                    std::printf("  epoch %d step %d/%d loss %.4f acc %.3f (%.1f s)\n", epoch + 1, s + 1, steps_per_epoch,
                                loss_sum / static_cast<double>(seen), static_cast<double>(correct) / static_cast<double>(seen),
                                std::chrono::duration<double>(std::chrono::steady_clock::now() - te).count());
                    std::fflush(stdout);
                }
            }
            const double test_acc = accuracy(model, test_x, test_y, 128);
            const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - te).count();
            const nlohmann::json line = {{"epoch", epoch + 1},
                                         {"train_loss", loss_sum / static_cast<double>(seen)},
                                         {"train_acc", static_cast<double>(correct) / static_cast<double>(seen)},
                                         {"test_acc", test_acc},
                                         {"test_samples", r.test},
                                         {"seconds", secs}};
            std::printf("%s\n", line.dump().c_str());
            std::fflush(stdout);
            // Checkpoint: parameters, optimizer, then the state file that makes them valid.
            save_params(model, ckpt, dualgrad::io::Dtype::F32, {});
            torch::save(optimizer, optim_path.string());
            std::ofstream(log_path, std::ios::app) << line.dump() << "\n";
            const nlohmann::json state = {{"recipe", r.to_json()}, {"epochs_done", epoch + 1}};
            std::ofstream(state_path.string() + ".tmp") << state.dump(2) << "\n";
            fs::rename(state_path.string() + ".tmp", state_path);
        }
        if (!export_path.empty()) {
            const double test_acc = accuracy(model, test_x, test_y, 128);
            if (fs::path(export_path).has_parent_path()) fs::create_directories(fs::path(export_path).parent_path());
            save_params(model, export_path, dualgrad::io::Dtype::F16,
                        {{"arch", r.arch},
                         {"dataset", "FashionLoc v" + std::to_string(dualgrad::datasets::fashionloc_version)},
                         {"recipe", r.to_json().dump()},
                         {"test_acc_first_" + std::to_string(r.test), std::to_string(test_acc)}});
            std::printf("wrote %s (test accuracy %.4f on the first %d test samples)\n", export_path.c_str(), test_acc,
                        r.test);
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "dualgrad_train: %s\n", e.what());
        return 1;
    }
    return 0;
}

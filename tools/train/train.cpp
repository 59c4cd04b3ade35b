// dualgrad_train: trains a backbone (VGG16-GAP, InceptionV3-CAM, ResNet50-CAM, SE-ResNet50-CAM)
// at reduced width on FashionLoc with image labels only, on LibTorch's CPU, and writes its
// weights as safetensors with PyTorch state_dict names (they load in the CPU engine and in
// LibTorch).
//
//   dualgrad_train --arch resnet50 --width 0.125 --epochs 30 --out runs/resnet50
//                  --checkpoint models/fashionloc/checkpoints/resnet50.safetensors
//                  --export models/fashionloc/resnet50.safetensors
//
// The samples are generated in memory from the seed (the same bytes `dualgrad_fashionloc`
// writes to disk). Under FashionLoc version 2 (the default) every epoch draws fresh samples:
// epoch e trains on train indices [e*T, (e+1)*T), so no canvas is seen twice. After every epoch
// the tool writes one resumable checkpoint file (parameters, AdamW state, recipe, epochs done
// and the log so far, all in one safetensors file); run the same command again and it resumes
// after the last finished epoch. A checkpoint of another recipe or architecture is refused.
// --out/log.jsonl has one line per epoch: loss, train accuracy, test and shifted-test accuracy, time.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "dualgrad/datasets/fashionloc_json.hpp"
#include "dualgrad/io/idx.hpp"
#include "dualgrad/io/safetensors.hpp"
#include "dualgrad/models/torch_model.hpp"
#include "dualgrad/models/torch_train.hpp"

namespace fs = std::filesystem;
using dualgrad::datasets::FashionLocRecipe;
using dualgrad::datasets::FashionLocSplit;

namespace {

struct Recipe {
    std::string arch;
    double width = 0.125;
    std::uint64_t seed = 1;      ///< FashionLoc seed (data) and training seed (init, order, flips)
    int version = dualgrad::datasets::fashionloc_latest_version; ///< FashionLoc generator version
    int canvas = 128;
    int train = 16000;           ///< samples per epoch (version 2: fresh ones every epoch)
    int test = 1000;
    int epochs = 6;
    int batch = 64;
    double lr = 2e-3;
    double weight_decay = 5e-4;
    double dropout = 0.25;
    int warmup_steps = 100;
    std::string init; ///< warm start: tensors of the same name and shape are taken from this file
    [[nodiscard]] bool fresh() const { return version >= 2; }
    nlohmann::json to_json() const {
        nlohmann::json j = {{"arch", arch},   {"width", width},   {"seed", seed},   {"canvas", canvas},
                {"train", train}, {"test", test},     {"epochs", epochs}, {"batch", batch},
                {"lr", lr},       {"weight_decay", weight_decay}, {"dropout", dropout},
                {"warmup_steps", warmup_steps}, {"optimizer", "AdamW(betas 0.9,0.999), cosine decay after linear warm-up"},
                {"augmentation", version >= 2 ? "none beyond the generator's (version 2 draws flip, rotation, scale, tint, "
                                                "background and clutter per sample)"
                                              : "horizontal flip p=0.5"},
                {"normalization", "ImageNet mean/std"}};
        if (version >= 2) {
            j["fashionloc_version"] = version;
            j["fashionloc"] = dualgrad::datasets::recipe_to_json(
                dualgrad::datasets::fashionloc_recipe(version, seed, dualgrad::datasets::FashionLocSplit::train, canvas));
            j["samples"] = "fresh every epoch: epoch e trains on train indices [e*train, (e+1)*train)";
        }
        // Only warm starts record an init (so that earlier from-scratch runs still resume).
        if (!init.empty())
            j["init"] = "warm start from " + std::filesystem::path(init).filename().string() +
                        " (every tensor of the same name and shape), the rest Kaiming";
        return j;
    }
};

/// Samples [first, first + count) of `split` as uint8 NCHW images and int64 labels.
std::pair<at::Tensor, at::Tensor> make_split(const dualgrad::io::FashionMnist& source, const Recipe& r,
                                             FashionLocSplit split, int first, int count, int threads) {
    const FashionLocRecipe recipe = dualgrad::datasets::fashionloc_recipe(r.version, r.seed, split, r.canvas);
    const int P = r.canvas;
    auto images = at::empty({count, P, P, 3}, at::kByte);
    auto labels = at::empty({count}, at::kLong);
    std::uint8_t* img = images.data_ptr<std::uint8_t>();
    std::int64_t* lab = labels.data_ptr<std::int64_t>();
    dualgrad::datasets::generate_parallel(source, first, count, recipe, threads, [&](dualgrad::datasets::FashionLocSample s, int i) {
        const std::ptrdiff_t k = i - first;
        std::copy(s.image.pixels.begin(), s.image.pixels.end(), img + k * P * P * 3);
        lab[k] = s.label;
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

/// The parameters (and, with an optimizer, its AdamW moments) as float32 host tensors, each
/// under the name it is stored with.
struct Snapshot {
    std::vector<std::string> names;
    std::vector<at::Tensor> host;
    void add(std::string name, const at::Tensor& t) {
        names.push_back(std::move(name));
        host.push_back(t.detach().to(at::kCPU).to(at::kFloat).contiguous());
    }
    void save(const fs::path& path, dualgrad::io::Dtype dtype, const dualgrad::io::Metadata& meta) const {
        std::vector<dualgrad::io::TensorView> views;
        for (std::size_t i = 0; i < host.size(); ++i) {
            const auto& t = host[i];
            views.push_back({names[i], std::vector<std::int64_t>(t.sizes().begin(), t.sizes().end()),
                             std::span<const float>(t.data_ptr<float>(), static_cast<std::size_t>(t.numel()))});
        }
        // Written beside the target, then renamed: a run cut off mid-write leaves the old file.
        const fs::path tmp = path.string() + ".tmp";
        dualgrad::io::save_safetensors(tmp, views, dtype, meta);
        fs::rename(tmp, path);
    }
};

Snapshot parameters_of(const dualgrad::models::TorchModel& model) {
    Snapshot s;
    for (const auto& spec : dualgrad::models::parameter_specs(model.description()))
        s.add(spec.name, model.parameters().at(spec.name));
    return s;
}

std::string optimizer_key(const at::Tensor& p) { return c10::guts::to_string(p.unsafeGetTensorImpl()); }

/// The checkpoint: parameters under their own names, AdamW's moments under
/// `adamw.exp_avg.<name>` and `adamw.exp_avg_sq.<name>`, and the state in the metadata.
void save_checkpoint(const dualgrad::models::TorchModel& model, torch::optim::AdamW& optimizer, const fs::path& path,
                     const Recipe& r, int epochs_done, const std::string& log) {
    Snapshot s = parameters_of(model);
    std::int64_t step = 0;
    const auto specs = dualgrad::models::parameter_specs(model.description());
    for (const auto& spec : specs) {
        if (!spec.trainable) continue;
        const auto it = optimizer.state().find(optimizer_key(model.parameters().at(spec.name)));
        if (it == optimizer.state().end()) continue; // before the first step
        const auto& st = static_cast<const torch::optim::AdamWParamState&>(*it->second);
        s.add("adamw.exp_avg." + spec.name, st.exp_avg());
        s.add("adamw.exp_avg_sq." + spec.name, st.exp_avg_sq());
        step = st.step();
    }
    if (path.has_parent_path()) fs::create_directories(path.parent_path());
    s.save(path, dualgrad::io::Dtype::F32,
           {{"dualgrad_checkpoint", "1"},
            {"arch", r.arch},
            {"recipe", r.to_json().dump()},
            {"epochs_done", std::to_string(epochs_done)},
            {"adamw_step", std::to_string(step)},
            {"log", log}});
}

/// Reads a checkpoint's metadata field, naming the file when it is missing.
std::string checkpoint_field(const dualgrad::io::SafetensorsFile& f, const fs::path& path, const std::string& key) {
    const auto it = f.metadata().find(key);
    if (it == f.metadata().end())
        throw std::runtime_error(path.string() + ": not a dualgrad_train checkpoint (no '" + key + "' in its metadata)");
    return it->second;
}

/// Restores parameters and AdamW state from `path`; returns (epochs done, log so far). Refuses a
/// checkpoint of another architecture or of another recipe, naming what differs.
std::pair<int, std::string> load_checkpoint(dualgrad::models::TorchModel& model, torch::optim::AdamW& optimizer,
                                            const fs::path& path, const Recipe& r) {
    const auto f = dualgrad::io::SafetensorsFile::open(path);
    const std::string arch = checkpoint_field(f, path, "arch");
    if (arch != r.arch)
        throw std::runtime_error(path.string() + ": the checkpoint is of architecture '" + arch + "', not '" + r.arch +
                                 "'; use another --checkpoint");
    nlohmann::json saved;
    try {
        saved = nlohmann::json::parse(checkpoint_field(f, path, "recipe"));
    } catch (const nlohmann::json::exception& e) {
        throw std::runtime_error(path.string() + ": the checkpoint's recipe is not valid JSON (" + e.what() + ")");
    }
    const nlohmann::json want = r.to_json();
    if (saved != want) {
        std::string diff;
        for (const auto& [k, v] : want.items())
            if (!saved.contains(k) || saved[k] != v)
                diff += (diff.empty() ? "" : ", ") + k + " " + (saved.contains(k) ? saved[k].dump() : "absent") + " there, " +
                        v.dump() + " here";
        for (const auto& [k, v] : saved.items())
            if (!want.contains(k)) diff += (diff.empty() ? "" : ", ") + k + " " + v.dump() + " there, absent here";
        throw std::runtime_error(path.string() + ": the checkpoint was made under another recipe (" + diff +
                                 "); resume with its recipe or use another --checkpoint");
    }
    const int epochs_done = std::stoi(checkpoint_field(f, path, "epochs_done"));
    const std::int64_t step = std::stoll(checkpoint_field(f, path, "adamw_step"));
    model.load(f, {.allow_unused = true});
    dualgrad::models::set_trainable(model, true);
    at::NoGradGuard no_grad;
    for (const auto& spec : dualgrad::models::parameter_specs(model.description())) {
        if (!spec.trainable) continue;
        const std::string m = "adamw.exp_avg." + spec.name, v = "adamw.exp_avg_sq." + spec.name;
        if (!f.contains(m) || !f.contains(v)) continue;
        auto read = [&](const std::string& name) {
            auto data = f.read_float(name);
            return at::from_blob(data.data(), spec.shape, at::TensorOptions().dtype(at::kFloat)).clone();
        };
        auto st = std::make_unique<torch::optim::AdamWParamState>();
        st->step(step);
        st->exp_avg(read(m));
        st->exp_avg_sq(read(v));
        optimizer.state()[optimizer_key(model.parameters().at(spec.name))] = std::move(st);
    }
    return {epochs_done, checkpoint_field(f, path, "log")};
}

} // namespace

int main(int argc, char** argv) {
    CLI::App app{"Train a dualgrad backbone on FashionLoc (image labels only, LibTorch CPU)"};
    Recipe r;
    int threads = 2, final_test = 2000;
    std::string out, export_path, checkpoint, fm_dir{dualgrad::io::fashion_mnist_default_dir};
    app.add_option("--arch", r.arch, "vgg16, inception_v3, resnet50 or se_resnet50")->required();
    app.add_option("--width", r.width, "channel width multiplier")->capture_default_str();
    app.add_option("--seed", r.seed, "FashionLoc and training seed")->capture_default_str();
    app.add_option("--version", r.version, "FashionLoc generator version (1 or 2)")->capture_default_str();
    app.add_option("--size", r.canvas, "canvas side (the network's input size)")->capture_default_str();
    app.add_option("--train", r.train, "training samples per epoch")->check(CLI::PositiveNumber)->capture_default_str();
    app.add_option("--test", r.test, "test samples for the accuracy in the log")->check(CLI::PositiveNumber)->capture_default_str();
    app.add_option("--final-test", final_test, "test and shifted-test samples measured at --export")
        ->check(CLI::PositiveNumber)->capture_default_str();
    app.add_option("--epochs", r.epochs)->check(CLI::PositiveNumber)->capture_default_str();
    app.add_option("--batch", r.batch)->check(CLI::PositiveNumber)->capture_default_str();
    app.add_option("--lr", r.lr, "peak learning rate")->capture_default_str();
    app.add_option("--weight-decay", r.weight_decay)->capture_default_str();
    app.add_option("--dropout", r.dropout, "probability at the description's dropout layers")->capture_default_str();
    app.add_option("--warmup", r.warmup_steps, "linear warm-up steps")->capture_default_str();
    app.add_option("--threads", threads)->check(CLI::Range(1, 256))->capture_default_str();
    app.add_option("--fashion-mnist", fm_dir, "folder of the Fashion-MNIST IDX files")->capture_default_str();
    app.add_option("--out", out, "run folder: log.jsonl (and the checkpoint unless --checkpoint)")->required();
    app.add_option("--checkpoint", checkpoint, "the resumable checkpoint file (default OUT/checkpoint.safetensors)");
    app.add_option("--export", export_path, "write the final weights here (F16 safetensors)");
    app.add_option("--init", r.init, "warm start: take every tensor of the same name and shape from this safetensors file");
    CLI11_PARSE(app, argc, argv);

    try {
        (void)dualgrad::datasets::fashionloc_recipe(r.version, r.seed, FashionLocSplit::train, r.canvas); // checks the version
        if (static_cast<std::int64_t>(r.epochs) * r.train > std::numeric_limits<int>::max())
            throw std::runtime_error("--epochs x --train exceeds the generator's index range");
        at::set_num_threads(threads);
        fs::create_directories(out);
        const fs::path ckpt = checkpoint.empty() ? fs::path(out) / "checkpoint.safetensors" : fs::path(checkpoint);
        const fs::path log_path = fs::path(out) / "log.jsonl";

        dualgrad::models::ModelConfig mc;
        mc.num_classes = 10;
        mc.width = r.width;
        dualgrad::models::TorchModel model(dualgrad::models::describe(r.arch, mc));
        auto gen = at::make_generator<at::CPUGeneratorImpl>(r.seed);
        dualgrad::models::init_parameters(model, gen);
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
        dualgrad::models::set_trainable(model, true);
        std::int64_t n_params = 0;
        for (const auto& p : dualgrad::models::trainable_parameters(model)) n_params += p.numel();
        torch::optim::AdamW optimizer(dualgrad::models::trainable_parameters(model),
                                      torch::optim::AdamWOptions(r.lr).weight_decay(r.weight_decay));

        int start_epoch = 0;
        std::string log;
        if (fs::exists(ckpt)) {
            std::tie(start_epoch, log) = load_checkpoint(model, optimizer, ckpt, r);
            std::printf("resuming %s after epoch %d from %s\n", r.arch.c_str(), start_epoch, ckpt.c_str());
        }

        const auto t0 = std::chrono::steady_clock::now();
        const auto train_src = dualgrad::io::load_fashion_mnist(dualgrad::io::FashionMnistSplit::train, fm_dir);
        const auto test_src = dualgrad::io::load_fashion_mnist(dualgrad::io::FashionMnistSplit::test, fm_dir);
        at::Tensor train_x, train_y;
        if (!r.fresh()) std::tie(train_x, train_y) = make_split(train_src, r, FashionLocSplit::train, 0, r.train, threads);
        auto [test_x, test_y] = make_split(test_src, r, FashionLocSplit::test, 0, r.test, threads);
        at::Tensor shifted_x, shifted_y;
        if (r.version >= 2) std::tie(shifted_x, shifted_y) = make_split(test_src, r, FashionLocSplit::shifted, 0, r.test, threads);
        std::printf("%s width %g: %lld parameters; FashionLoc v%d, %d samples per epoch%s, test %d, in %.1f s\n",
                    r.arch.c_str(), r.width, static_cast<long long>(n_params), r.version, r.train,
                    r.fresh() ? " (fresh each epoch)" : "", r.test,
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());

        const int steps_per_epoch = (r.train + r.batch - 1) / r.batch;
        const int total_steps = steps_per_epoch * r.epochs;
        for (int epoch = start_epoch; epoch < r.epochs; ++epoch) {
            const auto te = std::chrono::steady_clock::now();
            if (r.fresh())
                std::tie(train_x, train_y) = make_split(train_src, r, FashionLocSplit::train, epoch * r.train, r.train, threads);
            const double data_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - te).count();
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
                if (!r.fresh()) { // version 1's augmentation; version 2's generator flips by itself
                    const auto f = flips.index_select(0, idx).view({-1, 1, 1, 1});
                    x = at::where(f, x.flip({3}), x);
                }
                const auto y = train_y.index_select(0, idx);
                optimizer.zero_grad();
                const auto logits = dualgrad::models::forward_train(model, normalize(x), r.dropout);
                const auto loss = at::cross_entropy_loss(logits, y);
                loss.backward();
                optimizer.step();
                loss_sum += loss.item<double>() * static_cast<double>(idx.size(0));
                correct += logits.argmax(1).eq(y).sum().item<std::int64_t>();
                seen += idx.size(0);
                if ((s + 1) % 50 == 0) {
                    std::printf("  epoch %d step %d/%d loss %.4f acc %.3f (%.1f s)\n", epoch + 1, s + 1, steps_per_epoch,
                                loss_sum / static_cast<double>(seen), static_cast<double>(correct) / static_cast<double>(seen),
                                std::chrono::duration<double>(std::chrono::steady_clock::now() - te).count());
                    std::fflush(stdout);
                }
            }
            nlohmann::json line = {{"epoch", epoch + 1},
                                   {"train_loss", loss_sum / static_cast<double>(seen)},
                                   {"train_acc", static_cast<double>(correct) / static_cast<double>(seen)},
                                   {"test_acc", accuracy(model, test_x, test_y, 128)},
                                   {"test_samples", r.test}};
            if (r.version >= 2) line["shifted_acc"] = accuracy(model, shifted_x, shifted_y, 128);
            line["data_seconds"] = data_seconds;
            line["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - te).count();
            std::printf("%s\n", line.dump().c_str());
            std::fflush(stdout);
            log += line.dump() + "\n";
            save_checkpoint(model, optimizer, ckpt, r, epoch + 1, log);
            std::ofstream(log_path.string() + ".tmp") << log;
            fs::rename(log_path.string() + ".tmp", log_path);
        }
        if (!export_path.empty()) {
            // The recorded accuracy: the first --final-test samples of test (and shifted).
            auto [fx, fy] = make_split(test_src, r, FashionLocSplit::test, 0, final_test, threads);
            const double test_acc = accuracy(model, fx, fy, 128);
            dualgrad::io::Metadata meta = {{"arch", r.arch},
                                           {"dataset", "FashionLoc v" + std::to_string(r.version)},
                                           {"fashionloc_version", std::to_string(r.version)},
                                           {"input_size", std::to_string(r.canvas)},
                                           {"large_feature_map",
                                            mc.large_feature_map.value_or(dualgrad::models::default_large_feature_map(r.arch))
                                                ? "true"
                                                : "false"},
                                           {"width", std::to_string(r.width)},
                                           {"recipe", r.to_json().dump()},
                                           {"test_acc_first_" + std::to_string(final_test), std::to_string(test_acc)}};
            std::printf("test accuracy %.4f on the first %d test samples\n", test_acc, final_test);
            if (r.version >= 2) {
                auto [sx, sy] = make_split(test_src, r, FashionLocSplit::shifted, 0, final_test, threads);
                const double shifted_acc = accuracy(model, sx, sy, 128);
                meta["shifted_acc_first_" + std::to_string(final_test)] = std::to_string(shifted_acc);
                std::printf("shifted-test accuracy %.4f on the first %d shifted samples\n", shifted_acc, final_test);
            }
            if (fs::path(export_path).has_parent_path()) fs::create_directories(fs::path(export_path).parent_path());
            parameters_of(model).save(export_path, dualgrad::io::Dtype::F16, meta);
            std::printf("wrote %s\n", export_path.c_str());
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "dualgrad_train: %s\n", e.what());
        return 1;
    }
    return 0;
}

#pragma once
// `dualgrad maps --arch A --weights W --input X.npy --layers L1[,L2...] --method M
//                [--target top1|topk:K|class:C|gt:FILE] [--cost reference|xent] [--alpha A] --out PREFIX`
// Raw maps at feature resolution for an already preprocessed float32 NCHW batch:
//   PREFIX.<layer>.npy   float32 [N, T, h, w]   (layer name with '/' -> '_')
//   PREFIX.logits.npy    float32 [N, classes]
//   PREFIX.targets.npy   int64   [N, T]
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include <dualgrad/eval/aug_smooth.hpp>
#include <dualgrad/io/npy.hpp>

#include "common.hpp"
#include "job.hpp"
#include "output_folder.hpp"

namespace dualgrad::cli {

inline void add_maps(CLI::App& app) {
    struct Options {
        VariantOption variant;
        std::string arch, weights, input, out, target = "top1", cost = "reference", backend = "cpu";
        std::vector<std::string> layers, methods;
        float alpha = 10.0f;
        int threads = 0;
        bool aug_smooth = false;
        MethodSettingsCli method_settings;
    };
    auto opt = std::make_shared<Options>();
    auto* cmd = app.add_subcommand("maps", "Raw class maps at feature resolution for a preprocessed float32 NCHW batch");
    cmd->add_option("--arch", opt->arch, "Architecture: vgg16, inception_v3, resnet50, se_resnet50")->required();
    cmd->add_option("--weights", opt->weights, "safetensors file with PyTorch state_dict names")->required();
    cmd->add_option("--input", opt->input, "float32 .npy of shape [N, 3, H, W], already normalized")->required();
    cmd->add_option("--layers", opt->layers, "Layers (module paths or paper aliases), comma-separated")
        ->required()
        ->delimiter(',');
    cmd->add_option("--method", opt->methods,
                    method_names_text() + ", or all (comma-separated for several: PREFIX.<method>.<layer>.npy)")
        ->required()
        ->delimiter(',');
    cmd->add_option("--target", opt->target, "top1, topk:K, class:C, or gt:FILE (a class per line, or image_id,class)")
        ->capture_default_str();
    cmd->add_option("--cost", opt->cost, "DGL cost: reference (p - alpha e_c) or xent (alpha (p - e_c))")->capture_default_str();
    cmd->add_option("--alpha", opt->alpha, "DGL's alpha")->capture_default_str();
    cmd->add_option("--threads", opt->threads, "Engine threads (0: all cores)")->capture_default_str();
    add_backend_option(cmd, opt->backend);
    opt->variant.add(cmd);
    add_method_settings_options(cmd, opt->method_settings);
    cmd->add_flag("--aug-smooth", opt->aug_smooth,
                  "pytorch-grad-cam's aug_smooth: the maps of x times 0.9, 1, 1.1, each as is and mirrored, scaled to "
                  "[0, 1] and averaged (six passes)");
    cmd->add_option("--out", opt->out, "Output prefix")->required();
    cmd->callback([opt] {
        auto model = make_model(opt->backend, opt->arch, opt->weights, opt->threads, opt->variant.value());
        model->set_method_settings(opt->method_settings.value());
        const auto methods = parse_methods(*model, opt->methods);
        const auto cost = parse_cost(opt->cost, opt->alpha);
        check_writable_parent(opt->out + ".logits.npy", "--out"); // before the work
        const io::NpyArray arr = io::read_npy(opt->input);
        if (arr.dtype() != io::NpyDtype::f4 || arr.rank() != 4)
            detail::raise<io_error>(opt->input, ": expected a float32 array of rank 4 [N, 3, H, W], got ", arr.describe());
        const auto& s = arr.shape();
        const auto values = arr.as_float();
        for (std::size_t i = 0; i < values.size(); ++i)
            if (!std::isfinite(values[i]))
                detail::raise<value_error>(opt->input, ": non-finite value at flat index ", i);
        io::NchwTensor input;
        input.shape = {s[0], s[1], s[2], s[3]};
        input.values = values;
        // With `all`, a method defined at the CAM layer only (cam) is left out at the other layers.
        const bool all = std::find(opt->methods.begin(), opt->methods.end(), "all") != opt->methods.end();
        const TargetRule rule = parse_target(opt->target, s[0]);
        const auto result = opt->aug_smooth ? eval::aug_smooth_maps(*model, input, opt->layers, methods, rule, cost, all)
                                            : model->maps(input, opt->layers, methods, rule, cost, all);
        const std::int64_t N = result.targets.samples(), T = result.targets.slots();
        io::write_npy(opt->out + ".logits.npy", std::vector<float>(result.logits.values().begin(), result.logits.values().end()),
                      {N, std::int64_t{result.logits.classes()}});
        std::vector<std::int64_t> targets;
        for (int n = 0; n < N; ++n)
            for (int t = 0; t < T; ++t) targets.push_back(result.targets(n, t));
        io::write_npy(opt->out + ".targets.npy", targets, {N, T});
        for (std::size_t m = 0; m < methods.size(); ++m)
            for (std::size_t l = 0; l < opt->layers.size(); ++l) {
                const auto& per_slot = result.maps[m][l];
                if (per_slot.empty()) continue; // skipped (see above)
                const int h = per_slot[0][0].height(), w = per_slot[0][0].width();
                std::vector<float> out;
                out.reserve(static_cast<std::size_t>(N * T * h * w));
                for (int n = 0; n < N; ++n)
                    for (int t = 0; t < T; ++t) {
                        const auto& map = per_slot[static_cast<std::size_t>(t)][static_cast<std::size_t>(n)];
                        out.insert(out.end(), map.values().begin(), map.values().end());
                    }
                const std::string name = opt->out + (methods.size() > 1 ? "." + methods[m] : "") +
                                         "." + layer_file_name(opt->layers[l]) + ".npy";
                io::write_npy(name, out, {N, T, std::int64_t{h}, std::int64_t{w}});
                double sum = 0;
                for (float v : out) sum += std::abs(v);
                std::printf("%s: [%lld, %lld, %d, %d], sum |v| %.4g\n", name.c_str(), static_cast<long long>(N),
                            static_cast<long long>(T), h, w, sum);
            }
    });
}

} // namespace dualgrad::cli

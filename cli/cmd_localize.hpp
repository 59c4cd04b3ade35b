#pragma once
// `dualgrad localize [--arch A --weights W] [--layer L] [--method M] IMAGE... --out DIR`
// One box per image (the top-1 class, or --target): DIR/boxes.json and DIR/<image stem>.png, the
// heatmap overlay with the box. Without --arch/--weights it uses the bundled FashionLoc model
// (and, without images, its bundled sample images).
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <dualgrad/io/image.hpp>
#include <dualgrad/localize/box_extractor.hpp>

#include "bundled.hpp"
#include "common.hpp"
#include "job.hpp"

namespace dualgrad::cli {

inline void add_localize(CLI::App& app) {
    struct Options {
        std::string arch, weights, layer, method, out, target = "top1", cost = "reference", class_names_file,
            backend = "cpu", montage;
        std::vector<std::string> images;
        std::optional<double> threshold;
        std::optional<int> size;
        float alpha = 10.0f;
        int batch = 16, threads = 0;
        PreprocessCli pre;
    };
    auto opt = std::make_shared<Options>();
    auto* cmd = app.add_subcommand(
        "localize", "Localize objects: a box per image and target class, boxes.json and a heatmap overlay per image");
    cmd->add_option("images", opt->images, "Images (PNG or JPEG); default: the bundled samples")->check(CLI::ExistingFile);
    cmd->add_option("--arch", opt->arch, "Architecture: vgg16, inception_v3, resnet50, se_resnet50 (default: bundled model)");
    cmd->add_option("--weights", opt->weights, "safetensors file (default: the bundled FashionLoc model)");
    cmd->add_option("--layer", opt->layer, "Layer, module path or paper alias (default: the model's recorded layer, "
                                           "else the CAM layer)");
    cmd->add_option("--method", opt->method, "cam, gradcam, gradcampp, xgradcam, hirescam, gradcam-elementwise, "
                                             "layercam, pcs or dgl (default: dgl)");
    cmd->add_option("--target", opt->target, "top1 or topk:K")->capture_default_str();
    cmd->add_option("--threshold", opt->threshold,
                    "CAM threshold of the largest-contour box (wsolevaluation protocol; default: the bundled "
                    "model's best threshold, else 0.2)")
        ->check(CLI::Range(0.0, 1.0));
    cmd->add_option("--cost", opt->cost, "DGL cost: reference or xent")->capture_default_str();
    cmd->add_option("--alpha", opt->alpha, "DGL's alpha")->capture_default_str();
    cmd->add_option("--class-names", opt->class_names_file, "Text file with one class name per line");
    cmd->add_option("--montage", opt->montage, "Also write all overlays side by side (4 per row) to this PNG");
    cmd->add_option("--batch", opt->batch, "Images per forward pass")->capture_default_str()->check(CLI::PositiveNumber);
    cmd->add_option("--threads", opt->threads, "Engine threads (0: all cores)")->capture_default_str();
    opt->pre.add(cmd);
    add_backend_option(cmd, opt->backend);
    cmd->add_option("--out", opt->out, "Output folder")->required();
    cmd->callback([opt, cmd] {
        if (opt->arch.empty() != opt->weights.empty())
            detail::raise<value_error>("--arch and --weights go together (give both, or neither for the bundled model)");
        std::optional<BundledModel> bundled;
        std::string arch = opt->arch;
        std::filesystem::path weights = opt->weights;
        std::vector<std::string> class_names;
        if (arch.empty()) {
            bundled = bundled_model();
            arch = bundled->arch;
            weights = bundled->weights;
            class_names = bundled->class_names;
        }
        const std::string method_name = !opt->method.empty() ? opt->method : bundled ? bundled->method : "dgl";
        const Method method = parse_method(method_name);
        std::vector<std::string> images = opt->images;
        if (images.empty()) {
            if (!bundled) detail::raise<value_error>("no image given (the bundled samples go with the bundled model)");
            for (const auto& s : bundled->samples) images.push_back(s.string());
        }
        if (!opt->class_names_file.empty()) {
            std::ifstream in(opt->class_names_file);
            if (!in) detail::raise<io_error>("--class-names: cannot open '", opt->class_names_file, "'");
            class_names.clear();
            for (std::string line; std::getline(in, line);) class_names.push_back(line);
        }
        auto runner = make_runner(opt->backend, arch, weights, opt->threads);
        const std::string layer = !opt->layer.empty() ? opt->layer
                                  : bundled          ? bundled->layer
                                                     : runner->description().cam_layer;
        const double threshold = opt->threshold ? *opt->threshold : bundled ? bundled->threshold : 0.2;
        PreprocessCli pre = opt->pre;
        if (bundled && cmd->count("--size") == 0) pre.size = bundled->size;
        const auto cost = parse_cost(opt->cost, opt->alpha);

        std::filesystem::create_directories(opt->out);
        nlohmann::json doc = {{"arch", arch},          {"weights", weights.string()}, {"layer", layer}, {"backend", opt->backend},
                              {"method", method_name}, {"threshold", threshold},      {"input_size", pre.size},
                              {"protocol", "wsolevaluation largest contour (bicubic resize to the image, min-max)"},
                              {"images", nlohmann::json::array()}};
        BoxExtractor<WsolLargestContour> extractor(WsolLargestContour{0.01, {threshold}});
        std::set<std::string> used_names;
        std::vector<io::Image> overlays;
        for (std::size_t first = 0; first < images.size(); first += static_cast<std::size_t>(opt->batch)) {
            const std::size_t count = std::min(images.size() - first, static_cast<std::size_t>(opt->batch));
            std::vector<io::Image> batch;
            for (std::size_t i = 0; i < count; ++i) batch.push_back(io::read_image(images[first + i]));
            const auto maps = runner->run(io::preprocess(batch, pre.options()), {layer}, {method},
                                          parse_target(opt->target, static_cast<std::int64_t>(count)), cost);
            const auto& per_slot = maps.maps[0][0];
            std::vector<float> probs(static_cast<std::size_t>(maps.logits.classes()));
            for (std::size_t i = 0; i < count; ++i) {
                const auto& img = batch[i];
                const int n = static_cast<int>(i);
                softmax(maps.logits.row(n), probs);
                nlohmann::json entry = {{"image", images[first + i]}, {"width", img.width}, {"height", img.height},
                                        {"objects", nlohmann::json::array()}};
                std::optional<Box> first_box;
                const ScoreMap* first_map = nullptr;
                for (int t = 0; t < maps.targets.slots(); ++t) {
                    const int c = maps.targets(n, t);
                    const auto& map = per_slot[static_cast<std::size_t>(t)][i];
                    const Box b = extractor.boxes_per_threshold(map, {img.height, img.width}).at(0).at(0);
                    nlohmann::json o = {{"class", c}, {"score", probs[static_cast<std::size_t>(c)]},
                                        {"box", {b.x0, b.y0, b.x1, b.y1}}};
                    if (c < static_cast<int>(class_names.size())) o["class_name"] = class_names[static_cast<std::size_t>(c)];
                    entry["objects"].push_back(o);
                    if (t == 0) {
                        first_box = b;
                        first_map = &map;
                    }
                }
                // The overlay of the first target: <stem>.png, made unique within the folder.
                std::string stem = std::filesystem::path(images[first + i]).stem().string();
                std::string name = stem + ".png";
                for (int k = 2; !used_names.insert(name).second; ++k) name = stem + "_" + std::to_string(k) + ".png";
                overlays.push_back(io::heatmap_overlay(img, *first_map, first_box));
                io::write_png(std::filesystem::path(opt->out) / name, overlays.back());
                entry["overlay"] = name;
                const auto& o0 = entry["objects"][0];
                std::printf("%s: class %d%s (p = %.3f), box (%d, %d, %d, %d) -> %s\n", images[first + i].c_str(),
                            o0["class"].get<int>(),
                            o0.contains("class_name") ? (" " + o0["class_name"].get<std::string>()).c_str() : "",
                            o0["score"].get<double>(), first_box->x0, first_box->y0, first_box->x1, first_box->y1,
                            (std::filesystem::path(opt->out) / name).c_str());
                doc["images"].push_back(std::move(entry));
            }
        }
        std::ofstream(std::filesystem::path(opt->out) / "boxes.json") << doc.dump(1) << "\n";
        if (!opt->montage.empty()) io::write_png(opt->montage, io::tile_images(overlays));
        std::printf("wrote %s\n", (std::filesystem::path(opt->out) / "boxes.json").c_str());
    });
}

} // namespace dualgrad::cli

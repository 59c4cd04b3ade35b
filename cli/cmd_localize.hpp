#pragma once
// `dualgrad localize [--arch A --weights W] [--layer L] [--method M] IMAGE... --out DIR`
// One box per image (the top-1 class, or --target): DIR/boxes.json and DIR/<image stem>.png, the
// heatmap overlay with the box. Without --arch/--weights it uses the bundled FashionLoc model
// (and, without images, its bundled sample images).
#include <cstdint>
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
#include <dualgrad/io/detail/files.hpp>
#include <dualgrad/pipeline.hpp>

#include "bundled.hpp"
#include "common.hpp"
#include "job.hpp"
#include "output_folder.hpp"

namespace dualgrad::cli {

inline void add_localize(CLI::App& app) {
    struct Options {
        VariantOption variant;
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
    cmd->add_option("--method", opt->method, method_names_text() + " (default: dgl)");
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
    opt->variant.add(cmd);
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
        auto model = make_model(opt->backend, arch, weights, opt->threads, opt->variant.value());
        const std::vector<std::string> methods = parse_methods(*model, {method_name});
        const std::string layer = !opt->layer.empty() ? opt->layer
                                  : bundled          ? bundled->layer
                                                     : model->cam_layer();
        const double threshold = opt->threshold ? *opt->threshold : bundled ? bundled->threshold : 0.2;
        PreprocessCli pre = opt->pre;
        if (cmd->count("--size") == 0) {
            if (bundled) pre.size = bundled->size;
            else if (model->input_size() > 0) pre.size = model->input_size(); // recorded in the weights
        }
        const auto cost = parse_cost(opt->cost, opt->alpha);

        // Checked before the work; boxes.json says the run completed, and lists its overlays.
        OutputFolder folder(opt->out, "--out", "boxes.json", [](const std::filesystem::path& marker) {
            std::vector<std::string> names;
            const auto bytes = io::detail::read_file_bytes(marker, std::uint64_t{256} << 20);
            const auto old = nlohmann::json::parse(reinterpret_cast<const char*>(bytes.data()),
                                                   reinterpret_cast<const char*>(bytes.data()) + bytes.size(), nullptr, false);
            if (old.is_object() && old.contains("images") && old["images"].is_array())
                for (const auto& e : old["images"])
                    if (e.is_object() && e.contains("overlay") && e["overlay"].is_string())
                        names.push_back(e["overlay"].get<std::string>());
            return names;
        });
        if (!opt->montage.empty()) check_writable_parent(opt->montage, "--montage");
        nlohmann::json doc = {{"arch", arch},          {"weights", weights.string()}, {"layer", layer}, {"backend", opt->backend},
                              {"method", method_name}, {"threshold", threshold},      {"input_size", pre.size},
                              {"protocol", "wsolevaluation largest contour (bicubic resize to the image, min-max)"},
                              {"images", nlohmann::json::array()}};
        std::set<std::string> used_names;
        std::vector<io::Image> overlays;
        for (std::size_t first = 0; first < images.size(); first += static_cast<std::size_t>(opt->batch)) {
            const std::size_t count = std::min(images.size() - first, static_cast<std::size_t>(opt->batch));
            std::vector<io::Image> batch;
            std::vector<ImageSize> sizes;
            for (std::size_t i = 0; i < count; ++i) {
                batch.push_back(io::read_image(images[first + i]));
                sizes.push_back({batch.back().height, batch.back().width});
            }
            auto maps = model->maps(io::preprocess(batch, pre.options()), {layer}, methods,
                                    parse_target(opt->target, static_cast<std::int64_t>(count)), cost);
            const auto found = localizations(maps.logits, maps.targets, std::move(maps.maps[0][0]), sizes, threshold);
            const auto T = static_cast<std::size_t>(maps.targets.slots());
            for (std::size_t i = 0; i < count; ++i) {
                const auto& img = batch[i];
                nlohmann::json entry = {{"image", images[first + i]}, {"width", img.width}, {"height", img.height},
                                        {"objects", nlohmann::json::array()}};
                for (std::size_t t = 0; t < T; ++t) {
                    const Localization& f = found[i * T + t];
                    nlohmann::json o = {{"class", f.class_id}, {"score", f.probability},
                                        {"box", {f.box.x0, f.box.y0, f.box.x1, f.box.y1}}};
                    if (f.class_id < static_cast<int>(class_names.size()))
                        o["class_name"] = class_names[static_cast<std::size_t>(f.class_id)];
                    entry["objects"].push_back(o);
                }
                // The overlay of the first target: <stem>.png, made unique within the folder.
                const Localization& f0 = found[i * T];
                std::string stem = std::filesystem::path(images[first + i]).stem().string();
                std::string name = stem + ".png";
                for (int k = 2; !used_names.insert(name).second; ++k) name = stem + "_" + std::to_string(k) + ".png";
                overlays.push_back(io::heatmap_overlay(img, f0.map, f0.box));
                io::write_png(folder.staged(name), overlays.back());
                entry["overlay"] = name;
                const auto& o0 = entry["objects"][0];
                std::printf("%s: class %d%s (p = %.3f), box (%d, %d, %d, %d) -> %s\n", images[first + i].c_str(),
                            f0.class_id, o0.contains("class_name") ? (" " + o0["class_name"].get<std::string>()).c_str() : "",
                            static_cast<double>(f0.probability), f0.box.x0, f0.box.y0, f0.box.x1, f0.box.y1,
                            (std::filesystem::path(opt->out) / name).c_str());
                doc["images"].push_back(std::move(entry));
            }
        }
        io::detail::write_file_text(folder.staged("boxes.json"), doc.dump(1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
        folder.commit();
        if (!opt->montage.empty()) io::write_png(opt->montage, io::tile_images(overlays));
        std::printf("wrote %s\n", (std::filesystem::path(opt->out) / "boxes.json").c_str());
    });
}

} // namespace dualgrad::cli

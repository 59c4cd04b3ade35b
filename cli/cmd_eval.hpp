#pragma once
// `dualgrad eval --metadata DIR --images DIR --arch A --weights W --layers L1,L2,...
//                --methods cam,gradcam,layercam,pcs,dgl [--tencrop] [--shard k/N] --out DIR`
// The whole WSOL protocol on a dataset in wsolevaluation's layout: every method at every layer
// from one forward and one backward pass per batch (the ground-truth class's maps), boxes under
// the chosen protocols, and the metrics (MaxBoxAcc, MaxBoxAccV2, top-1 / top-5 / GT-known loc,
// PxAP with --mask-metadata). Writes metrics.json, table.md and report.html (one folder per
// protocol when several are asked for).
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <numeric>
#include <optional>
#include <string>
#include <unistd.h>
#include <vector>

#include <CLI/CLI.hpp>

#include <dualgrad/io/datasets.hpp>
#include <dualgrad/io/image.hpp>
#include <dualgrad/io/masks.hpp>
#include <dualgrad/localize/box_extractor.hpp>
#include <dualgrad/metrics/loc_metrics.hpp>
#include <dualgrad/shard.hpp>
#include <dualgrad/thresholds.hpp>

#include "common.hpp"
#include "eval_output.hpp"
#include "job.hpp"
#include "report.hpp"

namespace dualgrad::cli {

/// A progress line on stderr: done/total, rate and time left (redrawn in place on a terminal,
/// a line every 10 % otherwise).
class ProgressBar {
public:
    explicit ProgressBar(std::size_t total) : total_(total), start_(clock::now()), tty_(isatty(2) != 0) {}
    void update(std::size_t done) {
        const double secs = std::chrono::duration<double>(clock::now() - start_).count();
        const double rate = secs > 0 ? static_cast<double>(done) / secs : 0.0;
        const double left = rate > 0 ? static_cast<double>(total_ - done) / rate : 0.0;
        const std::size_t decile = total_ ? done * 10 / total_ : 10;
        if (!tty_ && decile == last_decile_ && done != total_) return;
        last_decile_ = decile;
        const int width = 30;
        const int filled = total_ ? static_cast<int>(static_cast<double>(width) * static_cast<double>(done) / static_cast<double>(total_)) : width;
        std::string bar(static_cast<std::size_t>(filled), '=');
        bar.resize(static_cast<std::size_t>(width), ' ');
        std::fprintf(stderr, "%s[%s] %zu/%zu images  %.1f img/s  %02d:%02d left%s", tty_ ? "\r" : "", bar.c_str(), done,
                     total_, rate, static_cast<int>(left) / 60, static_cast<int>(left) % 60,
                     tty_ && done != total_ ? "" : "\n");
        std::fflush(stderr);
    }

private:
    using clock = std::chrono::steady_clock;
    std::size_t total_;
    clock::time_point start_;
    bool tty_;
    std::size_t last_decile_ = static_cast<std::size_t>(-1);
};

/// One evaluation protocol's state: its metrics per run and its box extractors.
struct ProtocolState {
    std::string name; // wsolevaluation or layercam
    EvalRuns runs;
};

inline void add_eval(CLI::App& app) {
    struct Options {
        std::string metadata, images, arch, weights, out, mask_metadata, masks, shard, cost = "reference", backend = "cpu";
        std::vector<std::string> layers, methods{"cam", "gradcam", "layercam", "pcs", "dgl"};
        std::vector<std::string> protocols{"wsolevaluation"};
        std::vector<double> ious{30, 50, 70};
        std::optional<int> shard_count;
        double interval = 0.01;
        float alpha = 10.0f;
        bool tencrop = false;
        int batch = 16, threads = 0, examples = 4;
        std::optional<int> limit;
        PreprocessCli pre;
    };
    auto opt = std::make_shared<Options>();
    auto* cmd = app.add_subcommand("eval", "Evaluate methods at layers on a wsolevaluation-layout dataset: "
                                           "metrics.json, table.md, report.html");
    cmd->add_option("--metadata", opt->metadata, "Metadata folder (image_ids.txt, class_labels.txt, image_sizes.txt, "
                                                 "localization.txt with boxes)")
        ->required();
    cmd->add_option("--images", opt->images, "Image root: image ids are paths relative to it")->required();
    cmd->add_option("--arch", opt->arch, "Architecture: vgg16, inception_v3, resnet50, se_resnet50")->required();
    cmd->add_option("--weights", opt->weights, "safetensors file")->required();
    cmd->add_option("--layers", opt->layers, "Layers, comma-separated (default: the model's default layers)")->delimiter(',');
    cmd->add_option("--methods", opt->methods, "Methods, comma-separated")->delimiter(',')->capture_default_str();
    cmd->add_option("--protocol", opt->protocols,
                    "wsolevaluation (min-max, threshold sweep: MaxBoxAcc, MaxBoxAccV2, best-threshold loc errors) "
                    "and/or layercam (ReLU, divide by max, threshold 0.15, largest rectangle), comma-separated")
        ->delimiter(',')
        ->capture_default_str();
    cmd->add_option("--interval", opt->interval, "CAM threshold interval (wsolevaluation protocol)")->capture_default_str();
    cmd->add_option("--iou", opt->ious, "IoU thresholds (percent) of MaxBoxAccV2")->delimiter(',')->capture_default_str();
    cmd->add_option("--mask-metadata", opt->mask_metadata,
                    "Metadata folder whose localization.txt lists masks (wsolevaluation's OpenImages format), for PxAP");
    cmd->add_option("--masks", opt->masks, "Mask root the mask paths are relative to");
    cmd->add_flag("--tencrop", opt->tencrop, "10-crop: resize to --tencrop-resize, 4 corners + centre and their flips; "
                                             "maps averaged in image coordinates, logits averaged");
    cmd->add_option("--shard", opt->shard, "k/N: evaluate images i with i % N == k; 'auto' from Slurm or Kubernetes");
    cmd->add_option("--shard-count", opt->shard_count, "Shard count for --shard auto in a Kubernetes Indexed Job");
    cmd->add_option("--cost", opt->cost, "DGL cost: reference or xent")->capture_default_str();
    cmd->add_option("--alpha", opt->alpha, "DGL's alpha")->capture_default_str();
    cmd->add_option("--batch", opt->batch, "Images per forward pass")->capture_default_str()->check(CLI::PositiveNumber);
    cmd->add_option("--threads", opt->threads, "Engine threads (0: all cores)")->capture_default_str();
    cmd->add_option("--limit", opt->limit, "Evaluate only the first N images of the metadata (before sharding)");
    cmd->add_option("--examples", opt->examples, "Overlay examples in report.html (first images of the shard)")
        ->capture_default_str();
    opt->pre.add(cmd);
    add_backend_option(cmd, opt->backend);
    cmd->add_option("--out", opt->out, "Output folder")->required();
    cmd->callback([opt] {
        if (opt->mask_metadata.empty() != opt->masks.empty())
            detail::raise<value_error>("--mask-metadata and --masks go together");
        const Shard shard = opt->shard.empty()  ? Shard{}
                            : opt->shard == "auto" ? Shard::from_environment(opt->shard_count)
                                                   : Shard::parse(opt->shard);
        const auto methods = parse_methods(opt->methods);
        const auto cost = parse_cost(opt->cost, opt->alpha);
        for (const auto& p : opt->protocols)
            if (p != "wsolevaluation" && p != "layercam")
                detail::raise<value_error>("--protocol: unknown protocol '", p, "'; valid: wsolevaluation, layercam");
        io::Dataset ds = io::read_wsol_metadata(opt->metadata);
        std::optional<io::Dataset> mask_ds;
        if (!opt->mask_metadata.empty()) mask_ds = io::read_wsol_metadata(opt->mask_metadata);
        auto runner = make_runner(opt->backend, opt->arch, opt->weights, opt->threads);
        std::vector<std::string> layers = opt->layers;
        if (layers.empty()) layers = runner->description().default_layers;
        for (const auto& l : layers) (void)runner->node(l); // unknown layer: error with the valid names
        // CAM is defined at the CAM layer only: its run is "cam@<cam layer>".
        const bool with_cam = std::find(methods.begin(), methods.end(), Method::cam) != methods.end();
        const std::string cam_layer = runner->description().cam_layer;
        const int cam_node = runner->node(cam_layer);
        std::vector<std::string> all_layers = layers;
        if (with_cam && std::none_of(layers.begin(), layers.end(), [&](const std::string& l) { return runner->node(l) == cam_node; }))
            all_layers.push_back(cam_layer);

        std::vector<std::size_t> todo;
        const std::size_t n_all = opt->limit ? std::min<std::size_t>(ds.size(), static_cast<std::size_t>(*opt->limit)) : ds.size();
        for (std::size_t i = 0; i < n_all; ++i)
            if (shard.owns(static_cast<long long>(i))) todo.push_back(i);
        for (std::size_t i : todo) {
            const auto& im = ds.images[i];
            if (im.label < 0) detail::raise<value_error>(opt->metadata, ": image '", im.id, "' has no class label");
            if (im.boxes.empty()) detail::raise<value_error>(opt->metadata, ": image '", im.id, "' has no box");
        }

        std::vector<ProtocolState> states;
        for (const auto& p : opt->protocols) {
            ProtocolState st{p, {}};
            st.runs.arch = opt->arch;
            st.runs.protocol = p;
            for (Method m : methods) st.runs.methods.emplace_back(name(m));
            st.runs.layers = all_layers;
            const std::vector<double> thresholds =
                p == "wsolevaluation" ? cam_thresholds(opt->interval, "--interval") : std::vector<double>{0.15};
            for (Method m : methods) {
                for (const auto& l : all_layers)
                    if (m != Method::cam || runner->node(l) == cam_node)
                        st.runs.runs.emplace(std::string(name(m)) + "@" + l, LocMetrics(thresholds, opt->ious, 50.0));
            }
            states.push_back(std::move(st));
        }
        const bool wsol_protocol =
            std::find(opt->protocols.begin(), opt->protocols.end(), "wsolevaluation") != opt->protocols.end();
        BoxExtractor<WsolLargestContour> largest(WsolLargestContour{opt->interval, {}});
        BoxExtractor<WsolMultiContour> multi(WsolMultiContour{opt->interval, {}});
        BoxExtractor<LayerCamLargestRect> lc;

        // Examples for the report: image, GT boxes and every run's map, for the first images.
        struct Example {
            io::Image image; // in the evaluation frame of the first protocol
            std::vector<Box> gt;
            std::map<std::string, ScoreMap> maps;
            std::string id;
        };
        std::vector<Example> examples;

        const int crops = opt->tencrop ? 10 : 1;
        ProgressBar progress(todo.size());
        std::size_t done = 0;
        std::vector<std::vector<Box>> per_t_largest, per_t_multi;
        for (std::size_t first = 0; first < todo.size(); first += static_cast<std::size_t>(opt->batch)) {
            const std::size_t count = std::min(todo.size() - first, static_cast<std::size_t>(opt->batch));
            std::vector<io::Image> imgs;
            io::NchwTensor batch;
            std::vector<io::TenCrop> tcs;
            std::vector<std::vector<int>> gt_targets;
            for (std::size_t k = 0; k < count; ++k) {
                const auto& im = ds.images[todo[first + k]];
                imgs.push_back(io::read_image(std::filesystem::path(opt->images) / im.id));
                for (int c = 0; c < crops; ++c) gt_targets.push_back({im.label});
                if (opt->tencrop) {
                    io::TenCropOptions to;
                    to.resize_height = to.resize_width = opt->pre.tencrop_resize;
                    to.crop_height = to.crop_width = opt->pre.size;
                    to.norm = opt->pre.options().norm;
                    tcs.push_back(io::ten_crop(imgs.back(), to));
                    const auto& b = tcs.back().batch;
                    if (batch.values.empty()) batch.shape = b.shape, batch.shape[0] = 0;
                    batch.values.insert(batch.values.end(), b.values.begin(), b.values.end());
                    batch.shape[0] += b.shape[0];
                }
            }
            if (!opt->tencrop) batch = io::preprocess(imgs, opt->pre.options());
            // One forward and one backward pass for every method at every layer (CAM at the CAM layer).
            const BatchMaps bm =
                runner->run(batch, all_layers, methods, TargetRule::given(gt_targets), cost, true);
            const Logits& logits = bm.logits;
            const int C = logits.classes();

            for (std::size_t k = 0; k < count; ++k) {
                const auto& im = ds.images[todo[first + k]];
                const auto& img = imgs[k];
                if (im.size.height > 0 && (im.size.height != img.height || im.size.width != img.width))
                    detail::raise<value_error>(opt->metadata, ": image '", im.id, "' is ", img.width, "x", img.height,
                                               " but image_sizes.txt says ", im.size.width, "x", im.size.height);
                // Ranked classes from the (crop-averaged) logits.
                std::vector<double> avg(static_cast<std::size_t>(C), 0.0);
                for (int c = 0; c < crops; ++c) {
                    const auto row = logits.row(static_cast<int>(k) * crops + c);
                    for (int j = 0; j < C; ++j) avg[static_cast<std::size_t>(j)] += row[static_cast<std::size_t>(j)];
                }
                std::vector<int> ranked(static_cast<std::size_t>(C));
                std::iota(ranked.begin(), ranked.end(), 0);
                std::stable_sort(ranked.begin(), ranked.end(),
                                 [&](int a, int b) { return avg[static_cast<std::size_t>(a)] > avg[static_cast<std::size_t>(b)]; });
                ranked.resize(std::min<std::size_t>(ranked.size(), 5));

                // The map of run (method, layer) for this image: crop maps averaged back to the
                // resized image when 10-crop.
                auto image_map = [&](const BatchMaps& bm, std::size_t mi, std::size_t li) {
                    const auto& slot = bm.maps[mi][li][0];
                    if (!opt->tencrop) return slot[k];
                    const std::vector<ScoreMap> cm10(slot.begin() + static_cast<std::ptrdiff_t>(k) * 10,
                                                     slot.begin() + static_cast<std::ptrdiff_t>(k) * 10 + 10);
                    return io::average_crop_maps(cm10, tcs[k].crops, tcs[k].resized_height, tcs[k].resized_width);
                };
                std::vector<std::pair<std::string, ScoreMap>> run_maps;
                for (std::size_t mi = 0; mi < methods.size(); ++mi)
                    for (std::size_t li = 0; li < all_layers.size(); ++li)
                        if (!bm.maps[mi][li].empty())
                            run_maps.emplace_back(std::string(name(methods[mi])) + "@" + all_layers[li], image_map(bm, mi, li));

                const ImageSize original{img.height, img.width};
                // wsolevaluation evaluates in the network input's frame (the 224 x 224 resize, or
                // the 10-crop's resized image); layercam_loc in the original image's.
                const ImageSize input_frame = opt->tencrop ? ImageSize{opt->pre.tencrop_resize, opt->pre.tencrop_resize}
                                              : opt->pre.no_resize ? original
                                                                   : ImageSize{opt->pre.size, opt->pre.size};
                std::optional<io::WsolMasks> masks;
                if (mask_ds && wsol_protocol) { // PxAP is computed under the wsolevaluation protocol only
                    const auto* mi = mask_ds->find(im.id);
                    if (!mi) detail::raise<value_error>(opt->mask_metadata, ": no mask entry for image '", im.id, "'");
                    masks = io::load_wsol_masks(opt->masks, *mi, input_frame.height, input_frame.width);
                }
                for (auto& st : states) {
                    const bool wsol = st.name == "wsolevaluation";
                    const ImageSize frame = wsol ? input_frame : original;
                    std::vector<Box> gt;
                    for (const Box& b : im.boxes)
                        gt.push_back(frame.height == original.height && frame.width == original.width
                                         ? b
                                         : io::scale_box(b, original, frame));
                    for (const auto& [key, map] : run_maps) {
                        LocMetrics& m = st.runs.runs.at(key);
                        if (wsol) {
                            // One resize and normalization for both contour modes.
                            const auto& normalized = largest.normalized(map, frame);
                            largest.boxes_from_normalized(normalized, per_t_largest);
                            multi.boxes_from_normalized(normalized, per_t_multi);
                            m.add({gt, per_t_largest, per_t_multi, im.label, ranked});
                            if (masks) {
                                const auto norm = normalize_minmax(dualgrad::resize(map, frame.height, frame.width, Interpolation::cubic));
                                m.add_mask(norm, masks->foreground, masks->ignore);
                            }
                        } else {
                            per_t_largest.assign(1, {lc.box(map, frame)});
                            m.add({gt, per_t_largest, per_t_largest, im.label, ranked});
                        }
                    }
                }
                if (static_cast<int>(examples.size()) < opt->examples) {
                    Example ex;
                    const bool wsol = states.front().name == "wsolevaluation";
                    const ImageSize frame = wsol ? input_frame : original;
                    ex.image = frame.height == original.height && frame.width == original.width
                                   ? img
                                   : io::resize_image(img, frame.height, frame.width);
                    for (const Box& b : im.boxes)
                        ex.gt.push_back(frame.height == original.height && frame.width == original.width
                                            ? b
                                            : io::scale_box(b, original, frame));
                    for (auto& [key, map] : run_maps) ex.maps.emplace(key, map);
                    ex.id = im.id;
                    examples.push_back(std::move(ex));
                }
            }
            done += count;
            progress.update(done);
        }

        // Outputs: one folder per protocol when several were asked for.
        for (auto& st : states) {
            const std::filesystem::path dir =
                states.size() == 1 ? std::filesystem::path(opt->out) : std::filesystem::path(opt->out) / st.name;
            const nlohmann::json shard_json = {{"index", shard.index}, {"count", shard.count}};
            write_eval(dir, st.runs, shard_json);
            // Report examples: each method at its layer of lowest GT-known error, at its best threshold.
            std::vector<ReportExample> pics;
            for (const auto& method : st.runs.methods) {
                std::string best_key;
                double best_err = 1e9;
                for (const auto& layer : st.runs.layers) {
                    const auto it = st.runs.runs.find(method + "@" + layer);
                    if (it == st.runs.runs.end()) continue;
                    const double e = gt_known_error(it->second);
                    if (std::isfinite(e) && e < best_err) best_err = e, best_key = it->first;
                }
                if (best_key.empty()) continue;
                const auto best = st.runs.runs.at(best_key).loc_accuracy().result().best_by_gt_known();
                for (const auto& ex : examples) {
                    const ScoreMap& map = ex.maps.at(best_key);
                    const ImageSize frame{ex.image.height, ex.image.width};
                    const Box b = st.name == "wsolevaluation"
                                      ? BoxExtractor<WsolLargestContour>(WsolLargestContour{0.01, {best.threshold}})
                                            .boxes_per_threshold(map, frame)
                                            .at(0)
                                            .at(0)
                                      : lc.box(map, frame);
                    io::Image pic = io::heatmap_overlay(ex.image, map, b);
                    for (const Box& g : ex.gt) io::draw_box(pic, g, {255, 0, 0}, 1);
                    char caption[256];
                    std::snprintf(caption, sizeof caption, "%s (t = %.2f): %s", best_key.c_str(), best.threshold, ex.id.c_str());
                    pics.push_back({caption, io::encode_png(pic)});
                }
            }
            char subtitle[512];
            std::snprintf(subtitle, sizeof subtitle, "Weights %s; metadata %s; %zu images (shard %d/%d); protocol %s%s.",
                          opt->weights.c_str(), opt->metadata.c_str(), todo.size(), shard.index, shard.count,
                          st.name.c_str(), opt->tencrop ? ", 10-crop" : "");
            write_report(dir, st.runs, subtitle, pics);
            std::printf("%s: wrote %s/{metrics.json, table.md, report.html}\n", st.name.c_str(), dir.c_str());
            std::printf("%s", table_markdown(st.runs).c_str());
        }
    });
}

} // namespace dualgrad::cli

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

#include <dualgrad/eval/evaluate.hpp>
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

/// The faithfulness options from the command line; errors name the option.
template <class Options>
FaithfulnessOptions parse_faithfulness(const Options& opt) {
    FaithfulnessOptions f;
    f.confidence = f.deletion = f.insertion = f.pointing = false;
    for (const auto& m : opt.faithfulness) {
        if (m == "all") f.confidence = f.deletion = f.insertion = f.pointing = true;
        else if (m == "confidence") f.confidence = true;
        else if (m == "deletion") f.deletion = true;
        else if (m == "insertion") f.insertion = true;
        else if (m == "pointing") f.pointing = true;
        else detail::raise<value_error>("--faithfulness: unknown metric '", m, "' (confidence, deletion, insertion, pointing, all)");
    }
    if (opt.steps < 1 || opt.steps > 100000) detail::raise<value_error>("--steps ", opt.steps, " must be in [1, 100000]");
    if (!std::isfinite(opt.tolerance) || opt.tolerance < 0)
        detail::raise<value_error>("--pointing-tolerance ", opt.tolerance, " must be a finite number >= 0");
    f.steps = opt.steps;
    f.deletion_baseline = parse_baseline(opt.deletion_baseline, "--deletion-baseline");
    f.insertion_baseline = parse_baseline(opt.insertion_baseline, "--insertion-baseline");
    f.tolerance = opt.tolerance;
    f.batch = std::max(opt.batch, 1);
    return f;
}

inline void add_eval(CLI::App& app) {
    struct Options {
        VariantOption variant;
        std::string metadata, images, arch, weights, out, mask_metadata, masks, shard, cost = "reference", backend = "cpu";
        std::vector<std::string> layers, methods{"cam", "gradcam", "layercam", "pcs", "dgl"};
        std::vector<std::string> protocols{"wsolevaluation"};
        std::vector<double> ious{30, 50, 70};
        std::optional<int> shard_count;
        double interval = 0.01;
        float alpha = 10.0f;
        bool tencrop = false;
        bool aug_smooth = false;
        int batch = 16, threads = 0, examples = 4;
        bool no_baseline = false;
        std::string fuse;
        std::vector<std::string> faithfulness;
        int steps = 100;
        std::string deletion_baseline = "zero", insertion_baseline = "blur";
        double tolerance = 15;
        std::optional<int> limit;
        PreprocessCli pre;
        MethodSettingsCli method_settings;
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
    cmd->add_option("--methods", opt->methods, "Methods, comma-separated (" + method_names_text() + "), or all (every one of them)")->delimiter(',')->capture_default_str();
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
    add_method_settings_options(cmd, opt->method_settings);
    cmd->add_flag("--aug-smooth", opt->aug_smooth,
                  "pytorch-grad-cam's aug_smooth for every method: the maps of x times 0.9, 1, 1.1, each as is and mirrored, "
                  "scaled to [0, 1] and averaged (six passes per batch)");
    cmd->add_flag("--tencrop", opt->tencrop, "10-crop: resize to --tencrop-resize, 4 corners + centre and their flips; "
                                             "maps averaged in image coordinates, logits averaged");
    cmd->add_option("--shard", opt->shard, "k/N: evaluate images i with i % N == k; 'auto' from Slurm or Kubernetes");
    cmd->add_option("--shard-count", opt->shard_count, "Shard count for --shard auto in a Kubernetes Indexed Job");
    cmd->add_option("--cost", opt->cost, "DGL cost: reference or xent")->capture_default_str();
    cmd->add_option("--alpha", opt->alpha, "DGL's alpha")->capture_default_str();
    cmd->add_option("--batch", opt->batch, "Images per forward pass")->capture_default_str()->check(CLI::PositiveNumber);
    cmd->add_option("--threads", opt->threads, "Engine threads (0: all cores)")->capture_default_str();
    cmd->add_option("--limit", opt->limit, "Evaluate only the first N images of the metadata (before sharding)");
    cmd->add_option("--fuse", opt->fuse, "Also fuse each method's maps over the layers: mean (pytorch-grad-cam) or max "
                                         "(torch-cam); the run's layer is mean(L1+L2...)");
    cmd->add_option("--faithfulness", opt->faithfulness,
                    "Faithfulness metrics of every run's map, comma-separated: confidence (average drop and increase), "
                    "deletion, insertion, pointing, or all")
        ->delimiter(',');
    cmd->add_option("--steps", opt->steps, "Deletion and insertion steps")->capture_default_str();
    cmd->add_option("--deletion-baseline", opt->deletion_baseline, "What deleted pixels become: zero or blur")->capture_default_str();
    cmd->add_option("--insertion-baseline", opt->insertion_baseline, "What insertion starts from: blur or zero")->capture_default_str();
    cmd->add_option("--pointing-tolerance", opt->tolerance, "Pointing game tolerance, pixels of the protocol's frame")
        ->capture_default_str();
    cmd->add_flag("--no-baseline", opt->no_baseline, "Leave out the centre-box baseline row (centre-box@-)");
    cmd->add_option("--examples", opt->examples, "Overlay examples in report.html (first images of the shard)")
        ->capture_default_str();
    opt->pre.add(cmd);
    add_backend_option(cmd, opt->backend);
    opt->variant.add(cmd);
    cmd->add_option("--out", opt->out, "Output folder")->required();
    cmd->callback([opt, cmd] {
        const Shard shard = opt->shard.empty()  ? Shard{}
                            : opt->shard == "auto" ? Shard::from_environment(opt->shard_count)
                                                   : Shard::parse(opt->shard);
        auto model = make_model(opt->backend, opt->arch, opt->weights, opt->threads, opt->variant.value());
        model->set_method_settings(opt->method_settings.value());
        eval::EvalOptions o;
        o.methods = parse_methods(*model, opt->methods);
        o.layers = opt->layers;
        o.cost = parse_cost(opt->cost, opt->alpha);
        for (const auto& p : opt->protocols)
            o.protocols.push_back(eval::ProtocolRegistry::global().make(p, {.interval = opt->interval}));
        o.ious = opt->ious;
        PreprocessCli pre = opt->pre;
        if (cmd->count("--size") == 0 && model->input_size() > 0) pre.size = model->input_size();
        o.preprocess = pre.options();
        o.tencrop = opt->tencrop;
        o.tencrop_resize = pre.tencrop_resize;
        o.aug_smooth = opt->aug_smooth;
        o.shard = shard;
        if (opt->limit) o.limit = static_cast<std::size_t>(*opt->limit);
        o.batch = opt->batch;
        o.examples = opt->examples;
        o.centre_baseline = !opt->no_baseline;
        if (!opt->fuse.empty()) o.fuse = parse_fusion(opt->fuse);
        if (!opt->faithfulness.empty()) o.faithfulness = parse_faithfulness(*opt);
        std::unique_ptr<ProgressBar> progress;
        o.progress = [&](std::size_t done, std::size_t total) {
            if (!progress) progress = std::make_unique<ProgressBar>(total);
            if (done > 0) progress->update(done);
        };
        check_writable_folder(opt->out, "--out"); // before the work, not after it
        const auto data = eval::EvalDataset::open(opt->metadata, opt->images, opt->mask_metadata, opt->masks);
        std::fprintf(stderr, "preprocessing: %s, ImageNet-style mean (%g, %g, %g) and std (%g, %g, %g)\n",
                     opt->tencrop ? ("10-crop of " + std::to_string(pre.size) + " from " + std::to_string(pre.tencrop_resize)).c_str()
                     : pre.no_resize ? "no resize"
                                     : ("resize to " + std::to_string(pre.size) + " x " + std::to_string(pre.size)).c_str(),
                     pre.mean[0], pre.mean[1], pre.mean[2], pre.std[0], pre.std[1], pre.std[2]);
        const eval::EvalResult result = eval::evaluate(*model, data, o);

        // Outputs: one folder per protocol when several were asked for.
        for (const auto& pr : result.protocols) {
            const auto& runs = pr.runs;
            const std::filesystem::path dir =
                result.protocols.size() == 1 ? std::filesystem::path(opt->out) : std::filesystem::path(opt->out) / runs.protocol;
            const nlohmann::json shard_json = {{"index", shard.index}, {"count", shard.count}};
            OutputFolder folder(dir, "--out", "metrics.json");
            write_eval(folder, runs, shard_json);
            // Report examples: each method at its layer of lowest GT-known error, at its best threshold.
            eval::AnyProtocol protocol = eval::ProtocolRegistry::global().make(runs.protocol, {.interval = opt->interval});
            std::vector<ReportExample> pics;
            for (const auto& method : o.methods) {
                std::string best_key;
                double best_err = 1e9;
                for (const auto& layer : runs.layers) {
                    const auto* m = runs.find(method, layer);
                    if (!m) continue;
                    const double e = gt_known_error(*m);
                    if (std::isfinite(e) && e < best_err) best_err = e, best_key = eval::Runs::key(method, layer);
                }
                if (best_key.empty()) continue;
                const auto best = runs.runs.at(best_key).loc_accuracy().result().best_by_gt_known();
                const std::size_t t = best.threshold_index;
                eval::ProtocolBoxes boxes;
                for (const auto& ex : pr.examples) {
                    const ScoreMap& map = ex.maps.at(best_key);
                    protocol.boxes(map, {ex.image.height, ex.image.width}, boxes);
                    io::Image pic = io::heatmap_overlay(ex.image, map, boxes.largest.at(t).at(0));
                    for (const Box& g : ex.gt) io::draw_box(pic, g, {255, 0, 0}, 1);
                    char caption[256];
                    std::snprintf(caption, sizeof caption, "%s (t = %.2f): %s", best_key.c_str(), best.threshold,
                                  ex.id.c_str());
                    pics.push_back({caption, io::encode_png(pic)});
                }
            }
            char subtitle[512];
            std::snprintf(subtitle, sizeof subtitle, "Weights %s; metadata %s; %zu images (shard %d/%d); protocol %s%s.",
                          opt->weights.c_str(), opt->metadata.c_str(), result.images, shard.index, shard.count,
                          runs.protocol.c_str(),
                          opt->tencrop ? (opt->aug_smooth ? ", 10-crop, aug_smooth" : ", 10-crop") : opt->aug_smooth ? ", aug_smooth" : "");
            write_report(folder, runs, subtitle, pics);
            folder.commit();
            std::printf("%s: wrote %s/{metrics.json, table.md, report.html}\n", runs.protocol.c_str(), dir.c_str());
            std::printf("%s", table_markdown(runs).c_str());
            if (!runs.faithfulness.empty()) std::printf("\n%s", faithfulness_markdown(runs).c_str());
        }
    });
}

} // namespace dualgrad::cli

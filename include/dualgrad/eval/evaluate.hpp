#pragma once
/// \file
/// `evaluate`: the WSOL evaluation of a classifier on a dataset in wsolevaluation's layout, as a
/// library call. Every requested method at every requested layer comes from one forward and one
/// backward pass per batch; each map gives boxes under every requested protocol (`BoxProtocol`,
/// protocol.hpp), which feed the mergeable counts (`LocMetrics`) per (method, layer, protocol).
///
///     auto model = dualgrad::eval::cpu_map_model(dualgrad::models::load_model("resnet50", "w.safetensors"));
///     auto data = dualgrad::eval::EvalDataset::open("metadata/test", "images");
///     dualgrad::eval::EvalOptions o;
///     o.methods = {"cam", "dgl"};
///     o.protocols = {dualgrad::eval::WsolevaluationProtocol{}, dualgrad::eval::LayerCamProtocol{}};
///     auto result = dualgrad::eval::evaluate(*model, data, o);
///     // result.protocols[p].runs.runs["dgl@layer3.5"].loc_accuracy().result() ...
///
/// What it covers (the protocol of the literature, `docs/cli.md` for the numbers' definitions):
/// - frames: a protocol evaluates in the network input's frame (wsolevaluation: the resized image,
///   or with 10-crop the resized image the crops are cut from) or in the image's own (layercam_loc,
///   CAM); ground-truth boxes are scaled into that frame (`io::scale_box`);
/// - targets: the ground-truth class's maps (GT-known, top-1 and top-5 localization from the
///   ranked logits, the literature's protocol), or the top-1 predicted class's (box metrics only);
/// - 10-crop: each crop's map is put back in image coordinates and averaged, logits averaged;
/// - shards (`Shard`): image i belongs to shard i mod N; the counts of shards add up exactly;
/// - PxAP from OpenImages-style masks, for protocols that define a PxAP map;
/// - the centre-box baseline, a built-in reference row: one fixed centred box for every image,
///   whose size (a fraction of the frame's sides) is swept like a CAM threshold and chosen on the
///   set as MaxBoxAcc chooses its threshold; run "centre-box@-";
/// - faithfulness metrics (`metrics/faithfulness.hpp`: average drop and increase, deletion and
///   insertion, the pointing game) of every run's map, in batched forward passes of perturbed
///   inputs (`MapModel::forward_filled`), kept per run beside the box metrics; the pointing game
///   in each protocol's frame, the others in the network input's;
/// - optional per-image records (for paired bootstraps) and report examples; a progress callback.

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <numeric>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "dualgrad/box.hpp"
#include "dualgrad/eval/aug_smooth.hpp"
#include "dualgrad/eval/maps.hpp"
#include "dualgrad/eval/protocol.hpp"
#include "dualgrad/eval/runs.hpp"
#include "dualgrad/io/datasets.hpp"
#include "dualgrad/io/image.hpp"
#include "dualgrad/io/masks.hpp"
#include "dualgrad/localize/fuse.hpp"
#include "dualgrad/metrics/faithfulness.hpp"
#include "dualgrad/metrics/loc_metrics.hpp"
#include "dualgrad/metrics/max_iou.hpp"
#include "dualgrad/shard.hpp"

namespace dualgrad::eval {

/// A dataset in wsolevaluation's layout: box metadata and the image root, optionally the mask
/// metadata (OpenImages format) and mask root for PxAP.
struct EvalDataset {
    io::Dataset metadata;
    std::filesystem::path images;
    std::optional<io::Dataset> masks;
    std::filesystem::path mask_root;

    /// Reads the metadata folders (errors name the file and line).
    [[nodiscard]] static EvalDataset open(const std::filesystem::path& metadata, std::filesystem::path images,
                                          const std::filesystem::path& mask_metadata = {},
                                          std::filesystem::path mask_root = {}) {
        if (mask_metadata.empty() != mask_root.empty())
            dualgrad::detail::raise<value_error>("EvalDataset: the mask metadata and the mask root go together");
        EvalDataset d{io::read_wsol_metadata(metadata), std::move(images), std::nullopt, std::move(mask_root)};
        if (!mask_metadata.empty()) d.masks = io::read_wsol_metadata(mask_metadata);
        return d;
    }
};

/// Whose maps are evaluated.
enum class TargetClass {
    ground_truth, ///< the ground-truth class (the WSOL protocol: GT-known, top-1 and top-5 loc)
    predicted,    ///< the top-1 predicted class (box metrics only; no localization-accuracy counts)
};

struct EvalOptions {
    std::vector<std::string> methods{"cam", "gradcam", "layercam", "pcs", "dgl"};
    std::vector<std::string> layers;   ///< empty: the model's default layers
    std::vector<AnyProtocol> protocols; ///< empty: wsolevaluation
    std::vector<double> ious{30, 50, 70}; ///< MaxBoxAccV2's IoU thresholds, percent
    io::PreprocessOptions preprocess{};
    bool tencrop = false;
    int tencrop_resize = 256;
    /// pytorch-grad-cam's `aug_smooth` for every method (`eval/aug_smooth.hpp`): six passes per batch.
    bool aug_smooth = false;
    TargetClass target = TargetClass::ground_truth;
    AnyCost cost = ReferenceCost{};
    Shard shard{};
    std::optional<std::size_t> limit; ///< only the first N images of the metadata (before sharding)
    int batch = 16;
    bool centre_baseline = true;
    /// Multi-layer fusion (`localize/fuse.hpp`): with two or more layers, each method other than
    /// a CAM-layer-only one also gets the run "<method>@<rule>(<layer>+<layer>...)", its maps fused
    /// over the requested layers.
    std::optional<Fusion> fuse;
    /// Faithfulness metrics of every run's map (not the centre box's); not with 10-crop.
    std::optional<FaithfulnessOptions> faithfulness;
    double centre_interval = 0.01;    ///< the baseline's box sizes: 1 - arange(0, 1, interval) of the frame
    bool keep_records = false;
    int examples = 0;                 ///< report examples: the first images of the shard
    std::function<void(std::size_t done, std::size_t total)> progress;
};

/// One image's outcome under one protocol, for statistics over images (paired bootstraps).
struct ImageRecord {
    std::string id;
    int label = -1;
    std::vector<int> ranked; ///< the top-5 predicted classes (empty with predicted targets)
    /// Per run: per CAM threshold, 1 if the largest box hit a ground-truth box at IoU >= 50.
    std::map<std::string, std::vector<std::uint8_t>> hits;
};

/// An image of the report, in a protocol's frame, with every run's map.
struct Example {
    std::string id;
    io::Image image;
    std::vector<Box> gt;
    std::map<std::string, ScoreMap> maps; ///< raw maps by run
};

/// The outcome under one protocol.
struct ProtocolResult {
    Runs runs;
    std::vector<ImageRecord> records;
    std::vector<Example> examples;
};

struct EvalResult {
    std::vector<ProtocolResult> protocols; ///< in the order requested
    std::size_t images = 0;                ///< evaluated (this shard)
    std::vector<std::string> layers;       ///< the layers evaluated (CAM's layer added when CAM was asked for)
};

namespace detail {
/// The centre-box sizes, decreasing from the whole frame: 1 - t for t in arange(0, 1, interval).
[[nodiscard]] inline std::vector<double> centre_fractions(const std::vector<double>& thresholds) {
    std::vector<double> f;
    for (double t : thresholds) f.push_back(1.0 - t);
    return f;
}
} // namespace detail

/// Evaluates `model` on `data` (see the file comment). Throws `value_error` naming the image and
/// file for metadata that cannot be evaluated (no label, no box, an image whose size differs from
/// image_sizes.txt, a missing mask entry), and the errors of the model and the readers.
[[nodiscard]] inline EvalResult evaluate(MapModel& model, const EvalDataset& data, const EvalOptions& options) {
    using dualgrad::detail::raise;
    const io::Dataset& ds = data.metadata;
    if (options.batch <= 0) raise<value_error>("evaluate: batch ", options.batch, " must be positive");
    if (options.methods.empty()) raise<value_error>("evaluate: no method given");
    std::vector<AnyProtocol> protocols = options.protocols;
    if (protocols.empty()) protocols.emplace_back(WsolevaluationProtocol{});
    for (std::size_t i = 0; i < protocols.size(); ++i)
        for (std::size_t j = 0; j < i; ++j)
            if (protocols[i].name() == protocols[j].name())
                raise<value_error>("evaluate: protocol '", protocols[i].name(), "' is asked for twice");

    if (options.faithfulness) {
        const FaithfulnessOptions& f = *options.faithfulness;
        f.check();
        if (!f.any()) raise<value_error>("evaluate: faithfulness asked for with no metric in it");
        if (options.tencrop)
            raise<value_error>("evaluate: the faithfulness metrics perturb one view of each image; 10-crop gives ten");
        if (f.needs_forward() && !model.has_forward())
            raise<value_error>("evaluate: average drop, deletion and insertion need the logits of perturbed inputs, and "
                               "model '", model.name(), "' gives none (the CPU engine does; the pointing game alone needs none)");
    }

    std::vector<std::string> layers = options.layers.empty() ? model.default_layers() : options.layers;
    for (const auto& l : layers) model.check_layer(l);
    const std::size_t requested_layers = layers.size(); // fusion is over these (not CAM's added layer)
    if (options.fuse && requested_layers < 2)
        raise<value_error>("evaluate: fusion (--fuse ", name(*options.fuse), ") needs two or more layers; ",
                           requested_layers, " given");
    const std::string fused_layer =
        options.fuse ? fused_layer_name(*options.fuse, std::span<const std::string>(layers.data(), requested_layers)) : "";
    // A method defined at the CAM layer only runs there: its run is "<method>@<cam layer>".
    bool cam_only = false;
    for (const auto& m : options.methods) cam_only = model.cam_layer_only(m) || cam_only; // also checks the name
    const std::string cam_layer = model.cam_layer();
    if (cam_only && !cam_layer.empty() &&
        std::none_of(layers.begin(), layers.end(), [&](const std::string& l) { return model.same_layer(l, cam_layer); }))
        layers.push_back(cam_layer);

    std::vector<std::size_t> todo;
    const std::size_t n_all = options.limit ? std::min(ds.size(), *options.limit) : ds.size();
    for (std::size_t i = 0; i < n_all; ++i)
        if (options.shard.owns(static_cast<long long>(i))) todo.push_back(i);
    for (std::size_t i : todo) {
        const auto& im = ds.images[i];
        if (im.label < 0) raise<value_error>(ds.source, ": image '", im.id, "' has no class label");
        if (im.boxes.empty()) raise<value_error>(ds.source, ": image '", im.id, "' has no box");
        if (data.masks && !data.masks->find(im.id))
            raise<value_error>(data.masks->source, ": no mask entry for image '", im.id, "'");
    }

    EvalResult result;
    result.layers = layers;
    const bool gt_targets = options.target == TargetClass::ground_truth;
    for (const auto& p : protocols) {
        ProtocolResult pr;
        pr.runs.arch = model.name();
        pr.runs.protocol = p.name();
        pr.runs.methods = options.methods;
        pr.runs.layers = layers;
        const std::vector<double> thresholds = p.thresholds();
        for (const auto& m : options.methods)
            for (const auto& l : layers)
                if (!model.cam_layer_only(m) || model.same_layer(l, cam_layer))
                    pr.runs.runs.emplace(Runs::key(m, l), LocMetrics(thresholds, options.ious, 50.0));
        if (options.fuse) {
            pr.runs.layers.push_back(fused_layer);
            for (const auto& m : options.methods)
                if (!model.cam_layer_only(m)) pr.runs.runs.emplace(Runs::key(m, fused_layer), LocMetrics(thresholds, options.ious, 50.0));
        }
        if (options.faithfulness)
            for (const auto& [key, m] : pr.runs.runs) pr.runs.faithfulness.emplace(key, FaithfulnessCounts(*options.faithfulness));
        if (options.centre_baseline) {
            pr.runs.methods.emplace_back(centre_box_method);
            pr.runs.layers.emplace_back(centre_box_layer);
            pr.runs.runs.emplace(Runs::key(centre_box_method, centre_box_layer),
                                 LocMetrics(cam_thresholds(options.centre_interval, "centre-box interval"), options.ious, 50.0));
        }
        result.protocols.push_back(std::move(pr));
    }
    const std::vector<double> centre_fracs =
        detail::centre_fractions(cam_thresholds(options.centre_interval, "centre-box interval"));

    const int crops = options.tencrop ? 10 : 1;
    const auto& pre = options.preprocess;
    ProtocolBoxes boxes;
    std::size_t done = 0;
    if (options.progress) options.progress(0, todo.size());
    for (std::size_t first = 0; first < todo.size(); first += static_cast<std::size_t>(options.batch)) {
        const std::size_t count = std::min(todo.size() - first, static_cast<std::size_t>(options.batch));
        std::vector<io::Image> imgs;
        io::NchwTensor batch;
        std::vector<io::TenCrop> tcs;
        std::vector<std::vector<int>> gt_targets_list;
        for (std::size_t k = 0; k < count; ++k) {
            const auto& im = ds.images[todo[first + k]];
            imgs.push_back(io::read_image(data.images / im.id));
            const auto& img = imgs.back();
            if (im.size.height > 0 && (im.size.height != img.height || im.size.width != img.width))
                raise<value_error>(ds.source, ": image '", im.id, "' is ", img.width, "x", img.height,
                                   " but image_sizes.txt says ", im.size.width, "x", im.size.height);
            for (int c = 0; c < crops; ++c) gt_targets_list.push_back({im.label});
            if (options.tencrop) {
                io::TenCropOptions to;
                to.resize_height = to.resize_width = options.tencrop_resize;
                to.crop_height = pre.height;
                to.crop_width = pre.width;
                to.norm = pre.norm;
                tcs.push_back(io::ten_crop(img, to));
                const auto& b = tcs.back().batch;
                if (batch.values.empty()) batch.shape = b.shape, batch.shape[0] = 0;
                batch.values.insert(batch.values.end(), b.values.begin(), b.values.end());
                batch.shape[0] += b.shape[0];
            }
        }
        if (!options.tencrop) batch = io::preprocess(imgs, pre);
        // One forward and one backward pass for every method at every layer.
        const TargetRule rule = gt_targets ? TargetRule::given(gt_targets_list) : TargetRule::top1();
        const BatchMaps bm = options.aug_smooth ? aug_smooth_maps(model, batch, layers, options.methods, rule, options.cost, true)
                                                : model.maps(batch, layers, options.methods, rule, options.cost, true);
        const int C = bm.logits.classes();

        for (std::size_t k = 0; k < count; ++k) {
            const auto& im = ds.images[todo[first + k]];
            const auto& img = imgs[k];
            // Ranked classes from the (crop-averaged) logits.
            std::vector<double> avg(static_cast<std::size_t>(C), 0.0);
            for (int c = 0; c < crops; ++c) {
                const auto row = bm.logits.row(static_cast<int>(k) * crops + c);
                for (int j = 0; j < C; ++j) avg[static_cast<std::size_t>(j)] += row[static_cast<std::size_t>(j)];
            }
            std::vector<int> ranked(static_cast<std::size_t>(C));
            std::iota(ranked.begin(), ranked.end(), 0);
            std::stable_sort(ranked.begin(), ranked.end(),
                             [&](int a, int b) { return avg[static_cast<std::size_t>(a)] > avg[static_cast<std::size_t>(b)]; });
            ranked.resize(std::min<std::size_t>(ranked.size(), 5));
            if (!gt_targets) ranked.clear();

            // The map of each run for this image (crop maps averaged back to the resized image).
            std::vector<std::pair<std::string, ScoreMap>> run_maps;
            for (std::size_t mi = 0; mi < options.methods.size(); ++mi) {
                const std::size_t first_of_method = run_maps.size();
                for (std::size_t li = 0; li < layers.size(); ++li) {
                    const auto& slot = bm.maps[mi][li];
                    if (slot.empty()) continue;
                    const auto& maps = slot[0];
                    ScoreMap m = options.tencrop
                                     ? io::average_crop_maps(std::span<const ScoreMap>(maps).subspan(k * 10, 10),
                                                             tcs[k].crops, tcs[k].resized_height, tcs[k].resized_width)
                                     : maps[k];
                    run_maps.emplace_back(Runs::key(options.methods[mi], layers[li]), std::move(m));
                }
                if (options.fuse && !model.cam_layer_only(options.methods[mi])) {
                    std::vector<ScoreMap> per_layer;
                    for (std::size_t li = 0; li < requested_layers; ++li) per_layer.push_back(run_maps[first_of_method + li].second);
                    run_maps.emplace_back(Runs::key(options.methods[mi], fused_layer), fuse_maps(per_layer, *options.fuse));
                }
            }

            // Faithfulness of each run's map, in the network input's frame (the pointing game below).
            std::vector<ImageFaithfulness> faith;
            if (options.faithfulness) {
                const FaithfulnessOptions& fo = *options.faithfulness;
                faith.resize(run_maps.size());
                if (fo.needs_forward()) {
                    const Shape4 one{1, batch.shape[1], batch.shape[2], batch.shape[3]};
                    const auto per = static_cast<std::size_t>(one.per_sample());
                    const std::span<const float> xk(batch.values.data() + k * per, per);
                    const int cls = bm.targets(static_cast<int>(k), 0);
                    const FilledForward forward = [&](Shape4 s, const HeadFill& fill) { return model.forward_filled(s, fill); };
                    std::vector<std::vector<float>> sals;
                    for (const auto& [key, map] : run_maps)
                        sals.push_back(input_saliency(map, static_cast<int>(one.h), static_cast<int>(one.w)));
                    if (fo.confidence) confidence_change(forward, xk, one, sals, cls, fo, faith);
                    for (std::size_t r = 0; r < run_maps.size(); ++r) {
                        if (fo.deletion) faith[r].deletion = causal_curve(forward, xk, one, sals[r], cls, CausalMetric::deletion, fo);
                        if (fo.insertion) faith[r].insertion = causal_curve(forward, xk, one, sals[r], cls, CausalMetric::insertion, fo);
                    }
                }
            }

            const ImageSize original{img.height, img.width};
            const ImageSize input_frame = options.tencrop ? ImageSize{options.tencrop_resize, options.tencrop_resize}
                                          : !pre.resize    ? original
                                                           : ImageSize{pre.height, pre.width};
            for (std::size_t pi = 0; pi < protocols.size(); ++pi) {
                AnyProtocol& protocol = protocols[pi];
                ProtocolResult& pr = result.protocols[pi];
                const ImageSize frame = protocol.frame() == EvalFrame::input ? input_frame : original;
                const bool same_frame = frame.height == original.height && frame.width == original.width;
                std::vector<Box> gt;
                for (const Box& b : im.boxes) gt.push_back(same_frame ? b : io::scale_box(b, original, frame));
                std::optional<io::WsolMasks> masks;
                if (data.masks && protocol.has_pxap())
                    masks = io::load_wsol_masks(data.mask_root, *data.masks->find(im.id), frame.height, frame.width);
                ImageRecord record;
                if (options.keep_records) record = ImageRecord{im.id, im.label, ranked, {}};
                const auto add = [&](const std::string& key, const ProtocolBoxes& b) {
                    pr.runs.runs.at(key).add({gt, b.largest, b.multi, im.label, ranked});
                    if (options.keep_records) {
                        auto& h = record.hits[key];
                        for (const auto& per_t : b.largest) h.push_back(max_iou(per_t, gt) >= 0.5 ? 1 : 0);
                    }
                };
                for (std::size_t r = 0; r < run_maps.size(); ++r) {
                    const auto& [key, map] = run_maps[r];
                    protocol.boxes(map, frame, boxes);
                    add(key, boxes);
                    if (masks) pr.runs.runs.at(key).add_mask(protocol.pxap_map(map, frame), masks->foreground, masks->ignore);
                    if (options.faithfulness) {
                        ImageFaithfulness f = faith[r];
                        if (options.faithfulness->pointing)
                            f.pointing_hit = pointing_hit(map.height() == frame.height && map.width() == frame.width
                                                              ? map : resize(map, frame.height, frame.width, Interpolation::linear),
                                                          gt, options.faithfulness->tolerance);
                        pr.runs.faithfulness.at(key).add(f);
                    }
                }
                if (options.centre_baseline) {
                    boxes.largest.clear();
                    for (double f : centre_fracs) boxes.largest.push_back({centre_box(frame, f)});
                    boxes.multi = boxes.largest;
                    add(Runs::key(centre_box_method, centre_box_layer), boxes);
                }
                if (options.keep_records) pr.records.push_back(std::move(record));
                if (static_cast<int>(pr.examples.size()) < options.examples) {
                    Example ex{im.id, same_frame ? img : io::resize_image(img, frame.height, frame.width), gt, {}};
                    for (const auto& [key, map] : run_maps) ex.maps.emplace(key, map);
                    pr.examples.push_back(std::move(ex));
                }
            }
        }
        done += count;
        if (options.progress) options.progress(done, todo.size());
    }
    result.images = todo.size();
    return result;
}

} // namespace dualgrad::eval

#pragma once
// `dualgrad score --metadata DIR --scoremaps DIR [--protocol wsolevaluation|layercam|cam]
//                 [--interval 0.01] [--iou 30,50,70] [--masks DIR] [--predictions FILE] --out FILE.json`
// Scores saved score maps, made by any tool, against a dataset in wsolevaluation's metadata layout:
// MaxBoxAcc, MaxBoxAccV2 (per IoU, with their best thresholds), top-1 / top-5 / GT-known loc with
// --predictions, PxAP for a masks dataset with --masks.
//
// Score maps: `<scoremaps>/<image_id>.npy` (the id keeps its folders: "001.a/x.jpg" is
// "<scoremaps>/001.a/x.jpg.npy", as wsolevaluation's inference.py saves them), or the id without
// its extension (`001.a/x.npy`, as its docstring says), H x W float32 or float64, any size. Every
// image of image_ids.txt needs its map.
//
// Protocols (eval::ProtocolRegistry: the three below and any registered one; eval/score.hpp):
// - wsolevaluation: a map in wsolevaluation's saved form (min-max normalized: minimum 0 and maximum
//   1, or all zeros, as inference.py saves them at the evaluation size) is taken as given, as
//   wsolevaluation's BoxEvaluator takes it: no resize, no normalization, the ground-truth boxes
//   scaled from the image size to the map's size (resize_bbox, io::scale_box), the boxes extracted
//   at the map's size: `uint8(trunc(255 m))` in float64, per CAM threshold t in
//   numpy.arange(0, 1, interval) the mask `u8 > int(t * max(u8))`, contours; MaxBoxAcc from the
//   largest contour at IoU 50, MaxBoxAccV2 the mean over --iou of the multi-contour values. Any
//   other map is raw: the protocol's own steps run first in the image's frame (bicubic resize to
//   image_sizes.txt, min-max), and the output says how many maps took each form. --as-given and
//   --raw force one form.
// - layercam: layercam_loc's test.py on a raw map: ReLU, divide by max, resize to the image size
//   (image_sizes.txt), threshold 0.15, the largest contour rectangle; one box per image, boxes in
//   image pixels. The "MaxBoxAcc" values are then accuracies at that one threshold.
// - cam: the CAM recipe (Zhou et al.): resize to the image size, min-max, above 0.2 of the range,
//   the largest 8-connected component; one box per image, as for layercam.
// Maps with NaN or Inf are refused under every protocol.
//
// Predictions file (--predictions): one line per image, `image_id,class,class,...`, the predicted
// classes (0-based) ranked best first (five are enough for top-5); blank lines are skipped. Every
// image of the metadata needs a line; lines of other ids are ignored.
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <filesystem>
#include <span>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <dualgrad/io/datasets.hpp>
#include <dualgrad/io/masks.hpp>
#include <dualgrad/io/npy.hpp>
#include <dualgrad/eval/score.hpp>
#include <dualgrad/io/detail/files.hpp>
#include <dualgrad/metrics/loc_metrics.hpp>
#include <dualgrad/metrics/serialize.hpp>
#include <dualgrad/thresholds.hpp>

#include "output_folder.hpp"

namespace dualgrad::cli {

namespace score_detail {

/// The score map of `image_id`: `<dir>/<image_id>.npy`, float32 or float64, rank 2, not empty,
/// widened to double. Errors name the id and the file.
inline Map2D<double> read_scoremap(const std::filesystem::path& dir, const std::string& image_id) {
    // wsolevaluation's code saves <image_id>.npy; its docstring says <image_id without extension>.npy.
    std::filesystem::path path = dir / (image_id + ".npy");
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) {
        const std::filesystem::path stem = (dir / image_id).replace_extension(".npy");
        if (!std::filesystem::is_regular_file(stem, ec))
            detail::raise<io_error>("no score map for image '", image_id, "': '", path.string(), "' does not exist (nor '",
                                    stem.string(), "')");
        path = stem;
    }
    const io::NpyArray a = io::read_npy(path);
    if (a.dtype() != io::NpyDtype::f4 && a.dtype() != io::NpyDtype::f8)
        detail::raise<io_error>(path.string(), ": the score map of image '", image_id,
                                "' must be float32 or float64, got ", a.describe());
    if (a.rank() != 2)
        detail::raise<io_error>(path.string(), ": the score map of image '", image_id,
                                "' must have rank 2 (H x W), got ", a.describe());
    if (a.shape()[0] <= 0 || a.shape()[1] <= 0)
        detail::raise<io_error>(path.string(), ": the score map of image '", image_id, "' is empty (", a.describe(), ")");
    if (a.shape()[0] > 1 << 20 || a.shape()[1] > 1 << 20)
        detail::raise<io_error>(path.string(), ": the score map of image '", image_id, "' is too large (", a.describe(), ")");
    const auto values = a.as_double();
    return Map2D<double>(static_cast<int>(a.shape()[0]), static_cast<int>(a.shape()[1]), std::span<const double>(values));
}

/// Reads the predictions file: id -> ranked classes (see the file comment).
inline std::unordered_map<std::string, std::vector<int>> read_predictions(const std::filesystem::path& path) {
    if (std::error_code ec; !std::filesystem::is_regular_file(path, ec))
        detail::raise<io_error>("predictions file '", path.string(), "' does not exist");
    const io::detail::TextFile f(path);
    std::unordered_map<std::string, std::vector<int>> out;
    std::unordered_map<std::string, std::size_t> first_line;
    for (const auto& line : f.lines()) {
        const std::string_view s = line.text;
        const std::size_t comma = s.find(',');
        if (comma == std::string_view::npos || comma == 0)
            f.fail(line, "expected 'image_id,class,class,...' (the predicted classes ranked best first)");
        std::string id(s.substr(0, comma));
        std::vector<int> classes;
        std::size_t start = comma + 1;
        while (true) {
            const std::size_t end = s.find(',', start);
            const std::string_view field = s.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
            const int c = io::detail::parse_int(f, line, field, "predicted class");
            if (c < 0) f.fail(line, "predicted class ", c, " is negative");
            for (int prev : classes)
                if (prev == c) f.fail(line, "class ", c, " is listed twice");
            classes.push_back(c);
            if (end == std::string_view::npos) break;
            start = end + 1;
        }
        if (const auto [it, fresh] = first_line.emplace(id, line.number); !fresh)
            f.fail(line, "duplicate image id '", id, "' (first on line ", it->second, ")");
        out.emplace(std::move(id), std::move(classes));
    }
    return out;
}

/// The JSON key of an IoU threshold: "50" (wsolevaluation's keys), "37.500000" if not whole.
inline std::string iou_key(double t) {
    return t == std::floor(t) ? std::to_string(static_cast<long long>(t)) : std::to_string(t);
}

/// `{"30": value, ...}` from a per-IoU result.
template <class F>
nlohmann::json per_iou(const BoxAccuracyResult& r, F value) {
    nlohmann::json j = nlohmann::json::object();
    for (const auto& a : r.per_iou) j[iou_key(a.iou_threshold)] = value(a);
    return j;
}

/// One box counter's section: images, per-IoU accuracy, best threshold(s), the counts.
inline nlohmann::json box_section(const BoxAccuracy& b) {
    if (b.num_images() == 0) return nullptr;
    const auto r = b.result();
    nlohmann::json counts = nlohmann::json::object();
    for (std::size_t k = 0; k < b.iou_thresholds().size(); ++k) {
        const auto c = b.num_correct(k);
        counts[iou_key(b.iou_thresholds()[k])] = std::vector<std::int64_t>(c.begin(), c.end());
    }
    return {{"num_images", b.num_images()},
            {"mean", r.mean},
            {"max_box_acc_per_iou", per_iou(r, [](const BoxAccuracyAtIou& a) { return a.max_box_acc; })},
            {"best_threshold", per_iou(r, [](const BoxAccuracyAtIou& a) { return a.best_threshold; })},
            {"best_threshold_index", per_iou(r, [](const BoxAccuracyAtIou& a) { return a.best_threshold_index; })},
            {"num_correct", counts}};
}

} // namespace score_detail

inline void add_score(CLI::App& app) {
    struct Options {
        std::string metadata, scoremaps, protocol = "wsolevaluation", masks, predictions, out;
        double interval = 0.01;
        bool as_given = false, raw = false;
        std::vector<double> ious{30, 50, 70};
    };
    auto opt = std::make_shared<Options>();
    auto* cmd = app.add_subcommand(
        "score", "Score saved score maps (<scoremaps>/<image_id>.npy, float32/float64 H x W, any size, from any tool) "
                 "against wsolevaluation-layout metadata: MaxBoxAcc, MaxBoxAccV2, top-1/top-5/GT-known loc "
                 "(--predictions), PxAP (--masks); writes one JSON file");
    cmd->add_option("--metadata", opt->metadata,
                    "Metadata folder in wsolevaluation's layout (image_ids.txt, class_labels.txt, image_sizes.txt, "
                    "localization.txt with boxes, or with masks for PxAP)")
        ->required();
    cmd->add_option("--scoremaps", opt->scoremaps,
                    "Folder of score maps: <image_id>.npy (the id keeps its folders), float32 or float64, H x W")
        ->required();
    cmd->add_option("--protocol", opt->protocol,
                    "wsolevaluation: per threshold of arange(0, 1, interval), the largest contour's box (MaxBoxAcc) "
                    "and every contour's (MaxBoxAccV2); maps in wsolevaluation's saved form (min-max normalized) are "
                    "taken as given at their size with the GT boxes scaled to it, raw maps are resized to the image "
                    "(bicubic) and min-max normalized first. "
                    "layercam: layercam_loc's test.py on raw maps: ReLU, divide by max, resize to the image, "
                    "threshold 0.15, largest contour rectangle. "
                    "cam: resize to the image, min-max, above 0.2, largest 8-connected component. "
                    "layercam and cam give one box per image at their fixed threshold. Protocols registered with "
                    "eval::register_protocol are accepted too")
        ->capture_default_str();
    auto* given_flag = cmd->add_flag("--as-given", opt->as_given,
                  "Take every map as wsolevaluation saves it (normalized to [0, 1] at the evaluation size): no resize, "
                  "no normalization, GT boxes scaled to the map size (the default decides per map: min-max normalized "
                  "maps are taken as given, others are raw)");
    cmd->add_flag("--raw", opt->raw, "Run the protocol's own steps on every map (resize to the image, normalize)")
        ->excludes(given_flag);
    cmd->add_option("--interval", opt->interval, "CAM threshold interval, wsolevaluation protocol (numpy.arange(0, 1, interval))")
        ->capture_default_str();
    cmd->add_option("--iou", opt->ious, "IoU thresholds (percent) of MaxBoxAccV2 and the per-IoU values, comma-separated")
        ->delimiter(',')
        ->capture_default_str();
    cmd->add_option("--masks", opt->masks,
                    "Mask root for PxAP (wsolevaluation protocol): --metadata must then be an OpenImages-style "
                    "folder whose localization.txt lists <id>,<mask_path>,<ignore_path>, paths relative to this root; "
                    "masks are resized (nearest) to each map's size");
    cmd->add_option("--predictions", opt->predictions,
                    "Ranked predicted classes for top-1/top-5/GT-known loc: CSV lines 'image_id,class1,class2,...', "
                    "0-based classes, best first");
    cmd->add_option("--out", opt->out, "Output JSON file")->required();
    cmd->callback([opt] {
        if (std::error_code ec; !std::filesystem::is_directory(opt->scoremaps, ec))
            detail::raise<io_error>("--scoremaps '", opt->scoremaps, "' is not a folder");
        check_writable_parent(opt->out, "--out"); // before the work
        const io::Dataset ds = io::read_wsol_metadata(opt->metadata);
        eval::ScoreOptions o;
        o.protocol = eval::ProtocolRegistry::global().make(opt->protocol, {.interval = opt->interval});
        o.ious = opt->ious;
        o.form = opt->as_given ? eval::MapForm::as_given : opt->raw ? eval::MapForm::raw : eval::MapForm::automatic;
        if (!opt->masks.empty()) o.mask_root = opt->masks;
        if (ds.localization == io::Localization::masks && opt->masks.empty())
            detail::raise<value_error>(opt->metadata, ": localization.txt lists masks (OpenImages layout); give the "
                                       "mask root with --masks for PxAP");
        if (ds.localization == io::Localization::boxes && !opt->masks.empty())
            detail::raise<value_error>("--masks needs a metadata folder whose localization.txt lists masks; '",
                                       opt->metadata, "/localization.txt' lists boxes");
        if (ds.localization == io::Localization::masks && !opt->predictions.empty())
            detail::raise<value_error>("--predictions needs boxes; '", opt->metadata,
                                       "/localization.txt' lists masks (PxAP only)");
        if (!opt->predictions.empty()) {
            o.predictions = score_detail::read_predictions(opt->predictions);
            for (const auto& im : ds.images)
                if (!o.predictions.contains(im.id))
                    detail::raise<value_error>(opt->predictions, ": no line for image '", im.id, "'");
        }
        const std::filesystem::path root(opt->scoremaps);
        const auto r = eval::score_maps(ds, [&](const io::DatasetImage& im) { return score_detail::read_scoremap(root, im.id); }, o);
        const std::vector<double> thresholds = o.protocol.thresholds();

        nlohmann::json j = {{"tool", "dualgrad score"},
                            {"protocol", opt->protocol},
                            {"metadata", opt->metadata},
                            {"scoremaps", opt->scoremaps},
                            {"num_images", r.images},
                            {"maps_as_given", r.as_given},
                            {"maps_raw", r.raw},
                            {"iou_threshold_list", opt->ious},
                            {"num_cam_thresholds", thresholds.size()}};
        if (thresholds.size() > 1) j["cam_curve_interval"] = opt->interval;
        else j["threshold"] = thresholds.front();
        const auto res = r.metrics.result();
        j["MaxBoxAcc"] = res.max_box_acc ? nlohmann::json(res.max_box_acc->mean) : nlohmann::json(nullptr);
        j["MaxBoxAcc_best_threshold"] =
            res.max_box_acc ? nlohmann::json(res.max_box_acc->per_iou.front().best_threshold) : nlohmann::json(nullptr);
        j["MaxBoxAccV2"] = res.max_box_acc_v2 ? nlohmann::json(res.max_box_acc_v2->mean) : nlohmann::json(nullptr);
        j["largest_contour"] = score_detail::box_section(r.largest_per_iou);
        j["multi_contour"] = score_detail::box_section(r.metrics.max_box_acc_v2());
        j["loc"] = nullptr;
        if (res.loc) j["loc"] = loc_result_json(*res.loc);
        j["PxAP"] = res.pxap ? nlohmann::json(res.pxap->pxap) : nlohmann::json(nullptr);
        j["metrics"] = metrics_to_json(r.metrics);
        const std::filesystem::path out(opt->out);
        io::detail::write_file_text(out, j.dump(1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
        std::printf("%s: %zu images, protocol %s", opt->out.c_str(), r.images, opt->protocol.c_str());
        if (res.max_box_acc) std::printf(", MaxBoxAcc %.4f", res.max_box_acc->mean);
        if (res.max_box_acc_v2) std::printf(", MaxBoxAccV2 %.4f", res.max_box_acc_v2->mean);
        if (res.loc) {
            const auto best = res.loc->best_by_gt_known();
            std::printf(", top-1 loc %.4f, top-5 loc %.4f, GT-known loc %.4f", best.top1_loc, best.top5_loc, best.gt_known_loc);
        }
        if (res.pxap) std::printf(", PxAP %.4f", res.pxap->pxap);
        std::printf("\n");
        if (r.raw > 0)
            std::printf("%zu of %zu maps were raw (not min-max normalized at the evaluation size): the %s protocol's own "
                        "steps ran on them in the image's frame%s\n",
                        r.raw, r.images, opt->protocol.c_str(),
                        opt->protocol == "wsolevaluation" ? " (bicubic resize to image_sizes.txt, then min-max)" : "");
        if (r.as_given > 0)
            std::printf("%zu of %zu maps were scored as given (wsolevaluation's saved form: min-max normalized; ground-truth "
                        "boxes scaled to the map's size)\n",
                        r.as_given, r.images);
    });
}

} // namespace dualgrad::cli

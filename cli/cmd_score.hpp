#pragma once
// `dualgrad score --metadata DIR --scoremaps DIR [--protocol wsolevaluation|layercam|cam]
//                 [--interval 0.01] [--iou 30,50,70] [--masks DIR] [--predictions FILE] --out FILE.json`
// Scores saved score maps, made by any tool, against a dataset in wsolevaluation's metadata layout:
// MaxBoxAcc, MaxBoxAccV2 (per IoU, with their best thresholds), top-1 / top-5 / GT-known loc with
// --predictions, PxAP for a masks dataset with --masks.
//
// Score maps: `<scoremaps>/<image_id>.npy` (the id keeps its folders: "001.a/x.jpg" is
// "<scoremaps>/001.a/x.jpg.npy", as wsolevaluation's inference.py saves them), H x W float32 or
// float64, any size. Every image of image_ids.txt needs its map.
//
// Protocols:
// - wsolevaluation: the maps are taken as given, as wsolevaluation's BoxEvaluator takes its saved
//   score maps, which inference.py has already resized and min-max normalized: no resize, no
//   normalization here. Values must lie in [0, 1]. The ground-truth boxes are scaled from the
//   image size to the map's size (resize_bbox, io::scale_box) and the boxes are extracted at the
//   map's size: `uint8(trunc(255 m))` in float64 (float32 maps are widened exactly, as
//   wsolevaluation evaluates float64 maps), per CAM threshold t in numpy.arange(0, 1, interval)
//   the mask `u8 > int(t * max(u8))`, contours; MaxBoxAcc from the largest contour at IoU 50,
//   MaxBoxAccV2 the mean over --iou of the multi-contour values.
// - layercam: layercam_loc's test.py on a raw map: ReLU, divide by max, resize to the image size
//   (image_sizes.txt), threshold 0.15, the largest contour rectangle; one box per image, boxes in
//   image pixels. The "MaxBoxAcc" values are then accuracies at that one threshold.
// - cam: the CAM recipe (Zhou et al.): resize to the image size, min-max, above 0.2 of the range,
//   the largest 8-connected component; one box per image, as for layercam.
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
#include <dualgrad/localize/box_extractor.hpp>
#include <dualgrad/metrics/loc_metrics.hpp>
#include <dualgrad/metrics/serialize.hpp>
#include <dualgrad/thresholds.hpp>

namespace dualgrad::cli {

namespace score_detail {

/// The score map of `image_id`: `<dir>/<image_id>.npy`, float32 or float64, rank 2, not empty,
/// widened to double. Errors name the id and the file.
inline Map2D<double> read_scoremap(const std::filesystem::path& dir, const std::string& image_id) {
    const std::filesystem::path path = dir / (image_id + ".npy");
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec))
        detail::raise<io_error>("no score map for image '", image_id, "': '", path.string(), "' does not exist");
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

/// Under the wsolevaluation protocol the maps must already be normalized: every value in [0, 1].
inline void require_unit_range(const Map2D<double>& m, const std::filesystem::path& dir, const std::string& image_id) {
    for (int y = 0; y < m.height(); ++y)
        for (int x = 0; x < m.width(); ++x)
            if (const double v = m(y, x); !(v >= 0.0 && v <= 1.0))
                detail::raise<value_error>((dir / (image_id + ".npy")).string(), ": value ", v, " at (y ", y, ", x ", x,
                                           ") is outside [0, 1]; the wsolevaluation protocol takes normalized maps "
                                           "(wsolevaluation's normalize_scoremap), or use --protocol layercam or cam "
                                           "for raw maps");
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
                    "wsolevaluation: maps taken as given (already normalized to [0, 1], as wsolevaluation saves them), "
                    "GT boxes scaled to the map size, boxes at the map size for every threshold of "
                    "arange(0, 1, interval), largest contour (MaxBoxAcc) and every contour (MaxBoxAccV2). "
                    "layercam: layercam_loc's test.py on raw maps: ReLU, divide by max, resize to the image, "
                    "threshold 0.15, largest contour rectangle. "
                    "cam: resize to the image, min-max, above 0.2, largest 8-connected component. "
                    "layercam and cam give one box per image at their fixed threshold")
        ->check(CLI::IsMember({"wsolevaluation", "layercam", "cam"}))
        ->capture_default_str();
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
        const bool wsol = opt->protocol == "wsolevaluation";
        if (std::error_code ec; !std::filesystem::is_directory(opt->scoremaps, ec))
            detail::raise<io_error>("--scoremaps '", opt->scoremaps, "' is not a folder");
        const io::Dataset ds = io::read_wsol_metadata(opt->metadata);
        const bool mask_dataset = ds.localization == io::Localization::masks;
        if (mask_dataset && opt->masks.empty())
            detail::raise<value_error>(opt->metadata, ": localization.txt lists masks (OpenImages layout); give the "
                                       "mask root with --masks for PxAP");
        if (!mask_dataset && !opt->masks.empty())
            detail::raise<value_error>("--masks needs a metadata folder whose localization.txt lists masks; '",
                                       opt->metadata, "/localization.txt' lists boxes");
        if (mask_dataset && !wsol)
            detail::raise<value_error>("--masks (PxAP) needs --protocol wsolevaluation");
        if (mask_dataset && !opt->predictions.empty())
            detail::raise<value_error>("--predictions needs boxes; '", opt->metadata,
                                       "/localization.txt' lists masks (PxAP only)");
        if (ds.localization == io::Localization::none)
            detail::raise<value_error>(opt->metadata, ": no localization.txt annotations");
        if (ds.images.empty()) detail::raise<value_error>(opt->metadata, "/image_ids.txt lists no image");
        for (const auto& im : ds.images) {
            if (!mask_dataset && im.boxes.empty())
                detail::raise<value_error>(opt->metadata, "/localization.txt: image '", im.id, "' has no box");
            if (im.size.height <= 0 || im.size.width <= 0)
                detail::raise<value_error>(opt->metadata, "/image_sizes.txt: image '", im.id, "' has no size");
        }

        std::unordered_map<std::string, std::vector<int>> predictions;
        if (!opt->predictions.empty()) {
            predictions = score_detail::read_predictions(opt->predictions);
            for (const auto& im : ds.images) {
                if (!predictions.contains(im.id))
                    detail::raise<value_error>(opt->predictions, ": no line for image '", im.id, "'");
                if (im.label < 0)
                    detail::raise<value_error>(opt->metadata, "/class_labels.txt: image '", im.id, "' has no class label");
            }
        }

        const std::vector<double> thresholds = wsol                           ? cam_thresholds(opt->interval, "--interval")
                                               : opt->protocol == "layercam" ? std::vector<double>{LayerCamLargestRect{}.threshold}
                                                                             : std::vector<double>{CamLargestComponent{}.fraction};
        LocMetrics metrics(thresholds, opt->ious, 50.0);
        BoxAccuracy largest_per_iou(thresholds, opt->ious); // the largest-contour values at every --iou
        BoxExtractor<WsolLargestContour> largest(WsolLargestContour{opt->interval, {}});
        BoxExtractor<WsolMultiContour> multi(WsolMultiContour{opt->interval, {}});
        BoxExtractor<LayerCamLargestRect> layercam;
        BoxExtractor<CamLargestComponent> cam;
        std::vector<std::vector<Box>> per_t_largest, per_t_multi;
        std::vector<Box> gt;
        const std::filesystem::path root(opt->scoremaps);

        for (const auto& im : ds.images) {
            const Map2D<double> map = score_detail::read_scoremap(root, im.id);
            if (wsol) score_detail::require_unit_range(map, root, im.id);
            if (mask_dataset) {
                const auto masks = io::load_wsol_masks(opt->masks, im, map.height(), map.width());
                metrics.add_mask(map, masks.foreground, masks.ignore);
                continue;
            }
            gt.clear();
            if (wsol) {
                const ImageSize map_size{map.height(), map.width()};
                for (const Box& b : im.boxes) gt.push_back(io::scale_box(b, im.size, map_size));
                largest.boxes_from_normalized(map, per_t_largest);
                multi.boxes_from_normalized(map, per_t_multi);
            } else {
                const Box b = opt->protocol == "layercam" ? layercam.box(map, im.size) : cam.box(map, im.size);
                gt = im.boxes;
                per_t_largest.assign(1, {b});
                per_t_multi = per_t_largest;
            }
            std::span<const int> ranked;
            if (!predictions.empty()) ranked = predictions.at(im.id);
            metrics.add({gt, per_t_largest, per_t_multi, im.label, ranked});
            largest_per_iou.add(per_t_largest, gt);
        }

        nlohmann::json j = {{"tool", "dualgrad score"},
                            {"protocol", opt->protocol},
                            {"metadata", opt->metadata},
                            {"scoremaps", opt->scoremaps},
                            {"num_images", ds.images.size()},
                            {"iou_threshold_list", opt->ious},
                            {"num_cam_thresholds", thresholds.size()}};
        if (wsol) j["cam_curve_interval"] = opt->interval;
        else j["threshold"] = thresholds.front();
        const auto r = metrics.result();
        j["MaxBoxAcc"] = r.max_box_acc ? nlohmann::json(r.max_box_acc->mean) : nlohmann::json(nullptr);
        j["MaxBoxAcc_best_threshold"] =
            r.max_box_acc ? nlohmann::json(r.max_box_acc->per_iou.front().best_threshold) : nlohmann::json(nullptr);
        j["MaxBoxAccV2"] = r.max_box_acc_v2 ? nlohmann::json(r.max_box_acc_v2->mean) : nlohmann::json(nullptr);
        j["largest_contour"] = score_detail::box_section(largest_per_iou);
        j["multi_contour"] = score_detail::box_section(metrics.max_box_acc_v2());
        j["loc"] = nullptr;
        if (r.loc) j["loc"] = loc_result_json(*r.loc);
        j["PxAP"] = r.pxap ? nlohmann::json(r.pxap->pxap) : nlohmann::json(nullptr);
        j["metrics"] = metrics_to_json(metrics);
        const std::string text = j.dump(1) + "\n";
        const std::filesystem::path out(opt->out);
        if (out.has_parent_path()) {
            std::error_code ec;
            std::filesystem::create_directories(out.parent_path(), ec);
        }
        io::detail::write_file_bytes(out, std::as_bytes(std::span<const char>(text.data(), text.size())));
        std::printf("%s: %zu images, protocol %s", opt->out.c_str(), ds.images.size(), opt->protocol.c_str());
        if (r.max_box_acc) std::printf(", MaxBoxAcc %.4f", r.max_box_acc->mean);
        if (r.max_box_acc_v2) std::printf(", MaxBoxAccV2 %.4f", r.max_box_acc_v2->mean);
        if (r.loc) {
            const auto best = r.loc->best_by_gt_known();
            std::printf(", top-1 loc %.4f, top-5 loc %.4f, GT-known loc %.4f", best.top1_loc, best.top5_loc, best.gt_known_loc);
        }
        if (r.pxap) std::printf(", PxAP %.4f", r.pxap->pxap);
        std::printf("\n");
    });
}

} // namespace dualgrad::cli

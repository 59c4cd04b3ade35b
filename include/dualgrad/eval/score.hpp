#pragma once
/// \file
/// `score_maps`: the metrics of score maps made by any tool, against a dataset in wsolevaluation's
/// metadata layout, under any `BoxProtocol`. What `dualgrad score` runs.
///
///     eval::ScoreOptions o{.protocol = eval::WsolevaluationProtocol{}};
///     auto r = eval::score_maps(io::read_wsol_metadata("metadata/test"),
///                               [](const io::DatasetImage& im) { return my_map(im.id); }, o);
///
/// Two forms of map are taken:
/// - the protocol's saved form, as wsolevaluation's `inference.py` saves its maps (already resized
///   to the evaluation frame and min-max normalized: minimum 0, maximum 1, or all zeros). Such a
///   map is scored as given, as wsolevaluation's `BoxEvaluator` does: at the map's size, with the
///   ground-truth boxes scaled from the image size to it. Only protocols with an as-given form
///   (`boxes_as_given`; wsolevaluation) take it;
/// - a raw map (any size, any values): the protocol's own steps run, in the image's frame
///   (image_sizes.txt): wsolevaluation resizes it bicubically to the image and min-max
///   normalizes it; layercam_loc and CAM do what they do to raw maps.
/// `MapForm::automatic` (the default) decides per map; `as_given` and `raw` force one form. The
/// result counts how many maps took each form.

#include <cmath>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "dualgrad/eval/protocol.hpp"
#include "dualgrad/io/datasets.hpp"
#include "dualgrad/io/masks.hpp"
#include "dualgrad/metrics/box_accuracy.hpp"
#include "dualgrad/metrics/loc_metrics.hpp"

namespace dualgrad::eval {

enum class MapForm { automatic, as_given, raw };

struct ScoreOptions {
    AnyProtocol protocol = WsolevaluationProtocol{};
    std::vector<double> ious{30, 50, 70};
    MapForm form = MapForm::automatic;
    /// Ranked predicted classes by image id (top-1 / top-5 / GT-known loc); empty: none.
    std::unordered_map<std::string, std::vector<int>> predictions;
    /// Mask root for PxAP, for a metadata folder that lists masks (OpenImages format).
    std::filesystem::path mask_root;
};

struct ScoreResult {
    LocMetrics metrics;
    BoxAccuracy largest_per_iou; ///< the largest-box accuracies at every IoU of `ious`
    std::size_t images = 0;
    std::size_t as_given = 0;    ///< maps scored in the protocol's saved form
    std::size_t raw = 0;         ///< maps that went through the protocol's steps
};

/// Is `m` in wsolevaluation's saved form (finite, minimum 0 and maximum 1, or all zeros)?
[[nodiscard]] inline bool is_minmax_normalized(const Map2D<double>& m) {
    double lo = 0, hi = 0;
    bool first = true;
    for (double v : m.values()) {
        if (!std::isfinite(v)) return false;
        lo = first ? v : std::min(lo, v);
        hi = first ? v : std::max(hi, v);
        first = false;
    }
    return lo == 0.0 && (hi == 1.0 || hi == 0.0);
}

/// Scores the map `read_map(image)` of every image of `ds` (see the file comment). Errors name the
/// metadata and the image; a map with NaN or Inf is refused under every protocol.
[[nodiscard]] inline ScoreResult score_maps(const io::Dataset& ds,
                                            const std::function<Map2D<double>(const io::DatasetImage&)>& read_map,
                                            const ScoreOptions& o) {
    using dualgrad::detail::raise;
    const bool mask_dataset = ds.localization == io::Localization::masks;
    if (ds.localization == io::Localization::none) raise<value_error>(ds.source, ": no localization.txt annotations");
    if (ds.images.empty()) raise<value_error>(ds.source, "/image_ids.txt lists no image");
    if (mask_dataset && o.mask_root.empty())
        raise<value_error>(ds.source, ": localization.txt lists masks (OpenImages layout); give the mask root for PxAP");
    if (!mask_dataset && !o.mask_root.empty())
        raise<value_error>("a mask root needs a metadata folder whose localization.txt lists masks; '", ds.source,
                           "/localization.txt' lists boxes");
    if (mask_dataset && !o.protocol.has_pxap())
        raise<value_error>("PxAP needs a protocol that defines it (wsolevaluation), not '", o.protocol.name(), "'");
    if (o.form == MapForm::as_given && !o.protocol.has_as_given())
        raise<value_error>("protocol '", o.protocol.name(), "' takes raw maps only; it has no as-given form");
    for (const auto& im : ds.images) {
        if (!mask_dataset && im.boxes.empty()) raise<value_error>(ds.source, "/localization.txt: image '", im.id, "' has no box");
        if (im.size.height <= 0 || im.size.width <= 0)
            raise<value_error>(ds.source, "/image_sizes.txt: image '", im.id, "' has no size");
        if (!o.predictions.empty()) {
            if (!o.predictions.contains(im.id)) raise<value_error>("predictions: no line for image '", im.id, "'");
            if (im.label < 0) raise<value_error>(ds.source, "/class_labels.txt: image '", im.id, "' has no class label");
        }
    }

    const std::vector<double> thresholds = o.protocol.thresholds();
    ScoreResult r{LocMetrics(thresholds, o.ious, 50.0), BoxAccuracy(thresholds, o.ious), 0, 0, 0};
    ProtocolBoxes boxes;
    std::vector<Box> gt;
    for (const auto& im : ds.images) {
        const Map2D<double> map = read_map(im);
        for (int y = 0; y < map.height(); ++y)
            for (int x = 0; x < map.width(); ++x)
                if (!std::isfinite(map(y, x)))
                    raise<value_error>("the score map of image '", im.id, "' has the non-finite value ", map(y, x),
                                       " at (y ", y, ", x ", x, ")");
        const bool as_given = o.form == MapForm::as_given ||
                              (o.form == MapForm::automatic && o.protocol.has_as_given() && is_minmax_normalized(map));
        if (o.form == MapForm::as_given)
            for (int y = 0; y < map.height(); ++y)
                for (int x = 0; x < map.width(); ++x)
                    if (const double v = map(y, x); !(v >= 0.0 && v <= 1.0))
                        raise<value_error>("the score map of image '", im.id, "': value ", v, " at (y ", y, ", x ", x,
                                           ") is outside [0, 1]; maps taken as given must be normalized as "
                                           "wsolevaluation's normalize_scoremap leaves them");
        ++(as_given ? r.as_given : r.raw);
        // As given: the map's own frame. Raw: the image's.
        const ImageSize frame = as_given ? ImageSize{map.height(), map.width()} : im.size;
        ScoreMap raw;
        if (!as_given) {
            raw = ScoreMap(map.height(), map.width());
            for (std::size_t i = 0; i < map.size(); ++i) raw.values()[i] = static_cast<float>(map.values()[i]);
        }
        if (mask_dataset) {
            const auto masks = io::load_wsol_masks(o.mask_root, im, frame.height, frame.width);
            if (as_given) r.metrics.add_mask(map, masks.foreground, masks.ignore);
            else r.metrics.add_mask(o.protocol.pxap_map(raw, frame), masks.foreground, masks.ignore);
            ++r.images;
            continue;
        }
        gt.clear();
        for (const Box& b : im.boxes) gt.push_back(as_given ? io::scale_box(b, im.size, frame) : b);
        if (as_given) o.protocol.boxes_as_given(map, boxes);
        else o.protocol.boxes(raw, frame, boxes);
        std::span<const int> ranked;
        if (!o.predictions.empty()) ranked = o.predictions.at(im.id);
        r.metrics.add({gt, boxes.largest, boxes.multi, im.label, ranked});
        r.largest_per_iou.add(boxes.largest, gt);
        ++r.images;
    }
    return r;
}

} // namespace dualgrad::eval

#pragma once
/// \file
/// `LocMetrics` to and from JSON: the counts (so that shards saved by `dualgrad eval --shard k/N`
/// merge exactly with `dualgrad merge`) and, for reading, the results computed from them.
///
///     nlohmann::json j = dualgrad::metrics_to_json(m);          // {"counts": ..., "results": ...}
///     auto back = dualgrad::metrics_from_json(j, "shard0/metrics.json");
///
/// `FaithfulnessCounts` likewise (`faithfulness_to_json`): {"settings", "counts", "results"},
/// the sums as integers in units of 2^-40 (`ExactSum`).

#include <string>
#include <string_view>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "dualgrad/io/detail/json.hpp"
#include "dualgrad/metrics/faithfulness.hpp"
#include "dualgrad/metrics/loc_metrics.hpp"

namespace dualgrad {

namespace detail {

inline nlohmann::json box_accuracy_counts(const BoxAccuracy& b) {
    nlohmann::json per_iou = nlohmann::json::array();
    for (std::size_t k = 0; k < b.iou_thresholds().size(); ++k) {
        const auto c = b.num_correct(k);
        per_iou.push_back(std::vector<std::int64_t>(c.begin(), c.end()));
    }
    return {{"iou_thresholds", b.iou_thresholds()}, {"num_images", b.num_images()}, {"num_correct", per_iou}};
}

inline nlohmann::json box_accuracy_result(const BoxAccuracy& b) {
    if (b.num_images() == 0) return nullptr;
    const auto r = b.result();
    nlohmann::json per = nlohmann::json::object();
    for (const auto& a : r.per_iou)
        per[std::to_string(static_cast<int>(a.iou_threshold))] = {
            {"max_box_acc", a.max_box_acc}, {"best_threshold", a.best_threshold}, {"best_threshold_index", a.best_threshold_index}};
    return {{"mean", r.mean}, {"per_iou", per}};
}

/// The member `key` of `j`, by reference (a copy of a nested value would recurse once per level).
inline const nlohmann::json& member(const nlohmann::json& j, const char* key, std::string_view source) {
    if (!j.is_object()) raise<io_error>(source, ": metrics JSON has no field '", key, "' (its parent is not an object)");
    const auto it = j.find(key);
    if (it == j.end()) raise<io_error>(source, ": metrics JSON has no field '", key, "'");
    return *it;
}

template <class T>
T field(const nlohmann::json& j, const char* key, std::string_view source) {
    if (!j.is_object() || !j.contains(key))
        raise<io_error>(source, ": metrics JSON has no field '", key, "'");
    try {
        return j.at(key).get<T>();
    } catch (const nlohmann::json::exception& e) {
        raise<io_error>(source, ": metrics JSON field '", key, "' has the wrong type (", e.what(), ")");
    }
}

/// A count from metrics JSON: a JSON integer in [0, 2^63 - 1]. A fraction, a negative number,
/// a number too large for 64 bits or another JSON type is an `io_error` naming the field.
[[nodiscard]] inline std::int64_t as_count(const nlohmann::json& v, std::string_view source, std::string_view key) {
    if (v.is_number_unsigned()) {
        const auto u = v.get<std::uint64_t>();
        if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
            raise<io_error>(source, ": metrics JSON field '", key, "' holds ", u, ", too large for a 64-bit count");
        return static_cast<std::int64_t>(u);
    }
    if (v.is_number_integer()) {
        const auto i = v.get<std::int64_t>();
        if (i < 0) raise<io_error>(source, ": metrics JSON field '", key, "' holds ", i, ", a negative count");
        return i;
    }
    raise<io_error>(source, ": metrics JSON field '", key, "' holds ", io::detail::describe_json(v), " (a JSON ", v.type_name(),
                    "), not a non-negative integer count");
}

[[nodiscard]] inline std::int64_t count(const nlohmann::json& j, const char* key, std::string_view source) {
    return as_count(member(j, key, source), source, key);
}

[[nodiscard]] inline std::vector<std::int64_t> counts(const nlohmann::json& v, std::string_view source,
                                                      std::string_view key) {
    if (!v.is_array())
        raise<io_error>(source, ": metrics JSON field '", key, "' is a JSON ", v.type_name(), ", not an array of counts");
    std::vector<std::int64_t> out;
    out.reserve(v.size());
    for (const auto& e : v) out.push_back(as_count(e, source, key));
    return out;
}

[[nodiscard]] inline std::vector<std::int64_t> counts(const nlohmann::json& j, const char* key, std::string_view source) {
    return counts(member(j, key, source), source, key);
}

} // namespace detail

/// Top-1 / top-5 / GT-known localization (accuracies and errors, percent) at the threshold of
/// best GT-known accuracy, and classification accuracy.
[[nodiscard]] inline nlohmann::json loc_result_json(const LocAccuracyResult& r) {
    const auto best = r.best_by_gt_known();
    return {{"best_threshold", best.threshold},
            {"top1_loc", best.top1_loc},
            {"top5_loc", best.top5_loc},
            {"gt_known_loc", best.gt_known_loc},
            {"top1_loc_error", best.top1_loc_error()},
            {"top5_loc_error", best.top5_loc_error()},
            {"gt_known_loc_error", best.gt_known_loc_error()},
            {"top1_cls", r.top1_cls},
            {"top5_cls", r.top5_cls}};
}

/// The counts and the results of `m` as JSON.
[[nodiscard]] inline nlohmann::json metrics_to_json(const LocMetrics& m) {
    const auto& loc = m.loc_accuracy();
    const auto& px = m.pxap();
    nlohmann::json counts = {
        {"cam_thresholds", m.cam_thresholds()},
        {"max_box_acc", detail::box_accuracy_counts(m.max_box_acc())},
        {"max_box_acc_v2", detail::box_accuracy_counts(m.max_box_acc_v2())},
        {"loc", {{"iou_threshold", loc.iou_threshold()},
                 {"num_images", loc.num_images()},
                 {"top1_loc", std::vector<std::int64_t>(loc.top1_loc_counts().begin(), loc.top1_loc_counts().end())},
                 {"top5_loc", std::vector<std::int64_t>(loc.top5_loc_counts().begin(), loc.top5_loc_counts().end())},
                 {"gt_known_loc", std::vector<std::int64_t>(loc.gt_known_loc_counts().begin(), loc.gt_known_loc_counts().end())},
                 {"top1_cls", loc.top1_cls_count()},
                 {"top5_cls", loc.top5_cls_count()}}},
        {"pxap", {{"num_images", px.num_images()},
                  {"positive", std::vector<std::int64_t>(px.positive_histogram().begin(), px.positive_histogram().end())},
                  {"negative", std::vector<std::int64_t>(px.negative_histogram().begin(), px.negative_histogram().end())}}}};
    nlohmann::json results = {{"max_box_acc", detail::box_accuracy_result(m.max_box_acc())},
                              {"max_box_acc_v2", detail::box_accuracy_result(m.max_box_acc_v2())}};
    if (loc.num_images() > 0) {
        results["loc"] = loc_result_json(loc.result());
    }
    // PxAP is defined once a ground-truth positive pixel was counted (wsolevaluation raises
    // otherwise); before that its result is absent, as for no image.
    const auto pos = px.positive_histogram();
    if (px.num_images() > 0 && std::any_of(pos.begin(), pos.end(), [](std::int64_t c) { return c > 0; }))
        results["pxap"] = px.result().pxap;
    return {{"counts", counts}, {"results", results}};
}

/// Restores the accumulator saved by `metrics_to_json`; errors name `source` and the field.
[[nodiscard]] inline LocMetrics metrics_from_json(const nlohmann::json& j, std::string_view source) {
    using detail::count;
    using detail::counts;
    using detail::field;
    using detail::member;
    using V = std::vector<std::int64_t>;
    const auto& cnts = member(j, "counts", source);
    const auto t = field<std::vector<double>>(cnts, "cam_thresholds", source);
    auto box = [&](const char* key) {
        const auto& b = member(cnts, key, source);
        const auto iou = field<std::vector<double>>(b, "iou_thresholds", source);
        const auto& rows = member(b, "num_correct", source);
        if (!rows.is_array())
            detail::raise<io_error>(source, ": metrics JSON field 'num_correct' is a JSON ", rows.type_name(),
                                    ", not an array of arrays of counts");
        if (rows.size() != iou.size())
            detail::raise<io_error>(source, ": metrics JSON field '", key, ".num_correct' has ", rows.size(),
                                    " rows for ", iou.size(), " IoU thresholds");
        V flat;
        for (const auto& row : rows) {
            const V r = counts(row, source, "num_correct");
            if (r.size() != t.size())
                detail::raise<io_error>(source, ": metrics JSON field '", key, ".num_correct' has a row of ", r.size(),
                                        " counts for ", t.size(), " CAM thresholds");
            flat.insert(flat.end(), r.begin(), r.end());
        }
        return BoxAccuracy::from_counts(t, iou, count(b, "num_images", source), flat);
    };
    const auto& l = member(cnts, "loc", source);
    const auto& p = member(cnts, "pxap", source);
    try {
        return LocMetrics::from_parts(
            box("max_box_acc"), box("max_box_acc_v2"),
            LocAccuracy::from_counts(t, field<double>(l, "iou_threshold", source), count(l, "num_images", source),
                                     counts(l, "top1_loc", source), counts(l, "top5_loc", source),
                                     counts(l, "gt_known_loc", source), count(l, "top1_cls", source),
                                     count(l, "top5_cls", source)),
            PxAP::from_counts(t, count(p, "num_images", source), counts(p, "positive", source),
                              counts(p, "negative", source)));
    } catch (const value_error& e) {
        detail::raise<io_error>(source, ": inconsistent metrics counts: ", e.what());
    }
}

namespace detail {
[[nodiscard]] inline nlohmann::json finite_or_null(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }
[[nodiscard]] inline std::vector<std::int64_t> units_of(const std::vector<ExactSum>& s) {
    std::vector<std::int64_t> u;
    for (const auto& e : s) u.push_back(e.units());
    return u;
}
} // namespace detail

/// The settings, counts and results of faithfulness metrics as JSON (see the file comment).
[[nodiscard]] inline nlohmann::json faithfulness_to_json(const FaithfulnessCounts& f) {
    const auto& o = f.options();
    std::vector<std::string> metrics;
    if (o.confidence) metrics.emplace_back("confidence");
    if (o.deletion) metrics.emplace_back("deletion");
    if (o.insertion) metrics.emplace_back("insertion");
    if (o.pointing) metrics.emplace_back("pointing");
    const auto r = f.result();
    return {{"settings", {{"metrics", metrics}, {"steps", o.steps}, {"deletion_baseline", name(o.deletion_baseline)},
                          {"insertion_baseline", name(o.insertion_baseline)}, {"tolerance", o.tolerance}}},
            {"counts", {{"images", f.images()}, {"increases", f.increases()}, {"pointing_hits", f.pointing_hits()},
                        {"drop_units", f.drop_sum().units()}, {"deletion_auc_units", f.deletion_auc_sum().units()},
                        {"insertion_auc_units", f.insertion_auc_sum().units()},
                        {"deletion_curve_units", detail::units_of(f.deletion_curve_sums())},
                        {"insertion_curve_units", detail::units_of(f.insertion_curve_sums())}}},
            {"results", {{"avg_drop", detail::finite_or_null(r.avg_drop)}, {"increase", detail::finite_or_null(r.increase)},
                         {"deletion_auc", detail::finite_or_null(r.deletion_auc)},
                         {"insertion_auc", detail::finite_or_null(r.insertion_auc)},
                         {"pointing", detail::finite_or_null(r.pointing)}, {"deletion_curve", r.deletion_curve},
                         {"insertion_curve", r.insertion_curve}}}};
}

/// Restores faithfulness counts saved by `faithfulness_to_json`; errors name `source` and the field.
[[nodiscard]] inline FaithfulnessCounts faithfulness_from_json(const nlohmann::json& j, std::string_view source) {
    using detail::count;
    using detail::counts;
    using detail::field;
    using detail::member;
    const auto& s = member(j, "settings", source);
    FaithfulnessOptions o;
    o.confidence = o.deletion = o.insertion = o.pointing = false;
    for (const auto& m : field<std::vector<std::string>>(s, "metrics", source)) {
        if (m == "confidence") o.confidence = true;
        else if (m == "deletion") o.deletion = true;
        else if (m == "insertion") o.insertion = true;
        else if (m == "pointing") o.pointing = true;
        else detail::raise<io_error>(source, ": faithfulness metric '", m, "' is unknown");
    }
    const auto& c = member(j, "counts", source);
    const auto sum = [&](const char* key) {
        ExactSum e;
        e.add_units(count(c, key, source));
        return e;
    };
    const auto curve = [&](const char* key) {
        std::vector<ExactSum> out;
        for (auto u : counts(c, key, source)) out.emplace_back().add_units(u);
        return out;
    };
    try {
        const auto steps = count(s, "steps", source); // an integer, never a cast of a float
        if (steps < 1 || steps > 100000)
            detail::raise<io_error>(source, ": faithfulness field 'steps' holds ", steps, ", outside [1, 100000]");
        o.steps = static_cast<int>(steps);
        o.deletion_baseline = parse_baseline(field<std::string>(s, "deletion_baseline", source), "deletion_baseline");
        o.insertion_baseline = parse_baseline(field<std::string>(s, "insertion_baseline", source), "insertion_baseline");
        o.tolerance = field<double>(s, "tolerance", source);
        auto f = FaithfulnessCounts::from_parts(o, count(c, "images", source), sum("drop_units"), count(c, "increases", source),
                                                sum("deletion_auc_units"), sum("insertion_auc_units"),
                                                curve("deletion_curve_units"), curve("insertion_curve_units"),
                                                count(c, "pointing_hits", source));
        return f;
    } catch (const value_error& e) {
        detail::raise<io_error>(source, ": inconsistent faithfulness counts: ", e.what());
    }
}

} // namespace dualgrad

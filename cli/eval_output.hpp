#pragma once
// The files `dualgrad eval` writes and `dualgrad merge` combines:
//   metrics.json  eval::runs_to_json (include/dualgrad/eval/runs.hpp): the counts of every run
//   table.md      methods by layers: top-1 loc, top-5 loc and GT-known errors at the best threshold,
//                 and MaxBoxAccV2 (the paper's Table 1 layout); with --faithfulness, a second table
//                 of the faithfulness metrics
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <dualgrad/eval/runs.hpp>
#include <dualgrad/io/detail/files.hpp>
#include <dualgrad/metrics/serialize.hpp>

#include "output_folder.hpp"

namespace dualgrad::cli {

using EvalRuns = eval::Runs;

inline std::string fmt(double v, int digits = 2) {
    std::ostringstream os;
    os.setf(std::ios::fixed);
    os.precision(digits);
    os << v;
    return os.str();
}

/// Methods by layers, like the paper's Table 1: top-1 / top-5 / GT-known loc errors at the
/// threshold that maximizes GT-known accuracy, MaxBoxAccV2 and PxAP (when masks were given), and
/// the classifier's top-1 / top-5 accuracy on the same images.
inline std::string table_markdown(const EvalRuns& r) {
    std::ostringstream os;
    os << "| method | layer | top-1 loc err | top-5 loc err | GT-known loc err | MaxBoxAccV2 | PxAP | images | top-1 cls acc | top-5 cls acc |\n";
    os << "|---|---|---|---|---|---|---|---|---|---|\n";
    for (const auto& method : r.methods)
        for (const auto& layer : r.layers) {
            const auto it = r.runs.find(method + "@" + layer);
            if (it == r.runs.end()) continue;
            const auto& m = it->second;
            os << "| " << method << " | " << layer << " | ";
            if (m.loc_accuracy().num_images() > 0) {
                const auto best = m.loc_accuracy().result().best_by_gt_known();
                os << fmt(best.top1_loc_error()) << " | " << fmt(best.top5_loc_error()) << " | "
                   << fmt(best.gt_known_loc_error()) << " | ";
            } else {
                os << "- | - | - | ";
            }
            os << (m.max_box_acc_v2().num_images() > 0 ? fmt(m.max_box_acc_v2().result().mean) : "-") << " | "
               << (m.pxap().num_images() > 0 ? fmt(m.pxap().result().pxap) : "-") << " | "
               << m.max_box_acc_v2().num_images() << " | ";
            if (m.loc_accuracy().num_images() > 0) {
                const auto r = m.loc_accuracy().result();
                os << fmt(r.top1_cls) << " | " << fmt(r.top5_cls) << " |\n";
            } else {
                os << "- | - |\n";
            }
        }
    return os.str();
}

/// Each method at its layer of lowest GT-known error (the first such layer in the requested
/// order), with the same columns: how the paper compares methods at their best layers.
inline std::string best_layers_markdown(const EvalRuns& r) {
    std::ostringstream os;
    os << "| method | best layer | top-1 loc err | top-5 loc err | GT-known loc err | MaxBoxAccV2 | PxAP | best CAM threshold |\n";
    os << "|---|---|---|---|---|---|---|---|\n";
    for (const auto& method : r.methods) {
        const LocMetrics* best = nullptr;
        std::string best_layer;
        double best_err = 0;
        for (const auto& layer : r.layers) {
            const auto it = r.runs.find(method + "@" + layer);
            if (it == r.runs.end() || it->second.loc_accuracy().num_images() == 0) continue;
            const double e = it->second.loc_accuracy().result().best_by_gt_known().gt_known_loc_error();
            if (!best || e < best_err) best = &it->second, best_layer = layer, best_err = e;
        }
        if (!best) continue;
        const auto at = best->loc_accuracy().result().best_by_gt_known();
        os << "| " << method << " | " << best_layer << " | " << fmt(at.top1_loc_error()) << " | "
           << fmt(at.top5_loc_error()) << " | " << fmt(at.gt_known_loc_error()) << " | "
           << (best->max_box_acc_v2().num_images() > 0 ? fmt(best->max_box_acc_v2().result().mean) : "-") << " | "
           << (best->pxap().num_images() > 0 ? fmt(best->pxap().result().pxap) : "-") << " | " << fmt(at.threshold)
           << " |\n";
    }
    return os.str();
}

/// A result in percent, or "-" where not computed.
inline std::string pct_or_dash(double v) { return std::isfinite(v) ? fmt(100.0 * v) : "-"; }
/// An area under a curve to 4 digits, or "-" where not computed.
inline std::string auc_or_dash(double v) { return std::isfinite(v) ? fmt(v, 4) : "-"; }

/// The faithfulness metrics of every run that has them (empty when none has).
inline std::string faithfulness_markdown(const EvalRuns& r) {
    if (r.faithfulness.empty()) return "";
    std::ostringstream os;
    const auto& o = r.faithfulness.begin()->second.options();
    os << "Faithfulness (average drop and increase in confidence in percent, deletion (" << name(o.deletion_baseline)
       << " baseline) and insertion (" << name(o.insertion_baseline) << " baseline) AUC over " << o.steps
       << " steps, pointing game in percent at " << fmt(o.tolerance) << " px):\n\n";
    os << "| method | layer | avg drop | increase | deletion AUC | insertion AUC | pointing | images |\n";
    os << "|---|---|---|---|---|---|---|---|\n";
    for (const auto& method : r.methods)
        for (const auto& layer : r.layers) {
            const auto it = r.faithfulness.find(method + "@" + layer);
            if (it == r.faithfulness.end()) continue;
            const auto f = it->second.result();
            os << "| " << method << " | " << layer << " | " << pct_or_dash(f.avg_drop) << " | " << pct_or_dash(f.increase)
               << " | " << auc_or_dash(f.deletion_auc) << " | " << auc_or_dash(f.insertion_auc) << " | "
               << pct_or_dash(f.pointing) << " | " << it->second.images() << " |\n";
        }
    return os.str();
}

/// Stages metrics.json and table.md in `out` (moved into place by its `commit`).
inline void write_eval(OutputFolder& out, const EvalRuns& r, const nlohmann::json& shard) {
    io::detail::write_file_text(out.staged("table.md"), table_markdown(r) + "\nEach method at its best layer (lowest GT-known error):\n\n" +
                                                      best_layers_markdown(r) +
                                                      (r.faithfulness.empty() ? "" : "\n" + faithfulness_markdown(r)));
    // metrics.json last: it is what `merge` reads, and it says the run completed.
    io::detail::write_file_text(out.staged("metrics.json"), eval::runs_to_json(r, shard).dump(1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
}

} // namespace dualgrad::cli

#pragma once
// The files `dualgrad eval` writes and `dualgrad merge` combines:
//   metrics.json  {"format": "dualgrad-eval-1", "arch": ..., "shard": {"index", "count"} | {"merged": [...]},
//                  "runs": {"<method>@<layer>": {"counts": ..., "results": ...}}}
//   table.md      methods by layers: top-1 loc, top-5 loc and GT-known errors at the best threshold,
//                 and MaxBoxAccV2 (the paper's Table 1 layout)
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <dualgrad/metrics/serialize.hpp>

namespace dualgrad::cli {

inline constexpr const char* eval_format = "dualgrad-eval-1";

struct EvalRuns {
    std::string arch;
    std::string protocol = "wsolevaluation";
    std::vector<std::string> methods; // in the order requested
    std::vector<std::string> layers;  // in the order requested
    std::map<std::string, LocMetrics> runs; // "<method>@<layer>"
};

inline nlohmann::json read_json_file(const std::filesystem::path& p) {
    std::ifstream in(p);
    if (!in) detail::raise<io_error>("cannot open '", p.string(), "'");
    try {
        return nlohmann::json::parse(in);
    } catch (const nlohmann::json::parse_error& e) {
        detail::raise<io_error>("'", p.string(), "' is not valid JSON: ", e.what());
    }
}

inline EvalRuns read_eval(const std::filesystem::path& file) {
    const auto j = read_json_file(file);
    const std::string src = file.string();
    if (!j.is_object() || j.value("format", "") != eval_format)
        detail::raise<io_error>("'", src, "' is not a dualgrad eval metrics file (format '", eval_format, "' expected)");
    EvalRuns r;
    r.arch = j.value("arch", "");
    if (!j.contains("runs") || !j["runs"].is_object()) detail::raise<io_error>("'", src, "' has no 'runs' object");
    for (const auto& [key, value] : j["runs"].items()) {
        if (key.find('@') == std::string::npos)
            detail::raise<io_error>("'", src, "': run '", key, "' is not named <method>@<layer>");
        r.runs.emplace(key, metrics_from_json(value, src + ": run " + key));
    }
    r.protocol = j.value("protocol", r.protocol);
    r.methods = j.value("methods", std::vector<std::string>{});
    r.layers = j.value("layers", std::vector<std::string>{});
    // Files without the orders (older ones): the names in sorted order.
    std::set<std::string> ms, ls;
    for (const auto& [key, m] : r.runs) {
        ms.insert(key.substr(0, key.find('@')));
        ls.insert(key.substr(key.find('@') + 1));
    }
    if (r.methods.empty()) r.methods.assign(ms.begin(), ms.end());
    if (r.layers.empty()) r.layers.assign(ls.begin(), ls.end());
    return r;
}

inline std::string fmt(double v) {
    std::ostringstream os;
    os.setf(std::ios::fixed);
    os.precision(2);
    os << v;
    return os.str();
}

/// Methods by layers, like the paper's Table 1: top-1 / top-5 / GT-known loc errors at the
/// threshold that maximizes GT-known accuracy, MaxBoxAccV2 and PxAP (when masks were given).
inline std::string table_markdown(const EvalRuns& r) {
    std::ostringstream os;
    os << "| method | layer | top-1 loc err | top-5 loc err | GT-known loc err | MaxBoxAccV2 | PxAP | images |\n";
    os << "|---|---|---|---|---|---|---|---|\n";
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
               << m.max_box_acc_v2().num_images() << " |\n";
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

inline void write_eval(const std::filesystem::path& dir, const EvalRuns& r, const nlohmann::json& shard) {
    std::filesystem::create_directories(dir);
    nlohmann::json j = {{"format", eval_format}, {"arch", r.arch},     {"protocol", r.protocol}, {"methods", r.methods},
                        {"layers", r.layers},    {"shard", shard},     {"runs", nlohmann::json::object()}};
    for (const auto& [key, m] : r.runs) j["runs"][key] = metrics_to_json(m);
    std::ofstream(dir / "metrics.json") << j.dump(1) << "\n";
    std::ofstream(dir / "table.md") << table_markdown(r) << "\nEach method at its best layer (lowest GT-known error):\n\n"
                                     << best_layers_markdown(r);
}

} // namespace dualgrad::cli

#pragma once
/// \file
/// The counts of an evaluation, per run ("<method>@<layer>") under one protocol, and their file
/// form (`metrics.json`, format "dualgrad-eval-1"), which `dualgrad merge` adds up exactly.
///
///     {"format": "dualgrad-eval-1", "complete": true, "arch": ..., "protocol": ...,
///      "methods": [...], "layers": [...], "shard": {"index", "count"} | {"merged": [...]},
///      "runs": {"<method>@<layer>": {"counts": ..., "results": ..., "faithfulness": ...}}}
///
/// "faithfulness" (`faithfulness_to_json`) is there for the runs whose faithfulness metrics were
/// computed (`EvalOptions::faithfulness`).
///
/// `complete` is written only by a run that finished; `read_runs` refuses a file without it.

#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dualgrad/error.hpp"
#include "dualgrad/io/detail/files.hpp"
#include "dualgrad/io/detail/json.hpp"
#include "dualgrad/metrics/serialize.hpp"

namespace dualgrad::eval {

inline constexpr const char* runs_format = "dualgrad-eval-1";

/// The method of the centre-box baseline's run (its layer is `centre_box_layer`).
inline constexpr const char* centre_box_method = "centre-box";
inline constexpr const char* centre_box_layer = "-";

/// The metrics of every run under one protocol.
struct Runs {
    std::string arch;
    std::string protocol = "wsolevaluation";
    std::vector<std::string> methods;        ///< in the order requested
    std::vector<std::string> layers;         ///< in the order requested
    std::map<std::string, LocMetrics> runs;  ///< "<method>@<layer>"
    /// Faithfulness metrics by run, where computed (not for the centre-box baseline).
    std::map<std::string, FaithfulnessCounts> faithfulness;

    [[nodiscard]] static std::string key(const std::string& method, const std::string& layer) { return method + "@" + layer; }
    [[nodiscard]] const LocMetrics* find(const std::string& method, const std::string& layer) const {
        const auto it = runs.find(key(method, layer));
        return it == runs.end() ? nullptr : &it->second;
    }

    /// Adds `other`'s counts (shards of one evaluation). Throws `value_error` naming what differs
    /// (protocol, architecture, runs, thresholds); nothing changes then.
    Runs& merge(const Runs& other, const std::string& source = "the other shard") {
        if (other.protocol != protocol)
            dualgrad::detail::raise<value_error>(source, " was evaluated with protocol '", other.protocol, "', the first with '", protocol, "'");
        if (other.arch != arch)
            dualgrad::detail::raise<value_error>(source, " is for arch '", other.arch, "', the first for '", arch, "'");
        if (other.runs.size() != runs.size())
            dualgrad::detail::raise<value_error>(source, " has ", other.runs.size(), " runs, the first ", runs.size());
        for (const auto& [k, m] : other.runs)
            if (!runs.contains(k)) dualgrad::detail::raise<value_error>(source, " has run '", k, "', which the first lacks");
        if (other.faithfulness.size() != faithfulness.size())
            dualgrad::detail::raise<value_error>(source, " has faithfulness metrics for ", other.faithfulness.size(),
                                                 " runs, the first for ", faithfulness.size());
        for (const auto& [k, m] : other.faithfulness)
            if (!faithfulness.contains(k))
                dualgrad::detail::raise<value_error>(source, " has faithfulness metrics for run '", k, "', the first has none");
        std::map<std::string, LocMetrics> sum = runs;
        std::map<std::string, FaithfulnessCounts> faith = faithfulness;
        for (const auto& [k, m] : other.runs) {
            try {
                sum.at(k) += m;
                if (const auto it = other.faithfulness.find(k); it != other.faithfulness.end()) faith.at(k) += it->second;
            } catch (const value_error& e) {
                dualgrad::detail::raise<value_error>(source, ", run '", k, "': ", e.what());
            }
        }
        runs = std::move(sum);
        faithfulness = std::move(faith);
        return *this;
    }
};

/// The JSON form; `shard` describes the part of the dataset (see the file comment).
[[nodiscard]] inline nlohmann::json runs_to_json(const Runs& r, const nlohmann::json& shard) {
    nlohmann::json j = {{"format", runs_format}, {"complete", true},   {"arch", r.arch},   {"protocol", r.protocol},
                        {"methods", r.methods},  {"layers", r.layers}, {"shard", shard},   {"runs", nlohmann::json::object()}};
    for (const auto& [key, m] : r.runs) {
        j["runs"][key] = metrics_to_json(m);
        if (const auto it = r.faithfulness.find(key); it != r.faithfulness.end())
            j["runs"][key]["faithfulness"] = faithfulness_to_json(it->second);
    }
    return j;
}

/// Reads a JSON file; errors name it.
[[nodiscard]] inline nlohmann::json read_json_file(const std::filesystem::path& p) {
    const auto bytes = io::detail::read_file_bytes(p);
    try {
        return io::detail::parse_json(reinterpret_cast<const char*>(bytes.data()),
                                      reinterpret_cast<const char*>(bytes.data()) + bytes.size());
    } catch (const nlohmann::json::exception& e) {
        dualgrad::detail::raise<io_error>("'", p.string(), "' is not valid JSON: ", e.what());
    } catch (const io::detail::json_too_deep& e) {
        dualgrad::detail::raise<io_error>("'", p.string(), "' is not a dualgrad file: ", e.what());
    }
}

/// Reads a `metrics.json`; every error names the file (and the run or field).
[[nodiscard]] inline Runs read_runs(const std::filesystem::path& file) {
    const auto j = read_json_file(file);
    const std::string src = file.string();
    if (!j.is_object() || !j.contains("format") || !j["format"].is_string() || j["format"].get<std::string>() != runs_format)
        dualgrad::detail::raise<io_error>("'", src, "' is not a dualgrad eval metrics file (format '", runs_format, "' expected)");
    if (!j.contains("complete") || j["complete"] != true)
        dualgrad::detail::raise<io_error>("'", src, "' is not marked complete: the run that wrote it did not finish, or it was "
                                "written by an older dualgrad; run the evaluation again");
    const auto text = [&](const char* key, const std::string& fallback) {
        if (!j.contains(key)) return fallback;
        if (!j[key].is_string()) dualgrad::detail::raise<io_error>("'", src, "': field '", key, "' must be a string");
        return j[key].get<std::string>();
    };
    const auto names = [&](const char* key) {
        std::vector<std::string> out;
        if (!j.contains(key)) return out;
        if (!j[key].is_array()) dualgrad::detail::raise<io_error>("'", src, "': field '", key, "' must be a list of names");
        for (const auto& v : j[key]) {
            if (!v.is_string()) dualgrad::detail::raise<io_error>("'", src, "': field '", key, "' holds a non-string ", v.dump());
            out.push_back(v.get<std::string>());
        }
        return out;
    };
    Runs r;
    r.arch = text("arch", "");
    r.protocol = text("protocol", r.protocol);
    if (!j.contains("runs") || !j["runs"].is_object()) dualgrad::detail::raise<io_error>("'", src, "' has no 'runs' object");
    for (const auto& [key, value] : j["runs"].items()) {
        if (key.find('@') == std::string::npos)
            dualgrad::detail::raise<io_error>("'", src, "': run '", key, "' is not named <method>@<layer>");
        r.runs.emplace(key, metrics_from_json(value, src + ": run " + key));
        if (value.contains("faithfulness"))
            r.faithfulness.emplace(key, faithfulness_from_json(value["faithfulness"], src + ": run " + key + ", faithfulness"));
    }
    r.methods = names("methods");
    r.layers = names("layers");
    std::set<std::string> ms, ls;
    for (const auto& [key, m] : r.runs) {
        ms.insert(key.substr(0, key.find('@')));
        ls.insert(key.substr(key.find('@') + 1));
    }
    if (r.methods.empty()) r.methods.assign(ms.begin(), ms.end());
    if (r.layers.empty()) r.layers.assign(ls.begin(), ls.end());
    return r;
}

} // namespace dualgrad::eval

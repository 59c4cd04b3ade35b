#pragma once
// `dualgrad merge DIR... --out DIR`: combines the metrics.json of eval shards exactly (counts are
// added), and writes the merged metrics.json, table.md and report.html.
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "eval_output.hpp"
#include "report.hpp"

namespace dualgrad::cli {

inline void add_merge(CLI::App& app) {
    struct Options {
        std::vector<std::string> dirs;
        std::string out;
    };
    auto opt = std::make_shared<Options>();
    auto* cmd = app.add_subcommand("merge", "Merge the outputs of sharded 'dualgrad eval' runs exactly");
    cmd->add_option("dirs", opt->dirs, "Shard output folders (each with metrics.json)")->required();
    cmd->add_option("--out", opt->out, "Output folder")->required();
    cmd->callback([opt] {
        EvalRuns merged;
        nlohmann::json sources = nlohmann::json::array();
        for (std::size_t i = 0; i < opt->dirs.size(); ++i) {
            const auto file = std::filesystem::path(opt->dirs[i]) / "metrics.json";
            auto r = read_eval(file);
            if (i == 0) {
                merged = std::move(r);
            } else {
                if (r.protocol != merged.protocol)
                    detail::raise<value_error>("'", file.string(), "' was evaluated with protocol '", r.protocol,
                                               "', the first shard with '", merged.protocol, "'");
                if (r.arch != merged.arch)
                    detail::raise<value_error>("'", file.string(), "' is for arch '", r.arch, "', the first shard for '",
                                               merged.arch, "'");
                if (r.runs.size() != merged.runs.size())
                    detail::raise<value_error>("'", file.string(), "' has ", r.runs.size(), " runs, the first shard ",
                                               merged.runs.size());
                for (auto& [key, m] : r.runs) {
                    auto it = merged.runs.find(key);
                    if (it == merged.runs.end())
                        detail::raise<value_error>("'", file.string(), "' has run '", key, "', which the first shard lacks");
                    try {
                        it->second += m;
                    } catch (const value_error& e) {
                        detail::raise<value_error>("'", file.string(), "', run '", key, "': ", e.what());
                    }
                }
            }
            sources.push_back(opt->dirs[i]);
        }
        write_eval(opt->out, merged, {{"merged", sources}});
        write_report(opt->out, merged, "Merged from " + std::to_string(opt->dirs.size()) + " shard(s); protocol " +
                                           merged.protocol + ".", {});
    });
}

} // namespace dualgrad::cli

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
        std::error_code ec;
        for (const auto& dir : opt->dirs)
            if (std::filesystem::exists(opt->out, ec) && std::filesystem::equivalent(dir, opt->out, ec))
                detail::raise<value_error>("--out '", opt->out, "' is one of the shards being merged ('", dir,
                                           "'); write the merged result elsewhere");
        check_writable_folder(opt->out, "--out");
        for (std::size_t i = 0; i < opt->dirs.size(); ++i) {
            const auto file = std::filesystem::path(opt->dirs[i]) / "metrics.json";
            auto r = eval::read_runs(file);
            if (i == 0) merged = std::move(r);
            else merged.merge(r, "'" + file.string() + "'");
            sources.push_back(opt->dirs[i]);
        }
        OutputFolder folder(opt->out, "--out", "metrics.json");
        write_eval(folder, merged, {{"merged", sources}});
        write_report(folder, merged, "Merged from " + std::to_string(opt->dirs.size()) + " shard(s); protocol " +
                                           merged.protocol + ".", {});
        folder.commit();
    });
}

} // namespace dualgrad::cli

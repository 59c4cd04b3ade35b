#pragma once
// A Google Benchmark console reporter that also prints every claim as a ratio against a baseline
// measured in the same process. Benchmarks are named "<family>/<case>"; a ratio pairs family X with
// its baseline family for the same case:  speed ratio = baseline_time / X_time (> 1: X is faster).
//
//   int main(int argc, char** argv) {
//       return dgbench::run_with_ratios(argc, argv, {{"dgl_map", "memcpy"}});
//   }
#include <benchmark/benchmark.h>

#include <cstdio>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace dgbench {

struct RatioSpec {
    std::string family;   // the measured family
    std::string baseline; // the family it is compared with
};

class RatioReporter : public benchmark::ConsoleReporter {
public:
    void ReportRuns(const std::vector<Run>& runs) override {
        for (const auto& r : runs) {
            if (r.run_type != Run::RT_Iteration || r.error_occurred) continue;
            // "/iterations:N" is left out, so benchmarks run with different fixed iteration counts pair up.
            std::string name = r.benchmark_name();
            if (const auto it = name.find("/iterations:"); it != std::string::npos) name.erase(it);
            times_[name] = r.GetAdjustedRealTime();
            if (auto it = r.counters.find("peak_bytes"); it != r.counters.end()) peaks_[name] = it->second.value;
        }
        ConsoleReporter::ReportRuns(runs);
    }

    void print_ratios(const std::vector<RatioSpec>& specs) const {
        std::printf("\nRatios against baselines measured in this run (baseline time / time; >1 is faster):\n");
        for (const auto& spec : specs)
            for (const auto& [name, t] : times_) {
                const auto slash = name.find('/');
                if (name.substr(0, slash) != spec.family) continue;
                const std::string rest = slash == std::string::npos ? "" : name.substr(slash);
                const auto base = times_.find(spec.baseline + rest);
                if (base == times_.end()) continue;
                std::printf("  %-48s vs %-28s speed ratio %7.3fx", name.c_str(), (spec.baseline + rest).c_str(),
                            base->second / t);
                const auto p = peaks_.find(name), pb = peaks_.find(spec.baseline + rest);
                if (p != peaks_.end() && pb != peaks_.end() && p->second > 0)
                    std::printf("   peak memory %.3fx of baseline", p->second / pb->second);
                std::printf("\n");
            }
    }

private:
    std::map<std::string, double> times_;
    std::map<std::string, double> peaks_;
};

inline int run_with_ratios(int argc, char** argv, const std::vector<RatioSpec>& specs) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    RatioReporter reporter;
    benchmark::RunSpecifiedBenchmarks(&reporter);
    reporter.print_ratios(specs);
    benchmark::Shutdown();
    return 0;
}

} // namespace dgbench

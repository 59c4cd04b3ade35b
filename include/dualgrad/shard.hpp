#pragma once
/// \file
/// Sharding an evaluation over independent jobs: shard k of N takes every image whose index i
/// satisfies `i % N == k` (interleaved, so shards get similar mixes of classes). `--shard auto`
/// takes k and N from a Slurm job array (`SLURM_ARRAY_TASK_ID`, `SLURM_ARRAY_TASK_COUNT`) or a
/// Kubernetes Indexed Job (`JOB_COMPLETION_INDEX`, with the count given).
///
///     auto s = dualgrad::Shard::parse("3/8");     // index 3 of 8
///     if (s.owns(i)) ...

#include <charconv>
#include <cstdlib>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

#include "dualgrad/error.hpp"

namespace dualgrad {

struct Shard {
    int index = 0;
    int count = 1;

    [[nodiscard]] bool owns(long long i) const noexcept { return i % count == index; }

    /// "k/N" with 0 <= k < N; the error names the text and what is wrong.
    [[nodiscard]] static Shard parse(std::string_view text) {
        const auto slash = text.find('/');
        auto number = [&](std::string_view part, const char* what) {
            int v = 0;
            const auto [p, ec] = std::from_chars(part.data(), part.data() + part.size(), v);
            if (ec != std::errc() || p != part.data() + part.size() || part.empty())
                detail::raise<value_error>("--shard '", text, "': the ", what, " '", part, "' is not an integer");
            return v;
        };
        if (slash == std::string_view::npos)
            detail::raise<value_error>("--shard '", text, "': expected k/N (shard index k of N shards), or auto");
        Shard s{number(text.substr(0, slash), "index"), number(text.substr(slash + 1), "count")};
        s.check(text);
        return s;
    }

    /// From the environment of a Slurm job array or a Kubernetes Indexed Job. `getenv` is
    /// injectable for tests. `count` is required for Kubernetes (it has no count variable).
    [[nodiscard]] static Shard from_environment(std::optional<int> count = std::nullopt,
                                                const std::function<const char*(const char*)>& getenv = ::getenv) {
        // Each variable must be a decimal integer that fits an int; the arithmetic on them is done
        // in 64 bits and checked, so no value wraps around into a valid-looking shard.
        auto read = [&](const char* name) -> std::optional<long long> {
            const char* v = getenv(name);
            if (!v) return std::nullopt;
            long long out = 0;
            const std::string_view sv(v);
            const auto [p, ec] = std::from_chars(sv.data(), sv.data() + sv.size(), out);
            if (ec == std::errc::result_out_of_range ||
                (ec == std::errc() && p == sv.data() + sv.size() &&
                 (out < std::numeric_limits<int>::min() || out > std::numeric_limits<int>::max())))
                detail::raise<value_error>("--shard auto: ", name, "='", sv, "' is out of range (it must fit a 32-bit int)");
            if (ec != std::errc() || p != sv.data() + sv.size() || sv.empty())
                detail::raise<value_error>("--shard auto: ", name, "='", sv, "' is not an integer");
            return out;
        };
        long long index = 0, n = 0;
        std::string source;
        if (const auto id = read("SLURM_ARRAY_TASK_ID")) {
            const auto c = count ? std::optional<long long>(*count) : read("SLURM_ARRAY_TASK_COUNT");
            if (!c) detail::raise<value_error>("--shard auto: SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not");
            // Slurm arrays may start at 1 (--array=1-N); SLURM_ARRAY_TASK_MIN says where.
            const long long min = read("SLURM_ARRAY_TASK_MIN").value_or(0);
            index = *id - min;  // both fit an int, so the difference fits a long long
            n = *c;
            source = "auto (SLURM_ARRAY_TASK_ID=" + std::to_string(*id) + ", SLURM_ARRAY_TASK_MIN=" + std::to_string(min) + ")";
        } else if (const auto idx = read("JOB_COMPLETION_INDEX")) {
            if (!count) detail::raise<value_error>("--shard auto: a Kubernetes Indexed Job needs --shard-count (its completions)");
            index = *idx;
            n = *count;
            source = "auto (JOB_COMPLETION_INDEX=" + std::to_string(*idx) + ")";
        } else {
            detail::raise<value_error>("--shard auto: neither SLURM_ARRAY_TASK_ID nor JOB_COMPLETION_INDEX is set");
        }
        if (n < 1) detail::raise<value_error>("--shard ", source, ": the shard count ", n, " must be at least 1");
        if (index < 0 || index >= n)
            detail::raise<value_error>("--shard ", source, ": the shard index ", index, " must be in [0, ", n, ")");
        return Shard{static_cast<int>(index), static_cast<int>(n)};
    }

private:
    void check(std::string_view text) const {
        if (count < 1) detail::raise<value_error>("--shard '", text, "': the shard count ", count, " must be at least 1");
        if (index < 0 || index >= count)
            detail::raise<value_error>("--shard '", text, "': the shard index ", index, " must be in [0, ", count, ")");
    }
};

} // namespace dualgrad

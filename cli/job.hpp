#pragma once
// What `maps`, `localize` and `eval` share: the model from --backend/--arch/--weights (an
// eval::MapModel), method names, targets and the preprocessing flags.
#ifdef DUALGRAD_CLI_WITH_TORCH
#include <dlfcn.h>
#endif
#include <algorithm>
#include <fstream>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <string_view>
#include <variant>
#include <vector>

#include <CLI/CLI.hpp>

#include <dualgrad/core/cost.hpp>
#include <dualgrad/eval/maps.hpp>
#include <dualgrad/io/image.hpp>
#include <dualgrad/models/cpu_model.hpp>

#include "common.hpp"

namespace dualgrad::cli {

namespace detail_maps {
inline int parse_int_field(const std::string& text, const std::string& what) {
    int v = 0;
    const auto* end = text.data() + text.size();
    const auto [p, ec] = std::from_chars(text.data(), end, v);
    if (ec != std::errc() || p != end || text.empty())
        detail::raise<value_error>("--target: '", what, "' needs an integer, got '", text, "'");
    return v;
}
} // namespace detail_maps

/// `top1`, `topk:K`, `class:C` (every sample) or `gt:FILE` (one class per line, or
/// `image_id,class` lines as in wsolevaluation's class_labels.txt, in sample order).
inline TargetRule parse_target(const std::string& text, std::int64_t samples) {
    if (text == "top1") return TargetRule::top1();
    if (text.rfind("topk:", 0) == 0) return TargetRule::top_k(detail_maps::parse_int_field(text.substr(5), "topk:K"));
    if (text.rfind("class:", 0) == 0) {
        const int c = detail_maps::parse_int_field(text.substr(6), "class:C");
        return TargetRule::given(std::vector<std::vector<int>>(static_cast<std::size_t>(samples), {c}));
    }
    if (text.rfind("gt:", 0) == 0) {
        const std::string file = text.substr(3);
        std::ifstream in(file);
        if (!in) detail::raise<io_error>("--target gt: cannot open '", file, "'");
        std::vector<std::vector<int>> classes;
        std::string line;
        int number = 0;
        while (std::getline(in, line)) {
            ++number;
            if (!line.empty() && line.back() == '\r') line.pop_back();
            if (line.empty()) continue;
            const auto comma = line.rfind(',');
            const std::string field = comma == std::string::npos ? line : line.substr(comma + 1);
            int c = 0;
            const auto [p, ec] = std::from_chars(field.data(), field.data() + field.size(), c);
            if (ec != std::errc() || p != field.data() + field.size() || c < 0)
                detail::raise<io_error>(file, ":", number, ": expected a class index (or image_id,class), got '", line, "'");
            classes.push_back({c});
        }
        if (static_cast<std::int64_t>(classes.size()) != samples)
            detail::raise<shape_error>("--target gt: '", file, "' has ", classes.size(), " classes for ", samples,
                                       " samples");
        return TargetRule::given(std::move(classes));
    }
    detail::raise<value_error>("--target: '", text, "' is not one of top1, topk:K, class:C, gt:FILE");
}


/// Checks the method names against the model's registry (the error lists the valid names).
/// `all` stands for every method the model's registry holds, built-in and registered, in order.
inline std::vector<std::string> parse_methods(const eval::MapModel& model, const std::vector<std::string>& names) {
    if (names.empty()) detail::raise<value_error>("--method: no method given");
    std::vector<std::string> out;
    for (const auto& n : names) {
        if (n == "all") {
            const auto every = model.method_names();
            if (every.empty()) detail::raise<value_error>("--method all: the model '", model.name(), "' does not list its methods");
            for (const auto& m : every)
                if (std::find(out.begin(), out.end(), m) == out.end()) out.push_back(m);
            continue;
        }
        (void)model.cam_layer_only(n);
        if (std::find(out.begin(), out.end(), n) == out.end()) out.push_back(n);
    }
    return out;
}

#ifdef DUALGRAD_CLI_WITH_TORCH
/// `--backend torch` lives in a module of its own, cli/torch_runner.cpp built as
/// `dualgrad-torch.so` beside the executable (installed under <libdir>/dualgrad), and loaded only
/// when it is asked for: linking LibTorch into the executable cost every command about 0.9 s of
/// start-up (docs/performance.md, "Start-up").
using MakeTorchModel = eval::MapModel* (*)(const char* arch, const char* weights, int threads, int large_feature_map,
                                           char* error, std::size_t error_size);

inline std::unique_ptr<eval::MapModel> make_torch_model(const std::string& arch, const std::filesystem::path& weights,
                                                        int threads, std::optional<bool> large_feature_map) {
    static MakeTorchModel make = [] {
        std::vector<std::filesystem::path> candidates;
        std::error_code ec;
        const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
        if (!ec) candidates.push_back(exe.parent_path() / "dualgrad-torch.so");
        candidates.emplace_back(DUALGRAD_CLI_TORCH_MODULE_INSTALLED);
        std::string tried;
        for (const auto& c : candidates) {
            if (!std::filesystem::exists(c, ec)) {
                tried += (tried.empty() ? "" : ", ") + c.string() + " (absent)";
                continue;
            }
            void* handle = ::dlopen(c.c_str(), RTLD_NOW | RTLD_LOCAL);
            if (!handle) {
                tried += (tried.empty() ? "" : ", ") + c.string() + " (" + ::dlerror() + ")";
                continue;
            }
            if (void* sym = ::dlsym(handle, "dualgrad_cli_make_torch_model"))
                return reinterpret_cast<MakeTorchModel>(sym);
            tried += (tried.empty() ? "" : ", ") + c.string() + " (no dualgrad_cli_make_torch_model)";
        }
        detail::raise<io_error>("--backend torch: cannot load the LibTorch module: tried ", tried);
    }();
    char err[4096] = {0};
    eval::MapModel* model = make(arch.c_str(), weights.c_str(), threads,
                                 large_feature_map ? (*large_feature_map ? 1 : 0) : -1, err, sizeof err);
    if (!model) detail::raise<io_error>(err);
    return std::unique_ptr<eval::MapModel>(model);
}
#endif

/// The model of `arch` from `weights` on `backend` ("cpu" or "torch").
inline std::unique_ptr<eval::MapModel> make_model(const std::string& backend, const std::string& arch,
                                                  const std::filesystem::path& weights, int threads,
                                                  std::optional<bool> large_feature_map = std::nullopt) {
    if (threads < 0) detail::raise<value_error>("--threads ", threads, " must not be negative (0: all cores)");
    if (const unsigned cores = std::thread::hardware_concurrency(); cores > 0 && threads > static_cast<int>(cores))
        std::fprintf(stderr, "dualgrad: warning: --threads %d is more than this machine's %u cores; the extra threads "
                             "share them\n", threads, cores);
    if (backend == "cpu") {
        auto model = open_model(arch, weights, large_feature_map);
        if (threads > 0) model.exec.threads = threads;
        return eval::cpu_map_model(std::move(model));
    }
    if (backend == "torch") {
#ifdef DUALGRAD_CLI_WITH_TORCH
        if (!std::filesystem::exists(weights))
            detail::raise<io_error>("weights file '", weights.string(), "' does not exist");
        return make_torch_model(arch, weights, threads, large_feature_map);
#else
        detail::raise<value_error>("--backend torch: this dualgrad was built without LibTorch (install libtorch-dev "
                                   "and reconfigure)");
#endif
    }
    detail::raise<value_error>("--backend: unknown backend '", backend, "'; valid: cpu, torch");
}

/// `--backend` on a subcommand.
inline void add_backend_option(CLI::App* cmd, std::string& backend) {
    cmd->add_option("--backend", backend,
                    "Engine: cpu (dualgrad's CPU engine) or torch (LibTorch, when the CLI was built with it)")
        ->capture_default_str();
}

/// Preprocessing options shared by `localize` and `eval`.
struct PreprocessCli {
    int size = 224;          ///< network input side (resize target)
    bool no_resize = false;  ///< keep the image size
    std::vector<float> mean{0.485f, 0.456f, 0.406f};
    std::vector<float> std{0.229f, 0.224f, 0.225f};
    int tencrop_resize = 256;
    static constexpr int max_side = 8192; ///< the largest network input side accepted

    void add(CLI::App* cmd) {
        cmd->add_option("--size", size, "Network input side: images are resized to SIZE x SIZE (bilinear)")
            ->capture_default_str()
            ->check(CLI::PositiveNumber);
        cmd->add_flag("--no-resize", no_resize, "Feed images at their own size");
        cmd->add_option("--mean", mean, "Normalization mean per RGB channel (of values in [0, 1])")
            ->expected(3)
            ->delimiter(',')
            ->capture_default_str();
        cmd->add_option("--std", std, "Normalization std per RGB channel")->expected(3)->delimiter(',')->capture_default_str();
        cmd->add_option("--tencrop-resize", tencrop_resize, "10-crop: resize to this side before the crops of --size")
            ->capture_default_str();
    }
    /// The options, checked: a side in [1, 8192], finite means, finite positive stds.
    [[nodiscard]] io::PreprocessOptions options() const {
        if (size < 1 || size > max_side) detail::raise<value_error>("--size ", size, " must be in [1, ", max_side, "]");
        if (tencrop_resize < 1 || tencrop_resize > max_side)
            detail::raise<value_error>("--tencrop-resize ", tencrop_resize, " must be in [1, ", max_side, "]");
        for (int c = 0; c < 3; ++c) {
            if (!std::isfinite(mean[static_cast<std::size_t>(c)]))
                detail::raise<value_error>("--mean: value ", c + 1, " (", mean[static_cast<std::size_t>(c)], ") is not a finite number");
            if (!std::isfinite(std[static_cast<std::size_t>(c)]) || !(std[static_cast<std::size_t>(c)] > 0))
                detail::raise<value_error>("--std: value ", c + 1, " (", std[static_cast<std::size_t>(c)],
                                           ") must be a finite positive number");
        }
        io::PreprocessOptions o;
        o.height = o.width = size;
        o.resize = !no_resize;
        for (int c = 0; c < 3; ++c) {
            o.norm.mean[static_cast<std::size_t>(c)] = mean[static_cast<std::size_t>(c)];
            o.norm.std[static_cast<std::size_t>(c)] = std[static_cast<std::size_t>(c)];
        }
        return o;
    }
};

} // namespace dualgrad::cli

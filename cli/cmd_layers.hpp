#pragma once
// `dualgrad layers --arch A [--weights W] [--size S]`: the addressable layers with their shapes.
#include <cstdio>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "common.hpp"

namespace dualgrad::cli {

inline void add_layers(CLI::App& app) {
    struct Options {
        std::string arch;
        std::optional<std::string> weights;
        int size = 224;
        VariantOption variant;
    };
    auto opt = std::make_shared<Options>();
    auto* cmd = app.add_subcommand("layers", "List a model's addressable layers (module paths, paper aliases) with their shapes");
    cmd->add_option("--arch", opt->arch, "Architecture: vgg16, inception_v3, resnet50, se_resnet50")->required();
    cmd->add_option("--weights", opt->weights, "safetensors file (classes and width are read from it)");
    cmd->add_option("--size", opt->size, "Input height and width for the shapes")->check(CLI::PositiveNumber);
    opt->variant.add(cmd);
    cmd->callback([opt] {
        auto model = open_model(opt->arch, opt->weights ? std::optional<std::filesystem::path>(*opt->weights)
                                                        : std::nullopt,
                                opt->variant.value());
        std::printf("%-44s %-18s %-22s %s\n", "layer", "kind", "shape (N,C,H,W)", "aliases");
        for (const auto& l : model.graph.describe({1, 3, opt->size, opt->size})) {
            std::string aliases;
            for (const auto& a : l.aliases) aliases += (aliases.empty() ? "" : ", ") + a;
            char shape[64];
            std::snprintf(shape, sizeof shape, "[%lld, %lld, %lld, %lld]", static_cast<long long>(l.shape.n),
                          static_cast<long long>(l.shape.c), static_cast<long long>(l.shape.h),
                          static_cast<long long>(l.shape.w));
            std::printf("%-44s %-18s %-22s %s\n", l.name.c_str(), l.kind.c_str(), shape, aliases.c_str());
        }
    });
}

} // namespace dualgrad::cli

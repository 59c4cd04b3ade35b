// The full-width backbones (width 1, 224x224): the graph's shapes at the paper's layers, and one
// forward pass with He-initialized weights gives finite logits. Run in the release build only
// (the sanitizer pass of tools/test.sh skips "[full-width]": it is the same code, 10x slower).
#include <cmath>
#include <random>

#include <catch2/catch.hpp>

#include <dualgrad/models/cpu_model.hpp>

using namespace dualgrad;

namespace {
void he_init(nn::Graph& g) {
    std::mt19937 rng(5);
    for (auto& [name, p] : g.parameters()) {
        auto& v = *p.data;
        const bool bias_like = p.shape.size() == 1;
        std::int64_t fan_in = 1;
        for (std::size_t i = 1; i < p.shape.size(); ++i) fan_in *= p.shape[i];
        std::normal_distribution<float> d(0.0f, bias_like ? 0.0f : std::sqrt(2.0f / static_cast<float>(fan_in)));
        for (auto& x : v) x = bias_like ? 0.0f : d(rng);
        if (name.ends_with("running_var") || (name.ends_with(".weight") && bias_like)) std::fill(v.begin(), v.end(), 1.0f);
    }
}
} // namespace

TEST_CASE("Full-width backbones: shapes at 224x224 and one forward pass", "[models][full-width]") {
    struct Case {
        const char* arch;
        const char* layer;
        Shape4 shape;
    };
    const Case c = GENERATE(Case{"vgg16", "conv5_3", {1, 512, 14, 14}}, Case{"inception_v3", "Mixed_6e", {1, 768, 28, 28}},
                            Case{"resnet50", "layer4.2", {1, 2048, 28, 28}},
                            Case{"se_resnet50", "layer3.5", {1, 1024, 28, 28}});
    INFO(c.arch);
    auto g = models::build_graph(models::describe(c.arch, {.num_classes = 1000}));
    const auto layers = g.describe({1, 3, 224, 224});
    REQUIRE(layers.at(static_cast<std::size_t>(g.node(c.layer))).shape == c.shape);
    REQUIRE(layers.at(static_cast<std::size_t>(g.output())).shape == Shape4{1, 1000, 1, 1});
    std::size_t count = 0;
    for (auto& [name, p] : g.parameters()) count += p.data->size();
    INFO("parameters " << count);
    REQUIRE(count > 10'000'000); // full width: tens of millions of parameters

    he_init(g);
    nn::Tensor x(1, 3, 224, 224);
    x.setRandom();
    const auto logits = g.forward(x);
    REQUIRE(logits.classes() == 1000);
    for (float v : logits.values()) REQUIRE(std::isfinite(v));
}

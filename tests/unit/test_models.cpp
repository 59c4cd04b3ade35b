// The four backbones on the CPU engine against PyTorch (tests/fixtures/models, made by
// tools/fixtures/make_model_fixtures.py from tools/fixtures/wsol_models.py): the same weights give
// the same logits, and one forward + one batched backward give S, J^T e_c (top-2) and J^T p at
// three layers, within 1e-4 relative error.
#include <cmath>
#include <string>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <dualgrad/models/cpu_model.hpp>
#include "model_fixtures.hpp"

using namespace dualgrad;

namespace {

using dgtest::require_close;
std::string fixture(const std::string& name) { return dgtest::model_fixture(name); }

nn::Tensor to_tensor(const io::SafetensorsFile& f, const std::string& name) {
    const auto& info = f.info(name);
    nn::Tensor t(info.shape.at(0), info.shape.at(1), info.shape.at(2), info.shape.at(3));
    f.read_float_into(name, {t.data(), static_cast<std::size_t>(t.size())});
    return t;
}

} // namespace

TEST_CASE("The four backbones match PyTorch: logits, S and the VJPs at three layers", "[models][fixture]") {
    const std::string arch = GENERATE(as<std::string>{}, "vgg16", "inception_v3", "resnet50", "se_resnet50");
    INFO("arch " << arch);
    auto model = models::load_model(arch, fixture(arch + ".safetensors"));
    const auto expected = io::SafetensorsFile::open(fixture(arch + ".expected.safetensors"));
    const auto taps = nlohmann::json::parse(expected.metadata().at("taps")).get<std::vector<std::string>>();
    const int slots = std::stoi(expected.metadata().at("slots"));
    REQUIRE(model.description.num_classes == 6);

    const auto x = to_tensor(expected, "input");
    const int threads = GENERATE(1, 2);
    const auto result = model.graph.gradients(x, {taps, TargetRule::top_k(slots)}, nn::ExecContext{threads});

    require_close({result.logits.values().begin(), result.logits.values().end()}, expected.read_float("logits"), 1e-4,
                  "logits");
    const auto want_targets = expected.read_float("targets");
    for (int n = 0; n < result.targets.samples(); ++n)
        for (int t = 0; t < slots; ++t) REQUIRE(result.targets(n, t) == static_cast<int>(want_targets[n * slots + t]));

    for (const auto& tap : taps) {
        const auto& g = result.layer(tap);
        require_close(EigenBackend::to_host(g.activations), expected.read_float(tap + ".S"), 1e-4, tap + ".S");
        for (int t = 0; t < slots; ++t)
            require_close(EigenBackend::to_host(g.class_vjps[t]), expected.read_float(tap + ".G" + std::to_string(t)),
                          1e-4, tap + ".G" + std::to_string(t));
        REQUIRE(g.prob_vjp.has_value());
        require_close(EigenBackend::to_host(*g.prob_vjp), expected.read_float(tap + ".P"), 1e-4, tap + ".P");
    }
}

TEST_CASE("Bad input to the models", "[models][errors]") {
    auto model = models::load_model("resnet50", fixture("resnet50.safetensors"));
    SECTION("an unknown layer name lists the valid ones") {
        nn::Tensor x(1, 3, 32, 32);
        x.setZero();
        REQUIRE_THROWS_WITH(model.graph.gradients(x, {{"layer9.9"}}),
                            Catch::Contains("unknown layer 'layer9.9'") && Catch::Contains("layer3.5") &&
                                Catch::Contains("group2/block5"));
    }
    SECTION("an input with the wrong channel count") {
        nn::Tensor x(1, 1, 32, 32);
        x.setZero();
        REQUIRE_THROWS_WITH(model.graph.gradients(x, {{"layer3.5"}}), Catch::Contains("1 channels, the model expects 3"));
    }
    SECTION("weights of another architecture") {
        REQUIRE_THROWS_AS(models::load_model("vgg16", fixture("resnet50.safetensors")), io_error);
    }
    SECTION("weights that do not fit the graph name the tensor") {
        models::ModelConfig cfg;
        cfg.num_classes = 6;
        cfg.width = 1.0 / 8; // the file holds a 1/16-width network
        REQUIRE_THROWS_WITH(models::load_model("resnet50", io::SafetensorsFile::open(fixture("resnet50.safetensors")), cfg, false),
                            Catch::Contains("conv1.weight") && Catch::Contains("shape"));
    }
    SECTION("an unknown architecture lists the valid ones") {
        REQUIRE_THROWS_WITH(models::describe("alexnet", {}), Catch::Contains("vgg16, inception_v3, resnet50, se_resnet50"));
    }
}

TEST_CASE("Paper aliases address the same layers", "[models]") {
    // VGG16 without pool4 (large_feature_map on): conv5_3 is features.28; with pool4 (the
    // default), features.29.
    const auto g = models::build_graph(models::vgg16_cam({.num_classes = 10, .width = 0.25, .large_feature_map = true}));
    REQUIRE(g.node("conv5_3") == g.node("features.28"));
    REQUIRE(g.node("conv4_3") == g.node("features.22"));
    const auto g4 = models::build_graph(models::vgg16_cam({.num_classes = 10, .width = 0.25}));
    REQUIRE(g4.node("conv5_3") == g4.node("features.29"));
    REQUIRE(g4.node("conv4_3") == g4.node("features.22"));
    const auto r = models::build_graph(models::resnet50_cam({.num_classes = 10, .width = 0.25}));
    REQUIRE(r.node("group2/block5") == r.node("layer3.5"));
    const auto shapes = r.describe({1, 3, 224, 224});
    for (const auto& l : shapes)
        if (l.name == "layer4.2") REQUIRE(l.shape == Shape4{1, 512, 28, 28});
}

// Both settings of wsolevaluation's large_feature_map load for all four backbones, from checkpoints
// PyTorch made (tools/fixtures/make_variant_fixtures.py): VGG16's variant is read from its tensor
// names, the others' (same names) from the option; the logits match PyTorch's float64 ones within
// twice float32's own error, or 1e-4. A VGG16 checkpoint with an option that contradicts its names
// is refused; a ResNet checkpoint loaded with the other setting computes other logits.
#include <algorithm>
#include <cmath>
#include <string>

#include <catch2/catch.hpp>

#include "dualgrad/models/cpu_model.hpp"

namespace {

std::string variant_fixture(const std::string& name) {
    return std::string(DUALGRAD_FIXTURES_DIR) + "/models/variants/" + name;
}

dualgrad::nn::Tensor tensor_of(const dualgrad::io::SafetensorsFile& f, const std::string& name) {
    const auto& s = f.info(name).shape;
    dualgrad::nn::Tensor t(s.at(0), s.at(1), s.at(2), s.at(3));
    const auto v = f.read_float(name);
    std::copy(v.begin(), v.end(), t.data());
    return t;
}

/// max |got - want64| <= max(2 * max |want32 - want64|, 1e-4) * max(1, max |want64|); fails on NaN.
void check_logits(const dualgrad::Logits& got, const dualgrad::io::SafetensorsFile& expected) {
    const auto want64 = expected.read_float("logits64"), want32 = expected.read_float("logits32");
    REQUIRE(got.values().size() == want64.size());
    double f32_err = 0, err = 0, scale = 1;
    for (std::size_t i = 0; i < want64.size(); ++i) {
        f32_err = std::max(f32_err, std::abs(double(want32[i]) - want64[i]));
        scale = std::max(scale, std::abs(double(want64[i])));
        const double e = std::abs(double(got.values()[i]) - want64[i]);
        REQUIRE(std::isfinite(e));
        err = std::max(err, e);
    }
    const double tol = std::max(2 * f32_err, 1e-4) * scale;
    INFO("max error " << err << ", allowance " << tol);
    CHECK(err <= tol);
}

} // namespace

TEST_CASE("wsolevaluation checkpoints of both large_feature_map settings load for all four backbones", "[models][variants]") {
    for (const std::string arch : {"vgg16", "inception_v3", "resnet50", "se_resnet50"})
        for (const bool large : {true, false}) {
            const std::string stem = arch + "_lfm" + (large ? "1" : "0");
            INFO(stem);
            const auto weights = dualgrad::io::SafetensorsFile::open(variant_fixture(stem + ".safetensors"));
            const auto expected = dualgrad::io::SafetensorsFile::open(variant_fixture(stem + ".expected.safetensors"));
            dualgrad::models::ModelConfig cfg;
            if (arch != "vgg16") cfg.large_feature_map = large; // VGG16: detected from the names
            const auto detected = dualgrad::models::config_from_weights(arch, weights, cfg);
            REQUIRE(detected.large_feature_map.has_value());
            CHECK(*detected.large_feature_map == large);
            auto model = dualgrad::models::load_model(arch, weights, cfg);
            check_logits(model.graph.forward(tensor_of(expected, "input")), expected);
        }
}

TEST_CASE("large_feature_map: defaults follow the paper's Table 1 shapes; contradictions are errors", "[models][variants]") {
    const auto shape_at = [](const std::string& arch, const std::string& layer) {
        dualgrad::models::ModelConfig cfg;
        cfg.num_classes = 10;
        cfg.width = 0.125;
        const auto m = dualgrad::models::CpuModel{dualgrad::models::describe(arch, cfg), dualgrad::models::build_graph(dualgrad::models::describe(arch, cfg))};
        for (const auto& l : m.graph.describe({1, 3, 224, 224}))
            if (l.name == layer || std::find(l.aliases.begin(), l.aliases.end(), layer) != l.aliases.end()) return l.shape.h;
        FAIL("no layer " << layer);
        return std::int64_t{0};
    };
    CHECK(shape_at("vgg16", "conv5_3") == 14); // pool4 kept
    CHECK(shape_at("inception_v3", "Mixed_6e") == 28);
    CHECK(shape_at("resnet50", "layer4.2") == 28);
    CHECK(shape_at("se_resnet50", "layer4.2") == 28);

    const auto vgg_large = dualgrad::io::SafetensorsFile::open(variant_fixture("vgg16_lfm1.safetensors"));
    dualgrad::models::ModelConfig off;
    off.large_feature_map = false;
    CHECK_THROWS_WITH(dualgrad::models::load_model("vgg16", vgg_large, off),
                      Catch::Contains("vgg16_lfm1.safetensors") && Catch::Contains("without pool4") &&
                          Catch::Contains("the requested setting is off"));
    // Same names, other strides: the wrong setting loads (nothing can tell) but gives other logits.
    const auto rn_small = dualgrad::io::SafetensorsFile::open(variant_fixture("resnet50_lfm0.safetensors"));
    const auto expected = dualgrad::io::SafetensorsFile::open(variant_fixture("resnet50_lfm0.expected.safetensors"));
    auto wrong = dualgrad::models::load_model("resnet50", rn_small); // default: on
    const auto got = wrong.graph.forward(tensor_of(expected, "input"));
    const auto want = expected.read_float("logits64");
    double diff = 0;
    for (std::size_t i = 0; i < want.size(); ++i) diff = std::max(diff, std::abs(double(got.values()[i]) - want[i]));
    CHECK(diff > 1e-3);
}

// pytorch-grad-cam's aug_smooth on the CPU engine against tests/fixtures/models/resnet50.augsmooth.json,
// made by tools/fixtures/make_augsmooth_fixture.py (the six augmentations, autograd maps, mirrored
// back, scaled and averaged, in float64 and float32 PyTorch), plus hand-worked augmentations.
#include <algorithm>

#include <catch2/catch.hpp>

#include <dualgrad/eval/aug_smooth.hpp>

#include "json_fixture.hpp"
#include "model_fixtures.hpp"
#include "resnet50_input.hpp"

using namespace dualgrad;

TEST_CASE("Augmentations mirror each row and scale every value, hand-worked", "[eval][augsmooth]") {
    io::NchwTensor x;
    x.shape = {1, 2, 1, 3};
    x.values = {1, 2, 3, 10, 20, 30};
    const auto m = eval::augment(x, {true, 0.5f});
    REQUIRE(m.shape == x.shape);
    REQUIRE(m.values == std::vector<float>{1.5f, 1, 0.5f, 15, 10, 5});
    REQUIRE(eval::augment(x, {false, 1.0f}).values == x.values);
    io::NchwTensor bad = x;
    bad.values.pop_back();
    REQUIRE_THROWS_WITH(eval::augment(bad, {}), Catch::Contains("augment: 5 values for a 1x2x1x3 batch"));
    // The six are pytorch-grad-cam's, the identity first (its pass gives the logits and targets).
    REQUIRE(eval::aug_smooth_augmentations.size() == 6);
    REQUIRE_FALSE(eval::aug_smooth_augmentations[0].mirror);
    REQUIRE(eval::aug_smooth_augmentations[0].factor == 1.0f);
}

TEST_CASE("aug_smooth matches pytorch-grad-cam's recipe in PyTorch", "[eval][augsmooth][fixture]") {
    const auto& f = dgtest::json_fixture("models/resnet50.augsmooth.json");
    auto model = eval::cpu_map_model(models::load_model("resnet50", dgtest::model_fixture("resnet50.safetensors")));
    const io::NchwTensor batch = dgtest::resnet50_input_batch();
    const std::vector<std::string> layers{"layer3.5", "layer4.2"}, methods{"gradcam", "layercam"};
    const auto bm = eval::aug_smooth_maps(*model, batch, layers, methods, TargetRule::top_k(2));
    for (int n = 0; n < 2; ++n)
        for (int t = 0; t < 2; ++t) REQUIRE(bm.targets(n, t) == f["targets"][n][t].get<int>());
    // The logits are the unaugmented pass's.
    const auto plain = model->maps(batch, layers, methods, TargetRule::top_k(2));
    const auto a = bm.logits.values(), b = plain.logits.values();
    REQUIRE(std::equal(a.begin(), a.end(), b.begin(), b.end()));
    for (std::size_t i = 0; i < methods.size(); ++i)
        for (std::size_t l = 0; l < layers.size(); ++l)
            for (int t = 0; t < 2; ++t) {
                INFO(methods[i] << " at " << layers[l] << ", slot " << t);
                const auto& want = f["methods"][methods[i]][layers[l]];
                std::vector<float> got;
                for (const auto& map : bm.maps[i][l][static_cast<std::size_t>(t)])
                    got.insert(got.end(), map.values().begin(), map.values().end());
                dgtest::require_near_float64(got, dgtest::doubles(want["maps64"][t]), dgtest::doubles(want["maps32"][t]), 1e-4);
            }
}

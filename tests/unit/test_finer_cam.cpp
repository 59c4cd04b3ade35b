// Finer-CAM (core/finer_cam.hpp): its closed-form logit cotangent against central finite
// differences of the objective, and its maps on the CPU engine against
// tests/fixtures/models/resnet50.finer.json (tools/fixtures/make_finer_fixture.py: pytorch-grad-cam's
// FinerWeightedTarget differentiated by autograd in float64 and float32 PyTorch). The allowance is
// twice the float32-vs-float64 difference at each value, or 1e-4 of the map's scale.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include <catch2/catch.hpp>

#include <dualgrad/core/finer_cam.hpp>
#include <dualgrad/eval/maps.hpp>
#include <dualgrad/models/cpu_model.hpp>

#include "json_fixture.hpp"
#include "model_fixtures.hpp"
#include "resnet50_input.hpp"

using namespace dualgrad;

namespace {

// The objective itself, in double, with the comparison classes fixed (they do not change under
// the small steps below).
double objective(const std::vector<double>& y, int c, const std::vector<int>& J, double alpha) {
    const double top = *std::max_element(y.begin(), y.end());
    double z = 0;
    for (double v : y) z += std::exp(v - top);
    double W = 0, N = 0;
    for (int j : J) {
        const double w = std::exp(y[static_cast<std::size_t>(j)] - top) / z;
        W += w;
        N += w * (y[static_cast<std::size_t>(c)] - alpha * y[static_cast<std::size_t>(j)]);
    }
    return N / (W + 1e-9);
}
} // namespace

TEST_CASE("Finer-CAM's cotangent is the gradient of its objective (finite differences)", "[core][finercam]") {
    // Seven classes; target 2; the nearest logits to y_2 = 0.5 are classes 4 (0.6), 0 (0.3) and 5 (0.9).
    const std::vector<float> y{0.3f, -1.2f, 0.5f, 2.0f, 0.6f, 0.9f, -0.4f};
    const std::vector<int> J{4, 0, 5};
    for (double alpha : {1.0, 0.6}) {
        INFO("alpha " << alpha);
        std::vector<float> out(y.size());
        finer_cotangent(alpha)(y, 2, out);
        std::vector<double> yd(y.begin(), y.end());
        for (std::size_t k = 0; k < y.size(); ++k) {
            const double h = 1e-6;
            auto plus = yd, minus = yd;
            plus[k] += h;
            minus[k] -= h;
            const double fd = (objective(plus, 2, J, alpha) - objective(minus, 2, J, alpha)) / (2 * h);
            INFO("class " << k << ": closed form " << out[k] << ", finite differences " << fd);
            REQUIRE(std::abs(out[k] - fd) <= 1e-6);
        }
    }
    // One class: no comparison, a zero cotangent.
    std::vector<float> one(1, 7.0f);
    finer_cotangent()(std::vector<float>{3.0f}, 0, one);
    CHECK(one[0] == 0.0f);
    CHECK_THROWS_WITH(finer_cotangent()(y, 9, one), Catch::Contains("target class 9 is not among 7 classes"));
    CHECK_THROWS_WITH(finer_cotangent(NAN), Catch::Contains("alpha nan"));
}

TEST_CASE("Finer-CAM matches pytorch-grad-cam's recipe in PyTorch", "[core][finercam][fixture]") {
    const auto& f = dgtest::json_fixture("models/resnet50.finer.json");
    auto model = eval::cpu_map_model(models::load_model("resnet50", dgtest::model_fixture("resnet50.safetensors")));
    const io::NchwTensor batch = dgtest::resnet50_input_batch();
    int nonzero = 0;
    for (const auto& [layer, want] : f["layers"].items()) {
        INFO("layer " << layer);
        // With another method in the same pass, to check the method cotangent's slots.
        const auto bm = model->maps(batch, {layer}, {"dgl", "finercam"}, TargetRule::top_k(2));
        for (int n = 0; n < 2; ++n)
            for (int t = 0; t < 2; ++t) REQUIRE(bm.targets(n, t) == f["targets"][n][t].get<int>());
        for (int t = 0; t < 2; ++t) {
            const auto m64 = dgtest::doubles(want["maps64"][t]);
            const auto m32 = dgtest::doubles(want["maps32"][t]);
            std::vector<float> got;
            for (const auto& map : bm.maps[1][0][static_cast<std::size_t>(t)])
                got.insert(got.end(), map.values().begin(), map.values().end());
            const double scale = dgtest::max_abs(m64);
            nonzero += scale > 0;
            INFO("slot " << t);
            dgtest::require_near_float64(got, m64, m32, 1e-4 * scale);
        }
    }
    CHECK(nonzero == 4);
}

TEST_CASE("Finer-CAM without its gradient is an error that says so", "[core][finercam][bad-input]") {
    LayerGradients<EigenBackend> g;
    g.activations = EigenBackend::from_host({1, 2, 2, 2}, std::vector<float>(8, 1.0f));
    CHECK_THROWS_WITH(finer_cam<EigenBackend>(g, -1), Catch::Contains("needs the gradient of its own objective"));
}

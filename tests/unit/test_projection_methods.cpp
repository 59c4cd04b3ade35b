// Eigen-CAM, Eigen-Grad-CAM and Random-CAM. The principal-component maps are checked against
// tests/fixtures/core/projection_fixture.json, made by tools/fixtures/make_projection_fixture.py
// with PyTorch's SVD in float64 the way pytorch-grad-cam's get_2d_projection does it (dualgrad
// solves a symmetric eigenproblem instead), plus the sign rule of docs/reference.md.
#include <cmath>
#include <fstream>
#include <numeric>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <dualgrad/core/method_registry.hpp>
#include <dualgrad/core/projection_methods.hpp>

#include "backends.hpp"
#include "json_fixture.hpp"
#include "tensor_matchers.hpp"

using namespace dualgrad;

namespace {
const nlohmann::json& fixture() { return dgtest::json_fixture("core/projection_fixture.json"); }
using dgtest::doubles;
using dgtest::floats;
} // namespace

TEMPLATE_LIST_TEST_CASE("Eigen-CAM and Eigen-Grad-CAM match PyTorch's SVD", "[core][fixture][eigencam]", dgtest::Backends) {
    using B = TestType;
    for (const auto& c : fixture()["cases"]) {
        const auto d = c["shape"].get<std::vector<std::int64_t>>();
        const Shape4 s{d[0], d[1], d[2], d[3]};
        INFO("shape " << s << (s.plane() > s.c ? " (covariance route)" : " (Gram route)"));
        LayerGradients<B> g;
        g.activations = B::from_host(s, floats(c["S"]));
        for (const auto& slot : c["slots"]) g.class_vjps.push_back(B::from_host(s, floats(slot["G"])));
        const Targets targets(std::vector<std::vector<int>>(static_cast<std::size_t>(s.n), std::vector<int>{0, 1}));
        const MethodInputs in{&targets};

        const auto eigen = class_maps<B>("eigencam", g, in);
        REQUIRE(eigen.size() == 2); // one per target slot, the same map
        for (const auto& m : eigen) {
            REQUIRE(B::shape(m) == s.map_shape());
            REQUIRE_THAT(B::to_host(m), dgtest::all_close(doubles(c["eigencam"]), 1e-5, 1e-4));
        }
        const auto eigengrad = class_maps<B>("eigengradcam", g, in);
        REQUIRE(eigengrad.size() == 2);
        for (std::size_t t = 0; t < eigengrad.size(); ++t)
            REQUIRE_THAT(B::to_host(eigengrad[t]), dgtest::all_close(doubles(c["slots"][t]["eigengradcam"]), 1e-5, 1e-4));
    }
}

TEST_CASE("The principal direction's sign follows the channel mean", "[core][eigencam]") {
    // Two channels that both follow one spatial pattern p: the first principal component is
    // along (1, 1) and the map is relu(centred p * sqrt(2)) whichever sign the solver returns.
    const std::vector<float> p{0, 1, 4, 2, 0, 3};
    const float mean = 10.0f / 6.0f;
    std::vector<float> x(p);
    x.insert(x.end(), p.begin(), p.end());
    std::vector<float> out(6);
    detail::principal_projection(x.data(), 2, 6, out.data());
    for (int i = 0; i < 6; ++i) REQUIRE(out[static_cast<std::size_t>(i)] == Approx((p[static_cast<std::size_t>(i)] - mean) * std::sqrt(2.0f)).margin(1e-5));
    // The same with a Gram route (more channels than pixels): 8 copies of a 3-pixel pattern.
    const std::vector<float> q{1, 5, 3};
    std::vector<float> y;
    for (int k = 0; k < 8; ++k) y.insert(y.end(), q.begin(), q.end());
    std::vector<float> out2(3);
    detail::principal_projection(y.data(), 8, 3, out2.data());
    for (int i = 0; i < 3; ++i) REQUIRE(out2[static_cast<std::size_t>(i)] == Approx((q[static_cast<std::size_t>(i)] - 3.0f) * std::sqrt(8.0f)).margin(1e-5));
    // Constant activations have no principal direction: a zero map, not NaN.
    std::vector<float> flat(12, 2.5f), out3(6, -1.0f);
    detail::principal_projection(flat.data(), 2, 6, out3.data());
    for (float v : out3) REQUIRE(v == 0.0f);
}

TEST_CASE("Eigen-CAM on a single-channel layer is a named error", "[core][eigencam][errors]") {
    using B = EigenBackend;
    LayerGradients<B> g;
    g.activations = B::from_host({1, 1, 3, 3}, std::vector<float>(9, 1.0f));
    const Targets targets(std::vector<std::vector<int>>{{0}});
    REQUIRE_THROWS_WITH(class_maps<B>("eigencam", g, MethodInputs{&targets}),
                        Catch::Contains("eigencam: the layer has 1 channel") && Catch::Contains("several channels"));
    g.class_vjps.push_back(g.activations);
    REQUIRE_THROWS_WITH(class_maps<B>("eigengradcam", g, MethodInputs{&targets}),
                        Catch::Contains("eigengradcam: the layer has 1 channel"));
    LayerGradients<B> none;
    none.activations = B::from_host({1, 3, 2, 2}, std::vector<float>(12, 1.0f));
    REQUIRE_THROWS_WITH(class_maps<B>("eigengradcam", none, MethodInputs{&targets}),
                        Catch::Contains("needs the class gradients"));
}

TEMPLATE_LIST_TEST_CASE("Random-CAM weighs channels with seeded uniform weights", "[core][randomcam]", dgtest::Backends) {
    using B = TestType;
    const Shape4 s{3, 5, 4, 4};
    auto values = dgtest::random_values(static_cast<std::size_t>(s.count()), 7, 0.0f, 2.0f);
    // Samples 0 and 2 are the same image: the same weights, whatever their position in the batch.
    std::copy_n(values.begin(), s.c * s.plane(), values.begin() + 2 * s.c * s.plane());
    const auto S = B::from_host(s, values);
    const auto maps = random_cam<B>(S, 2, 42);
    REQUIRE(maps.size() == 2);
    const auto got = B::to_host(maps[0]);
    REQUIRE(got == B::to_host(maps[1]));
    // The oracle: relu(sum_k w_k S_k), summed here in double from the documented weights.
    const std::int64_t P = s.plane(), per = s.c * P;
    for (std::int64_t n = 0; n < s.n; ++n) {
        const auto w = random_cam_weights(std::span<const float>(values).subspan(static_cast<std::size_t>(n * per), static_cast<std::size_t>(per)), s.c, 42);
        for (std::int64_t p = 0; p < P; ++p) {
            double m = 0;
            for (std::int64_t k = 0; k < s.c; ++k) m += double(w[static_cast<std::size_t>(k)]) * values[static_cast<std::size_t>(n * per + k * P + p)];
            REQUIRE(got[static_cast<std::size_t>(n * P + p)] == Approx(std::max(m, 0.0)).margin(1e-5));
        }
    }
    for (std::int64_t p = 0; p < P; ++p) REQUIRE(got[static_cast<std::size_t>(p)] == got[static_cast<std::size_t>(2 * P + p)]);
    // Another seed, other weights.
    REQUIRE(B::to_host(random_cam<B>(S, 1, 43)[0]) != got);
}

TEST_CASE("Random-CAM weights are uniform on [-1, 1) and independent across images", "[core][randomcam]") {
    // 4000 images of one value each (their hashes differ), 8 channels: 32000 draws.
    double sum = 0, sum_sq = 0, lo = 1, hi = -1;
    int below_half = 0, count = 0;
    std::vector<double> first;
    for (int i = 0; i < 4000; ++i) {
        const float x = static_cast<float>(i) * 0.25f;
        const auto w = random_cam_weights(std::span<const float>(&x, 1), 8, 0);
        for (float v : w) {
            sum += v, sum_sq += double(v) * v, ++count;
            lo = std::min(lo, double(v)), hi = std::max(hi, double(v));
            below_half += v < -0.5f;
        }
        first.push_back(w[0]);
    }
    REQUIRE(lo >= -1.0);
    REQUIRE(hi < 1.0);
    // Mean 0 and variance 1/3 within 5 standard errors; a quarter below -0.5.
    REQUIRE(std::abs(sum / count) < 5 * std::sqrt(1.0 / 3 / count));
    REQUIRE(std::abs(sum_sq / count - 1.0 / 3) < 5 * std::sqrt(4.0 / 45 / count));
    REQUIRE(std::abs(below_half / double(count) - 0.25) < 5 * std::sqrt(0.1875 / count));
    // Consecutive images are uncorrelated (lag-1 correlation of channel 0 within 5 / sqrt(n)).
    double c = 0;
    for (std::size_t i = 1; i < first.size(); ++i) c += first[i] * first[i - 1];
    const double lags = static_cast<double>(first.size() - 1);
    REQUIRE(std::abs(c / lags / (1.0 / 3)) < 5 / std::sqrt(lags));
}

TEST_CASE("The projection methods are registered by name", "[core][registry]") {
    const auto names = MethodRegistry<EigenBackend>::global().names();
    for (const char* n : {"eigencam", "eigengradcam", "randomcam"})
        REQUIRE(std::find(names.begin(), names.end(), n) != names.end());
    REQUIRE_FALSE(MethodRegistry<EigenBackend>::global().at("eigencam").needs_class_gradients);
    REQUIRE(MethodRegistry<EigenBackend>::global().at("eigengradcam").needs_class_gradients);
    REQUIRE_FALSE(MethodRegistry<EigenBackend>::global().at("randomcam").needs_class_gradients);
}

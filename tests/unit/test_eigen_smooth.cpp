// pytorch-grad-cam's eigen_smooth: the "+eigensmooth" forms of the gradient methods against
// tests/fixtures/models/resnet50.eigensmooth.json (tools/fixtures/make_eigensmooth_fixture.py:
// autograd G, pytorch-grad-cam's weighted activations and get_2d_projection, in float64 and
// float32 PyTorch), and every method's weighted activations against its own map: relu(sum_k W_k)
// is the map (the maps themselves are tested against their fixtures elsewhere).
#include <algorithm>
#include <cmath>

#include <catch2/catch.hpp>

#include <dualgrad/eval/maps.hpp>

#include "json_fixture.hpp"
#include "model_fixtures.hpp"
#include "resnet50_input.hpp"

using namespace dualgrad;

TEST_CASE("eigen_smooth forms match pytorch-grad-cam's get_2d_projection in PyTorch", "[core][eigensmooth][fixture]") {
    const auto& f = dgtest::json_fixture("models/resnet50.eigensmooth.json");
    auto model = eval::cpu_map_model(models::load_model("resnet50", dgtest::model_fixture("resnet50.safetensors")));
    const io::NchwTensor batch = dgtest::resnet50_input_batch();
    const std::vector<std::string> base{"gradcam", "gradcampp", "xgradcam", "hirescam", "gradcam-elementwise", "layercam"};
    std::vector<std::string> methods;
    for (const auto& m : base) methods.push_back(m + "+eigensmooth");
    const std::vector<std::string> layers{"layer3.5", "layer4.2"};
    const auto bm = model->maps(batch, layers, methods, TargetRule::top_k(2));
    for (int n = 0; n < 2; ++n)
        for (int t = 0; t < 2; ++t) REQUIRE(bm.targets(n, t) == f["targets"][n][t].get<int>());
    for (std::size_t i = 0; i < methods.size(); ++i)
        for (std::size_t l = 0; l < layers.size(); ++l)
            for (int t = 0; t < 2; ++t) {
                INFO(methods[i] << " at " << layers[l] << ", slot " << t);
                const auto& want = f["layers"][layers[l]][base[i]];
                const auto m64 = dgtest::doubles(want["maps64"][t]);
                std::vector<float> got;
                for (const auto& map : bm.maps[i][l][static_cast<std::size_t>(t)])
                    got.insert(got.end(), map.values().begin(), map.values().end());
                const double scale = dgtest::max_abs(m64);
                REQUIRE(scale > 0);
                dgtest::require_near_float64(got, m64, dgtest::doubles(want["maps32"][t]), 1e-4 * scale);
            }
}

TEST_CASE("Every method's weighted activations sum to its map", "[core][eigensmooth]") {
    using B = EigenBackend;
    auto model = models::load_model("resnet50", dgtest::model_fixture("resnet50.safetensors"));
    const nn::Tensor x = dgtest::resnet50_input();
    const auto& registry = MethodRegistry<B>::global();
    int with = 0;
    for (const auto& name : registry.names()) {
        const auto spec = registry.at(name);
        if (!spec.weighted) continue;
        ++with;
        INFO("method " << name);
        GradientRequest request = request_for(std::vector<std::string>{"layer4.2"}, TargetRule::top_k(2), ReferenceCost{});
        request.class_vjps = spec.needs_backward();
        if (spec.cotangent) request.method_cotangents.push_back(spec.cotangent);
        const auto result = model.gradients(x, request);
        MethodInputs in{&result.targets, nullptr, ReferenceCost{}};
        in.samples = 2;
        in.cotangent = spec.cotangent ? 0 : -1;
        std::shared_ptr<const InputForward> input_pass;
        add_pass_inputs(spec, in, model, x, "layer4.2", result.logits, input_pass);
        const auto& g = result.layers.at(0);
        const auto maps = spec.maps(g, in);
        const auto W = spec.weighted(g, in);
        REQUIRE(W.size() == maps.size());
        const Shape4 s = B::shape(g.activations);
        for (std::size_t t = 0; t < W.size(); ++t) {
            const auto want = B::to_host(maps[t]);
            REQUIRE(W[t].size() == static_cast<std::size_t>(s.count()));
            double scale = 0;
            for (float v : want) scale = std::max(scale, std::abs(static_cast<double>(v)));
            for (std::int64_t n = 0; n < s.n; ++n)
                for (std::int64_t p = 0; p < s.plane(); ++p) {
                    double sum = 0;
                    for (std::int64_t k = 0; k < s.c; ++k) sum += W[t][static_cast<std::size_t>((n * s.c + k) * s.plane() + p)];
                    const float got = want[static_cast<std::size_t>(n * s.plane() + p)];
                    REQUIRE(std::abs(std::max(sum, 0.0) - got) <= 1e-5 * std::max(scale, 1e-3));
                }
        }
    }
    // gradcam, gradcampp, xgradcam, hirescam, gradcam-elementwise, layercam, finercam, ablationcam,
    // scorecam, iscam, sscam.
    REQUIRE(with == 11);
}

TEST_CASE("eigen_smooth forms: names and errors", "[core][eigensmooth][errors]") {
    using B = EigenBackend;
    const auto& registry = MethodRegistry<B>::global();
    const auto spec = registry.at("scorecam+eigensmooth");
    REQUIRE(spec.name == "scorecam+eigensmooth");
    REQUIRE(spec.needs_input);
    REQUIRE_FALSE(spec.weighted);
    REQUIRE_THROWS_WITH(registry.at("dgl+eigensmooth"),
                        Catch::Contains("method 'dgl' has no weighted activations") &&
                            Catch::Contains("the methods with one: gradcam, gradcampp"));
    REQUIRE_THROWS_WITH(registry.at("nothing+eigensmooth"), Catch::Contains("unknown method 'nothing+eigensmooth'"));
    REQUIRE_THROWS_WITH(registry.at("gradcam+eigensmooth+eigensmooth"), Catch::Contains("unknown method"));
    // A single channel has no principal direction other than itself.
    LayerGradients<B> g;
    g.activations = B::from_host({1, 1, 2, 2}, std::vector<float>{1, 2, 3, 4});
    g.class_vjps.push_back(B::from_host({1, 1, 2, 2}, std::vector<float>{1, 1, 1, 1}));
    const Targets targets(std::vector<std::vector<int>>{{0}});
    REQUIRE_THROWS_WITH(class_maps<B>("gradcam+eigensmooth", g, MethodInputs{&targets}),
                        Catch::Contains("eigen_smooth: the layer has 1 channel"));
}

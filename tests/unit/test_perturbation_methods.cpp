// Ablation-CAM on the CPU engine's head passes against tests/fixtures/models/resnet50.ablation.json,
// made by tools/fixtures/make_ablation_fixture.py: pytorch-grad-cam's recipe (a forward hook
// replaces the layer's output, the whole network runs again) in float64 and float32 PyTorch. The
// allowance is twice the float32-vs-float64 difference at each value, or 1e-4 of the map's scale.
#include <cmath>
#include <fstream>
#include <numeric>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <dualgrad/core/method_registry.hpp>
#include <dualgrad/eval/maps.hpp>
#include <dualgrad/models/cpu_model.hpp>

#include "json_fixture.hpp"
#include "model_fixtures.hpp"
#include "resnet50_input.hpp"

using namespace dualgrad;

TEST_CASE("The head pass gives the full forward's logits, row by row", "[nn][head]") {
    auto model = models::load_model("resnet50", dgtest::model_fixture("resnet50.safetensors"));
    const nn::Tensor x = dgtest::resnet50_input();
    const Logits full = model.graph.forward(x, model.exec);
    for (const char* layer : {"layer2.3", "layer3.5", "layer4.2", "layer4.1.relu"}) {
        INFO("layer " << layer);
        const auto h = model.head_state(x, layer);
        // Rows in another order, one sample twice: row m is sample `order[m]` everywhere.
        const std::vector<int> order{1, 0, 1};
        const Shape4 s = nn::shape_of(h.activations);
        nn::Tensor t(3, s.c, s.h, s.w);
        for (int m = 0; m < 3; ++m)
            std::copy_n(h.activations.data() + order[static_cast<std::size_t>(m)] * s.per_sample(), s.per_sample(),
                        t.data() + m * s.per_sample());
        const Logits got = model.head_forward(h, t, order);
        for (int m = 0; m < 3; ++m)
            for (int c = 0; c < full.classes(); ++c)
                REQUIRE(got.row(m)[static_cast<std::size_t>(c)] == full.row(order[static_cast<std::size_t>(m)])[static_cast<std::size_t>(c)]);
    }
    const auto h = model.head_state(x, "layer4.2");
    REQUIRE_THROWS_WITH(model.head_forward(h, h.activations, std::vector<int>{0, 2}),
                        Catch::Contains("sample index 2 outside [0, 2)"));
    REQUIRE_THROWS_WITH(model.head_forward(h, h.activations, std::vector<int>{0}), Catch::Contains("1 sample indices for 2 rows"));
    REQUIRE_THROWS_WITH(model.head_state(x, "layer9"), Catch::Contains("unknown layer 'layer9'"));
}

TEST_CASE("Ablation-CAM and Score-CAM match pytorch-grad-cam's recipes in PyTorch", "[core][ablationcam][scorecam][fixture]") {
    std::ifstream in(DUALGRAD_FIXTURES_DIR "/models/resnet50.ablation.json");
    REQUIRE(in.good());
    const auto f = nlohmann::json::parse(in);
    auto model = eval::cpu_map_model(models::load_model("resnet50", dgtest::model_fixture("resnet50.safetensors")));
    const io::NchwTensor batch = dgtest::resnet50_input_batch();
    const std::string method = GENERATE(as<std::string>{}, "ablationcam", "scorecam");
    const std::string key = method == "ablationcam" ? "maps" : "score_maps";
    INFO("method " << method);
    int nonzero_maps = 0;
    for (const auto& [layer, want] : f["layers"].items()) {
        INFO("layer " << layer);
        const auto bm = model->maps(batch, {layer}, {method}, TargetRule::top_k(2));
        for (int n = 0; n < 2; ++n)
            for (int t = 0; t < 2; ++t) REQUIRE(bm.targets(n, t) == f["targets"][n][t].get<int>());
        for (int t = 0; t < 2; ++t) {
            const auto m64 = want[key + "64"][t].get<std::vector<double>>();
            const auto m32 = want[key + "32"][t].get<std::vector<double>>();
            std::vector<float> got;
            for (const auto& map : bm.maps[0][0][static_cast<std::size_t>(t)])
                got.insert(got.end(), map.values().begin(), map.values().end());
            const double scale = dgtest::max_abs(m64);
            nonzero_maps += scale > 0; // a map that the ReLU zeroed must come out exactly zero here too
            INFO("slot " << t);
            dgtest::require_near_float64(got, m64, m32, 1e-4 * std::max(scale, 1.0));
        }
    }
    // Ablation-CAM: 3 of the 4 (layer3.5's second slot is all negative before the ReLU); Score-CAM's
    // weights are positive, so all 4.
    REQUIRE(nonzero_maps == (method == "ablationcam" ? 3 : 4));
}

TEST_CASE("Ablation-CAM: head batches of any size give the same weights", "[core][ablationcam]") {
    auto model = models::load_model("resnet50", dgtest::model_fixture("resnet50.safetensors"));
    const nn::Tensor x = dgtest::resnet50_input();
    GradientRequest request;
    request.layers = {"layer4.2"};
    request.targets = TargetRule::top_k(2);
    const auto result = model.gradients(x, request);
    result.layers.at(0).validate();
    const auto head = make_head_forward(model, x, "layer4.2");
    const auto S = EigenBackend::to_host(result.layers[0].activations);
    const Shape4 s = EigenBackend::shape(result.layers[0].activations);
    const auto ref = ablation_weights(S, s, result.targets, result.logits, head, 32);
    for (int batch : {1, 7, 1000}) {
        INFO("batch " << batch);
        const auto w = ablation_weights(S, s, result.targets, result.logits, head, batch);
        for (std::size_t t = 0; t < w.size(); ++t)
            for (std::size_t i = 0; i < w[t].size(); ++i) REQUIRE(w[t][i] == Approx(ref[t][i]).margin(1e-6));
    }
}

TEST_CASE("Ablation-CAM without a head pass is a named error", "[core][ablationcam][errors]") {
    using B = EigenBackend;
    LayerGradients<B> g;
    g.activations = B::from_host({1, 2, 2, 2}, std::vector<float>(8, 1.0f));
    const Targets targets(std::vector<std::vector<int>>{{0}});
    const Logits logits(1, 3, {1.0f, 0.5f, 0.2f});
    MethodInputs in;
    in.targets = &targets;
    REQUIRE_THROWS_WITH(class_maps<B>("ablationcam", g, in), Catch::Contains("needs the targets and the logits"));
    in.logits = &logits;
    REQUIRE_THROWS_WITH(class_maps<B>("ablationcam", g, in),
                        Catch::Contains("ablationcam needs a source that can run the network above the layer"));
    REQUIRE(MethodRegistry<B>::global().at("ablationcam").needs_head);
}

TEST_CASE("Aligned-corner bilinear resize, hand-worked", "[core][scorecam]") {
    // 2 x 2 -> 3 x 3: corners kept, edges the means of two corners, centre the mean of four.
    const std::vector<float> src{0, 2, 4, 8};
    std::vector<float> dst(9);
    detail::resize_aligned(src.data(), 2, 2, dst.data(), 3, 3);
    const std::vector<float> want{0, 1, 2, 2, 3.5f, 5, 4, 6, 8};
    for (std::size_t i = 0; i < 9; ++i) REQUIRE(dst[i] == Approx(want[i]));
    // 1 x 1 -> 2 x 3: a constant.
    const float one = 5;
    std::vector<float> d2(6);
    detail::resize_aligned(&one, 1, 1, d2.data(), 2, 3);
    for (float v : d2) REQUIRE(v == 5.0f);
}

TEST_CASE("Score-CAM without a forward pass is a named error", "[core][scorecam][errors]") {
    using B = EigenBackend;
    LayerGradients<B> g;
    g.activations = B::from_host({1, 2, 2, 2}, std::vector<float>(8, 1.0f));
    const Targets targets(std::vector<std::vector<int>>{{0}});
    MethodInputs in;
    in.targets = &targets;
    REQUIRE_THROWS_WITH(class_maps<B>("scorecam", g, in),
                        Catch::Contains("scorecam needs a source that can run forward passes of masked inputs"));
    REQUIRE(MethodRegistry<B>::global().at("scorecam").needs_input);
}

TEST_CASE("Score-CAM refuses a batch whose masked inputs would not fit in memory, saying how much they need",
          "[core][scorecam][bad-input]") {
    // 4096 channels of 1 x 1 and an input of 3 x 8192 x 8192 (805 MB a copy): a batch of 4096
    // masked copies needs 3 TiB. The error comes before any buffer is made.
    const Shape4 s{1, 4096, 1, 1};
    const std::vector<float> S(4096, 1.0f);
    InputForward input;
    input.shape = {1, 3, 8192, 8192};
    bool ran = false;
    input.forward = [&](Shape4, const HeadFill&) {
        ran = true;
        return Logits(1, 2, {0.0f, 1.0f});
    };
    const Targets targets(std::vector<std::vector<int>>{{1}});
    REQUIRE_THROWS_WITH(score_weights(S, s, targets, &input, 4096),
                        Catch::Contains("scorecam: a batch of 4096 inputs of 3x8192x8192 needs 3072 GiB") &&
                            Catch::Contains("lower the batch"));
    CHECK_FALSE(ran);
}

TEST_CASE("IS-CAM matches torch-cam's recipe in PyTorch", "[core][iscam][fixture]") {
    const auto& f = dgtest::json_fixture("models/resnet50.iscam.json");
    auto model = eval::cpu_map_model(models::load_model("resnet50", dgtest::model_fixture("resnet50.safetensors")));
    const io::NchwTensor batch = dgtest::resnet50_input_batch();
    for (const auto& [layer, want] : f["layers"].items()) {
        INFO("layer " << layer);
        const auto bm = model->maps(batch, {layer}, {"iscam"}, TargetRule::top_k(2));
        for (int t = 0; t < 2; ++t) {
            const auto m64 = dgtest::doubles(want["maps64"][t]);
            const auto m32 = dgtest::doubles(want["maps32"][t]);
            std::vector<float> got;
            for (const auto& map : bm.maps[0][0][static_cast<std::size_t>(t)])
                got.insert(got.end(), map.values().begin(), map.values().end());
            const double scale = dgtest::max_abs(m64);
            REQUIRE(scale > 0);
            INFO("slot " << t);
            dgtest::require_near_float64(got, m64, m32, 1e-4 * scale);
        }
    }
}

TEST_CASE("The reproducible normal stream: SplitMix64's published outputs, the fixture's draws, and its moments",
          "[core][random][sscam]") {
    // SplitMix64 seeded 0: its first two outputs, as published with the reference implementation.
    REQUIRE(detail::splitmix64(0) == 0xE220A8397B1DCDAFull);
    REQUIRE(detail::splitmix64(0x9E3779B97F4A7C15ull) == 0x6E789E6AA1B965F4ull);
    // The same draws as NumPy's float64 Box-Muller in the fixture script.
    const auto& probe = dgtest::json_fixture("models/resnet50.sscam.json")["normal_probe"];
    const auto seed = probe["seed"].get<std::uint64_t>();
    for (std::size_t i = 0; i < probe["index"].size(); ++i) {
        const auto j = probe["index"][i].get<std::uint64_t>();
        INFO("index " << j);
        REQUIRE(std::abs(standard_normal(seed, j) - probe["z"][i].get<double>()) <= 1e-12);
    }
    // 200000 draws: mean 0 and variance 1 within 5 standard errors (0.011 and 0.016), and about
    // 68.3 % within one standard deviation.
    const int n = 200000;
    double sum = 0, sq = 0;
    int inside = 0;
    for (int j = 0; j < n; ++j) {
        const double z = standard_normal(3, static_cast<std::uint64_t>(j));
        REQUIRE(std::isfinite(z));
        sum += z;
        sq += z * z;
        inside += std::abs(z) < 1;
    }
    const double mean = sum / n, var = sq / n - mean * mean;
    CHECK(std::abs(mean) < 5 / std::sqrt(n));
    CHECK(std::abs(var - 1) < 5 * std::sqrt(2.0 / n));
    CHECK(std::abs(inside / static_cast<double>(n) - 0.6827) < 0.005);
}

TEST_CASE("SS-CAM matches torch-cam's recipe in PyTorch with the same noise", "[core][sscam][fixture]") {
    using B = EigenBackend;
    const auto& f = dgtest::json_fixture("models/resnet50.sscam.json");
    auto model = models::load_model("resnet50", dgtest::model_fixture("resnet50.safetensors"));
    const nn::Tensor x = dgtest::resnet50_input();
    const auto input = make_input_forward(model, x);
    const Targets targets(f["targets"].get<std::vector<std::vector<int>>>());
    for (const auto& [layer, want] : f["layers"].items()) {
        INFO("layer " << layer);
        LayerGradients<B> g;
        g.activations = model.head_state(x, layer).activations;
        MethodInputs in;
        in.targets = &targets;
        in.input = input;
        in.samples = f["samples"].get<int>();
        in.noise_std = f["std"].get<float>();
        in.seed = f["seed"].get<std::uint64_t>();
        // The registered method, and the function with a batch that does not divide the rows (the
        // engine's last bits can differ with the batch, so both are held to the fixture).
        const auto registered = class_maps<B>("sscam", g, in);
        const auto direct = ss_cam<B>(g.activations, targets, input.get(), in.samples, *in.noise_std, in.seed, 7);
        REQUIRE(registered.size() == 2);
        for (int t = 0; t < 2; ++t) {
            const auto m64 = dgtest::doubles(want["maps64"][t]);
            const auto m32 = dgtest::doubles(want["maps32"][t]);
            const auto got = B::to_host(registered[static_cast<std::size_t>(t)]);
            const double scale = dgtest::max_abs(m64);
            REQUIRE(scale > 0);
            INFO("slot " << t);
            dgtest::require_near_float64(got, m64, m32, 1e-4 * scale);
            dgtest::require_near_float64(B::to_host(direct[static_cast<std::size_t>(t)]), m64, m32, 1e-4 * scale);
        }
        // Another seed draws other noise and gives other weights.
        in.seed += 1;
        REQUIRE(B::to_host(class_maps<B>("sscam", g, in)[0]) != B::to_host(registered[0]));
    }
    // The same settings reach the method through a MapModel (what `evaluate` and the CLI drive).
    auto map_model = eval::cpu_map_model(models::load_model("resnet50", dgtest::model_fixture("resnet50.safetensors")));
    MethodSettings settings;
    settings.samples = f["samples"].get<int>();
    settings.noise_std = f["std"].get<float>();
    settings.seed = f["seed"].get<std::uint64_t>();
    map_model->set_method_settings(settings);
    const auto bm = map_model->maps(dgtest::resnet50_input_batch(), {"layer4.2"}, {"sscam"}, TargetRule::top_k(2));
    for (int t = 0; t < 2; ++t) {
        std::vector<float> got;
        for (const auto& map : bm.maps[0][0][static_cast<std::size_t>(t)]) got.insert(got.end(), map.values().begin(), map.values().end());
        const auto& want = f["layers"]["layer4.2"];
        dgtest::require_near_float64(got, dgtest::doubles(want["maps64"][t]), dgtest::doubles(want["maps32"][t]),
                                     1e-4 * dgtest::max_abs(dgtest::doubles(want["maps64"][t])));
    }
}

TEST_CASE("SS-CAM's bad options are named errors", "[core][sscam][bad-input]") {
    const Shape4 s{1, 2, 2, 2};
    const std::vector<float> S(8, 1.0f);
    InputForward input;
    input.shape = {1, 1, 4, 4};
    input.values.assign(16, 1.0f);
    input.forward = [](Shape4 shape, const HeadFill&) { return Logits(static_cast<int>(shape.n), 2, std::vector<float>(static_cast<std::size_t>(2 * shape.n))); };
    const Targets targets(std::vector<std::vector<int>>{{1}});
    REQUIRE_THROWS_WITH(smoothed_score_weights(S, s, targets, &input, 0), Catch::Contains("sscam: samples 0 must be in [1, 1000]"));
    REQUIRE_THROWS_WITH(smoothed_score_weights(S, s, targets, &input, 4, -1.0f), Catch::Contains("sscam: noise std -1"));
    REQUIRE_THROWS_WITH(smoothed_score_weights(S, s, targets, &input, 4, std::nanf("")), Catch::Contains("must be finite"));
    REQUIRE_THROWS_WITH(smoothed_score_weights(S, s, targets, nullptr), Catch::Contains("sscam needs a source that can run forward passes"));
    const Targets wrong(std::vector<std::vector<int>>{{5}});
    REQUIRE_THROWS_WITH(smoothed_score_weights(S, s, wrong, &input, 1), Catch::Contains("5"));
}

// Faithfulness metrics (metrics/faithfulness.hpp) against float64 PyTorch
// (tools/fixtures/make_faithfulness_fixture.py: torch-cam's average drop and increase, RISE's
// deletion and insertion) and hand-worked cases; their counts merge exactly.
#include <cmath>
#include <vector>

#include <catch2/catch.hpp>

#include <dualgrad/metrics/faithfulness.hpp>
#include <dualgrad/metrics/serialize.hpp>

#include "json_fixture.hpp"

using namespace dualgrad;

namespace {

// The fixture's linear classifier, logits = W x + b, run in double on float inputs.
FilledForward linear_model(const std::vector<double>& w, const std::vector<double>& b, int features, int* passes = nullptr) {
    return [=](Shape4 shape, const std::function<void(std::span<float>)>& fill) {
        std::vector<float> in(static_cast<std::size_t>(shape.count()));
        fill(in);
        if (passes) ++*passes;
        const int k = static_cast<int>(b.size());
        std::vector<float> out;
        for (std::int64_t n = 0; n < shape.n; ++n)
            for (int c = 0; c < k; ++c) {
                double s = b[static_cast<std::size_t>(c)];
                for (int f = 0; f < features; ++f)
                    s += w[static_cast<std::size_t>(c) * features + f] * in[static_cast<std::size_t>(n * features + f)];
                out.push_back(static_cast<float>(s));
            }
        return Logits(static_cast<int>(shape.n), k, out);
    };
}

void require_close(const std::vector<double>& got, const std::vector<double>& want, double tol) {
    REQUIRE(got.size() == want.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
        INFO("point " << i << ": " << got[i] << " vs " << want[i]);
        REQUIRE(std::abs(got[i] - want[i]) <= tol); // false for NaN
    }
}

} // namespace

TEST_CASE("faithfulness metrics match float64 PyTorch (torch-cam drop, RISE deletion and insertion)", "[faithfulness]") {
    const auto& j = dgtest::json_fixture("metrics/faithfulness_fixture.json");
    const auto x = dgtest::floats(j["x"]);
    const Shape4 shape{1, 3, 9, 7};
    const int features = 3 * 9 * 7;
    int passes = 0;
    const auto forward = linear_model(dgtest::doubles(j["weight"]), dgtest::doubles(j["bias"]), features, &passes);
    ScoreMap raw(3, 4);
    const auto rv = dgtest::floats(j["raw_map"]);
    std::copy(rv.begin(), rv.end(), raw.data());
    const int cls = j["class"].get<int>();

    {
        const auto got = input_saliency(raw, 9, 7);
        require_close(std::vector<double>(got.begin(), got.end()), dgtest::doubles(j["saliency"]), 1e-6);
    }
    // The fixture's float32 saliency: both sides rank the same values (ties at the borders).
    const auto sal = dgtest::floats(j["saliency"]);
    SECTION("the blur baseline") {
        const auto blurred = gaussian_blur(x, 3, 9, 7);
        require_close(std::vector<double>(blurred.begin(), blurred.end()), dgtest::doubles(j["blurred"]), 1e-6);
    }
    SECTION("average drop and increase") {
        const Logits l = forward({1, 3, 9, 7}, [&](std::span<float> s) { std::copy(x.begin(), x.end(), s.begin()); });
        const double p = softmax_probability(l.row(0), cls);
        REQUIRE(std::abs(p - j["p"].get<double>()) <= 1e-6);
        std::vector<std::vector<float>> sals{sal, sal};
        std::vector<ImageFaithfulness> out(2);
        FaithfulnessOptions o;
        o.batch = 1; // three passes of one input: x and the two masked copies
        passes = 0;
        confidence_change(forward, x, shape, sals, cls, o, out);
        CHECK(passes == 3);
        REQUIRE(std::abs(out[0].drop - j["drop"].get<double>()) <= 1e-5);
        CHECK(out[0].increase == j["increase"].get<bool>());
        CHECK(out[1].drop == out[0].drop);
    }
    SECTION("deletion and insertion curves and their areas") {
        for (const auto& c : j["cases"]) {
            FaithfulnessOptions o;
            o.steps = c["steps"].get<int>();
            o.batch = 4;
            INFO("steps " << o.steps);
            REQUIRE(curve_points(63, o.steps) == static_cast<int>(c["deletion_zero"].size()));
            const auto run = [&](CausalMetric m, Baseline b, const char* key) {
                (m == CausalMetric::deletion ? o.deletion_baseline : o.insertion_baseline) = b;
                const auto curve = causal_curve(forward, x, shape, sal, cls, m, o);
                INFO(key);
                require_close(curve, dgtest::doubles(c[key]), 1e-5);
                REQUIRE(std::abs(curve_auc(curve) - c[std::string(key) + "_auc"].get<double>()) <= 1e-5);
            };
            run(CausalMetric::deletion, Baseline::zero, "deletion_zero");
            run(CausalMetric::deletion, Baseline::blur, "deletion_blur");
            run(CausalMetric::insertion, Baseline::blur, "insertion_blur");
            run(CausalMetric::insertion, Baseline::zero, "insertion_zero");
        }
    }
}

TEST_CASE("deletion on a hand-worked 2 x 2 image", "[faithfulness]") {
    // One channel; logit of class 0 = sum of the pixels, class 1 = 0: p = sigmoid(sum).
    const FilledForward forward = [](Shape4 shape, const std::function<void(std::span<float>)>& fill) {
        std::vector<float> in(static_cast<std::size_t>(shape.count())), out;
        fill(in);
        for (std::int64_t n = 0; n < shape.n; ++n) {
            out.push_back(in[static_cast<std::size_t>(4 * n)] + in[static_cast<std::size_t>(4 * n + 1)] +
                          in[static_cast<std::size_t>(4 * n + 2)] + in[static_cast<std::size_t>(4 * n + 3)]);
            out.push_back(0.0f);
        }
        return Logits(static_cast<int>(shape.n), 2, out);
    };
    const std::vector<float> x{1, 2, 3, 4};
    const std::vector<float> sal{0.5f, 1.0f, 0.0f, 0.5f}; // order: pixel 1, then 0 and 3 (tie: row-major), then 2
    const auto sig = [](double v) { return 1 / (1 + std::exp(-v)); };
    FaithfulnessOptions o;
    o.steps = 4;
    o.batch = 2;
    const auto d = causal_curve(forward, x, {1, 1, 2, 2}, sal, 0, CausalMetric::deletion, o);
    // sums: 10, 10-2 = 8, 8-1 = 7, 7-4 = 3, 0
    require_close(d, {sig(10), sig(8), sig(7), sig(3), sig(0)}, 1e-7);
    const double auc = (sig(10) / 2 + sig(8) + sig(7) + sig(3) + sig(0) / 2) / 4;
    REQUIRE(std::abs(curve_auc(d) - auc) <= 1e-12);
    // Two steps: two pixels per step.
    o.steps = 2;
    require_close(causal_curve(forward, x, {1, 1, 2, 2}, sal, 0, CausalMetric::deletion, o), {sig(10), sig(7), sig(0)}, 1e-7);
    // Insertion from zeros: 0, 2, 3, 7, 10.
    o.steps = 4;
    o.insertion_baseline = Baseline::zero;
    require_close(causal_curve(forward, x, {1, 1, 2, 2}, sal, 0, CausalMetric::insertion, o),
                  {sig(0), sig(2), sig(3), sig(7), sig(10)}, 1e-7);
    // Increase in confidence: masking by s = (0.5, 1, 0, 0.5) gives sum 0.5 + 2 + 0 + 2 = 4.5 < 10: a drop.
    std::vector<ImageFaithfulness> out(1);
    const std::vector<std::vector<float>> sals{sal};
    confidence_change(forward, x, {1, 1, 2, 2}, sals, 0, o, out);
    REQUIRE(std::abs(out[0].drop - (sig(10) - sig(4.5)) / (sig(10) + 1e-7)) <= 1e-7);
    CHECK_FALSE(out[0].increase);
    // With negative pixels masking raises the sum: an increase, no drop.
    const std::vector<float> neg{-1, -2, -3, -4};
    confidence_change(forward, neg, {1, 1, 2, 2}, sals, 0, o, out);
    CHECK(out[0].increase);
    CHECK(out[0].drop == 0.0);
}

TEST_CASE("the pointing game", "[faithfulness]") {
    ScoreMap m(10, 10, 0.0f);
    m(2, 7) = 1.0f; // maximum at x = 7, y = 2
    const std::vector<Box> far{{0, 5, 3, 9}};
    CHECK_FALSE(pointing_hit(m, far, 0));                 // dx = 4, dy = 3: distance 5
    CHECK_FALSE(pointing_hit(m, far, 4.99));
    CHECK(pointing_hit(m, far, 5.0));
    const std::vector<Box> inside{{7, 2, 7, 2}};
    CHECK(pointing_hit(m, inside, 0));
    const std::vector<Box> two{{0, 5, 3, 9}, {6, 0, 8, 1}}; // the second at distance 1
    CHECK(pointing_hit(m, two, 1));
    ScoreMap flat(3, 3, 0.5f); // ties: the first maximum, (0, 0)
    const std::vector<Box> corner{{0, 0, 0, 0}};
    CHECK(pointing_hit(flat, corner, 0));
}

TEST_CASE("faithfulness counts merge exactly across shards", "[faithfulness]") {
    FaithfulnessOptions o;
    o.steps = 4; // curves of 5 points
    std::vector<ImageFaithfulness> images;
    for (int i = 0; i < 7; ++i) {
        ImageFaithfulness im;
        im.drop = 0.1 * i + 1.0 / 3.0;
        im.increase = i % 3 == 0;
        for (int k = 0; k <= 4; ++k) {
            im.deletion.push_back(1.0 / (1 + i + k));
            im.insertion.push_back(std::sqrt(0.1 * (i + k)));
        }
        im.pointing_hit = i % 2 == 0;
        images.push_back(im);
    }
    FaithfulnessCounts all(o), a(o), b(o);
    for (std::size_t i = 0; i < images.size(); ++i) {
        all.add(images[i]);
        (i % 2 ? a : b).add(images[i]);
    }
    FaithfulnessCounts ab = a, ba = b;
    ab += b;
    ba += a;
    for (const auto* m : {&ab, &ba}) {
        CHECK(m->images() == 7);
        CHECK(m->drop_sum() == all.drop_sum());
        CHECK(m->deletion_auc_sum() == all.deletion_auc_sum());
        CHECK(m->insertion_curve_sums() == all.insertion_curve_sums());
        CHECK(m->increases() == 3);
        CHECK(m->pointing_hits() == 4);
    }
    const auto r = all.result();
    double drop = 0;
    for (const auto& im : images) drop += im.drop;
    CHECK(std::abs(r.avg_drop - drop / 7) < 1e-11);
    CHECK(r.pointing == Approx(4.0 / 7));
    CHECK(r.deletion_curve.size() == 5);

    SECTION("different settings do not merge") {
        FaithfulnessOptions other = o;
        other.steps = 50;
        FaithfulnessCounts c(other);
        REQUIRE_THROWS_WITH(ab += c, Catch::Contains("different settings"));
    }
    SECTION("a curve of another length is resampled onto the steps, its area kept") {
        FaithfulnessOptions o4;
        o4.steps = 4;
        o4.confidence = o4.insertion = o4.pointing = false;
        FaithfulnessCounts c(o4);
        ImageFaithfulness im;
        im.deletion = {1.0, 0.5, 0.1}; // 3 points: resampled at 0, 1/4, 1/2, 3/4, 1
        c.add(im);
        const auto r = c.result();
        REQUIRE(r.deletion_curve.size() == 5);
        const std::vector<double> want{1.0, 0.75, 0.5, 0.3, 0.1};
        for (std::size_t i = 0; i < 5; ++i) CHECK(std::abs(r.deletion_curve[i] - want[i]) < 1e-11);
        CHECK(std::abs(r.deletion_auc - (0.5 + 0.5 + 0.05) / 2) < 1e-11); // the 3-point trapezoid
    }
}

TEST_CASE("faithfulness settings and baselines are checked", "[faithfulness][bad-input]") {
    REQUIRE_THROWS_WITH(parse_baseline("gray", "--deletion-baseline"),
                        Catch::Contains("--deletion-baseline") && Catch::Contains("unknown baseline 'gray'"));
    CHECK(parse_baseline("blur") == Baseline::blur);
    FaithfulnessOptions o;
    o.steps = 0;
    REQUIRE_THROWS_WITH(o.check(), Catch::Contains("steps 0"));
    o.steps = 10;
    o.tolerance = NAN;
    REQUIRE_THROWS_WITH(o.check(), Catch::Contains("tolerance"));
    ExactSum s;
    REQUIRE_THROWS_WITH(s.add(NAN), Catch::Contains("not finite"));
    REQUIRE_THROWS(curve_auc(std::vector<double>{1.0}));
}

TEST_CASE("faithfulness counts read back from JSON; bad fields are errors naming them", "[faithfulness][bad-input]") {
    FaithfulnessOptions o;
    o.steps = 4;
    FaithfulnessCounts c(o);
    ImageFaithfulness im;
    im.drop = 0.25;
    im.increase = true;
    im.deletion = {0.9, 0.5, 0.2, 0.1, 0.05};
    im.insertion = {0.1, 0.3, 0.6, 0.8, 0.9};
    im.pointing_hit = true;
    c.add(im);
    const auto j = faithfulness_to_json(c);
    const auto back = faithfulness_from_json(j, "f.json");
    CHECK(faithfulness_to_json(back) == j);
    CHECK(back.result().avg_drop == Approx(0.25));
    auto bad = j;
    bad["settings"]["steps"] = 1e300;
    REQUIRE_THROWS_WITH(faithfulness_from_json(bad, "f.json"), Catch::Contains("f.json") && Catch::Contains("'steps'"));
    bad = j;
    bad["settings"]["steps"] = 0;
    REQUIRE_THROWS_WITH(faithfulness_from_json(bad, "f.json"), Catch::Contains("outside [1, 100000]"));
    bad = j;
    bad["counts"]["increases"] = 5; // more increases than images
    REQUIRE_THROWS_WITH(faithfulness_from_json(bad, "f.json"), Catch::Contains("inconsistent faithfulness counts"));
    bad = j;
    bad["counts"]["deletion_curve_units"].push_back(1); // 6 points for 4 steps
    REQUIRE_THROWS_WITH(faithfulness_from_json(bad, "f.json"), Catch::Contains("a curve of 6 points for 4 steps"));
    bad = j;
    bad["settings"]["metrics"] = {"road"};
    REQUIRE_THROWS_WITH(faithfulness_from_json(bad, "f.json"), Catch::Contains("faithfulness metric 'road' is unknown"));
    bad = j;
    bad["settings"]["deletion_baseline"] = "gray";
    REQUIRE_THROWS_WITH(faithfulness_from_json(bad, "f.json"), Catch::Contains("unknown baseline 'gray'"));
}

// Saved metrics (counts) restore exactly, merge exactly, and malformed files are named errors.
#include <random>

#include <catch2/catch.hpp>

#include <dualgrad/metrics/serialize.hpp>

using namespace dualgrad;

namespace {
LocMetrics random_metrics(unsigned seed, int images) {
    std::mt19937 rng(seed);
    LocMetrics m = LocMetrics::with_interval(0.1);
    const auto n = m.cam_thresholds().size();
    for (int i = 0; i < images; ++i) {
        std::uniform_int_distribution<int> coord(0, 40);
        const int x0 = coord(rng), y0 = coord(rng);
        const std::vector<Box> gt{{x0, y0, x0 + 20, y0 + 20}};
        std::vector<std::vector<Box>> largest(n), multi(n);
        for (std::size_t t = 0; t < n; ++t) {
            const int a = coord(rng), b = coord(rng);
            largest[t] = {{a, b, a + 15, b + 18}};
            multi[t] = {{a, b, a + 15, b + 18}, {b, a, b + 10, a + 9}};
        }
        std::vector<int> ranked{i % 7, (i + 1) % 7, (i + 2) % 7, (i + 3) % 7, (i + 4) % 7};
        m.add({gt, largest, multi, i % 3, ranked});
        ScoreMap score(8, 8);
        Mask mask(8, 8);
        for (int y = 0; y < 8; ++y)
            for (int x = 0; x < 8; ++x) {
                score(y, x) = static_cast<float>((x * 3 + y * 5 + i) % 10) / 10.0f;
                mask(y, x) = (x + i) % 3 == 0;
            }
        m.add_mask(score, mask);
    }
    return m;
}
} // namespace

TEST_CASE("Metrics counts survive JSON and merge exactly", "[metrics][serialize]") {
    const auto a = random_metrics(1, 13), b = random_metrics(2, 9);
    const auto ja = metrics_to_json(a);
    const auto a2 = metrics_from_json(nlohmann::json::parse(ja.dump()), "a.json");
    REQUIRE(a2 == a);
    auto merged = metrics_from_json(ja, "a.json");
    merged += metrics_from_json(metrics_to_json(b), "b.json");
    auto direct = a;
    direct += b;
    REQUIRE(merged == direct);
    REQUIRE(metrics_to_json(merged)["results"] == metrics_to_json(direct)["results"]);
}

TEST_CASE("Malformed metrics JSON names the file and the field", "[metrics][serialize][errors]") {
    auto j = metrics_to_json(random_metrics(3, 4));
    SECTION("missing field") {
        j["counts"].erase("pxap");
        REQUIRE_THROWS_WITH(metrics_from_json(j, "s/metrics.json"), Catch::Contains("s/metrics.json") && Catch::Contains("'pxap'"));
    }
    SECTION("wrong type") {
        j["counts"]["loc"]["top1_cls"] = "three";
        REQUIRE_THROWS_WITH(metrics_from_json(j, "s/metrics.json"), Catch::Contains("field 'top1_cls' holds \"three\" (a JSON string), not a non-negative integer count"));
    }
    SECTION("inconsistent counts") {
        j["counts"]["loc"]["top1_cls"] = 99;
        REQUIRE_THROWS_WITH(metrics_from_json(j, "s/metrics.json"), Catch::Contains("inconsistent") && Catch::Contains("outside [0, 4]"));
    }
}

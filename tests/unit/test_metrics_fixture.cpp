// The metrics against tests/fixtures/metrics/metrics_fixture.json, written by
// tools/fixtures/make_metrics_fixture.py: an independent NumPy re-implementation of
// clovaai/wsolevaluation's BoxEvaluator and MaskEvaluator arithmetic on random inputs.
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <dualgrad/metrics/loc_metrics.hpp>

namespace {

using dualgrad::Box;
using dualgrad::LocMetrics;
using dualgrad::Map2D;
using dualgrad::Mask;
using dualgrad::PxAP;
using Catch::Matchers::WithinAbs;
using nlohmann::json;

const json& fixture() {
    static const json j = [] {
        std::ifstream in(std::string(DUALGRAD_FIXTURES_DIR) + "/metrics/metrics_fixture.json");
        REQUIRE(in.good());
        return json::parse(in);
    }();
    return j;
}

Box to_box(const json& b) { return {b[0].get<int>(), b[1].get<int>(), b[2].get<int>(), b[3].get<int>()}; }

std::vector<std::vector<Box>> per_threshold(const json& j) {
    std::vector<std::vector<Box>> out;
    for (const auto& list : j) {
        out.emplace_back();
        for (const auto& b : list) out.back().push_back(to_box(b));
    }
    return out;
}

void check_box_result(const dualgrad::BoxAccuracy& acc, const json& want) {
    const auto r = acc.result();
    REQUIRE(r.num_images == want["num_images"].get<std::int64_t>());
    REQUIRE(r.per_iou.size() == want["per_iou"].size());
    for (std::size_t k = 0; k < r.per_iou.size(); ++k) {
        const auto& w = want["per_iou"][k];
        INFO("IoU " << w["iou"].get<double>());
        const auto counts = acc.num_correct(k);
        REQUIRE(std::vector<std::int64_t>(counts.begin(), counts.end()) == w["num_correct"].get<std::vector<std::int64_t>>());
        REQUIRE_THAT(r.per_iou[k].max_box_acc, WithinAbs(w["max_box_acc"].get<double>(), 1e-9));
        REQUIRE(r.per_iou[k].best_threshold_index == w["best_index"].get<std::size_t>());
        REQUIRE(r.per_iou[k].best_threshold == w["best_threshold"].get<double>());
    }
    REQUIRE_THAT(r.mean, WithinAbs(want["mean"].get<double>(), 1e-9));
    CHECK(r.mean == want["mean"].get<double>()); // bit-exact, as NumPy sums
}

void check_vector(const std::vector<double>& got, const json& want) {
    REQUIRE(got.size() == want.size());
    for (std::size_t i = 0; i < got.size(); ++i) REQUIRE_THAT(got[i], WithinAbs(want[i].get<double>(), 1e-9));
}

template <class T>
Map2D<T> score_map(const json& img) {
    const int h = img["h"].get<int>(), w = img["w"].get<int>();
    Map2D<T> m(h, w);
    const auto& s = img["score"];
    for (std::size_t i = 0; i < m.size(); ++i) m.values()[i] = static_cast<T>(s[i].get<double>());
    return m;
}

Mask mask(const json& img, const char* key) {
    Mask m(img["h"].get<int>(), img["w"].get<int>());
    const auto& v = img[key];
    for (std::size_t i = 0; i < m.size(); ++i) m.values()[i] = static_cast<std::uint8_t>(v[i].get<int>());
    return m;
}

template <class T>
void add_images(PxAP& ap, const json& images) {
    for (const auto& img : images) {
        if (img["ignore"].is_null())
            ap.add(score_map<T>(img), mask(img, "gt"));
        else
            ap.add(score_map<T>(img), mask(img, "gt"), mask(img, "ignore"));
    }
}

} // namespace

TEST_CASE("Box metrics match the NumPy re-implementation of wsolevaluation", "[metrics][fixture]") {
    for (const auto& c : fixture()["box_cases"]) {
        const auto name = c["name"].get<std::string>();
        SECTION(name) {
            const auto thresholds = c["thresholds"].get<std::vector<double>>();
            // numpy.arange(0, 1, interval), bit for bit.
            REQUIRE(dualgrad::cam_thresholds(c["interval"].get<double>(), "fixture") == thresholds);
            LocMetrics m(thresholds, c["iou_thresholds"].get<std::vector<double>>());
            for (const auto& img : c["images"]) {
                std::vector<Box> gt;
                for (const auto& b : img["gt"]) gt.push_back(to_box(b));
                const auto largest = per_threshold(img["largest"]);
                const auto multi = per_threshold(img["multi"]);
                const auto ranked = img["ranked"].get<std::vector<int>>();
                m.add({.gt_boxes = gt, .largest = largest, .multi = multi, .gt_class = img["gt_class"].get<int>(),
                       .ranked_classes = ranked});
            }
            const auto& want = c["expected"];
            check_box_result(m.max_box_acc(), want["max_box_acc"]);
            check_box_result(m.max_box_acc_v2(), want["max_box_acc_v2"]);
            const auto loc = m.loc_accuracy().result();
            check_vector(loc.top1_loc, want["loc"]["top1_loc"]);
            check_vector(loc.top5_loc, want["loc"]["top5_loc"]);
            check_vector(loc.gt_known_loc, want["loc"]["gt_known_loc"]);
            REQUIRE_THAT(loc.top1_cls, WithinAbs(want["loc"]["top1_cls"].get<double>(), 1e-9));
            REQUIRE_THAT(loc.top5_cls, WithinAbs(want["loc"]["top5_cls"].get<double>(), 1e-9));
        }
    }
}

TEST_CASE("PxAP matches the NumPy re-implementation of wsolevaluation", "[metrics][fixture]") {
    const auto& images = fixture()["pxap_images"];
    for (const auto& c : fixture()["pxap_cases"]) {
        SECTION(c["name"].get<std::string>()) {
            const auto thresholds = c["thresholds"].get<std::vector<double>>();
            REQUIRE(dualgrad::cam_thresholds(c["interval"].get<double>(), "fixture") == thresholds);
            auto ap = PxAP::with_interval(c["interval"].get<double>());
            if (c["dtype"].get<std::string>() == "float32")
                add_images<float>(ap, images);
            else
                add_images<double>(ap, images);
            const auto& want = c["expected"];
            const auto pos = ap.positive_histogram(), neg = ap.negative_histogram();
            REQUIRE(std::vector<std::int64_t>(pos.begin(), pos.end()) ==
                    want["positive_hist"].get<std::vector<std::int64_t>>());
            REQUIRE(std::vector<std::int64_t>(neg.begin(), neg.end()) ==
                    want["negative_hist"].get<std::vector<std::int64_t>>());
            const double pxap = ap.result().pxap;
            REQUIRE_THAT(pxap, WithinAbs(want["pxap"].get<double>(), 1e-9));
            CHECK(pxap == want["pxap"].get<double>()); // bit-exact: NumPy's pairwise summation
        }
    }
}

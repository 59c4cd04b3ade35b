// Hand-worked cases of the metrics (IoU with the +1 convention, a 3-image MaxBoxAcc / V2 sweep,
// top-1 / top-5 / GT-known, a PxAP curve), NumPy's float64 details, and the input errors.
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <dualgrad/metrics/box_accuracy.hpp>
#include <dualgrad/metrics/loc_accuracy.hpp>
#include <dualgrad/metrics/loc_metrics.hpp>
#include <dualgrad/metrics/max_iou.hpp>
#include <dualgrad/metrics/pxap.hpp>

namespace {

using dualgrad::Box;
using dualgrad::BoxAccuracy;
using dualgrad::LocAccuracy;
using dualgrad::LocMetrics;
using dualgrad::Mask;
using dualgrad::PxAP;
using dualgrad::ScoreMap;
using Catch::Matchers::Contains;
using Catch::Matchers::WithinAbs;
using PerThreshold = std::vector<std::vector<Box>>;

const std::vector<Box> kGt{{0, 0, 9, 9}}; // area 100

// Three images, CAM thresholds {0, 0.5}, one GT box (0,0,9,9) each. Best IoU per threshold:
//   A: (0,0,9,9) -> 1          (0,0,9,4) -> 50/100 = .5
//   B: (0,0,19,19) -> 100/400  (0,0,9,6) -> 70/100 = .7
//   C: (0,0,0,0) -> 1/100      {(20,20,25,25), (0,0,9,2)} -> max(0, 30/100) = .3
const PerThreshold kA{{{0, 0, 9, 9}}, {{0, 0, 9, 4}}};
const PerThreshold kB{{{0, 0, 19, 19}}, {{0, 0, 9, 6}}};
const PerThreshold kC{{{0, 0, 0, 0}}, {{20, 20, 25, 25}, {0, 0, 9, 2}}};

} // namespace

TEST_CASE("IoU with the +1 convention, worked by hand", "[metrics]") {
    // 10x10 boxes overlapping on 5x5 pixels: 25 / (100 + 100 - 25).
    REQUIRE_THAT(dualgrad::iou({0, 0, 9, 9}, {5, 5, 14, 14}), WithinAbs(25.0 / 175.0, 1e-15));
    // Adjacent boxes share no pixel: x 0..4 and 5..9.
    REQUIRE(dualgrad::iou({0, 0, 4, 4}, {5, 0, 9, 4}) == 0.0);
    // The no-contour box (0,0,0,0) is one pixel: 1 / 4 against (0,0,1,1).
    REQUIRE(dualgrad::iou({0, 0, 0, 0}, {0, 0, 1, 1}) == 0.25);
    // Best over candidates x GT boxes: (0,0,9,4) is 50/100 with the first GT, 0 with the second.
    const std::vector<Box> cands{{30, 30, 31, 31}, {0, 0, 9, 4}};
    const std::vector<Box> gts{{0, 0, 9, 9}, {50, 50, 60, 60}};
    REQUIRE(dualgrad::max_iou(cands, gts) == 0.5);
    const auto best = dualgrad::max_iou_per_threshold(kC, kGt);
    REQUIRE(best.size() == 2);
    REQUIRE(best[0] == 0.01);
    REQUIRE(best[1] == 0.3);
}

TEST_CASE("MaxBoxAcc / MaxBoxAccV2 over three images, worked by hand", "[metrics]") {
    BoxAccuracy acc({0.0, 0.5}, {30, 50, 70});
    acc.add(kA, kGt);
    acc.add(kB, kGt);
    acc.add(kC, kGt);
    REQUIRE(acc.num_images() == 3);
    // IoU >= .3: t=0 only A; t=.5 A (.5), B (.7), C (.3 exactly: 30/100 >= 30/100).
    CHECK(std::vector<std::int64_t>(acc.num_correct(0).begin(), acc.num_correct(0).end()) ==
          std::vector<std::int64_t>{1, 3});
    // IoU >= .5: t=0 A; t=.5 A (.5 exactly) and B.
    CHECK(std::vector<std::int64_t>(acc.num_correct(1).begin(), acc.num_correct(1).end()) ==
          std::vector<std::int64_t>{1, 2});
    // IoU >= .7: t=0 A; t=.5 B (.7 exactly).
    CHECK(std::vector<std::int64_t>(acc.num_correct(2).begin(), acc.num_correct(2).end()) ==
          std::vector<std::int64_t>{1, 1});

    const auto r = acc.result();
    REQUIRE(r.per_iou.size() == 3);
    REQUIRE_THAT(r.per_iou[0].max_box_acc, WithinAbs(100.0, 1e-9));
    REQUIRE(r.per_iou[0].best_threshold_index == 1);
    REQUIRE(r.per_iou[0].best_threshold == 0.5);
    REQUIRE_THAT(r.per_iou[1].max_box_acc, WithinAbs(200.0 / 3.0, 1e-9));
    REQUIRE(r.per_iou[1].best_threshold_index == 1);
    REQUIRE_THAT(r.at_iou(70).max_box_acc, WithinAbs(100.0 / 3.0, 1e-9));
    REQUIRE(r.at_iou(70).best_threshold_index == 0); // a tie: numpy.argmax keeps the first
    REQUIRE_THAT(r.at_iou(70).accuracy[1], WithinAbs(100.0 / 3.0, 1e-9));
    // MaxBoxAccV2 = (100 + 66.67 + 33.33) / 3.
    REQUIRE_THAT(r.mean, WithinAbs(200.0 / 3.0, 1e-9));
    REQUIRE_THROWS_AS(r.at_iou(60), dualgrad::value_error);

    // MaxBoxAcc alone (IoU {50}): the mean is the IoU-50 value.
    BoxAccuracy acc50({0.0, 0.5}, {50});
    for (const auto* img : {&kA, &kB, &kC}) acc50.add(*img, kGt);
    REQUIRE_THAT(acc50.result().mean, WithinAbs(200.0 / 3.0, 1e-9));
}

TEST_CASE("Top-1, top-5 and GT-known localization, worked by hand", "[metrics]") {
    LocAccuracy loc({0.0, 0.5});
    // A: GT class 2 ranked first. B: GT class 2 ranked third. C: GT class 7 ranked sixth (not top-5).
    loc.add(std::vector<int>{2, 0, 1, 3, 4}, 2, kA, kGt);
    loc.add(std::vector<int>{0, 1, 2, 3, 4}, 2, kB, kGt);
    loc.add(std::vector<int>{0, 1, 2, 3, 4, 7}, 7, kC, kGt);
    // IoU >= .5 per image and threshold: A {yes, yes}, B {no, yes}, C {no, no}.
    const auto r = loc.result();
    REQUIRE(r.num_images == 3);
    REQUIRE_THAT(r.gt_known_loc[0], WithinAbs(100.0 / 3.0, 1e-9)); // A
    REQUIRE_THAT(r.gt_known_loc[1], WithinAbs(200.0 / 3.0, 1e-9)); // A, B
    REQUIRE_THAT(r.top1_loc[0], WithinAbs(100.0 / 3.0, 1e-9));     // A
    REQUIRE_THAT(r.top1_loc[1], WithinAbs(100.0 / 3.0, 1e-9));     // A (B's top-1 is wrong)
    REQUIRE_THAT(r.top5_loc[0], WithinAbs(100.0 / 3.0, 1e-9));     // A
    REQUIRE_THAT(r.top5_loc[1], WithinAbs(200.0 / 3.0, 1e-9));     // A, B
    REQUIRE_THAT(r.top1_cls, WithinAbs(100.0 / 3.0, 1e-9));
    REQUIRE_THAT(r.top5_cls, WithinAbs(200.0 / 3.0, 1e-9));

    const auto best = r.best_by_gt_known();
    REQUIRE(best.threshold_index == 1);
    REQUIRE(best.threshold == 0.5);
    REQUIRE_THAT(best.top1_loc_error(), WithinAbs(200.0 / 3.0, 1e-9));
    REQUIRE_THAT(best.top5_loc_error(), WithinAbs(100.0 / 3.0, 1e-9));
    REQUIRE_THAT(best.gt_known_loc_error(), WithinAbs(100.0 / 3.0, 1e-9));
    REQUIRE_THAT(best.top1_cls_error(), WithinAbs(200.0 / 3.0, 1e-9));
    REQUIRE(r.best_by_top1().threshold_index == 0); // top-1 loc ties: the first threshold
    REQUIRE_THROWS_AS(r.at(2), dualgrad::value_error);
}

TEST_CASE("PxAP on a 2x3 map, worked by hand", "[metrics]") {
    // Thresholds arange(0, 1, .5) = {0, .5}: bins [0, .5), [.5, 1), [1, 2), [2, 3].
    auto ap = PxAP::with_interval(0.5);
    REQUIRE(ap.bin_edges() == std::vector<double>{0.0, 0.5, 1.0, 2.0, 3.0});
    const std::vector<float> s{0.2f, 0.6f, 1.0f, 0.5f, 0.1f, 0.9f};
    const std::vector<std::uint8_t> g{0, 1, 1, 1, 0, 0};
    const ScoreMap score(2, 3, s);
    const Mask gt(2, 3, g);

    SECTION("no ignore region") {
        ap.add(score, gt);
        // Positives .6, 1, .5 -> bins {0, 2, 1, 0}; negatives .2, .1, .9 -> {2, 1, 0, 0}.
        REQUIRE(std::vector<std::int64_t>(ap.positive_histogram().begin(), ap.positive_histogram().end()) ==
                std::vector<std::int64_t>{0, 2, 1, 0});
        REQUIRE(std::vector<std::int64_t>(ap.negative_histogram().begin(), ap.negative_histogram().end()) ==
                std::vector<std::int64_t>{2, 1, 0, 0});
        // From the top: TP {0, 1, 3, 3}, FP {0, 0, 1, 3}; precision {nan, 1, 3/4, 1/2},
        // recall {0, 1/3, 1, 1}; PxAP = 100 * (1 * 1/3 + 3/4 * 2/3 + 1/2 * 0).
        const auto r = ap.result();
        REQUIRE(r.num_positive == 3);
        REQUIRE(r.num_negative == 3);
        REQUIRE(std::isnan(r.precision[0]));
        REQUIRE(r.precision[2] == 0.75);
        REQUIRE(r.recall[1] == 1.0 / 3.0);
        REQUIRE_THAT(r.pxap, WithinAbs(100.0 * (1.0 / 3.0 + 0.5), 1e-9));
    }
    SECTION("ignore region: the negative .9 and the positive .6 (the object wins)") {
        Mask ignore(2, 3);
        ignore(0, 1) = 1; // .6, on the object: still counted
        ignore(1, 2) = 1; // .9, background: dropped
        ap.add(score, gt, ignore);
        REQUIRE(std::vector<std::int64_t>(ap.negative_histogram().begin(), ap.negative_histogram().end()) ==
                std::vector<std::int64_t>{2, 0, 0, 0});
        // TP {0, 1, 3, 3}, FP {0, 0, 0, 2}: precision {nan, 1, 1, 3/5}; PxAP = 100 * (1/3 + 2/3).
        REQUIRE_THAT(ap.result().pxap, WithinAbs(100.0, 1e-9));
    }
}

TEST_CASE("NumPy's float64 details: arange and pairwise summation", "[metrics]") {
    const auto t = dualgrad::cam_thresholds(0.3, "test");
    REQUIRE(t == std::vector<double>{0.0, 0.3, 0.6, 0.8999999999999999}); // 3 * 0.3 in float64
    REQUIRE(dualgrad::cam_thresholds(0.01, "test").size() == 100);
    REQUIRE(dualgrad::cam_thresholds(0.001, "test").size() == 1000);
    // numpy.sum([0.1] * 10) is 1.0 (8 partial sums), a running sum gives 0.9999999999999999.
    const std::vector<double> tenths(10, 0.1);
    REQUIRE(dualgrad::detail::numpy_sum(tenths) == 1.0);
    double running = 0;
    for (double v : tenths) running += v;
    REQUIRE(running != 1.0);
}

TEST_CASE("LocMetrics feeds each counter from its fields", "[metrics]") {
    LocMetrics m({0.0, 0.5});
    m.add({.gt_boxes = kGt, .largest = kA, .multi = kA, .gt_class = 2, .ranked_classes = std::vector<int>{2, 1, 0, 3, 4}});
    m.add({.gt_boxes = kGt, .largest = kB, .multi = kB});   // no classes: not in top-k counts
    m.add({.gt_boxes = kGt, .multi = kC});                  // V2 only
    REQUIRE(m.max_box_acc().num_images() == 2);
    REQUIRE(m.max_box_acc_v2().num_images() == 3);
    REQUIRE(m.loc_accuracy().num_images() == 1);
    REQUIRE(m.pxap().num_images() == 0);
    const auto r = m.result();
    REQUIRE(r.max_box_acc);
    REQUIRE_THAT(r.max_box_acc->mean, WithinAbs(100.0, 1e-9));       // A and B at t = .5
    REQUIRE_THAT(r.max_box_acc_v2->mean, WithinAbs(200.0 / 3.0, 1e-9)); // as in the 3-image case
    REQUIRE_THAT(r.loc->best_by_gt_known().top1_loc, WithinAbs(100.0, 1e-9));
    REQUIRE_FALSE(r.pxap);
}

TEST_CASE("Bad input throws, naming what is wrong, and changes no count", "[metrics][errors]") {
    using dualgrad::shape_error;
    using dualgrad::value_error;
    BoxAccuracy acc({0.0, 0.5});
    const BoxAccuracy before = acc;

    SECTION("box with x1 < x0") {
        const PerThreshold bad{{{0, 0, 9, 9}}, {{5, 0, 2, 3}}};
        REQUIRE_THROWS_WITH(acc.add(bad, kGt), Contains("boxes_per_threshold[1][0] (5, 0, 2, 3)"));
        REQUIRE_THROWS_AS(acc.add(bad, kGt), value_error);
        const std::vector<Box> bad_gt{{0, 0, 9, 9}, {3, 8, 4, 2}};
        REQUIRE_THROWS_WITH(acc.add(kA, bad_gt), Contains("gt_boxes[1] (3, 8, 4, 2)"));
    }
    SECTION("negative coordinate") {
        const std::vector<Box> bad_gt{{-1, 0, 9, 9}};
        REQUIRE_THROWS_AS(acc.add(kA, bad_gt), value_error);
    }
    SECTION("empty GT box list") {
        REQUIRE_THROWS_AS(acc.add(kA, std::vector<Box>{}), value_error);
        REQUIRE_THROWS_WITH(acc.add(kA, std::vector<Box>{}), Contains("ground-truth boxes is empty"));
    }
    SECTION("empty candidate list at a threshold") {
        const PerThreshold bad{{{0, 0, 9, 9}}, {}};
        REQUIRE_THROWS_WITH(acc.add(bad, kGt), Contains("boxes_per_threshold[1] is empty"));
    }
    SECTION("boxes_per_threshold of the wrong size") {
        const PerThreshold three{{{0, 0, 9, 9}}, {{0, 0, 9, 9}}, {{0, 0, 9, 9}}};
        REQUIRE_THROWS_AS(acc.add(three, kGt), shape_error);
        REQUIRE_THROWS_WITH(acc.add(three, kGt), Contains("3 entries") && Contains("2 CAM thresholds"));
        LocAccuracy loc({0.0, 0.5});
        REQUIRE_THROWS_AS(loc.add(std::vector<int>{0}, 0, three, kGt), shape_error);
    }
    SECTION("max-IoU values outside [0, 1]") {
        REQUIRE_THROWS_AS(acc.add_max_iou(std::vector<double>{0.5, 1.5}), value_error);
        REQUIRE_THROWS_AS(acc.add_max_iou(std::vector<double>{0.5, std::nan("")}), value_error);
    }
    SECTION("bad classes") {
        LocAccuracy loc({0.0, 0.5});
        const LocAccuracy loc_before = loc;
        REQUIRE_THROWS_WITH(loc.add(std::vector<int>{1, 2, 1}, 1, kA, kGt), Contains("listed twice"));
        REQUIRE_THROWS_AS(loc.add(std::vector<int>{}, 1, kA, kGt), value_error);
        REQUIRE_THROWS_AS(loc.add(std::vector<int>{0, -3}, 0, kA, kGt), value_error);
        REQUIRE_THROWS_AS(loc.add(std::vector<int>{0}, -1, kA, kGt), value_error);
        REQUIRE(loc == loc_before);
    }
    REQUIRE(acc == before);
    REQUIRE_THROWS_WITH(acc.result(), Contains("no image"));
}

TEST_CASE("Bad thresholds and intervals throw value_error", "[metrics][errors]") {
    using dualgrad::value_error;
    const double nan = std::numeric_limits<double>::quiet_NaN();
    for (double u : {-1.0, 100.5, nan}) {
        REQUIRE_THROWS_AS(BoxAccuracy({0.0, 0.5}, {50, u}), value_error);
        REQUIRE_THROWS_AS(LocAccuracy({0.0, 0.5}, u), value_error);
    }
    REQUIRE_THROWS_WITH(BoxAccuracy({0.0}, {50, 150}), Contains("[1] is 150") && Contains("[0, 100]"));
    REQUIRE_THROWS_AS(BoxAccuracy({0.0}, std::vector<double>{}), value_error);
    REQUIRE_THROWS_AS(BoxAccuracy({0.0}, {50, 50}), value_error);
    for (double iv : {0.0, 1.0, -0.1, 1.5, nan}) {
        REQUIRE_THROWS_AS(BoxAccuracy::max_box_acc(iv), value_error);
        REQUIRE_THROWS_AS(BoxAccuracy::max_box_acc_v2(iv), value_error);
        REQUIRE_THROWS_AS(LocAccuracy::with_interval(iv), value_error);
        REQUIRE_THROWS_AS(PxAP::with_interval(iv), value_error);
        REQUIRE_THROWS_AS(LocMetrics::with_interval(iv), value_error);
    }
    REQUIRE_THROWS_WITH(PxAP::with_interval(0.0), Contains("interval is 0") && Contains("(0, 1)"));
    REQUIRE_THROWS_AS(BoxAccuracy(std::vector<double>{}), value_error);
    REQUIRE_THROWS_AS(BoxAccuracy({0.0, 1.5}), value_error);
    REQUIRE_THROWS_AS(PxAP({0.0, 1.0}), value_error);        // an edge of 1 would repeat the next
    REQUIRE_THROWS_AS(PxAP({0.0, 0.5, 0.5}), value_error);   // not strictly increasing
    REQUIRE_THROWS_AS(LocMetrics({0.5, 0.2}), value_error);
}

TEST_CASE("PxAP input errors", "[metrics][errors]") {
    using dualgrad::shape_error;
    using dualgrad::value_error;
    auto ap = PxAP::with_interval(0.1);
    const ScoreMap s(3, 4, 0.5f);
    REQUIRE_THROWS_AS(ap.add(s, Mask(4, 3)), shape_error);
    REQUIRE_THROWS_WITH(ap.add(s, Mask(4, 3)), Contains("3x4") && Contains("4x3"));
    REQUIRE_THROWS_WITH(ap.add(s, Mask(3, 4), Mask(3, 5)), Contains("ignore mask is 3x5"));
    ScoreMap bad = s;
    bad(2, 1) = 1.25f;
    REQUIRE_THROWS_WITH(ap.add(bad, Mask(3, 4)), Contains("(y=2, x=1) is 1.25"));
    bad(2, 1) = std::numeric_limits<float>::quiet_NaN();
    REQUIRE_THROWS_AS(ap.add(bad, Mask(3, 4)), value_error);
    REQUIRE(ap.num_images() == 0);
    ap.add(s, Mask(3, 4)); // no positive pixel
    REQUIRE_THROWS_WITH(ap.result(), Contains("no ground-truth positive pixel"));
}

TEST_CASE("Merging accumulators with different lists throws value_error saying what differs",
          "[metrics][errors]") {
    using dualgrad::value_error;
    BoxAccuracy a({0.0, 0.5}), b({0.0, 0.25}), c({0.0, 0.5}, {50}), d({0.0, 0.5, 0.75});
    REQUIRE_THROWS_WITH(a.merge(b), Contains("CAM threshold lists differ at [1]"));
    REQUIRE_THROWS_WITH(a.merge(c), Contains("IoU threshold lists differ"));
    REQUIRE_THROWS_WITH(a += d, Contains("2 values here, 3 in the other"));
    REQUIRE_THROWS_AS(LocAccuracy({0.0}, 50).merge(LocAccuracy({0.0}, 70)), value_error);
    REQUIRE_THROWS_AS(PxAP::with_interval(0.01).merge(PxAP::with_interval(0.001)), value_error);
    LocMetrics m1({0.0, 0.5}), m2({0.0, 0.5}, {50});
    m1.add({.gt_boxes = kGt, .largest = kA});
    const LocMetrics m1_before = m1;
    REQUIRE_THROWS_WITH(m1.merge(m2), Contains("IoU threshold"));
    REQUIRE(m1 == m1_before); // a failed merge changes nothing
}

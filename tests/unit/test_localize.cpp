// Hand-worked cases of the localize part (no OpenCV needed): contours of a square and of a ring
// traced by hand with Suzuki-Abe as OpenCV runs it, a tie between equal contours, empty maps,
// normalizations, thresholds and the input errors.
#include <array>
#include <cmath>
#include <initializer_list>
#include <limits>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <dualgrad/localize/box_extractor.hpp>
#include <dualgrad/localize/contours.hpp>
#include <dualgrad/localize/normalize.hpp>
#include <dualgrad/localize/resize.hpp>

namespace {

using dualgrad::Box;
using dualgrad::ImageSize;
using dualgrad::Mask;
using dualgrad::Point2i;
using dualgrad::ScoreMap;

Mask mask_with(int h, int w, std::initializer_list<std::array<int, 4>> rects) { // {x0, y0, x1, y1} inclusive
    Mask m(h, w);
    for (const auto& r : rects)
        for (int y = r[1]; y <= r[3]; ++y)
            for (int x = r[0]; x <= r[2]; ++x) m(y, x) = 1;
    return m;
}

ScoreMap as_map(const Mask& m) {
    ScoreMap s(m.height(), m.width());
    for (std::size_t i = 0; i < s.size(); ++i) s.values()[i] = m.values()[i] ? 1.0f : 0.0f;
    return s;
}

} // namespace

TEST_CASE("a filled square has one contour: its four corners, counter-clockwise from the top-left", "[localize]") {
    // Pixels x in 3..5, y in 2..4. Border following starts at the first pixel met by the raster
    // scan, (3, 2), and first moves down; CHAIN_APPROX_SIMPLE keeps the corners.
    const auto t = dualgrad::find_contours(mask_with(10, 10, {{3, 2, 5, 4}}));
    REQUIRE(t.contours.size() == 1);
    CHECK(t.contours[0] == dualgrad::Contour{{3, 2}, {3, 4}, {5, 4}, {5, 2}});
    CHECK_FALSE(t.is_hole[0]);
    CHECK(t.hierarchy[0] == dualgrad::ContourLinks{-1, -1, -1, -1});
    CHECK(dualgrad::contour_area(t.contours[0]) == 4.0); // the polygon through the pixel centres: 2 x 2
    CHECK(dualgrad::bounding_rect(t.contours[0]) == dualgrad::Rect{3, 2, 3, 3});

    // wsolevaluation's box is (x, y, x + w, y + h): one past the last column and row.
    dualgrad::BoxExtractor<dualgrad::WsolLargestContour> ex({.thresholds = {0.5}});
    const auto boxes = ex.boxes_per_threshold(as_map(mask_with(10, 10, {{3, 2, 5, 4}})), ImageSize{10, 10});
    REQUIRE(boxes.size() == 1);
    CHECK(boxes[0] == std::vector<Box>{{3, 2, 6, 5}});
    // ... clipped to (W - 1, H - 1) when the blob touches the right or bottom edge.
    const auto edge = ex.boxes_per_threshold(as_map(mask_with(10, 10, {{6, 7, 9, 9}})), ImageSize{10, 10});
    CHECK(edge[0] == std::vector<Box>{{6, 7, 9, 9}});
}

TEST_CASE("a one-pixel ring has an outer border and a hole border", "[localize]") {
    Mask ring = mask_with(7, 7, {{1, 1, 5, 5}});
    for (int y = 2; y <= 4; ++y)
        for (int x = 2; x <= 4; ++x) ring(y, x) = 0;
    const auto t = dualgrad::find_contours(ring);
    REQUIRE(t.contours.size() == 2);
    CHECK(t.contours[0] == dualgrad::Contour{{1, 1}, {1, 5}, {5, 5}, {5, 1}});
    // The hole border runs through the ring pixels around the hole, cutting its corners.
    CHECK(t.contours[1] == dualgrad::Contour{{1, 2}, {2, 1}, {4, 1}, {5, 2}, {5, 4}, {4, 5}, {2, 5}, {1, 4}});
    CHECK_FALSE(t.is_hole[0]);
    CHECK(t.is_hole[1]);
    CHECK(t.hierarchy[0] == dualgrad::ContourLinks{-1, -1, 1, -1});
    CHECK(t.hierarchy[1] == dualgrad::ContourLinks{-1, -1, -1, 0});
    CHECK(dualgrad::contour_area(t.contours[0]) == 16.0);
    CHECK(dualgrad::contour_area(t.contours[1]) == 14.0); // 4 x 4 minus four half-pixel corners
}

TEST_CASE("ties in the largest contour go to the first contour in OpenCV's order", "[localize]") {
    // Two 2x2 squares of equal area. OpenCV lists top-level contours newest first, so the square
    // found later by the raster scan (the lower one) comes first and wins Python's max().
    const Mask two = mask_with(8, 8, {{1, 1, 2, 2}, {4, 5, 5, 6}});
    const auto t = dualgrad::find_contours(two);
    REQUIRE(t.contours.size() == 2);
    CHECK(t.contours[0].front() == Point2i{4, 5});
    CHECK(t.contours[1].front() == Point2i{1, 1});
    CHECK(t.hierarchy[0] == dualgrad::ContourLinks{1, -1, -1, -1});
    CHECK(t.hierarchy[1] == dualgrad::ContourLinks{-1, 0, -1, -1});

    dualgrad::BoxExtractor<dualgrad::WsolLargestContour> largest({.thresholds = {0.5}});
    CHECK(largest.boxes_per_threshold(as_map(two), ImageSize{8, 8})[0] == std::vector<Box>{{4, 5, 6, 7}});
    dualgrad::BoxExtractor<dualgrad::WsolMultiContour> multi({.thresholds = {0.5}});
    CHECK(multi.boxes_per_threshold(as_map(two), ImageSize{8, 8})[0] == std::vector<Box>{{4, 5, 6, 7}, {1, 1, 3, 3}});
    // Single pixels all have area 0: the last one in raster order is listed first and wins.
    const Mask dots = mask_with(9, 9, {{1, 1, 1, 1}, {7, 2, 7, 2}, {3, 6, 3, 6}});
    CHECK(largest.boxes_per_threshold(as_map(dots), ImageSize{9, 9})[0] == std::vector<Box>{{3, 6, 4, 7}});
}

TEST_CASE("the original CAM protocol keeps the largest 8-connected component", "[localize]") {
    Mask m = mask_with(12, 12, {{0, 0, 2, 2}}); // 9 pixels
    for (int i = 0; i < 5; ++i) m(5 + i, 4 + i) = 1; // a diagonal chain: one component of 5 under 8-connectivity
    m(6, 4) = m(7, 4) = m(8, 4) = m(9, 4) = m(10, 4) = 1; // ... joined to a column: 10 pixels
    dualgrad::BoxExtractor<dualgrad::CamLargestComponent> cam;
    CHECK(cam.box(as_map(m), ImageSize{12, 12}) == Box{4, 5, 8, 10}); // pixel-inclusive
}

TEST_CASE("no contour gives the reference's empty box", "[localize]") {
    const ScoreMap zeros(14, 14), constant(14, 14, 3.5f);
    dualgrad::BoxExtractor<dualgrad::WsolLargestContour> largest;
    dualgrad::BoxExtractor<dualgrad::WsolMultiContour> multi;
    for (const auto* m : {&zeros, &constant}) {
        for (const auto& b : largest.boxes_per_threshold(*m, ImageSize{224, 224})) CHECK(b == std::vector<Box>{{0, 0, 0, 0}});
        for (const auto& b : multi.boxes_per_threshold(*m, ImageSize{224, 224})) CHECK(b == std::vector<Box>{{0, 0, 0, 0}});
    }
    CHECK(dualgrad::BoxExtractor<dualgrad::LayerCamLargestRect>{}.box(zeros, ImageSize{50, 60}) == Box{0, 0, 1, 1});
    CHECK(dualgrad::BoxExtractor<dualgrad::CamLargestComponent>{}.box(zeros, ImageSize{50, 60}) == Box{0, 0, 0, 0});
    CHECK(dualgrad::find_contours(Mask(5, 5)).contours.empty());
    CHECK(dualgrad::find_contours(Mask{}).contours.empty());
}

TEST_CASE("NaN and Inf maps count as all zeros, as wsolevaluation treats NaN", "[localize]") {
    for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                      -std::numeric_limits<float>::infinity()}) {
        ScoreMap m(14, 14);
        for (int y = 0; y < 14; ++y)
            for (int x = 0; x < 14; ++x) m(y, x) = static_cast<float>(y * x);
        m(3, 9) = bad;
        INFO("value " << bad);
        dualgrad::BoxExtractor<dualgrad::WsolLargestContour> largest;
        const auto boxes = largest.boxes_per_threshold(m, ImageSize{224, 224});
        REQUIRE(boxes.size() == 100);
        for (const auto& b : boxes) CHECK(b == std::vector<Box>{{0, 0, 0, 0}});
        CHECK(dualgrad::BoxExtractor<dualgrad::LayerCamLargestRect>{}.box(m, ImageSize{224, 224}) == Box{0, 0, 1, 1});
        CHECK(dualgrad::BoxExtractor<dualgrad::CamLargestComponent>{}.box(m, ImageSize{224, 224}) == Box{0, 0, 0, 0});
        const auto n = dualgrad::normalize_minmax(m);
        for (float v : n.values()) CHECK(v == 0.0f);
        try {
            (void)dualgrad::normalize_minmax_strict(m);
            FAIL("normalize_minmax_strict accepted a non-finite value");
        } catch (const dualgrad::value_error& e) {
            CHECK_THAT(e.what(), Catch::Contains("row 3, column 9"));
        }
    }
}

TEST_CASE("normalizations and the uint8 conversion", "[localize]") {
    const ScoreMap m(1, 5, std::vector<float>{1, 2, 3, 5, -3});
    const auto n = dualgrad::normalize_minmax(m); // (m + 3) / 8
    CHECK(n.values()[0] == 0.5f);
    CHECK(n.values()[3] == 1.0f);
    CHECK(n.values()[4] == 0.0f);
    const auto r = dualgrad::normalize_relu_max(m); // max(m, 0) / (5 + 1e-8)
    CHECK(r.values()[4] == 0.0f);
    CHECK(r.values()[3] == 1.0f); // 5 + 1e-8 rounds to 5 in float
    CHECK(r.values()[1] == 2.0f / 5.0f);
    const auto u = dualgrad::to_uint8(ScoreMap(1, 5, std::vector<float>{0.0f, 0.5f, 0.999f, 1.0f, 0.003f}));
    CHECK(std::vector<int>(u.values().begin(), u.values().end()) == std::vector<int>{0, 127, 254, 255, 0});
}

TEST_CASE("resize keeps constants, replicates a single pixel and copies equal sizes", "[localize]") {
    for (auto interp : {dualgrad::Interpolation::linear, dualgrad::Interpolation::cubic}) {
        const auto c = dualgrad::resize(ScoreMap(7, 9, 0.25f), 30, 11, interp);
        for (float v : c.values()) CHECK(v == Approx(0.25f).margin(1e-7));
        const auto one = dualgrad::resize(ScoreMap(1, 1, 2.0f), 5, 4, interp);
        for (float v : one.values()) CHECK(v == Approx(2.0f).margin(1e-6));
    }
    const ScoreMap m(2, 2, std::vector<float>{1, 2, 3, 4});
    CHECK(dualgrad::resize(m, 2, 2) == m);
    // Bilinear 2x enlargement with half-pixel centres: (0, 0) sits at source (-0.25, -0.25), clamped.
    const auto big = dualgrad::resize(m, 4, 4, dualgrad::Interpolation::linear);
    CHECK(big(0, 0) == 1.0f);
    CHECK(big(0, 1) == Approx(1.25f));
    CHECK(big(1, 1) == Approx(1.0f + 0.25f + 0.5f));
}

TEST_CASE("cam_thresholds is numpy.arange(0, 1, interval)", "[localize]") {
    const auto t = dualgrad::cam_thresholds(0.01);
    REQUIRE(t.size() == 100);
    CHECK(t[0] == 0.0);
    CHECK(t[1] == 0.01);
    CHECK(t[99] == 99 * 0.01);
    CHECK(dualgrad::cam_thresholds(0.001).size() == 1000);
    CHECK(dualgrad::cam_thresholds(0.3) == std::vector<double>{0.0, 0.3, 2 * 0.3, 3 * 0.3});
}

TEST_CASE("bad inputs name what was wrong", "[localize]") {
    using dualgrad::BoxExtractor;
    BoxExtractor<dualgrad::WsolLargestContour> ex;
    CHECK_THROWS_AS(ex.boxes_per_threshold(ScoreMap{}, ImageSize{10, 10}), dualgrad::shape_error);
    CHECK_THROWS_AS(ex.boxes_per_threshold(ScoreMap(3, 3), ImageSize{0, 10}), dualgrad::shape_error);
    CHECK_THROWS_AS(ex.boxes_per_threshold(ScoreMap(3, 3), ImageSize{10, -1}), dualgrad::shape_error);
    CHECK_THROWS_AS(BoxExtractor<dualgrad::LayerCamLargestRect>{}.box(ScoreMap{}, ImageSize{4, 4}), dualgrad::shape_error);
    CHECK_THROWS_WITH(BoxExtractor<dualgrad::WsolLargestContour>({.thresholds = {0.1, 1.5}}),
                      Catch::Contains("threshold 1 is 1.5"));
    CHECK_THROWS_AS(BoxExtractor<dualgrad::WsolMultiContour>({.thresholds = {-0.01}}), dualgrad::value_error);
    CHECK_THROWS_AS(BoxExtractor<dualgrad::WsolLargestContour>({.thresholds = {std::nan("")}}), dualgrad::value_error);
    CHECK_THROWS_WITH(BoxExtractor<dualgrad::WsolLargestContour>({.interval = 0.0}), Catch::Contains("interval"));
    CHECK_THROWS_AS(BoxExtractor<dualgrad::WsolLargestContour>({.interval = 1.0}), dualgrad::value_error);
    CHECK_THROWS_AS(BoxExtractor<dualgrad::WsolLargestContour>({.interval = -0.1}), dualgrad::value_error);
    CHECK_THROWS_AS(BoxExtractor<dualgrad::LayerCamLargestRect>({.threshold = 1.2}), dualgrad::value_error);
    CHECK_THROWS_AS(BoxExtractor<dualgrad::CamLargestComponent>({.fraction = -0.2}), dualgrad::value_error);
    CHECK_THROWS_AS(dualgrad::normalize_minmax(ScoreMap{}), dualgrad::shape_error);
    CHECK_THROWS_AS(dualgrad::resize(ScoreMap(2, 2), 3, 0), dualgrad::shape_error);
}

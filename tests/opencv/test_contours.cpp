// dualgrad::find_contours / contour_area / bounding_rect against OpenCV on structured and random
// binary images: the full contour list (points and order), the hierarchy, areas and rectangles
// must be identical.
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <opencv2/imgproc.hpp>

#include <dualgrad/localize/contours.hpp>

#include "random_maps.hpp"

namespace {

using dualgrad::Point2i;

cv::Mat to_mat(const dualgrad::Mask& m) {
    return cv::Mat(m.height(), m.width(), CV_8U, const_cast<std::uint8_t*>(m.data())).clone();
}

std::string describe(const std::vector<Point2i>& c) {
    std::ostringstream os;
    for (std::size_t i = 0; i < c.size() && i < 12; ++i) os << "(" << c[i].x << "," << c[i].y << ")";
    if (c.size() > 12) os << "... [" << c.size() << " points]";
    return os.str();
}

std::string describe(const std::vector<cv::Point>& c) {
    std::vector<Point2i> p;
    for (const auto& q : c) p.push_back({q.x, q.y});
    return describe(p);
}

// Returns "" when equal, else the first difference.
std::string compare_contours(const dualgrad::Mask& m) {
    std::vector<std::vector<cv::Point>> want;
    std::vector<cv::Vec4i> want_h;
    cv::Mat img = to_mat(m);
    cv::findContours(img, want, want_h, cv::RETR_TREE, cv::CHAIN_APPROX_SIMPLE);
    const dualgrad::ContourTree got = dualgrad::find_contours(m);
    std::ostringstream os;
    if (got.contours.size() != want.size()) {
        os << "contour count " << got.contours.size() << " vs OpenCV " << want.size();
        return os.str();
    }
    for (std::size_t i = 0; i < want.size(); ++i) {
        const auto& g = got.contours[i];
        bool same = g.size() == want[i].size();
        for (std::size_t j = 0; same && j < g.size(); ++j) same = g[j].x == want[i][j].x && g[j].y == want[i][j].y;
        if (!same) {
            os << "contour " << i << ": " << describe(g) << " vs OpenCV " << describe(want[i]);
            return os.str();
        }
        const auto& l = got.hierarchy[i];
        if (l.next != want_h[i][0] || l.previous != want_h[i][1] || l.first_child != want_h[i][2] ||
            l.parent != want_h[i][3]) {
            os << "hierarchy of contour " << i << ": [" << l.next << "," << l.previous << "," << l.first_child << ","
               << l.parent << "] vs OpenCV " << want_h[i];
            return os.str();
        }
        const double area = dualgrad::contour_area(g), want_area = cv::contourArea(want[i]);
        const double oriented = dualgrad::contour_area(g, true), want_oriented = cv::contourArea(want[i], true);
        if (area != want_area || oriented != want_oriented) {
            os << "area of contour " << i << ": " << area << " / " << oriented << " vs OpenCV " << want_area << " / "
               << want_oriented;
            return os.str();
        }
        const dualgrad::Rect r = dualgrad::bounding_rect(g);
        const cv::Rect wr = cv::boundingRect(want[i]);
        if (r.x != wr.x || r.y != wr.y || r.width != wr.width || r.height != wr.height) {
            os << "boundingRect of contour " << i << ": " << r.x << "," << r.y << "," << r.width << "," << r.height
               << " vs OpenCV " << wr;
            return os.str();
        }
    }
    return "";
}

} // namespace

TEST_CASE("find_contours equals cv::findContours(RETR_TREE, CHAIN_APPROX_SIMPLE) exactly", "[contours][opencv]") {
    const auto images = dgtest::binary_test_images(1000);
    REQUIRE(images.size() >= 1000);
    int failures = 0;
    std::size_t total_contours = 0;
    for (const auto& [name, mask] : images) {
        const std::string diff = compare_contours(mask);
        total_contours += dualgrad::find_contours(mask).contours.size();
        if (!diff.empty() && ++failures <= 10) {
            INFO(name << " (" << mask.height() << "x" << mask.width() << "): " << diff);
            CHECK(diff.empty());
        }
    }
    INFO(images.size() << " images, " << total_contours << " contours");
    CHECK(failures == 0);
    CHECK(total_contours > 20000);
}

TEST_CASE("contour_area and bounding_rect equal OpenCV on arbitrary polygons", "[contours][opencv]") {
    std::mt19937 rng(7);
    std::uniform_int_distribution<int> coord(-3000, 3000), len(1, 40);
    CHECK(dualgrad::contour_area(std::vector<Point2i>{}) == 0.0);
    CHECK(dualgrad::bounding_rect(std::vector<Point2i>{}) == dualgrad::Rect{});
    for (int i = 0; i < 500; ++i) {
        std::vector<Point2i> p(static_cast<std::size_t>(len(rng)));
        std::vector<cv::Point> q;
        for (auto& v : p) {
            v = {coord(rng), coord(rng)};
            q.emplace_back(v.x, v.y);
        }
        CHECK(dualgrad::contour_area(p) == cv::contourArea(q));
        CHECK(dualgrad::contour_area(p, true) == cv::contourArea(q, true));
        const dualgrad::Rect r = dualgrad::bounding_rect(p);
        const cv::Rect w = cv::boundingRect(q);
        CHECK(r == dualgrad::Rect{w.x, w.y, w.width, w.height});
    }
}

// BoxExtractor against the reference protocols re-implemented here with OpenCV calls, step by
// step as the Python code does them (wsolevaluation inference.py/evaluation.py, layercam_loc
// scripts/test.py), on CAM-like maps, noise maps and the structured binary images.
#include <cmath>
#include <cstdint>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <opencv2/imgproc.hpp>

#include <dualgrad/localize/box_extractor.hpp>

#include "random_maps.hpp"

namespace {

using dualgrad::Box;
using dualgrad::ImageSize;
using dualgrad::ScoreMap;
using Boxes = std::vector<std::vector<Box>>;

cv::Mat float_mat(const ScoreMap& m) {
    return cv::Mat(m.height(), m.width(), CV_32F, const_cast<float*>(m.data())).clone();
}

// ---- wsolevaluation, as Python runs it -------------------------------------------------------
// cam (float32) -> t2n (float64) -> cv2.resize INTER_CUBIC -> normalize_scoremap -> (x*255).astype(uint8)
cv::Mat wsol_u8(const ScoreMap& raw, ImageSize image) {
    cv::Mat cam64, resized;
    float_mat(raw).convertTo(cam64, CV_64F);
    cv::resize(cam64, resized, cv::Size(image.width, image.height), 0, 0, cv::INTER_CUBIC);
    bool has_nan = false;
    double lo = std::numeric_limits<double>::infinity(), hi = -lo;
    for (int y = 0; y < resized.rows; ++y)
        for (int x = 0; x < resized.cols; ++x) {
            const double v = resized.at<double>(y, x);
            has_nan = has_nan || std::isnan(v);
            lo = std::min(lo, v), hi = std::max(hi, v);
        }
    cv::Mat u8(resized.size(), CV_8U, cv::Scalar(0));
    if (has_nan || lo == hi) return u8;
    double top = 0;
    for (int y = 0; y < resized.rows; ++y)
        for (int x = 0; x < resized.cols; ++x) top = std::max(top, resized.at<double>(y, x) -= lo);
    for (int y = 0; y < resized.rows; ++y)
        for (int x = 0; x < resized.cols; ++x)
            u8.at<std::uint8_t>(y, x) = static_cast<std::uint8_t>(resized.at<double>(y, x) / top * 255.0);
    return u8;
}

// compute_bboxes_from_scoremaps(scoremap, thresholds, multi_contour_eval) on the uint8 image.
void wsol_boxes(const cv::Mat& u8, const std::vector<double>& thresholds, Boxes& largest, Boxes& multi) {
    double mx;
    cv::minMaxLoc(u8, nullptr, &mx);
    largest.clear();
    multi.clear();
    for (double t : thresholds) {
        cv::Mat bin;
        cv::threshold(u8, bin, static_cast<int>(t * mx), 255, cv::THRESH_BINARY);
        std::vector<std::vector<cv::Point>> contours;
        cv::findContours(bin, contours, cv::RETR_TREE, cv::CHAIN_APPROX_SIMPLE);
        if (contours.empty()) {
            largest.push_back({Box{0, 0, 0, 0}});
            multi.push_back({Box{0, 0, 0, 0}});
            continue;
        }
        auto to_box = [&](const std::vector<cv::Point>& c) {
            const cv::Rect r = cv::boundingRect(c);
            return Box{r.x, r.y, std::min(r.x + r.width, u8.cols - 1), std::min(r.y + r.height, u8.rows - 1)};
        };
        std::size_t best = 0; // Python's max(): the first of equal keys
        for (std::size_t i = 1; i < contours.size(); ++i)
            if (cv::contourArea(contours[i]) > cv::contourArea(contours[best])) best = i;
        largest.push_back({to_box(contours[best])});
        multi.emplace_back();
        for (const auto& c : contours) multi.back().push_back(to_box(c));
    }
}

// ---- layercam_loc scripts/test.py --------------------------------------------------------------
Box layercam_box(const ScoreMap& raw, ImageSize image, double threshold = 0.15) {
    cv::Mat cam = float_mat(raw);
    cam = cv::max(cam, 0.0f);                                  // np.maximum(cam, 0)
    double mx;
    cv::minMaxLoc(cam, nullptr, &mx);
    const float denom = static_cast<float>(mx + 1e-8);        // float32 / float32(max + 1e-8)
    cv::Mat u8(cam.size(), CV_8U);
    for (int y = 0; y < cam.rows; ++y)
        for (int x = 0; x < cam.cols; ++x)
            u8.at<std::uint8_t>(y, x) = static_cast<std::uint8_t>(cam.at<float>(y, x) / denom * 255.0f);
    cv::Mat big, bin;
    cv::resize(u8, big, cv::Size(image.width, image.height), 0, 0, cv::INTER_CUBIC);
    cv::threshold(big, bin, threshold * 255, 255, cv::THRESH_BINARY);
    std::vector<std::vector<cv::Point>> contours;
    cv::findContours(bin, contours, cv::RETR_TREE, cv::CHAIN_APPROX_SIMPLE);
    if (contours.empty()) return Box{0, 0, 1, 1};
    int large_area = 0;
    cv::Rect target = cv::boundingRect(contours[0]);
    for (const auto& c : contours) { // large_rect: first strict maximum of w*h
        const cv::Rect r = cv::boundingRect(c);
        if (large_area < r.width * r.height) large_area = r.width * r.height, target = r;
    }
    return Box{target.x, target.y, target.x + target.width, target.y + target.height};
}

// ---- original CAM, with cv::connectedComponentsWithStats as the labelling oracle ----------------
Box cam_box(const ScoreMap& raw, ImageSize image, double fraction = 0.2) {
    cv::Mat cam64, m;
    float_mat(raw).convertTo(cam64, CV_64F);
    cv::resize(cam64, m, cv::Size(image.width, image.height), 0, 0, cv::INTER_CUBIC);
    double lo, hi;
    cv::minMaxLoc(m, &lo, &hi);
    cv::Mat mask(m.size(), CV_8U, cv::Scalar(0));
    if (lo != hi) {
        double top = 0;
        for (int y = 0; y < m.rows; ++y)
            for (int x = 0; x < m.cols; ++x) top = std::max(top, m.at<double>(y, x) -= lo);
        for (int y = 0; y < m.rows; ++y)
            for (int x = 0; x < m.cols; ++x) mask.at<std::uint8_t>(y, x) = m.at<double>(y, x) / top > fraction ? 1 : 0;
    }
    cv::Mat labels, stats, centroids;
    const int n = cv::connectedComponentsWithStats(mask, labels, stats, centroids, 8, CV_32S);
    if (n <= 1) return Box{0, 0, 0, 0};
    // Label order follows the first pixel of each component in raster order; keep the first maximum.
    int best = 1;
    for (int i = 2; i < n; ++i)
        if (stats.at<int>(i, cv::CC_STAT_AREA) > stats.at<int>(best, cv::CC_STAT_AREA)) best = i;
    const int x = stats.at<int>(best, cv::CC_STAT_LEFT), y = stats.at<int>(best, cv::CC_STAT_TOP);
    return Box{x, y, x + stats.at<int>(best, cv::CC_STAT_WIDTH) - 1, y + stats.at<int>(best, cv::CC_STAT_HEIGHT) - 1};
}

std::string show(const std::vector<Box>& b) {
    std::ostringstream os;
    for (const auto& x : b) os << x;
    return os.str();
}

// Returns "" if equal, else the first differing threshold.
std::string diff(const Boxes& got, const Boxes& want, const std::vector<double>& t) {
    if (got.size() != want.size()) return "threshold count " + std::to_string(got.size()) + " vs " + std::to_string(want.size());
    for (std::size_t i = 0; i < got.size(); ++i)
        if (got[i] != want[i]) {
            std::ostringstream os;
            os << "at threshold " << t[i] << ": " << show(got[i]) << " vs reference " << show(want[i]);
            return os.str();
        }
    return "";
}

struct Case {
    std::string name;
    ScoreMap raw;
    ImageSize image;
};

// CAM-like maps at backbone resolutions resized to image sizes, noise maps, and maps that
// already have the image size.
std::vector<Case> cam_cases(int n) {
    std::vector<Case> out;
    const int raw_sizes[] = {7, 14, 28, 9};
    const ImageSize images[] = {{224, 224}, {100, 80}, {64, 96}, {150, 113}, {14, 14}, {37, 29}};
    for (int i = 0; i < n; ++i) {
        const unsigned seed = 5000u + static_cast<unsigned>(i);
        const int r = raw_sizes[i % 4];
        const ImageSize img = images[i % 6];
        switch (i % 5) {
        case 0:
        case 1: out.push_back({"blobs " + std::to_string(seed), dgtest::blob_map<float>(r, r, seed, 2 + i % 5, 40.0), img}); break;
        case 2: out.push_back({"noise " + std::to_string(seed), dgtest::uniform_map<float>(r, r + 3, seed, -2.0, 5.0), img}); break;
        case 3: out.push_back({"full-size blobs " + std::to_string(seed),
                               dgtest::blob_map<float>(img.height, img.width, seed, 6, 3.0), img}); break;
        default: out.push_back({"full-size noise " + std::to_string(seed),
                                dgtest::uniform_map<float>(img.height, img.width, seed), img}); break;
        }
    }
    return out;
}

} // namespace

TEST_CASE("wsolevaluation boxes (MaxBoxAcc and MaxBoxAccV2) equal the OpenCV reference", "[boxes][opencv]") {
    dualgrad::BoxExtractor<dualgrad::WsolLargestContour> largest;
    dualgrad::BoxExtractor<dualgrad::WsolMultiContour> multi;
    const std::vector<double> t(largest.thresholds().begin(), largest.thresholds().end());
    REQUIRE(t.size() == 100);
    int failures = 0;
    Boxes want_l, want_m, got_l, got_m;
    for (const auto& c : cam_cases(300)) {
        wsol_boxes(wsol_u8(c.raw, c.image), t, want_l, want_m);
        largest.boxes_per_threshold(c.raw, c.image, got_l);
        multi.boxes_per_threshold(c.raw, c.image, got_m);
        const std::string dl = diff(got_l, want_l, t), dm = diff(got_m, want_m, t);
        if ((!dl.empty() || !dm.empty()) && ++failures <= 5) {
            INFO(c.name << " " << c.raw.height() << "x" << c.raw.width() << " -> " << c.image.height << "x"
                        << c.image.width << ": largest " << dl << " | multi " << dm);
            CHECK((dl.empty() && dm.empty()));
        }
    }
    CHECK(failures == 0);
}

TEST_CASE("wsolevaluation boxes equal the reference on the structured binary images", "[boxes][opencv]") {
    // A 0/1 map of the image size goes through unchanged (resize is a copy): u8 is 0/255.
    dualgrad::BoxExtractor<dualgrad::WsolLargestContour> largest({.interval = 0.25});
    dualgrad::BoxExtractor<dualgrad::WsolMultiContour> multi({.interval = 0.25});
    const std::vector<double> t(largest.thresholds().begin(), largest.thresholds().end());
    int failures = 0;
    Boxes want_l, want_m, got_l, got_m;
    for (const auto& [name, mask] : dgtest::binary_test_images(1000)) {
        ScoreMap raw(mask.height(), mask.width());
        for (std::size_t i = 0; i < raw.size(); ++i) raw.values()[i] = mask.values()[i] ? 1.0f : 0.0f;
        const ImageSize image{mask.height(), mask.width()};
        wsol_boxes(wsol_u8(raw, image), t, want_l, want_m);
        largest.boxes_per_threshold(raw, image, got_l);
        multi.boxes_per_threshold(raw, image, got_m);
        const std::string dl = diff(got_l, want_l, t), dm = diff(got_m, want_m, t);
        if ((!dl.empty() || !dm.empty()) && ++failures <= 5) {
            INFO(name << ": largest " << dl << " | multi " << dm);
            CHECK((dl.empty() && dm.empty()));
        }
    }
    CHECK(failures == 0);
}

TEST_CASE("wsolevaluation sweep at interval 0.001 equals the reference", "[boxes][opencv]") {
    dualgrad::BoxExtractor<dualgrad::WsolLargestContour> largest({.interval = 0.001});
    const std::vector<double> t(largest.thresholds().begin(), largest.thresholds().end());
    REQUIRE(t.size() == 1000);
    Boxes want_l, want_m, got_l;
    for (const auto& c : cam_cases(10)) {
        wsol_boxes(wsol_u8(c.raw, c.image), t, want_l, want_m);
        largest.boxes_per_threshold(c.raw, c.image, got_l);
        INFO(c.name);
        CHECK(diff(got_l, want_l, t).empty());
    }
}

TEST_CASE("layercam_loc boxes equal the OpenCV reference", "[boxes][opencv]") {
    dualgrad::BoxExtractor<dualgrad::LayerCamLargestRect> layercam;
    dualgrad::BoxExtractor<dualgrad::LayerCamLargestRect> layercam_low({.threshold = 0.02});
    int failures = 0;
    for (const auto& c : cam_cases(400)) {
        for (auto* ex : {&layercam, &layercam_low}) {
            const Box want = layercam_box(c.raw, c.image, ex->policy().threshold);
            const Box got = ex->box(c.raw, c.image);
            if (got != want && ++failures <= 5) {
                INFO(c.name << " threshold " << ex->policy().threshold << ": " << got << " vs reference " << want);
                CHECK(got == want);
            }
        }
    }
    // 256x256 ten-crop sums resized to typical ImageNet sizes, as in the script.
    for (unsigned s = 0; s < 40; ++s) {
        const ScoreMap raw = dgtest::blob_map<float>(256, 256, 900 + s, 5, 12.0);
        const ImageSize image{333 + static_cast<int>(s) * 5, 500 - static_cast<int>(s) * 3};
        const Box want = layercam_box(raw, image), got = layercam.box(raw, image);
        if (got != want && ++failures <= 5) {
            INFO("256x256 seed " << s << ": " << got << " vs reference " << want);
            CHECK(got == want);
        }
    }
    CHECK(failures == 0);
}

TEST_CASE("original CAM boxes equal connected-component labelling by OpenCV", "[boxes][opencv]") {
    dualgrad::BoxExtractor<dualgrad::CamLargestComponent> cam;
    dualgrad::BoxExtractor<dualgrad::CamLargestComponent> cam_half({.fraction = 0.5});
    int failures = 0;
    for (const auto& c : cam_cases(250))
        for (auto* ex : {&cam, &cam_half}) {
            const Box want = cam_box(c.raw, c.image, ex->policy().fraction), got = ex->box(c.raw, c.image);
            if (got != want && ++failures <= 5) {
                INFO(c.name << " fraction " << ex->policy().fraction << ": " << got << " vs reference " << want);
                CHECK(got == want);
            }
        }
    CHECK(failures == 0);
}

TEST_CASE("cam_thresholds equals numpy.arange(0, 1, interval)", "[boxes]") {
    // Length ceil(1 / interval) and values i * interval, as numpy computes them in float64.
    for (double interval : {0.01, 0.001, 0.05, 0.1, 0.3, 0.07, 0.9}) {
        const auto t = dualgrad::cam_thresholds(interval);
        INFO("interval " << interval);
        CHECK(t.size() == static_cast<std::size_t>(std::ceil(1.0 / interval)));
        for (std::size_t i = 0; i < t.size(); ++i) CHECK(t[i] == static_cast<double>(i) * interval);
        CHECK(t.back() < 1.0);
    }
}

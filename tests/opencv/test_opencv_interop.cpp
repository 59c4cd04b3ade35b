// dualgrad/interop/opencv.hpp: cv::Mat <-> io::Image / ScoreMap / Mask, Box <-> cv::Rect, and the
// heatmap overlay (its colors checked against cv::applyColorMap's COLORMAP_JET).
#include <cstdint>

#include <catch2/catch.hpp>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include <dualgrad/interop/opencv.hpp>

namespace {

using dualgrad::Box;
using dualgrad::ScoreMap;
using dualgrad::interop::ChannelOrder;
namespace interop = dualgrad::interop;

cv::Mat pattern_8uc3(int rows, int cols) {
    cv::Mat m(rows, cols, CV_8UC3);
    for (int y = 0; y < rows; ++y)
        for (int x = 0; x < cols; ++x) m.at<cv::Vec3b>(y, x) = cv::Vec3b(uchar(10 * y + x), uchar(100 + x), uchar(200 - y));
    return m;
}

bool same_mat(const cv::Mat& a, const cv::Mat& b) {
    return a.type() == b.type() && a.size() == b.size() && cv::countNonZero(a.reshape(1) != b.reshape(1)) == 0;
}

} // namespace

TEST_CASE("interop: an 8UC3 BGR Mat becomes an RGB image and an RGB Mat keeps its order", "[interop]") {
    const cv::Mat bgr = pattern_8uc3(4, 5);
    const auto img = interop::image_from_mat(bgr);
    REQUIRE(img.height == 4);
    REQUIRE(img.width == 5);
    REQUIRE(img.channels == 3);
    for (int y = 0; y < 4; ++y)
        for (int x = 0; x < 5; ++x) {
            const auto p = bgr.at<cv::Vec3b>(y, x);
            CHECK(img(y, x, 0) == p[2]);
            CHECK(img(y, x, 1) == p[1]);
            CHECK(img(y, x, 2) == p[0]);
        }
    const auto as_rgb = interop::image_from_mat(bgr, ChannelOrder::rgb);
    CHECK(as_rgb(2, 3, 0) == bgr.at<cv::Vec3b>(2, 3)[0]);
    CHECK(as_rgb(2, 3, 2) == bgr.at<cv::Vec3b>(2, 3)[2]);

    // Back to a Mat in either order gives the input again.
    CHECK(same_mat(interop::mat_from_image(img), bgr));
    CHECK(same_mat(interop::mat_from_image(as_rgb, ChannelOrder::rgb), bgr));
    // cv::cvtColor agrees on what RGB means.
    cv::Mat rgb;
    cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
    CHECK(same_mat(interop::mat_from_image(img, ChannelOrder::rgb), rgb));
}

TEST_CASE("interop: 8UC1 Mats become gray images and masks and ROIs (non-contiguous) are copied row by row", "[interop]") {
    cv::Mat gray(6, 7, CV_8UC1);
    for (int y = 0; y < 6; ++y)
        for (int x = 0; x < 7; ++x) gray.at<uchar>(y, x) = uchar(y * 7 + x);
    const cv::Mat roi = gray(cv::Rect(2, 1, 3, 4));
    REQUIRE_FALSE(roi.isContinuous());
    const auto img = interop::image_from_mat(roi);
    REQUIRE(img.channels == 1);
    REQUIRE(img.height == 4);
    REQUIRE(img.width == 3);
    CHECK(img(0, 0, 0) == gray.at<uchar>(1, 2));
    CHECK(img(3, 2, 0) == gray.at<uchar>(4, 4));
    CHECK(same_mat(interop::mat_from_image(img), roi.clone()));

    const auto mask = interop::mask_from_mat(roi);
    CHECK(mask(3, 2) == gray.at<uchar>(4, 4));
    CHECK(same_mat(interop::mat_from_mask(mask), roi.clone()));

    const cv::Mat bgr = pattern_8uc3(5, 6);
    const auto sub = interop::image_from_mat(bgr(cv::Rect(1, 2, 4, 3)));
    CHECK(sub(0, 0, 0) == bgr.at<cv::Vec3b>(2, 1)[2]);
    CHECK(sub(2, 3, 2) == bgr.at<cv::Vec3b>(4, 4)[0]);
}

TEST_CASE("interop: RGBA images become BGRA or RGBA Mats", "[interop]") {
    dualgrad::io::Image rgba(2, 2, 4);
    for (int c = 0; c < 4; ++c) rgba(1, 0, c) = std::uint8_t(10 + c);
    const cv::Mat bgra = interop::mat_from_image(rgba);
    REQUIRE(bgra.type() == CV_8UC4);
    CHECK(bgra.at<cv::Vec4b>(1, 0) == cv::Vec4b(12, 11, 10, 13));
    CHECK(interop::mat_from_image(rgba, ChannelOrder::rgb).at<cv::Vec4b>(1, 0) == cv::Vec4b(10, 11, 12, 13));
}

TEST_CASE("interop: 32FC1 Mats and score maps convert exactly both ways", "[interop]") {
    cv::Mat f(5, 8, CV_32FC1);
    cv::randu(f, cv::Scalar(-3.0), cv::Scalar(7.0));
    f.at<float>(0, 0) = 1e-30f;
    const ScoreMap m = interop::score_map_from_mat(f);
    REQUIRE(m.height() == 5);
    REQUIRE(m.width() == 8);
    for (int y = 0; y < 5; ++y)
        for (int x = 0; x < 8; ++x) CHECK(m(y, x) == f.at<float>(y, x));
    CHECK(same_mat(interop::mat_from_score_map(m), f));
    const ScoreMap part = interop::score_map_from_mat(f(cv::Rect(3, 1, 4, 2)));
    CHECK(part(1, 3) == f.at<float>(2, 6));
}

TEST_CASE("interop: a pixel-inclusive Box is the cv::Rect of the same pixels", "[interop]") {
    const Box b{2, 3, 5, 9};
    const cv::Rect r = interop::to_rect(b);
    CHECK(r == cv::Rect(2, 3, 4, 7));
    CHECK(static_cast<std::int64_t>(r.area()) == b.area());
    CHECK(interop::from_rect(r) == b);
    CHECK(interop::from_rect(cv::Rect(0, 0, 1, 1)) == Box{0, 0, 0, 0});
    CHECK(interop::to_rect(Box{0, 0, 0, 0}) == cv::Rect(0, 0, 1, 1));

    // The pixels of the Rect (an ROI filled with 1) are exactly those x0 <= x <= x1, y0 <= y <= y1.
    cv::Mat canvas = cv::Mat::zeros(12, 10, CV_8UC1);
    canvas(r).setTo(1);
    for (int y = 0; y < 12; ++y)
        for (int x = 0; x < 10; ++x) {
            const bool inside = x >= b.x0 && x <= b.x1 && y >= b.y0 && y <= b.y1;
            CHECK(canvas.at<uchar>(y, x) == (inside ? 1 : 0));
        }

    CHECK_THROWS_AS(interop::to_rect(Box{5, 0, 4, 3}), dualgrad::value_error);
    CHECK_THROWS_WITH(interop::from_rect(cv::Rect(1, 2, 0, 3)), Catch::Contains("covers no pixel"));
    CHECK_THROWS_AS(interop::from_rect(cv::Rect(1, 2, 3, -1)), dualgrad::value_error);
}

TEST_CASE("interop: the overlay is dualgrad's with COLORMAP_JET's colors in the Mat's channel order", "[interop]") {
    // A map already in [0, 1] with min 0 and max 1 at the image's size: the overlay's resize and
    // min-max leave it unchanged, so with alpha 1 the overlay is the colormap of uint8(255 m).
    const int H = 16, W = 16;
    ScoreMap m(H, W);
    for (int y = 0; y < H; ++y)
        for (int x = 0; x < W; ++x) m(y, x) = static_cast<float>(y * W + x) / static_cast<float>(H * W - 1);
    cv::Mat u8(H, W, CV_8UC1);
    for (int y = 0; y < H; ++y)
        for (int x = 0; x < W; ++x) u8.at<uchar>(y, x) = static_cast<uchar>(m(y, x) * 255.f);
    cv::Mat jet;
    cv::applyColorMap(u8, jet, cv::COLORMAP_JET); // BGR

    const cv::Mat image = pattern_8uc3(H, W);
    dualgrad::io::OverlayOptions opts;
    opts.alpha = 1.0f;
    CHECK(same_mat(interop::heatmap_overlay(image, m, std::nullopt, opts), jet));
    cv::Mat jet_rgb;
    cv::cvtColor(jet, jet_rgb, cv::COLOR_BGR2RGB);
    CHECK(same_mat(interop::heatmap_overlay(image, m, std::nullopt, opts, ChannelOrder::rgb), jet_rgb));

    // With a blend and a box: the same as io::heatmap_overlay on the converted image.
    const Box box{3, 4, 10, 12};
    const auto want = dualgrad::io::heatmap_overlay(interop::image_from_mat(image), m, box);
    CHECK(same_mat(interop::heatmap_overlay(image, m, box), interop::mat_from_image(want)));
}

TEST_CASE("interop: empty Mats and wrong types or channel counts are errors naming the type", "[interop]") {
    const cv::Mat empty;
    CHECK_THROWS_WITH(interop::image_from_mat(empty), Catch::Contains("image_from_mat") && Catch::Contains("empty"));
    CHECK_THROWS_AS(interop::score_map_from_mat(empty), dualgrad::shape_error);
    CHECK_THROWS_WITH(interop::mask_from_mat(empty), Catch::Contains("empty"));

    CHECK_THROWS_WITH(interop::score_map_from_mat(cv::Mat(3, 3, CV_32FC3)),
                      Catch::Contains("CV_32FC3") && Catch::Contains("3 channel(s)") && Catch::Contains("CV_32FC1 expected"));
    CHECK_THROWS_WITH(interop::score_map_from_mat(cv::Mat(3, 3, CV_64FC1)), Catch::Contains("CV_64FC1"));
    CHECK_THROWS_WITH(interop::image_from_mat(cv::Mat(3, 3, CV_16UC1)),
                      Catch::Contains("CV_16UC1") && Catch::Contains("CV_8UC3 (BGR) or CV_8UC1"));
    CHECK_THROWS_WITH(interop::image_from_mat(cv::Mat(3, 3, CV_8UC4), ChannelOrder::rgb),
                      Catch::Contains("CV_8UC4") && Catch::Contains("4 channel(s)") && Catch::Contains("CV_8UC3 (RGB)"));
    CHECK_THROWS_WITH(interop::mask_from_mat(cv::Mat(3, 3, CV_8UC3)), Catch::Contains("CV_8UC3"));
    CHECK_THROWS_WITH(interop::heatmap_overlay(cv::Mat(3, 3, CV_8UC1), ScoreMap(2, 2, 0.5f)),
                      Catch::Contains("heatmap_overlay") && Catch::Contains("CV_8UC1"));

    CHECK_THROWS_AS(interop::mat_from_score_map(ScoreMap{}), dualgrad::shape_error);
    CHECK_THROWS_WITH(interop::mat_from_image(dualgrad::io::Image(2, 2, 2)), Catch::Contains("2 channels"));
}

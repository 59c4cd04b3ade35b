// dualgrad::resize against cv::resize (OpenCV 4.x) on random maps, up- and down-scaling.
#include <cmath>
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <opencv2/imgproc.hpp>

#include <dualgrad/localize/resize.hpp>

#include "random_maps.hpp"

namespace {

using dualgrad::Interpolation;
using dualgrad::Map2D;

template <class T>
cv::Mat to_mat(const Map2D<T>& m) {
    constexpr int type = std::is_same_v<T, float> ? CV_32F : (std::is_same_v<T, double> ? CV_64F : CV_8U);
    return cv::Mat(m.height(), m.width(), type, const_cast<T*>(m.data())).clone();
}

template <class T>
cv::Mat cv_resize(const Map2D<T>& m, int h, int w, Interpolation interp) {
    cv::Mat out;
    cv::resize(to_mat(m), out, cv::Size(w, h), 0, 0, interp == Interpolation::cubic ? cv::INTER_CUBIC : cv::INTER_LINEAR);
    return out;
}

struct Worst {
    double err = 0;
    int y = -1, x = -1;
    double got = 0, want = 0;
};

// Largest of |got - want| / (abs_tol + rel_tol * |want|): <= 1 passes.
template <class T>
Worst compare(const Map2D<T>& got, const cv::Mat& want, double abs_tol, double rel_tol) {
    Worst w;
    REQUIRE(got.height() == want.rows);
    REQUIRE(got.width() == want.cols);
    for (int y = 0; y < got.height(); ++y)
        for (int x = 0; x < got.width(); ++x) {
            const double g = got(y, x), e = want.at<T>(y, x);
            const double r = std::abs(g - e) / (abs_tol + rel_tol * std::abs(e));
            if (r > w.err || std::isnan(r)) w = {r, y, x, g, e};
        }
    return w;
}

const int kSizes[][2] = {{1, 1}, {1, 6}, {5, 1}, {2, 3}, {7, 7}, {14, 14}, {13, 17}, {28, 28}, {56, 40}, {224, 224}};
const int kTargets[][2] = {{1, 1}, {3, 2}, {7, 7}, {14, 14}, {28, 14}, {100, 73}, {112, 112}, {224, 224}, {256, 256}, {375, 500}};

} // namespace

TEST_CASE("bilinear and bicubic float resize equal cv::resize within 1e-4 on [0,1] maps", "[resize][opencv]") {
    unsigned seed = 1;
    for (auto interp : {Interpolation::linear, Interpolation::cubic})
        for (auto [sh, sw] : kSizes)
            for (auto [h, w] : kTargets) {
                const auto src = dgtest::uniform_map<float>(sh, sw, seed++);
                const auto got = dualgrad::resize(src, h, w, interp);
                const Worst e = compare(got, cv_resize(src, h, w, interp), 1e-4, 0.0);
                INFO((interp == Interpolation::cubic ? "cubic " : "linear ") << sh << "x" << sw << " -> " << h << "x" << w
                     << ": worst at (" << e.y << ", " << e.x << ") got " << e.got << " want " << e.want);
                CHECK(e.err <= 1.0);
            }
}

TEST_CASE("float resize of raw CAM-range maps equals cv::resize to 1e-5 of the map's range", "[resize][opencv]") {
    unsigned seed = 100;
    for (auto interp : {Interpolation::linear, Interpolation::cubic})
        for (auto [sh, sw] : kSizes)
            for (auto [h, w] : kTargets) {
                const auto src = dgtest::blob_map<float>(sh, sw, seed++, 4, 350.0);
                double range = 0;
                for (float v : src.values()) range = std::max(range, std::abs(static_cast<double>(v)));
                const auto got = dualgrad::resize(src, h, w, interp);
                const Worst e = compare(got, cv_resize(src, h, w, interp), 1e-5 * range, 0.0);
                INFO(sh << "x" << sw << " -> " << h << "x" << w << ": worst at (" << e.y << ", " << e.x << ") got "
                        << e.got << " want " << e.want);
                CHECK(e.err <= 1.0);
            }
}

TEST_CASE("double resize is bit-identical to cv::resize on CV_64F", "[resize][opencv]") {
    unsigned seed = 200;
    for (auto interp : {Interpolation::linear, Interpolation::cubic})
        for (auto [sh, sw] : kSizes)
            for (auto [h, w] : kTargets) {
                const auto src = dgtest::blob_map<double>(sh, sw, seed++, 3, 17.0);
                const auto got = dualgrad::resize(src, h, w, interp);
                const Worst e = compare(got, cv_resize(src, h, w, interp), 1e-300, 0.0);
                INFO(sh << "x" << sw << " -> " << h << "x" << w << ": worst at (" << e.y << ", " << e.x << ") got "
                        << e.got << " want " << e.want);
                CHECK(e.err == 0.0);
            }
}

TEST_CASE("8-bit bicubic resize is bit-identical to cv::resize on CV_8U", "[resize][opencv]") {
    unsigned seed = 300;
    for (auto [sh, sw] : kSizes)
        for (auto [h, w] : kTargets) {
            // Hard edges (0 / 255 steps) drive the cubic overshoot into saturation.
            auto src = dgtest::uniform_map<float>(sh, sw, seed++);
            dualgrad::Mask u8(sh, sw);
            for (std::size_t i = 0; i < u8.size(); ++i)
                u8.values()[i] = static_cast<std::uint8_t>(seed % 3 == 0 ? (src.values()[i] > 0.5f ? 255 : 0)
                                                                         : src.values()[i] * 255.f);
            const auto got = dualgrad::resize(u8, h, w);
            const Worst e = compare(got, cv_resize(u8, h, w, Interpolation::cubic), 1e-300, 0.0);
            INFO(sh << "x" << sw << " -> " << h << "x" << w << ": worst at (" << e.y << ", " << e.x << ") got " << e.got
                    << " want " << e.want);
            CHECK(e.err == 0.0);
        }
}

TEST_CASE("resize rejects empty sources and non-positive sizes", "[resize]") {
    CHECK_THROWS_AS(dualgrad::resize(dualgrad::ScoreMap{}, 4, 4), dualgrad::shape_error);
    CHECK_THROWS_AS(dualgrad::resize(dualgrad::ScoreMap(3, 3), 0, 4), dualgrad::shape_error);
    CHECK_THROWS_AS(dualgrad::resize(dualgrad::Mask(3, 3), 4, 4, Interpolation::linear), dualgrad::value_error);
}

// Multi-layer fusion against the two libraries' recipes written here with OpenCV calls:
// pytorch-grad-cam's scale_cam_image (x - min, / (1e-7 + max), cv2.resize INTER_LINEAR) and
// aggregate_multi_layers (maximum 0, mean, scale again); torch-cam's _normalize
// (x - min, / (max + 1e-8)) and fuse_cams (bilinear to the largest shape, max).
#include <algorithm>
#include <random>
#include <vector>

#include <catch2/catch.hpp>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include <dualgrad/localize/fuse.hpp>

namespace {
using dualgrad::Fusion;
using dualgrad::ScoreMap;

ScoreMap random_map(int h, int w, unsigned seed, float lo, float hi) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> d(lo, hi);
    ScoreMap m(h, w);
    for (float& x : m.values()) x = d(rng);
    return m;
}

cv::Mat mat(const ScoreMap& m) { return cv::Mat(m.height(), m.width(), CV_32F, const_cast<float*>(m.data())).clone(); }

cv::Mat scale(cv::Mat x, float eps, bool clip) {
    if (clip) x = cv::max(x, 0.0f);
    double lo, hi;
    cv::minMaxLoc(x, &lo);
    x = x - static_cast<float>(lo);
    cv::minMaxLoc(x, nullptr, &hi);
    return x / (eps + static_cast<float>(hi));
}

cv::Mat reference(const std::vector<ScoreMap>& maps, Fusion rule) {
    int h = 0, w = 0;
    for (const auto& m : maps) h = std::max(h, m.height()), w = std::max(w, m.width());
    cv::Mat acc;
    for (const auto& m : maps) {
        cv::Mat r;
        cv::resize(scale(mat(m), rule == Fusion::mean ? 1e-7f : 1e-8f, rule == Fusion::mean), r, cv::Size(w, h), 0, 0,
                   cv::INTER_LINEAR);
        if (acc.empty()) acc = r;
        else if (rule == Fusion::mean) acc = acc + r;
        else acc = cv::max(acc, r);
    }
    if (rule == Fusion::mean) acc = scale(acc / static_cast<float>(maps.size()), 1e-7f, true);
    return acc;
}
} // namespace

TEST_CASE("Fusion matches pytorch-grad-cam's mean and torch-cam's max, resized as OpenCV does", "[fuse][opencv]") {
    const std::vector<ScoreMap> maps{random_map(7, 7, 1, -0.5f, 2.0f), random_map(14, 14, 2, 0.0f, 1.0f),
                                     random_map(28, 21, 3, -1.0f, 3.0f)};
    for (Fusion rule : {Fusion::mean, Fusion::max}) {
        INFO("fusion " << dualgrad::name(rule));
        const ScoreMap got = dualgrad::fuse_maps(maps, rule);
        const cv::Mat want = reference(maps, rule);
        REQUIRE(got.height() == 28);
        REQUIRE(got.width() == 21);
        for (int y = 0; y < 28; ++y)
            for (int x = 0; x < 21; ++x) REQUIRE(got(y, x) == Approx(want.at<float>(y, x)).margin(1e-6));
    }
}

TEST_CASE("Fusion, hand-worked", "[fuse]") {
    // Two 1 x 2 maps: [0, 2] scales to [0, 1]; [3, 1] to [1, 0] (mean: after the ReLU).
    const std::vector<ScoreMap> maps{ScoreMap(1, 2, std::vector<float>{0, 2}), ScoreMap(1, 2, std::vector<float>{3, 1})};
    const ScoreMap mx = dualgrad::fuse_maps(maps, Fusion::max);
    REQUIRE(mx(0, 0) == Approx(1.0f));
    REQUIRE(mx(0, 1) == Approx(1.0f));
    // mean: [0.5, 0.5] -> x - min = 0 everywhere -> 0 / 1e-7 = 0.
    const ScoreMap mn = dualgrad::fuse_maps(maps, Fusion::mean);
    REQUIRE(mn(0, 0) == 0.0f);
    REQUIRE(mn(0, 1) == 0.0f);
    // A negative map under mean is clipped first: [-1, -3] -> [0, 0] -> 0.
    const std::vector<ScoreMap> neg{ScoreMap(1, 2, std::vector<float>{-1, -3}), ScoreMap(1, 2, std::vector<float>{0, 4})};
    const ScoreMap m2 = dualgrad::fuse_maps(neg, Fusion::mean);
    REQUIRE(m2(0, 0) == 0.0f);
    REQUIRE(m2(0, 1) == Approx(1.0f).epsilon(1e-6));
    REQUIRE(dualgrad::fused_layer_name(Fusion::mean, std::vector<std::string>{"layer3.5", "layer4.2"}) ==
            "mean(layer3.5+layer4.2)");
}

TEST_CASE("Fusion errors name what is wrong", "[fuse][errors]") {
    REQUIRE_THROWS_WITH(dualgrad::fuse_maps({}, Fusion::mean), Catch::Contains("no map to fuse"));
    const std::vector<ScoreMap> nan{ScoreMap(1, 1, std::vector<float>{std::nanf("")})};
    REQUIRE_THROWS_WITH(dualgrad::fuse_maps(nan, Fusion::max), Catch::Contains("map 0 holds a non-finite value"));
    REQUIRE_THROWS_WITH(dualgrad::parse_fusion("avg"), Catch::Contains("--fuse: 'avg' is not a fusion rule; valid: mean"));
}

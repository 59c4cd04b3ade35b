// Box extraction on 224x224 CAM-like maps: threshold + contours + boundingRect (+ contourArea for
// the largest contour), for one threshold and for wsolevaluation's 100-threshold sweep, against
// OpenCV's cv::threshold + cv::findContours + cv::contourArea + cv::boundingRect in the same run.
// Maps: Gaussian blobs on a 14x14 grid, resized up bicubically and normalized as a CAM would be.
// Counters: thresholds per second (items/s). Ratios: opencv time / dualgrad time (> 1: faster).
// Both sides run on one core (cv::setNumThreads(1)); pass --opencv_threads=0 for OpenCV's pool.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include <benchmark/benchmark.h>

#include <dualgrad/localize/box_extractor.hpp>
#ifdef DUALGRAD_HAS_OPENCV
#include <opencv2/core/utility.hpp>
#include <opencv2/imgproc.hpp>
#endif

#include "ratio_reporter.hpp"
#include "../tests/support/random_maps.hpp"

namespace {

constexpr int kSide = 224;
constexpr int kMaps = 8;

// Normalized CAM-like maps of the image size (double, as wsolevaluation holds them) and their u8.
struct Maps {
    std::vector<dualgrad::Map2D<double>> normalized;
    std::vector<dualgrad::Mask> u8;
};

const Maps& maps() {
    static const Maps m = [] {
        Maps out;
        for (int i = 0; i < kMaps; ++i) {
            const auto raw = dgtest::blob_map<double>(14, 14, 40u + static_cast<unsigned>(i), 2 + i % 3, 30.0);
            out.normalized.push_back(dualgrad::normalize_minmax(dualgrad::resize(raw, kSide, kSide)));
            out.u8.push_back(dualgrad::to_uint8(out.normalized.back()));
        }
        return out;
    }();
    return m;
}

template <class Policy>
dualgrad::BoxExtractor<Policy> extractor(bool sweep) {
    Policy p;
    if (!sweep) p.thresholds = {0.3};
    return dualgrad::BoxExtractor<Policy>(p);
}

// dualgrad on the u8 map (the core of compute_bboxes_from_scoremaps).
template <class Policy>
void dualgrad_u8(benchmark::State& state, bool sweep) {
    auto ex = extractor<Policy>(sweep);
    std::vector<std::vector<dualgrad::Box>> out;
    std::size_t i = 0;
    for (auto _ : state) {
        ex.boxes_from_u8(maps().u8[i++ % kMaps], out);
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(ex.thresholds().size()));
}

// dualgrad from the normalized double map (includes the uint8(m * 255) conversion).
template <class Policy>
void dualgrad_float(benchmark::State& state, bool sweep) {
    auto ex = extractor<Policy>(sweep);
    std::vector<std::vector<dualgrad::Box>> out;
    std::size_t i = 0;
    for (auto _ : state) {
        ex.boxes_from_normalized(maps().normalized[i++ % kMaps], out);
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(ex.thresholds().size()));
}

#ifdef DUALGRAD_HAS_OPENCV
// The reference loop with OpenCV calls, as wsolevaluation runs it per threshold.
template <bool Largest>
void opencv_boxes(const cv::Mat& u8, const std::vector<double>& thresholds, std::vector<std::vector<dualgrad::Box>>& out) {
    double mx;
    cv::minMaxLoc(u8, nullptr, &mx);
    out.resize(thresholds.size());
    cv::Mat bin;
    std::vector<std::vector<cv::Point>> contours;
    for (std::size_t k = 0; k < thresholds.size(); ++k) {
        cv::threshold(u8, bin, static_cast<int>(thresholds[k] * mx), 255, cv::THRESH_BINARY);
        cv::findContours(bin, contours, cv::RETR_TREE, cv::CHAIN_APPROX_SIMPLE);
        auto& boxes = out[k];
        boxes.clear();
        if (contours.empty()) {
            boxes.push_back({0, 0, 0, 0});
            continue;
        }
        auto to_box = [&](const std::vector<cv::Point>& c) {
            const cv::Rect r = cv::boundingRect(c);
            return dualgrad::Box{r.x, r.y, std::min(r.x + r.width, u8.cols - 1), std::min(r.y + r.height, u8.rows - 1)};
        };
        if constexpr (Largest) {
            std::size_t best = 0;
            double best_area = cv::contourArea(contours[0]);
            for (std::size_t c = 1; c < contours.size(); ++c)
                if (const double a = cv::contourArea(contours[c]); a > best_area) best = c, best_area = a;
            boxes.push_back(to_box(contours[best]));
        } else {
            for (const auto& c : contours) boxes.push_back(to_box(c));
        }
    }
}

std::vector<cv::Mat> cv_u8() {
    std::vector<cv::Mat> out;
    for (const auto& m : maps().u8) out.push_back(cv::Mat(kSide, kSide, CV_8U, const_cast<std::uint8_t*>(m.data())).clone());
    return out;
}

template <bool Largest>
void opencv_u8(benchmark::State& state, bool sweep) {
    const auto mats = cv_u8();
    const std::vector<double> t = sweep ? dualgrad::cam_thresholds(0.01) : std::vector<double>{0.3};
    std::vector<std::vector<dualgrad::Box>> out;
    std::size_t i = 0;
    for (auto _ : state) {
        opencv_boxes<Largest>(mats[i++ % kMaps], t, out);
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(t.size()));
}

// OpenCV from the normalized double map: (m * 255) truncated to uint8, then the loop.
template <bool Largest>
void opencv_float(benchmark::State& state, bool sweep) {
    std::vector<cv::Mat> mats;
    for (const auto& m : maps().normalized)
        mats.push_back(cv::Mat(kSide, kSide, CV_64F, const_cast<double*>(m.data())).clone());
    const std::vector<double> t = sweep ? dualgrad::cam_thresholds(0.01) : std::vector<double>{0.3};
    std::vector<std::vector<dualgrad::Box>> out;
    cv::Mat u8(kSide, kSide, CV_8U);
    std::size_t i = 0;
    for (auto _ : state) {
        const cv::Mat& m = mats[i++ % kMaps];
        for (int y = 0; y < kSide; ++y) {
            const double* s = m.ptr<double>(y);
            std::uint8_t* d = u8.ptr<std::uint8_t>(y);
            for (int x = 0; x < kSide; ++x) d[x] = static_cast<std::uint8_t>(s[x] * 255.0);
        }
        opencv_boxes<Largest>(u8, t, out);
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(t.size()));
}
#endif

// Named entry points (BENCHMARK_CAPTURE takes plain function names).
void dualgrad_largest(benchmark::State& s, bool sweep) { dualgrad_u8<dualgrad::WsolLargestContour>(s, sweep); }
void dualgrad_multi(benchmark::State& s, bool sweep) { dualgrad_u8<dualgrad::WsolMultiContour>(s, sweep); }
void dualgrad_largest_from_float(benchmark::State& s, bool sweep) { dualgrad_float<dualgrad::WsolLargestContour>(s, sweep); }
#ifdef DUALGRAD_HAS_OPENCV
void opencv_largest(benchmark::State& s, bool sweep) { opencv_u8<true>(s, sweep); }
void opencv_multi(benchmark::State& s, bool sweep) { opencv_u8<false>(s, sweep); }
void opencv_largest_from_float(benchmark::State& s, bool sweep) { opencv_float<true>(s, sweep); }
#endif

} // namespace

BENCHMARK_CAPTURE(dualgrad_largest, 1_threshold, false);
BENCHMARK_CAPTURE(dualgrad_largest, 100_thresholds, true);
BENCHMARK_CAPTURE(dualgrad_multi, 1_threshold, false);
BENCHMARK_CAPTURE(dualgrad_multi, 100_thresholds, true);
BENCHMARK_CAPTURE(dualgrad_largest_from_float, 100_thresholds, true);
#ifdef DUALGRAD_HAS_OPENCV
BENCHMARK_CAPTURE(opencv_largest, 1_threshold, false);
BENCHMARK_CAPTURE(opencv_largest, 100_thresholds, true);
BENCHMARK_CAPTURE(opencv_multi, 1_threshold, false);
BENCHMARK_CAPTURE(opencv_multi, 100_thresholds, true);
BENCHMARK_CAPTURE(opencv_largest_from_float, 100_thresholds, true);
#endif

int main(int argc, char** argv) {
#ifdef DUALGRAD_HAS_OPENCV
    // dualgrad runs on one core; so does OpenCV here unless --opencv_threads=N (0: its default pool).
    int threads = 1;
    for (int i = 1; i < argc; ++i)
        if (std::string_view a = argv[i]; a.starts_with("--opencv_threads=")) {
            threads = std::atoi(argv[i] + 17);
            for (int j = i; j + 1 < argc; ++j) argv[j] = argv[j + 1];
            --argc;
            break;
        }
    cv::setNumThreads(threads == 0 ? -1 : threads);
#endif
    return dgbench::run_with_ratios(argc, argv,
                                    {{"dualgrad_largest", "opencv_largest"},
                                     {"dualgrad_multi", "opencv_multi"},
                                     {"dualgrad_largest_from_float", "opencv_largest_from_float"}});
}

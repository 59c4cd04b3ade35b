// dualgrad with OpenCV (built only when OpenCV is found): an 8-bit BGR cv::Mat and a 32FC1 score
// map go in, dualgrad finds the box under wsolevaluation's protocol, and the box comes back as a
// cv::Rect and the overlay as a BGR cv::Mat.
//
//   example_opencv_interop [OUT.png]
//
// Without an argument nothing is written; with one, the overlay is saved as a PNG (through
// dualgrad's own PNG writer, so only OpenCV's core module is needed).
#include <cmath>
#include <cstdio>

#include <opencv2/core.hpp>

#include <dualgrad/interop/opencv.hpp>
#include <dualgrad/io/image_codec.hpp>
#include <dualgrad/localize/box_extractor.hpp>

int main(int argc, char** argv) try {
    namespace interop = dualgrad::interop;

    // A synthetic 120 x 160 BGR image (a bluish gradient) and a 14 x 14 score map with a blob
    // centred at 40 % of the width and 60 % of the height, as a network's CAM would be.
    const int H = 120, W = 160;
    cv::Mat image(H, W, CV_8UC3);
    for (int y = 0; y < H; ++y)
        for (int x = 0; x < W; ++x) image.at<cv::Vec3b>(y, x) = cv::Vec3b(uchar(120 + y / 2), uchar(x / 2), uchar(40));
    cv::Mat cam(14, 14, CV_32FC1);
    for (int y = 0; y < 14; ++y)
        for (int x = 0; x < 14; ++x) {
            const float dx = (static_cast<float>(x) - 0.4f * 13.f) / 2.5f, dy = (static_cast<float>(y) - 0.6f * 13.f) / 2.f;
            cam.at<float>(y, x) = std::exp(-(dx * dx + dy * dy) / 2.f);
        }

    // cv::Mat -> dualgrad, the box at threshold 0.2 (index 20 of arange(0, 1, 0.01)), and back.
    const dualgrad::ScoreMap map = interop::score_map_from_mat(cam);
    dualgrad::BoxExtractor<dualgrad::WsolLargestContour> extractor;
    const auto per_threshold = extractor.boxes_per_threshold(map, {H, W});
    const dualgrad::Box box = per_threshold[20].front();
    const cv::Rect rect = interop::to_rect(box);
    std::printf("box (x0, y0, x1, y1) = (%d, %d, %d, %d) -> cv::Rect(x %d, y %d, width %d, height %d)\n", box.x0, box.y0,
                box.x1, box.y1, rect.x, rect.y, rect.width, rect.height);

    const cv::Mat overlay = interop::heatmap_overlay(image, map, box); // BGR, like the input
    std::printf("overlay: %d x %d, %s\n", overlay.cols, overlay.rows, cv::typeToString(overlay.type()).c_str());
    if (argc > 1) {
        dualgrad::io::write_png(argv[1], interop::image_from_mat(overlay));
        std::printf("wrote %s\n", argv[1]);
    }
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
}

#pragma once
/// \file
/// Pixel-inclusive boxes `(x0, y0, x1, y1)` and their IoU with the +1 convention
/// used by wsolevaluation and the WSOL literature:
/// `area = (x1 - x0 + 1) * (y1 - y0 + 1)`.
///
///     dualgrad::Box a{0, 0, 9, 9}, b{5, 5, 14, 14};
///     double v = dualgrad::iou(a, b);    // 25 / 175

#include <algorithm>
#include <cstdint>
#include <ostream>

#include "dualgrad/error.hpp"

namespace dualgrad {

/// Height and width, in pixels, of the image (or frame) boxes refer to.
struct ImageSize {
    int height = 0;
    int width = 0;
    friend constexpr bool operator==(const ImageSize&, const ImageSize&) = default;
};

struct Box {
    int x0 = 0;
    int y0 = 0;
    int x1 = 0;
    int y1 = 0;

    /// Pixel count of the box, +1 convention. Requires a valid box.
    [[nodiscard]] constexpr std::int64_t area() const noexcept {
        return std::int64_t{x1 - x0 + 1} * std::int64_t{y1 - y0 + 1};
    }
    [[nodiscard]] constexpr bool valid() const noexcept { return x1 >= x0 && y1 >= y0; }

    friend constexpr bool operator==(const Box&, const Box&) = default;
    friend std::ostream& operator<<(std::ostream& os, const Box& b) {
        return os << "(" << b.x0 << ", " << b.y0 << ", " << b.x1 << ", " << b.y1 << ")";
    }
};

/// Throws `value_error` naming `what` if `b` has x1 < x0 or y1 < y0.
inline void check_box(const Box& b, const char* what = "box") {
    if (!b.valid())
        detail::raise<value_error>(what, " ", b, " is invalid: need x0 <= x1 and y0 <= y1");
}

/// Intersection over union, pixel-inclusive (+1) convention. Throws on invalid boxes.
[[nodiscard]] inline double iou(const Box& a, const Box& b) {
    check_box(a, "first box");
    check_box(b, "second box");
    const int ix0 = std::max(a.x0, b.x0), iy0 = std::max(a.y0, b.y0);
    const int ix1 = std::min(a.x1, b.x1), iy1 = std::min(a.y1, b.y1);
    const std::int64_t iw = std::max(0, ix1 - ix0 + 1), ih = std::max(0, iy1 - iy0 + 1);
    const std::int64_t inter = iw * ih;
    return static_cast<double>(inter) / static_cast<double>(a.area() + b.area() - inter);
}

} // namespace dualgrad

#pragma once
// A tiny synthetic Fashion-MNIST stand-in for the FashionLoc generator tests (no dataset needed),
// and double-precision models of what the generator must make of it.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

#include "dualgrad/box.hpp"
#include "dualgrad/io/idx.hpp"
#include "dualgrad/map2d.hpp"

namespace dgtest {

inline constexpr int kItems = 20;

/// Rectangle of item i in its 28 x 28 frame: rows [top, bottom), columns [left, right).
struct Rect {
    int top, bottom, left, right;
};
inline Rect rect_of(int i) { return {4 + i % 4, 24, 3 + i % 5, 25 - i % 3}; }

/// kItems items, label i % 10: a solid 255 rectangle (`rect_of`) and, above it, two rows of faint
/// ink (40 < the mask threshold 64) that must stay out of the mask.
inline dualgrad::io::FashionMnist synthetic_items(bool faint = true) {
    std::vector<std::uint8_t> pixels(static_cast<std::size_t>(kItems) * 28 * 28, 0), labels;
    for (int i = 0; i < kItems; ++i) {
        auto* img = pixels.data() + static_cast<std::size_t>(i) * 28 * 28;
        const Rect r = rect_of(i);
        for (int y = r.top; y < r.bottom; ++y)
            for (int x = r.left; x < r.right; ++x) img[y * 28 + x] = 255;
        if (faint)
            for (int x = 0; x < 28; ++x) img[x] = img[28 + x] = 40;
        labels.push_back(static_cast<std::uint8_t>(i % 10));
    }
    return dualgrad::io::FashionMnist(kItems, 28, 28, pixels, labels, "synthetic items");
}

/// The tight bounds of the nonzero pixels of `m`, computed here, not by the generator.
inline dualgrad::Box tight_bounds(const dualgrad::Mask& m) {
    dualgrad::Box b{m.width(), m.height(), -1, -1};
    for (int y = 0; y < m.height(); ++y)
        for (int x = 0; x < m.width(); ++x)
            if (m(y, x) != 0) b = {std::min(b.x0, x), std::min(b.y0, y), std::max(b.x1, x), std::max(b.y1, y)};
    return b;
}

/// Model of the mask along one axis, in doubles: the 1-D profile 255 on [a, b) of n source pixels
/// scaled to d outputs (bilinear with half-pixel centres when enlarging, area coverage when
/// shrinking); returns the first and last output above 64 of 255.
inline std::pair<int, int> model_extent(int a, int b, int n, int d) {
    int first = -1, last = -1;
    for (int o = 0; o < d; ++o) {
        double v;
        if (d >= n) {
            const double u = std::clamp((o + 0.5) * n / d - 0.5, 0.0, n - 1.0);
            const int i0 = static_cast<int>(std::floor(u));
            const int i1 = std::min(i0 + 1, n - 1);
            const auto at = [&](int i) { return (i >= a && i < b) ? 255.0 : 0.0; };
            v = at(i0) * (1 - (u - i0)) + at(i1) * (u - i0);
        } else {
            const double lo = static_cast<double>(o) * n / d, hi = static_cast<double>(o + 1) * n / d;
            v = 255.0 * std::max(0.0, std::min(hi, double(b)) - std::max(lo, double(a))) / (hi - lo);
        }
        if (v > 64.0) {
            if (first < 0) first = o;
            last = o;
        }
    }
    return {first, last};
}


} // namespace dgtest

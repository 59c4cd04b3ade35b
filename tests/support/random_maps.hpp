#pragma once
// Deterministic map generators for the localize tests: CAM-like smooth score maps and binary
// images with the structures that exercise border following (blobs, noise, nested rings, lines,
// diagonal chains, checkerboards, border-touching shapes, empty and full images).
// No OpenCV here: the unit tests use it too.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <dualgrad/map2d.hpp>

namespace dgtest {

using dualgrad::Map2D;
using dualgrad::Mask;
using dualgrad::ScoreMap;

/// Uniform values in [lo, hi).
template <class T = float>
Map2D<T> uniform_map(int h, int w, unsigned seed, double lo = 0.0, double hi = 1.0) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<double> d(lo, hi);
    Map2D<T> m(h, w);
    for (auto& v : m.values()) v = static_cast<T>(d(rng));
    return m;
}

/// A CAM-like map: a few Gaussian blobs of random centre, width and sign on an h x w grid,
/// scaled by `amplitude` (raw CAMs have ranges of tens or hundreds).
template <class T = float>
Map2D<T> blob_map(int h, int w, unsigned seed, int blobs = 3, double amplitude = 1.0) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    struct G { double cy, cx, sy, sx, a; };
    std::vector<G> gs;
    for (int i = 0; i < blobs; ++i)
        gs.push_back({u(rng) * h, u(rng) * w, 0.05 * h + u(rng) * 0.3 * h, 0.05 * w + u(rng) * 0.3 * w,
                      (i == 0 ? 1.0 : (u(rng) < 0.3 ? -0.5 : 1.0)) * (0.3 + u(rng))});
    Map2D<T> m(h, w);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
            double v = 0;
            for (const auto& g : gs) {
                const double dy = (y - g.cy) / g.sy, dx = (x - g.cx) / g.sx;
                v += g.a * std::exp(-0.5 * (dy * dy + dx * dx));
            }
            m(y, x) = static_cast<T>(amplitude * v);
        }
    return m;
}

/// Binary image (0 / 255) with each pixel on with probability `density`.
inline Mask noise_mask(int h, int w, unsigned seed, double density) {
    std::mt19937 rng(seed);
    std::bernoulli_distribution b(density);
    Mask m(h, w);
    for (auto& v : m.values()) v = b(rng) ? 255 : 0;
    return m;
}

/// Random blobs: a smooth random field thresholded at `level` (fraction of its range).
inline Mask blob_mask(int h, int w, unsigned seed, double level = 0.5, int blobs = 6) {
    const auto f = blob_map<double>(h, w, seed, blobs);
    double lo = f.values()[0], hi = lo;
    for (double v : f.values()) lo = std::min(lo, v), hi = std::max(hi, v);
    Mask m(h, w);
    for (std::size_t i = 0; i < m.size(); ++i) m.values()[i] = f.values()[i] > lo + level * (hi - lo) ? 255 : 0;
    return m;
}

/// Concentric square rings of width `ring` (holes inside holes), centred, on h x w.
inline Mask rings_mask(int h, int w, int ring, int offset = 0) {
    Mask m(h, w);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
            const int d = std::min(std::min(y, h - 1 - y), std::min(x, w - 1 - x)) + offset;
            m(y, x) = ((d / ring) % 2 == 0) ? 255 : 0;
        }
    return m;
}

/// Concentric circular rings (Euclidean), centre (cy, cx), ring width `ring`.
inline Mask circle_rings_mask(int h, int w, double cy, double cx, double ring) {
    Mask m(h, w);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
            const double r = std::hypot(y - cy, x - cx);
            m(y, x) = (static_cast<int>(r / ring) % 2 == 0) ? 255 : 0;
        }
    return m;
}

/// Checkerboard of cell size `cell` (cell 1: 8-connected diagonal chains everywhere).
inline Mask checker_mask(int h, int w, int cell, bool phase = false) {
    Mask m(h, w);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) m(y, x) = (((y / cell + x / cell) % 2 == 0) != phase) ? 255 : 0;
    return m;
}

/// Random straight thin lines (horizontal, vertical, diagonal), `n` of them, some touching the border.
inline Mask lines_mask(int h, int w, unsigned seed, int n) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> py(0, h - 1), px(0, w - 1), kind(0, 3), len(1, std::max(h, w));
    Mask m(h, w);
    for (int i = 0; i < n; ++i) {
        int y = py(rng), x = px(rng);
        const int k = kind(rng), l = len(rng);
        const int dy = k == 0 ? 0 : (k == 1 ? 1 : 1), dx = k == 0 ? 1 : (k == 1 ? 0 : (k == 2 ? 1 : -1));
        for (int j = 0; j < l && y >= 0 && y < h && x >= 0 && x < w; ++j, y += dy, x += dx) m(y, x) = 255;
    }
    return m;
}

/// Random single pixels, `n` of them.
inline Mask pixels_mask(int h, int w, unsigned seed, int n) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> py(0, h - 1), px(0, w - 1);
    Mask m(h, w);
    for (int i = 0; i < n; ++i) m(py(rng), px(rng)) = 255;
    return m;
}

/// Random filled rectangles, many of them touching or crossing the image border.
inline Mask rects_mask(int h, int w, unsigned seed, int n) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> py(-h / 4, h - 1), px(-w / 4, w - 1), sz(1, std::max(2, std::max(h, w) / 2));
    Mask m(h, w);
    for (int i = 0; i < n; ++i) {
        const int y0 = py(rng), x0 = px(rng), hh = sz(rng), ww = sz(rng);
        for (int y = std::max(0, y0); y < std::min(h, y0 + hh); ++y)
            for (int x = std::max(0, x0); x < std::min(w, x0 + ww); ++x) m(y, x) = 255;
    }
    return m;
}

/// Every structured and random binary test image of the suite, with a label for messages.
struct NamedMask {
    std::string name;
    Mask mask;
};

inline std::vector<NamedMask> binary_test_images(int random_count = 700) {
    std::vector<NamedMask> out;
    auto add = [&](std::string n, Mask m) { out.push_back({std::move(n), std::move(m)}); };
    const int sizes[][2] = {{1, 1}, {1, 7}, {7, 1}, {2, 2}, {3, 3}, {5, 8}, {16, 16}, {31, 17}, {64, 64}, {224, 224}};
    for (auto [h, w] : sizes) {
        const std::string s = std::to_string(h) + "x" + std::to_string(w);
        add("empty " + s, Mask(h, w));
        add("full " + s, Mask(h, w, 255));
        add("all-equal-7 " + s, Mask(h, w, 7));
        for (int cell : {1, 2, 3}) {
            add("checker" + std::to_string(cell) + " " + s, checker_mask(h, w, cell));
            add("checker" + std::to_string(cell) + "b " + s, checker_mask(h, w, cell, true));
        }
        for (int ring : {1, 2, 3})
            for (int off : {0, 1}) add("rings" + std::to_string(ring) + "/" + std::to_string(off) + " " + s, rings_mask(h, w, ring, off));
    }
    for (int i = 0; i < 8; ++i)
        add("circles " + std::to_string(i), circle_rings_mask(40 + i * 9, 50 + i * 7, 20.0 + i, 24.0 + 2 * i, 2.0 + 0.7 * i));
    unsigned seed = 1000;
    for (int i = 0; i < random_count; ++i, ++seed) {
        const int h = 1 + static_cast<int>(seed * 7919u % 90u), w = 1 + static_cast<int>(seed * 104729u % 90u);
        switch (i % 7) {
        case 0: add("blobs " + std::to_string(seed), blob_mask(h, w, seed, 0.3 + 0.1 * (i % 5), 3 + i % 6)); break;
        case 1: add("noise " + std::to_string(seed), noise_mask(h, w, seed, 0.05 + 0.15 * (i % 6))); break;
        case 2: add("lines " + std::to_string(seed), lines_mask(h, w, seed, 1 + i % 12)); break;
        case 3: add("pixels " + std::to_string(seed), pixels_mask(h, w, seed, 1 + i % 40)); break;
        case 4: add("rects " + std::to_string(seed), rects_mask(h, w, seed, 1 + i % 9)); break;
        case 5: add("dense-noise " + std::to_string(seed), noise_mask(h, w, seed, 0.5 + 0.08 * (i % 5))); break;
        default: add("circles " + std::to_string(seed),
                     circle_rings_mask(h, w, h * 0.5 + (i % 3), w * 0.4 + (i % 5), 1.0 + (i % 4))); break;
        }
    }
    // Large noise images: more than 125 borders, so OpenCV's 7-bit border labels wrap around.
    for (int i = 0; i < 12; ++i)
        add("big-noise " + std::to_string(i), noise_mask(224, 224, 77 + i, 0.1 + 0.07 * i));
    for (int i = 0; i < 6; ++i) add("big-blobs " + std::to_string(i), blob_mask(224, 224, 300 + i, 0.55, 40));
    return out;
}

} // namespace dgtest

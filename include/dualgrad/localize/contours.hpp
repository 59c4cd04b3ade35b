#pragma once
/// \file
/// Border following on binary images, equal to OpenCV 4.x
/// `cv::findContours(image, RETR_TREE, CHAIN_APPROX_SIMPLE)`: the same contours, the same points
/// in the same order, the same contour order and hierarchy; plus `contour_area` (=
/// `cv::contourArea`) and `bounding_rect` (= `cv::boundingRect` of a point set).
///
///     dualgrad::ContourTree t = dualgrad::find_contours(mask);   // nonzero pixels are foreground
///     for (const auto& c : t.contours) area = dualgrad::contour_area(c);
///
/// The algorithm is Suzuki & Abe's border following (CVGIP 1985) as OpenCV runs it:
/// - the image is padded with one row/column of zeros on every side (OpenCV copies it into a
///   bordered buffer), so foreground touching the image border still has a border, and points
///   are reported in the coordinates of the unpadded image;
/// - a raster scan finds an outer border at a 0 -> 1 step and a hole border at a 1 -> 0 step
///   whose left pixel is not yet on a traced border; each border is traced (8-connected
///   foreground, 4-connected background) starting with the search direction of OpenCV and marked
///   with a 7-bit label (2..127, then 3..127 again) plus a "right edge" flag;
/// - CHAIN_APPROX_SIMPLE keeps a point where the chain code changes; the start point is always kept;
/// - the parent of a border comes from the last border met on the scan line: its label selects
///   candidate borders, disambiguated by bounding box and by re-tracing when the 7-bit labels have
///   wrapped around (images with more than 125 borders), exactly as OpenCV decides it;
/// - contours are listed in depth-first pre-order of the border tree where every parent lists
///   its children newest first (OpenCV prepends each new border to its parent's child list).
/// The order matters to the box protocols: Python's `max(contours, key=cv2.contourArea)` keeps the
/// first of equal areas.

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "dualgrad/map2d.hpp"

namespace dualgrad {

/// An integer pixel position (x = column, y = row).
struct Point2i {
    int x = 0;
    int y = 0;
    friend constexpr bool operator==(const Point2i&, const Point2i&) = default;
};

/// An axis-aligned rectangle as OpenCV's `cv::Rect`: top-left corner, width and height in pixels
/// (the pixels x .. x + width - 1 are inside).
struct Rect {
    int x = 0;
    int y = 0;
    int width = 0;
    int height = 0;
    friend constexpr bool operator==(const Rect&, const Rect&) = default;
};

/// A closed polygon: the kept border points of one contour, in tracing order.
using Contour = std::vector<Point2i>;

/// Tree links of one contour, as one `Vec4i` of OpenCV's hierarchy: indices into the contour list,
/// -1 where there is none.
struct ContourLinks {
    int next = -1;        ///< next contour with the same parent
    int previous = -1;    ///< previous contour with the same parent
    int first_child = -1; ///< first contour nested in this one
    int parent = -1;      ///< the contour this one is nested in
    friend constexpr bool operator==(const ContourLinks&, const ContourLinks&) = default;
};

/// All borders of a binary image, as `cv::findContours(RETR_TREE, CHAIN_APPROX_SIMPLE)` lists them.
struct ContourTree {
    std::vector<Contour> contours;
    std::vector<ContourLinks> hierarchy; ///< one entry per contour
    std::vector<bool> is_hole;           ///< true for hole (inner) borders
};

namespace detail {

/// What the scan remembers of a border: used to find the parents of later borders.
struct BorderInfo {
    Rect rect;          ///< bounding box in padded-image coordinates
    int origin = 0;     ///< offset of the start pixel in the padded image
    int parent = -1;    ///< discovery index of the parent border, -1 for the image frame
    int same_label = -1; ///< the previous border traced with the same 7-bit label
    std::int64_t twice_area = 0; ///< |2 * shoelace area| of the kept points (= 2 * cv::contourArea)
    bool is_hole = false;
};

/// The border-following engine. Holds its buffers so that repeated scans (one per threshold)
/// do not allocate. `load` binarizes an image into the padded label buffer; `scan` traces every
/// border, reporting the kept points of each to a sink:
///   sink.begin(bool is_hole); sink.point(int x, int y) ...; sink.end();
/// in discovery order (OpenCV's scan order); `output_order` gives OpenCV's list order.
class BorderFollower {
public:
    /// Fills the padded buffer with 1 where `foreground(value)` holds, 0 elsewhere.
    template <class T, class Pred>
    void load(const Map2D<T>& image, Pred foreground) {
        reshape(image.height(), image.width());
        // Locals, not members: stores through int8_t* may alias anything, which would keep the
        // compiler from vectorizing this loop.
        const int h = h_, w = w_;
        const auto stride = static_cast<std::size_t>(stride_);
        std::int8_t* base = img_.data();
        for (int y = 0; y < h; ++y) {
            const T* src = image.row(y);
            std::int8_t* dst = base + static_cast<std::size_t>(y + 1) * stride + 1;
            for (int x = 0; x < w; ++x) dst[x] = foreground(src[x]) ? 1 : 0;
        }
    }

    /// Traces all borders of the loaded image (which it marks; `load` again before a rescan).
    template <class Sink>
    void scan(Sink& sink) {
        borders_.clear();
        label_head_.fill(-1);
        int nbd = 2;
        const int end = w_ + 1;
        for (int y = 1; y <= h_; ++y) {
            std::int8_t* row = img_.data() + static_cast<std::size_t>(y) * static_cast<std::size_t>(stride_);
            int prev = 0, lnbd_x = 0, x = 1;
            for (;;) {
                x = skip_run(row, x, end, prev);
                if (x >= end) break;
                const int p = row[x];
                bool is_hole = false;
                if (prev == 0 && p == 1) {
                    is_hole = false; // outer border of a component not met before
                } else if (p == 0 && prev >= 1) {
                    is_hole = true; // hole border: its left pixel is foreground not yet on a right edge
                    if (prev & -2) lnbd_x = x - 1;
                } else {
                    prev = p;
                    if (prev & -2) lnbd_x = x; // a traced border pixel: the last border met
                    ++x;
                    continue;
                }
                const int ox = x - (is_hole ? 1 : 0);
                const int parent = lnbd_x > 0 ? find_parent(row, y, lnbd_x, is_hole) : -1;
                lnbd_x = ox;

                BorderInfo info;
                info.origin = static_cast<int>((row + ox) - img_.data());
                info.parent = parent;
                info.is_hole = is_hole;
                info.rect = trace(row + ox, ox, y, is_hole, nbd, sink, info.twice_area);
                info.same_label = label_head_[static_cast<std::size_t>(nbd)];
                label_head_[static_cast<std::size_t>(nbd)] = static_cast<int>(borders_.size());
                borders_.push_back(info);
                nbd = (nbd + 1) & 127;
                if (nbd == 0) nbd = 3;

                prev = row[x]; // the start pixel is marked now (outer) or still 0 (hole)
                ++x;
            }
        }
    }

    [[nodiscard]] const std::vector<BorderInfo>& borders() const noexcept { return borders_; }

    /// Discovery indices in OpenCV's output order: depth-first pre-order of the border tree with
    /// every child list newest first. Also fills the first-child / next-sibling links it used.
    void output_order(std::vector<int>& order) {
        const std::size_t n = borders_.size();
        first_child_.assign(n, -1);
        next_sibling_.assign(n, -1);
        int root = -1;
        for (std::size_t i = 0; i < n; ++i) {
            const int p = borders_[i].parent;
            int& head = p < 0 ? root : first_child_[static_cast<std::size_t>(p)];
            next_sibling_[i] = head;
            head = static_cast<int>(i);
        }
        order.clear();
        order.reserve(n);
        int cur = root;
        while (cur != -1) {
            order.push_back(cur);
            const auto c = static_cast<std::size_t>(cur);
            if (first_child_[c] != -1) {
                cur = first_child_[c];
                continue;
            }
            while (cur != -1 && next_sibling_[static_cast<std::size_t>(cur)] == -1)
                cur = borders_[static_cast<std::size_t>(cur)].parent;
            if (cur != -1) cur = next_sibling_[static_cast<std::size_t>(cur)];
        }
    }

    [[nodiscard]] const std::vector<int>& first_child() const noexcept { return first_child_; }
    [[nodiscard]] const std::vector<int>& next_sibling() const noexcept { return next_sibling_; }

private:
    // Chain codes: 0 = east, counter-clockwise in image terms (y grows downwards).
    static constexpr int code_dx[8] = {1, 1, 0, -1, -1, -1, 0, 1};
    static constexpr int code_dy[8] = {0, -1, -1, -1, 0, 1, 1, 1};

    static constexpr std::int8_t mark(int nbd, bool right_edge) noexcept {
        return static_cast<std::int8_t>(right_edge ? (nbd | 0x80) : nbd);
    }

    void reshape(int h, int w) {
        if (h == h_ && w == w_ && !img_.empty()) return;
        h_ = h;
        w_ = w;
        stride_ = w + 2;
        img_.assign(static_cast<std::size_t>(h + 2) * static_cast<std::size_t>(stride_), 0);
        for (int s = 0; s < 16; ++s) delta_[s] = code_dx[s & 7] + code_dy[s & 7] * stride_;
    }

    /// First x in [x, end) whose value differs from prev (8 bytes at a time).
    static int skip_run(const std::int8_t* row, int x, int end, int prev) noexcept {
        const std::uint64_t pattern = 0x0101010101010101ull * static_cast<std::uint8_t>(prev);
        for (; x + 8 <= end; x += 8) {
            std::uint64_t v;
            std::memcpy(&v, row + x, 8);
            if (const std::uint64_t diff = v ^ pattern) {
                if constexpr (std::endian::native == std::endian::little)
                    return x + std::countr_zero(diff) / 8;
                else
                    return x + std::countl_zero(diff) / 8;
            }
        }
        while (x < end && row[x] == prev) ++x;
        return x;
    }

    /// Traces the border starting at i0 = (x, y) (padded coordinates), marks it with label nbd,
    /// reports its CHAIN_APPROX_SIMPLE points to the sink and returns its bounding box and twice
    /// its shoelace area (integers: exact, hence equal to cv::contourArea of the same points).
    template <class Sink>
    Rect trace(std::int8_t* i0, int x, int y, bool is_hole, int nbd, Sink& sink, std::int64_t& twice_area) {
        int delta[16]; // a local copy: the marks written below could alias the member
        std::copy(std::begin(delta_), std::end(delta_), delta);
        int s_end = is_hole ? 0 : 4, s = s_end;
        std::int8_t* i1;
        do {
            s = (s - 1) & 7;
            i1 = i0 + delta[s];
        } while (*i1 == 0 && s != s_end);

        int x0 = x, x1 = x, y0 = y, y1 = y;
        std::int64_t area2 = 0;
        const int sx = x, sy = y; // the first kept point
        int px = x, py = y;       // the previous kept point
        sink.begin(is_hole);
        if (s == s_end) { // an isolated pixel
            *i0 = mark(nbd, true);
            sink.point(x - 1, y - 1);
        } else {
            std::int8_t* i3 = i0;
            std::int8_t* i4;
            int prev_s = s ^ 4;
            for (;;) {
                s_end = s;
                do {
                    i4 = i3 + delta[++s];
                } while (*i4 == 0 && s < 15);
                s &= 7;
                // The east neighbour was examined (and is background): i3 is on a right edge.
                if (static_cast<unsigned>(s - 1) < static_cast<unsigned>(s_end))
                    *i3 = mark(nbd, true);
                else if (*i3 == 1)
                    *i3 = mark(nbd, false);
                if (s != prev_s) {
                    sink.point(x - 1, y - 1);
                    x0 = std::min(x0, x), x1 = std::max(x1, x);
                    y0 = std::min(y0, y), y1 = std::max(y1, y);
                    area2 += std::int64_t{px} * y - std::int64_t{py} * x;
                    px = x, py = y;
                }
                prev_s = s;
                x += code_dx[s];
                y += code_dy[s];
                if (i4 == i0 && i3 == i1) break;
                i3 = i4;
                s = (s + 4) & 7;
            }
        }
        sink.end();
        // Closing edge. Padded coordinates: the shift by one cancels in the closed shoelace sum.
        area2 += std::int64_t{px} * sy - std::int64_t{py} * sx;
        twice_area = area2 < 0 ? -area2 : area2;
        return Rect{x0, y0, x1 - x0 + 1, y1 - y0 + 1};
    }

    /// Whether the border starting at `origin` passes through `stop` and is the last border a
    /// raster scan reaching `stop` would have met there (OpenCV's tie-break between borders that
    /// share a 7-bit label). Only reads the image.
    bool trace_reaches(const std::int8_t* i0, const std::int8_t* stop, bool is_hole) const {
        int s_end = is_hole ? 0 : 4, s = s_end;
        const std::int8_t* i1;
        do {
            s = (s - 1) & 7;
            i1 = i0 + delta_[s];
        } while (*i1 == 0 && s != s_end);
        const std::int8_t* i3 = i0;
        if (s == s_end) return i3 == stop;
        for (;;) {
            const std::int8_t* i4 = i3;
            while (s < 15) {
                i4 = i3 + delta_[++s];
                if (*i4 != 0) break;
            }
            if (i3 == stop) {
                if (!(*i3 & 0x80)) return true;
                for (int t = s;;) {
                    t = (t - 1) & 7;
                    if (i3[delta_[t]] != 0) break;
                    if (t == 0) return true;
                }
            }
            if (i4 == i0 && i3 == i1) break;
            i3 = i4;
            s = (s + 4) & 7;
        }
        return false;
    }

    /// The parent of a new border, from the border pixel lnbd_x met last on row y.
    int find_parent(const std::int8_t* row, int y, int lnbd_x, bool is_hole) const {
        const int label = row[lnbd_x] & 0x7f;
        int found = -2;
        for (int c = label_head_[static_cast<std::size_t>(label)]; c != -1;
             c = borders_[static_cast<std::size_t>(c)].same_label) {
            const Rect& r = borders_[static_cast<std::size_t>(c)].rect;
            if (static_cast<unsigned>(lnbd_x - r.x) < static_cast<unsigned>(r.width) &&
                static_cast<unsigned>(y - r.y) < static_cast<unsigned>(r.height)) {
                if (found != -2) {
                    const BorderInfo& f = borders_[static_cast<std::size_t>(found)];
                    if (trace_reaches(img_.data() + f.origin, row + lnbd_x, f.is_hole)) break;
                }
                found = c;
            }
        }
        if (found == -2) return -1; // unreachable: the labelled pixel belongs to a traced border
        const BorderInfo& f = borders_[static_cast<std::size_t>(found)];
        // A border of the same kind as the last one met is its sibling; otherwise its child.
        return f.is_hole == is_hole ? f.parent : found;
    }

    int h_ = 0, w_ = 0, stride_ = 0;
    std::vector<std::int8_t> img_;
    int delta_[16] = {};
    std::vector<BorderInfo> borders_;
    std::array<int, 128> label_head_{};
    std::vector<int> first_child_, next_sibling_;
};

/// Sink that stores the kept points of every border.
struct PointSink {
    std::vector<Contour>* out;
    void begin(bool) { out->emplace_back(); }
    void point(int x, int y) { out->back().push_back({x, y}); }
    void end() noexcept {}
};

} // namespace detail

/// `cv::findContours(binary, RETR_TREE, CHAIN_APPROX_SIMPLE)` with its hierarchy: every outer and
/// hole border of the 8-connected foreground (nonzero pixels). An empty image has no contours.
[[nodiscard]] inline ContourTree find_contours(const Mask& binary) {
    ContourTree out;
    if (binary.empty()) return out;
    detail::BorderFollower f;
    f.load(binary, [](std::uint8_t v) { return v != 0; });
    std::vector<Contour> found;
    detail::PointSink sink{&found};
    f.scan(sink);
    std::vector<int> order;
    f.output_order(order);

    const std::size_t n = order.size();
    std::vector<int> pos(n);
    for (std::size_t i = 0; i < n; ++i) pos[static_cast<std::size_t>(order[i])] = static_cast<int>(i);
    auto at = [&](int discovery) { return discovery < 0 ? -1 : pos[static_cast<std::size_t>(discovery)]; };
    out.contours.resize(n);
    out.hierarchy.resize(n);
    out.is_hole.resize(n);
    const auto& borders = f.borders();
    for (std::size_t i = 0; i < n; ++i) {
        const auto d = static_cast<std::size_t>(order[i]);
        out.contours[i] = std::move(found[d]);
        out.is_hole[i] = borders[d].is_hole;
        ContourLinks& l = out.hierarchy[i];
        l.next = at(f.next_sibling()[d]);
        l.first_child = at(f.first_child()[d]);
        l.parent = at(borders[d].parent);
    }
    for (std::size_t i = 0; i < n; ++i)
        if (out.hierarchy[i].next >= 0) out.hierarchy[static_cast<std::size_t>(out.hierarchy[i].next)].previous = static_cast<int>(i);
    return out;
}

/// `cv::contourArea(contour, oriented)`: the shoelace area of the closed polygon (coordinates
/// converted to float, products accumulated in double, as OpenCV does). The absolute value by
/// default; with `oriented`, the signed value as OpenCV returns it (its sign follows the direction
/// of traversal). Exact for integer points below 2^24.
[[nodiscard]] inline double contour_area(std::span<const Point2i> contour, bool oriented = false) {
    if (contour.empty()) return 0.0;
    double a = 0;
    float px = static_cast<float>(contour.back().x), py = static_cast<float>(contour.back().y);
    for (const Point2i& p : contour) {
        const float x = static_cast<float>(p.x), y = static_cast<float>(p.y);
        a += static_cast<double>(px) * y - static_cast<double>(py) * x;
        px = x;
        py = y;
    }
    a *= 0.5;
    return oriented ? a : std::abs(a);
}

/// `cv::boundingRect(points)`: the smallest Rect holding every point (width = xmax - xmin + 1);
/// an empty point set gives Rect{0, 0, 0, 0}.
[[nodiscard]] inline Rect bounding_rect(std::span<const Point2i> points) {
    if (points.empty()) return Rect{};
    int x0 = points[0].x, x1 = x0, y0 = points[0].y, y1 = y0;
    for (const Point2i& p : points) {
        x0 = std::min(x0, p.x), x1 = std::max(x1, p.x);
        y0 = std::min(y0, p.y), y1 = std::max(y1, p.y);
    }
    return Rect{x0, y0, x1 - x0 + 1, y1 - y0 + 1};
}

} // namespace dualgrad

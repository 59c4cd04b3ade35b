#pragma once
/// \file
/// FashionLoc: the project's own WSOL benchmark. Each sample is one Fashion-MNIST item, scaled
/// and tinted, pasted at a random position onto a cluttered RGB canvas; its class is the item's
/// label, its mask the pasted item's ink, its box the tight bounds of that mask (exact, no
/// annotation noise). `WsolLayoutWriter` / `write_wsol_layout` (below) write samples in the
/// wsolevaluation layout, boxes and masks both; `preview_grid` draws them with their boxes.
/// The tool `dualgrad_fashionloc` (tools/fashionloc) writes a whole dataset; docs/fashionloc.md.
///
///     auto items = dualgrad::io::load_fashion_mnist(dualgrad::io::FashionMnistSplit::train);
///     dualgrad::datasets::FashionLocConfig cfg{.seed = 1};
///     auto s = dualgrad::datasets::generate(items, 5, cfg);  // s.image, s.label, s.box, s.mask
///
/// Determinism. A sample is a pure function of (generator version, config, split, index, source
/// items): every random draw comes from a SplitMix64 stream keyed by (seed, split, index), drawn
/// in a fixed order, and mapped to integers by rejection sampling; all image arithmetic (scaling,
/// blending, texture) is integer. So sample 5 generated alone equals sample 5 of a batch, shards
/// and threads agree, and the bytes do not depend on the standard library, the compiler or the
/// CPU. Changing the recipe bumps `fashionloc_version`.
///
/// The recipe, for a canvas of side P (all draws uniform over the closed integer ranges given):
/// - source item: index `i mod n` of the source for the train and test splits, `n - 1 - (i mod n)`
///   for val (so val and test, both drawn from Fashion-MNIST t10k, share no item while they hold
///   fewer than n together);
/// - background: a base colour c0 (each channel 0..255), a second colour c1 = c0 + d per channel
///   (d in [-texture_contrast, texture_contrast], clamped), and a smooth field in [0, 1] made of
///   two octaves of value noise (square lattice cells of P/k pixels, k in 2..4 for the coarse
///   and 6..10 for the fine octave, smoothstep interpolation, weights 2:1);
///   pixel = c0 + field * (c1 - c0);
/// - fragments (min_fragments..max_fragments of them, painted before the object, so the object
///   covers them): another item, either shrunk whole to f x f pixels or an f x f window (chosen to
///   hold ink) of it scaled to the object size range, f in [min_fragment_side, max_fragment_side];
///   tinted and pasted like the object, at a random position;
/// - the object: side s in [ceil(min_frac*P), floor(max_frac*P)], the item's rows x cols scaled to
///   s x s, top-left corner in [0, P-s]^2 (wholly inside the canvas), an ink colour at L1 distance
///   >= 160 from c0 and c1 (up to 16 draws, else the complement of c0); each pixel is the
///   background blended towards the ink colour with alpha = scaled intensity / 255;
/// - noise: every pixel's three channels get one offset (luminance grain), binomial on
///   [-noise, noise] (popcount of 2*noise bits of a hash of the sample key and the pixel, minus
///   noise: variance noise/2, so the default 8 has a standard deviation of 2 levels), clamped to
///   0..255. Binomial rather than uniform so that grain of a visible strength still compresses.
/// Scaling: an item is enlarged (s >= its rows and cols) with bilinear interpolation (half-pixel
/// centres, as OpenCV's INTER_LINEAR, 16-bit fixed-point weights), and otherwise resampled with
/// exact area averaging (as INTER_AREA), rounded to nearest.
/// Mask: the pixels where the scaled item's intensity is strictly above `mask_threshold` (default
/// 64 of 255, a quarter of full ink): what remains visible as the item, without its faint halo.

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "dualgrad/box.hpp"
#include "dualgrad/io/image_codec.hpp"
#include "dualgrad/error.hpp"
#include "dualgrad/io/idx.hpp"
#include "dualgrad/io/image_types.hpp"
#include "dualgrad/io/render.hpp"
#include "dualgrad/map2d.hpp"
#include "dualgrad/nn/parallel.hpp"

namespace dualgrad::datasets {

/// Version of the generation recipe; a sample's bytes are fixed for a given version.
inline constexpr int fashionloc_version = 1;

/// The smallest side, in pixels, an object may be scaled to: below it a 28-pixel item loses its
/// shape, and fragments (which must stay smaller than every object) would have no room.
inline constexpr int fashionloc_min_item_side = 16;

/// The parts of a FashionLoc dataset. Each has its own random stream; train takes its items from
/// Fashion-MNIST train, val, test and shifted from Fashion-MNIST t10k (see the recipe above).
/// `shifted` shows the same items as `test` (sample i of both shows item i mod n); version 2
/// draws its nuisances outside the training ranges there (`datasets/fashionloc_v2.hpp`), so
/// that test and shifted differ only in what a robust classifier must ignore.
enum class FashionLocSplit { train, val, test, shifted };

/// "train", "val", "test", "shifted".
[[nodiscard]] constexpr std::string_view split_name(FashionLocSplit s) noexcept {
    switch (s) {
    case FashionLocSplit::train: return "train";
    case FashionLocSplit::val: return "val";
    case FashionLocSplit::test: return "test";
    case FashionLocSplit::shifted: return "shifted";
    }
    return "?";
}

/// Folder names of the ten classes in the written layout ("0_tshirt_top", ..., "9_ankle_boot").
inline constexpr std::array<std::string_view, 10> fashionloc_class_dirs = {
    "0_tshirt_top", "1_trouser", "2_pullover", "3_dress", "4_coat",
    "5_sandal",     "6_shirt",   "7_sneaker",  "8_bag",   "9_ankle_boot"};

/// What makes the background hard.
struct ClutterConfig {
    int texture_contrast = 110; ///< largest per-channel difference of the two texture colours, 0..255
    int noise = 8;             ///< per-pixel grain: offsets in [-noise, noise], binomial, 0..32
    int min_fragments = 2;     ///< number of fragments of other items
    int max_fragments = 4;
    int min_fragment_side = 8; ///< fragment side in pixels; must stay below the smallest object
    int max_fragment_side = 14;
    friend bool operator==(const ClutterConfig&, const ClutterConfig&) = default;
};

/// How FashionLoc samples are made. The defaults are the published benchmark's.
struct FashionLocConfig {
    std::uint64_t seed = 0;
    int canvas = 128;        ///< side of the square RGB canvas, pixels
    double min_frac = 0.3;   ///< object side, as a fraction of the canvas side: [min_frac, max_frac]
    double max_frac = 0.8;
    int mask_threshold = 64; ///< mask = scaled item intensity > mask_threshold (0..254)
    FashionLocSplit split = FashionLocSplit::train; ///< which random stream and item order
    ClutterConfig clutter{};
    friend bool operator==(const FashionLocConfig&, const FashionLocConfig&) = default;
};

/// One FashionLoc sample.
struct FashionLocSample {
    io::Image image; ///< canvas x canvas x 3 (RGB)
    int label = 0;   ///< the item's Fashion-MNIST class, 0..9
    Box box;         ///< tight pixel-inclusive bounds of `mask`
    Mask mask;       ///< canvas x canvas, 1 on the object, 0 elsewhere
    int item = 0;    ///< index of the item in the source
    Box item_rect;   ///< the s x s square the scaled item was pasted into
    friend bool operator==(const FashionLocSample&, const FashionLocSample&) = default;
};

/// The object side range [ceil(min_frac*canvas), floor(max_frac*canvas)] in pixels (products
/// within 1e-9 of an integer count as that integer, so 0.3 * 100 gives 30).
[[nodiscard]] inline std::pair<int, int> item_side_range(const FashionLocConfig& c) {
    const double lo = std::ceil(c.min_frac * c.canvas - 1e-9);
    const double hi = std::floor(c.max_frac * c.canvas + 1e-9);
    return {static_cast<int>(lo), static_cast<int>(hi)};
}

/// Throws `value_error` saying which setting cannot work: a canvas too small for the smallest
/// object, fractions outside (0, 1] or in the wrong order, no integer size between them,
/// fragments not smaller than the smallest object, counts or amplitudes out of range.
inline void validate(const FashionLocConfig& c) {
    using dualgrad::detail::raise;
    if (c.canvas < fashionloc_min_item_side || c.canvas > 4096)
        raise<value_error>("FashionLoc: canvas side ", c.canvas, " must be in [", fashionloc_min_item_side,
                           ", 4096]: the canvas must hold an object of at least ", fashionloc_min_item_side,
                           " pixels");
    if (!(c.min_frac > 0.0 && c.min_frac <= 1.0) || !(c.max_frac > 0.0 && c.max_frac <= 1.0))
        raise<value_error>("FashionLoc: min_frac ", c.min_frac, " and max_frac ", c.max_frac,
                           " must both be in (0, 1]");
    if (c.min_frac > c.max_frac)
        raise<value_error>("FashionLoc: min_frac ", c.min_frac, " is greater than max_frac ", c.max_frac);
    const auto [lo, hi] = item_side_range(c);
    if (lo > hi)
        raise<value_error>("FashionLoc: no whole object size between ", c.min_frac, " and ", c.max_frac,
                           " of a ", c.canvas, "-pixel canvas (", c.min_frac * c.canvas, " .. ",
                           c.max_frac * c.canvas, " pixels)");
    if (lo < fashionloc_min_item_side)
        raise<value_error>("FashionLoc: the smallest object, ", c.min_frac, " of a ", c.canvas,
                           "-pixel canvas, would be ", lo, " pixels; it must be at least ", fashionloc_min_item_side,
                           " (use a larger canvas or min_frac)");
    const ClutterConfig& k = c.clutter;
    if (k.min_fragment_side < 1 || k.min_fragment_side > k.max_fragment_side)
        raise<value_error>("FashionLoc: fragment sides [", k.min_fragment_side, ", ", k.max_fragment_side,
                           "] are not a range of positive sizes");
    if (k.max_fragment_side >= lo)
        raise<value_error>("FashionLoc: fragments of up to ", k.max_fragment_side,
                           " pixels are not smaller than the smallest object (", lo,
                           " pixels); fragments must be too small to be classified");
    if (k.min_fragments < 0 || k.min_fragments > k.max_fragments || k.max_fragments > 64)
        raise<value_error>("FashionLoc: fragment counts [", k.min_fragments, ", ", k.max_fragments,
                           "] must satisfy 0 <= min <= max <= 64");
    if (k.noise < 0 || k.noise > 32)
        raise<value_error>("FashionLoc: noise amplitude ", k.noise, " must be in [0, 32]");
    if (k.texture_contrast < 0 || k.texture_contrast > 255)
        raise<value_error>("FashionLoc: texture contrast ", k.texture_contrast, " must be in [0, 255]");
    if (c.mask_threshold < 0 || c.mask_threshold > 254)
        raise<value_error>("FashionLoc: mask threshold ", c.mask_threshold, " must be in [0, 254]");
}

namespace detail {

/// SplitMix64's output function (Steele, Lea, Flood 2014): a bijective 64-bit mixer.
[[nodiscard]] constexpr std::uint64_t mix64(std::uint64_t z) noexcept {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/// SplitMix64: a portable 64-bit generator with an exactly specified output sequence.
class SplitMix64 {
public:
    explicit constexpr SplitMix64(std::uint64_t state) noexcept : state_(state) {}
    constexpr std::uint64_t next() noexcept { return mix64(state_ += 0x9e3779b97f4a7c15ULL); }

    /// Uniform integer in [lo, hi] (hi - lo < 2^32), exactly unbiased: Lemire's multiply-shift
    /// with rejection, on the top 32 bits of each draw.
    constexpr int uniform(int lo, int hi) noexcept {
        const std::uint64_t range = static_cast<std::uint64_t>(static_cast<std::int64_t>(hi) - lo) + 1;
        std::uint64_t m = (next() >> 32) * range;
        if ((m & 0xffffffffULL) < range) {
            const std::uint64_t t = (0x100000000ULL - range) % range;
            while ((m & 0xffffffffULL) < t) m = (next() >> 32) * range;
        }
        return static_cast<int>(static_cast<std::int64_t>(lo) + static_cast<std::int64_t>(m >> 32));
    }

private:
    std::uint64_t state_;
};

/// The key of sample `index` of `split` under `seed`; every draw of the sample derives from it.
[[nodiscard]] constexpr std::uint64_t sample_key(std::uint64_t seed, FashionLocSplit split, int index) noexcept {
    std::uint64_t k = mix64(seed + 0x9e3779b97f4a7c15ULL);
    k = mix64(k ^ (0x51ed270b27f1a3c5ULL * (static_cast<std::uint64_t>(split) + 1)));
    return mix64(k + static_cast<std::uint64_t>(static_cast<std::uint32_t>(index)) * 0xd1342543de82ef95ULL);
}

/// The item of `source` (size n) that sample `index` of `split` shows.
[[nodiscard]] constexpr int source_item(FashionLocSplit split, int index, int n) noexcept {
    const int i = index % n;
    return split == FashionLocSplit::val ? n - 1 - i : i;
}

/// Resampling weights along one axis: output coordinate o reads `count[o]` consecutive source
/// entries from `first[o]`, with the integer weights `weights[offset[o] ...]`, which sum to `total`.
struct AxisWeights {
    std::vector<int> first;
    std::vector<int> count;
    std::vector<std::size_t> offset;
    std::vector<std::int64_t> weights;
    std::int64_t total = 1;
};

/// Weights that map a source axis of `n` entries onto `d` outputs: bilinear with half-pixel
/// centres when `enlarge`, exact area coverage otherwise (each output covers n/d sources).
[[nodiscard]] inline AxisWeights axis_weights(int n, int d, bool enlarge) {
    AxisWeights a;
    a.total = enlarge ? 65536 : n;
    for (int o = 0; o < d; ++o) {
        a.offset.push_back(a.weights.size());
        if (enlarge) {
            // Source coordinate (o + 1/2) * n / d - 1/2, in 16.16 fixed point, clamped to [0, n-1].
            std::int64_t s = (std::int64_t{2} * o + 1) * n * 65536 / (std::int64_t{2} * d) - 32768;
            s = std::clamp<std::int64_t>(s, 0, std::int64_t{n - 1} * 65536);
            const int i0 = static_cast<int>(s >> 16);
            const std::int64_t f = s & 0xffff;
            a.first.push_back(i0);
            if (f == 0 || i0 + 1 >= n) {
                a.count.push_back(1);
                a.weights.push_back(65536);
            } else {
                a.count.push_back(2);
                a.weights.push_back(65536 - f);
                a.weights.push_back(f);
            }
        } else {
            // In units of 1/d source pixel, output o spans [o*n, (o+1)*n), source i [i*d, (i+1)*d).
            const std::int64_t b = std::int64_t{o} * n, e = std::int64_t{o + 1} * n;
            const int i0 = static_cast<int>(b / d), i1 = static_cast<int>((e - 1) / d);
            a.first.push_back(i0);
            a.count.push_back(i1 - i0 + 1);
            for (int i = i0; i <= i1; ++i)
                a.weights.push_back(std::min<std::int64_t>(e, std::int64_t{i + 1} * d) -
                                    std::max<std::int64_t>(b, std::int64_t{i} * d));
        }
    }
    return a;
}

/// An item (rows x cols gray bytes) scaled to side x side, evaluated one pixel at a time.
class ScaledItem {
public:
    ScaledItem(std::span<const std::uint8_t> pixels, int rows, int cols, int side)
        : pixels_(pixels), cols_(cols), x_(axis_weights(cols, side, side >= rows && side >= cols)),
          y_(axis_weights(rows, side, side >= rows && side >= cols)) {}

    /// The scaled intensity at (x, y), 0..255, rounded to nearest.
    [[nodiscard]] int operator()(int x, int y) const noexcept {
        const auto ux = static_cast<std::size_t>(x), uy = static_cast<std::size_t>(y);
        const std::int64_t* wx = x_.weights.data() + x_.offset[ux];
        const std::int64_t* wy = y_.weights.data() + y_.offset[uy];
        std::int64_t acc = 0;
        for (int j = 0; j < y_.count[uy]; ++j) {
            const std::uint8_t* row = pixels_.data() +
                                      static_cast<std::size_t>(y_.first[uy] + j) * static_cast<std::size_t>(cols_) +
                                      static_cast<std::size_t>(x_.first[ux]);
            std::int64_t racc = 0;
            for (int i = 0; i < x_.count[ux]; ++i) racc += wx[i] * row[i];
            acc += racc * wy[j];
        }
        const std::int64_t total = x_.total * y_.total;
        return static_cast<int>((acc + total / 2) / total);
    }

private:
    std::span<const std::uint8_t> pixels_;
    int cols_;
    AxisWeights x_;
    AxisWeights y_;
};

using Rgb = std::array<int, 3>;

[[nodiscard]] inline Rgb draw_color(SplitMix64& rng) {
    // A braced list evaluates its elements left to right (unlike function arguments), so the
    // draws are red, green, blue on every compiler.
    return {rng.uniform(0, 255), rng.uniform(0, 255), rng.uniform(0, 255)};
}

[[nodiscard]] inline int l1(const Rgb& a, const Rgb& b) noexcept {
    return std::abs(a[0] - b[0]) + std::abs(a[1] - b[1]) + std::abs(a[2] - b[2]);
}

/// An ink colour that stands out from both texture colours.
[[nodiscard]] inline Rgb draw_ink(SplitMix64& rng, const Rgb& c0, const Rgb& c1) {
    for (int attempt = 0; attempt < 16; ++attempt) {
        const Rgb c = draw_color(rng);
        if (l1(c, c0) >= 160 && l1(c, c1) >= 160) return c;
    }
    return {255 - c0[0], 255 - c0[1], 255 - c0[2]};
}

/// Blends pixel `p` towards `ink` with alpha v/255, rounded to nearest.
inline void blend(std::uint8_t* p, const Rgb& ink, int v) noexcept {
    for (std::size_t c = 0; c < 3; ++c)
        p[c] = static_cast<std::uint8_t>((p[c] * (255 - v) + ink[c] * v + 127) / 255);
}

/// Value noise: random values on a lattice of `cell`-pixel cells, smoothstep-interpolated.
class ValueNoise {
public:
    ValueNoise(SplitMix64& rng, int canvas, int cell) : cell_(cell), n_(canvas / cell + 2) {
        values_.resize(static_cast<std::size_t>(n_) * static_cast<std::size_t>(n_));
        for (auto& v : values_) v = rng.uniform(0, 65535);
    }
    /// The field at pixel (x, y), 0..65535.
    [[nodiscard]] std::int64_t operator()(int x, int y) const noexcept {
        const std::int64_t fx = std::int64_t{x} * 65536 / cell_, fy = std::int64_t{y} * 65536 / cell_;
        const int ix = static_cast<int>(fx >> 16), iy = static_cast<int>(fy >> 16);
        const std::int64_t sx = smooth(fx & 0xffff), sy = smooth(fy & 0xffff);
        const auto at = [&](int i, int j) {
            return values_[static_cast<std::size_t>(j) * static_cast<std::size_t>(n_) + static_cast<std::size_t>(i)];
        };
        const std::int64_t top = at(ix, iy) * (65536 - sx) + at(ix + 1, iy) * sx;
        const std::int64_t bottom = at(ix, iy + 1) * (65536 - sx) + at(ix + 1, iy + 1) * sx;
        return ((top >> 16) * (65536 - sy) + (bottom >> 16) * sy) >> 16;
    }

private:
    /// 3t^2 - 2t^3 for t in [0, 1), 16.16 fixed point.
    [[nodiscard]] static std::int64_t smooth(std::int64_t t) noexcept {
        return t * t / 65536 * (3 * 65536 - 2 * t) / 65536;
    }
    int cell_;
    int n_;
    std::vector<std::int64_t> values_;
};

/// The inkiest of 4 random `side` x `side` windows of an item scaled to `scale` x `scale` (its
/// top-left corner): a clutter fragment that is a part of an item. Draws 8 values from `rng`.
[[nodiscard]] inline std::pair<int, int> inkiest_window(SplitMix64& rng, const io::FashionMnist& source, int item, int scale,
                                                        int side) {
    const ScaledItem scaled(source.image(item), source.rows(), source.cols(), scale);
    std::int64_t best = -1;
    std::pair<int, int> corner{0, 0};
    for (int attempt = 0; attempt < 4; ++attempt) {
        const int cx = rng.uniform(0, scale - side), cy = rng.uniform(0, scale - side);
        std::int64_t ink_sum = 0;
        for (int y = 0; y < side; ++y)
            for (int x = 0; x < side; ++x) ink_sum += scaled(cx + x, cy + y);
        if (ink_sum > best) {
            best = ink_sum;
            corner = {cx, cy};
        }
    }
    return corner;
}

/// Binomial luminance grain: every pixel's three channels get the same offset, the popcount of
/// 2 * noise bits of a hash of the sample key and the pixel, minus noise (variance noise / 2),
/// clamped to 0..255. No change for noise 0.
inline void add_grain(io::Image& image, std::uint64_t key, int noise) {
    if (noise <= 0) return;
    const int P = image.width;
    for (int y = 0; y < image.height; ++y)
        for (int x = 0; x < P; ++x) {
            const std::uint64_t h = mix64(key ^ (0x2545f4914f6cdd1dULL * (static_cast<std::uint64_t>(y) * static_cast<std::uint64_t>(P) +
                                                                          static_cast<std::uint64_t>(x) + 1)));
            const int bits = 2 * noise;
            const std::uint64_t used = bits == 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << bits) - 1;
            const int offset = std::popcount(h & used) - noise;
            for (int c = 0; c < 3; ++c) image(y, x, c) = static_cast<std::uint8_t>(std::clamp(image(y, x, c) + offset, 0, 255));
        }
}

} // namespace detail

/// Generates sample `index` (>= 0) of `config.split` from the items of `source`: Fashion-MNIST
/// train for the train split, t10k for val and test. Deterministic in (config, index, source),
/// independent of any other sample. Throws `value_error` for an invalid config (see `validate`),
/// an empty source, a negative index, or an item with no pixel above the mask threshold.
[[nodiscard]] inline FashionLocSample generate(const io::FashionMnist& source, int index,
                                               const FashionLocConfig& config) {
    validate(config);
    if (source.size() == 0) dualgrad::detail::raise<value_error>("FashionLoc: the source ", source.source(), " is empty");
    if (index < 0) dualgrad::detail::raise<value_error>("FashionLoc: sample index ", index, " is negative");
    const int P = config.canvas;
    const ClutterConfig& k = config.clutter;
    const auto [side_lo, side_hi] = item_side_range(config);
    const std::uint64_t key = detail::sample_key(config.seed, config.split, index);
    detail::SplitMix64 rng(key);

    // --- every draw, in a fixed order ---------------------------------------------------------
    const detail::Rgb c0 = detail::draw_color(rng);
    detail::Rgb c1{};
    for (std::size_t c = 0; c < 3; ++c)
        c1[c] = std::clamp(c0[c] + rng.uniform(-k.texture_contrast, k.texture_contrast), 0, 255);
    const detail::ValueNoise coarse(rng, P, std::max(1, P / rng.uniform(2, 4)));
    const detail::ValueNoise fine(rng, P, std::max(1, P / rng.uniform(6, 10)));

    const int item = detail::source_item(config.split, index, source.size());
    const int side = rng.uniform(side_lo, side_hi);
    const int ox = rng.uniform(0, P - side), oy = rng.uniform(0, P - side);
    const detail::Rgb ink = detail::draw_ink(rng, c0, c1);

    struct Fragment {
        int item, side, x, y, scale, cx, cy;
        detail::Rgb ink;
    };
    std::vector<Fragment> fragments(static_cast<std::size_t>(rng.uniform(k.min_fragments, k.max_fragments)));
    for (auto& f : fragments) {
        f.item = rng.uniform(0, source.size() - 1);
        if (f.item == item && source.size() > 1) f.item = (f.item + 1) % source.size();
        f.side = rng.uniform(k.min_fragment_side, k.max_fragment_side);
        f.x = rng.uniform(0, P - f.side);
        f.y = rng.uniform(0, P - f.side);
        f.ink = detail::draw_ink(rng, c0, c1);
        f.scale = f.side; // kind 0: the whole item shrunk to side x side
        f.cx = f.cy = 0;
        if (rng.uniform(0, 1) == 1) {
            // kind 1: a side x side window of the item at object scale, the inkiest of 4 draws.
            f.scale = rng.uniform(side_lo, side_hi);
            std::tie(f.cx, f.cy) = detail::inkiest_window(rng, source, f.item, f.scale, f.side);
        }
    }

    // --- rendering -----------------------------------------------------------------------------
    FashionLocSample s;
    s.image = io::Image(P, P, 3);
    const auto px = [&s](int y, int x) { return &s.image(y, x, 0); };
    for (int y = 0; y < P; ++y)
        for (int x = 0; x < P; ++x) {
            const std::int64_t t = (2 * coarse(x, y) + fine(x, y)) / 3; // 0..65535
            std::uint8_t* p = px(y, x);
            for (std::size_t c = 0; c < 3; ++c)
                p[c] = static_cast<std::uint8_t>(c0[c] + ((c1[c] - c0[c]) * t + 32768) / 65536);
        }
    for (const auto& f : fragments) {
        const detail::ScaledItem scaled(source.image(f.item), source.rows(), source.cols(), f.scale);
        for (int y = 0; y < f.side; ++y)
            for (int x = 0; x < f.side; ++x) detail::blend(px(f.y + y, f.x + x), f.ink, scaled(f.cx + x, f.cy + y));
    }

    s.mask = Mask(P, P, 0);
    s.item = item;
    s.label = source.label(item);
    s.item_rect = Box{ox, oy, ox + side - 1, oy + side - 1};
    Box b{P, P, -1, -1};
    const detail::ScaledItem object(source.image(item), source.rows(), source.cols(), side);
    for (int y = 0; y < side; ++y)
        for (int x = 0; x < side; ++x) {
            const int v = object(x, y);
            detail::blend(px(oy + y, ox + x), ink, v);
            if (v > config.mask_threshold) {
                s.mask(oy + y, ox + x) = 1;
                b = Box{std::min(b.x0, ox + x), std::min(b.y0, oy + y), std::max(b.x1, ox + x), std::max(b.y1, oy + y)};
            }
        }
    if (!b.valid())
        dualgrad::detail::raise<value_error>("FashionLoc: item ", item, " of ", source.source(),
                                             " has no pixel above the mask threshold ", config.mask_threshold,
                                             " when scaled to ", side, " pixels");
    s.box = b;

    detail::add_grain(s.image, key, k.noise);
    return s;
}

/// Samples [first, first + count) of `config.split`, in order (each as `generate` makes it).
/// `Config` is `FashionLocConfig` (version 1) or `FashionLocV2Config` (datasets/fashionloc_v2.hpp).
template <class Config = FashionLocConfig>
[[nodiscard]] std::vector<FashionLocSample> generate_range(const io::FashionMnist& source, int first, int count,
                                                           const Config& config) {
    if (count < 0) dualgrad::detail::raise<value_error>("FashionLoc: negative sample count ", count);
    std::vector<FashionLocSample> out;
    out.reserve(static_cast<std::size_t>(count));
    for (int i = 0; i < count; ++i) out.push_back(generate(source, first + i, config));
    return out;
}

/// Generates samples [first, first + count) on `threads` threads of the CPU engine's worker pool
/// (`nn::parallel_for`) and calls `fn(std::move(sample), index)` for each from its worker thread:
/// `fn` must only touch data of its own sample. The first exception of any worker reaches the
/// caller. The samples do not depend on `threads`.
/// `Config` is `FashionLocConfig` (version 1) or `FashionLocV2Config` (datasets/fashionloc_v2.hpp).
template <class Config, class Fn>
void generate_parallel(const io::FashionMnist& source, int first, int count, const Config& config,
                       int threads, Fn&& fn) {
    if (count < 0) dualgrad::detail::raise<value_error>("FashionLoc: negative sample count ", count);
    nn::parallel_for(0, count, nn::ExecContext{std::max(1, threads)},
                     [&](std::int64_t i) { fn(generate(source, first + static_cast<int>(i), config), first + static_cast<int>(i)); });
}


// --- the wsolevaluation layout -------------------------------------------------------------------

/// Writes samples in the layout of clovaai/wsolevaluation, boxes and masks both:
///
///     root/images/<split>/<class>/<index>.png              the RGB image
///     root/masks/<split>/<class>/<index>_mask.png          its object mask (0 / 255 gray)
///     root/masks/<split>/ignore_<W>x<H>.png                an all-zero ignore mask, one per size
///     root/metadata/<split>/image_ids.txt                  <image_id>
///     root/metadata/<split>/class_labels.txt               <image_id>,<label>
///     root/metadata/<split>/image_sizes.txt                <image_id>,<width>,<height>
///     root/metadata/<split>/localization.txt               <image_id>,<x0>,<y0>,<x1>,<y1>
///     root/metadata_masks/<split>/image_ids.txt, class_labels.txt, image_sizes.txt   (the same)
///     root/metadata_masks/<split>/localization.txt         <image_id>,<mask_path>,<ignore_path>
///
/// `image_id` is `<split>/<class>/<index>.png` (class folders `fashionloc_class_dirs`, index
/// zero-padded to 7 digits), relative to `root/images`, wsolevaluation's data root. Two metadata
/// roots describe the same images, so that each is a complete wsolevaluation metadata folder that
/// its loader (and `io::read_wsol_metadata`) reads as it is: `metadata` with boxes in the format
/// of its CUB and ILSVRC metadata (pixel-inclusive tight boxes, one per image), `metadata_masks`
/// with masks in the format of its OpenImages metadata, paths relative to `root/masks` (its
/// `mask_root`). FashionLoc has no ambiguous region, so every image names the shared all-zero
/// ignore mask (wsolevaluation reads an ignore file for every image).
///
/// `write_files` writes one sample's PNGs and touches nothing shared, so threads may call it
/// for different samples; `append` adds its metadata lines and must be called in the order the
/// samples are to be listed. Every failure is an `io_error` naming the file.
class WsolLayoutWriter {
public:
    /// Creates the split's folders and (re)starts its metadata files. `split` is a folder name
    /// (letters, digits, '_', '-').
    WsolLayoutWriter(std::filesystem::path root, std::string split) : root_(std::move(root)), split_(std::move(split)) {
        if (split_.empty() || !std::all_of(split_.begin(), split_.end(), [](char c) {
                return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
            }))
            dualgrad::detail::raise<value_error>("WsolLayoutWriter: split name '", split_,
                                                 "' must be a non-empty folder name of letters, digits, '_' and '-'");
        for (const auto& dir : fashionloc_class_dirs) {
            make_dirs(root_ / "images" / split_ / dir);
            make_dirs(root_ / "masks" / split_ / dir);
        }
        for (const char* folder : {"metadata", "metadata_masks"}) make_dirs(root_ / folder / split_);
        for (std::size_t i = 0; i < files_.size(); ++i) {
            paths_[i] = root_ / (i < 4 ? "metadata" : "metadata_masks") / split_ / metadata_names[i % 4];
            files_[i].open(paths_[i], std::ios::out | std::ios::trunc);
            if (!files_[i]) dualgrad::detail::raise<io_error>(paths_[i].string(), ": cannot open for writing");
        }
    }
    WsolLayoutWriter(const WsolLayoutWriter&) = delete;
    WsolLayoutWriter& operator=(const WsolLayoutWriter&) = delete;
    ~WsolLayoutWriter() = default;

    /// `<split>/<class>/<index>.png`.
    [[nodiscard]] std::string image_id(const FashionLocSample& s, int index) const {
        return split_ + "/" + std::string(class_dir(s.label)) + "/" + stem(index) + ".png";
    }
    /// `<split>/<class>/<index>_mask.png`, relative to `root/masks`.
    [[nodiscard]] std::string mask_path(const FashionLocSample& s, int index) const {
        return split_ + "/" + std::string(class_dir(s.label)) + "/" + stem(index) + "_mask.png";
    }

    /// Writes the image and mask PNGs of sample `index`.
    void write_files(const FashionLocSample& s, int index) const {
        check(s, index);
        io::write_png(root_ / "images" / image_id(s, index), s.image);
        io::write_png(root_ / "masks" / mask_path(s, index), mask_image(s.mask));
    }

    /// Appends the metadata lines of sample `index` (writing the ignore mask of its size the
    /// first time that size appears).
    void append(const FashionLocSample& s, int index) {
        check(s, index);
        const std::string id = image_id(s, index);
        const int w = s.image.width, h = s.image.height;
        const std::string ignore = split_ + "/ignore_" + std::to_string(w) + "x" + std::to_string(h) + ".png";
        if (std::find(ignore_written_.begin(), ignore_written_.end(), ignore) == ignore_written_.end()) {
            io::write_png(root_ / "masks" / ignore, io::Image(h, w, 1, 0));
            ignore_written_.push_back(ignore);
        }
        const Box& b = s.box;
        for (std::size_t k : {0u, 4u}) {
            files_[k] << id << '\n';
            files_[k + 1] << id << ',' << s.label << '\n';
            files_[k + 2] << id << ',' << w << ',' << h << '\n';
        }
        files_[3] << id << ',' << b.x0 << ',' << b.y0 << ',' << b.x1 << ',' << b.y1 << '\n';
        files_[7] << id << ',' << mask_path(s, index) << ',' << ignore << '\n';
        for (std::size_t i = 0; i < files_.size(); ++i)
            if (!files_[i]) dualgrad::detail::raise<io_error>(paths_[i].string(), ": write failed");
        ++count_;
    }

    /// `write_files` then `append`.
    void add(const FashionLocSample& s, int index) {
        write_files(s, index);
        append(s, index);
    }

    /// Flushes and closes the metadata files; throws `io_error` if that fails.
    void close() {
        for (std::size_t i = 0; i < files_.size(); ++i) {
            if (!files_[i].is_open()) continue;
            files_[i].close();
            if (!files_[i]) dualgrad::detail::raise<io_error>(paths_[i].string(), ": write failed on close");
        }
    }

    [[nodiscard]] int count() const noexcept { return count_; }
    [[nodiscard]] const std::filesystem::path& root() const noexcept { return root_; }
    [[nodiscard]] const std::string& split() const noexcept { return split_; }

    /// The files of each metadata folder.
    static constexpr std::array<std::string_view, 4> metadata_names = {"image_ids.txt", "class_labels.txt",
                                                                       "image_sizes.txt", "localization.txt"};

private:
    [[nodiscard]] static std::string_view class_dir(int label) {
        return fashionloc_class_dirs[static_cast<std::size_t>(label)];
    }
    [[nodiscard]] static std::string stem(int index) {
        std::string digits = std::to_string(index);
        return std::string(digits.size() < 7 ? 7 - digits.size() : 0, '0') + digits;
    }
    static void make_dirs(const std::filesystem::path& dir) {
        std::error_code ec;
        std::filesystem::create_directories(dir, ec);
        if (ec) dualgrad::detail::raise<io_error>(dir.string(), ": cannot create the folder (", ec.message(), ")");
    }
    static void check(const FashionLocSample& s, int index) {
        if (index < 0) dualgrad::detail::raise<value_error>("WsolLayoutWriter: negative sample index ", index);
        if (s.label < 0 || s.label >= static_cast<int>(fashionloc_class_dirs.size()))
            dualgrad::detail::raise<value_error>("WsolLayoutWriter: sample ", index, " has label ", s.label,
                                                 ", not a class 0..9");
        if (s.image.channels != 3 || s.image.empty() || s.mask.height() != s.image.height ||
            s.mask.width() != s.image.width)
            dualgrad::detail::raise<shape_error>("WsolLayoutWriter: sample ", index, " has a ", s.image.height, "x",
                                                 s.image.width, "x", s.image.channels, " image and a ",
                                                 s.mask.height(), "x", s.mask.width(), " mask");
    }
    [[nodiscard]] static io::Image mask_image(const Mask& m) {
        io::Image img(m.height(), m.width(), 1);
        for (std::size_t i = 0; i < m.size(); ++i) img.pixels[i] = m.values()[i] != 0 ? 255 : 0;
        return img;
    }

    std::filesystem::path root_;
    std::string split_;
    std::array<std::ofstream, 8> files_; ///< metadata/<split>/*, then metadata_masks/<split>/*
    std::array<std::filesystem::path, 8> paths_;
    std::vector<std::string> ignore_written_;
    int count_ = 0;
};

/// Writes `samples` as split `split` under `root` (see `WsolLayoutWriter`), sample i with index
/// `first_index + i`.
inline void write_wsol_layout(const std::filesystem::path& root, std::string split,
                              std::span<const FashionLocSample> samples, int first_index = 0) {
    WsolLayoutWriter w(root, std::move(split));
    for (std::size_t i = 0; i < samples.size(); ++i) w.add(samples[i], first_index + static_cast<int>(i));
    w.close();
}

/// The samples side by side in a grid (`columns` per row, `gap` pixels of white between them),
/// each with its box outlined (1 pixel, `color`): how the README shows FashionLoc.
[[nodiscard]] inline io::Image preview_grid(std::span<const FashionLocSample> samples, int columns = 4, int gap = 4,
                                            std::array<std::uint8_t, 3> color = {255, 0, 0}) {
    if (samples.empty()) dualgrad::detail::raise<value_error>("preview_grid: no samples");
    std::vector<io::Image> tiles;
    for (const auto& s : samples) {
        tiles.push_back(s.image);
        io::draw_box(tiles.back(), s.box, color, 1);
    }
    return io::tile_images(tiles, columns, gap);
}

} // namespace dualgrad::datasets

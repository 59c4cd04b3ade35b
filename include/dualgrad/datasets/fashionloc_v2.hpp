#pragma once
/// \file
/// FashionLoc version 2: the same task as version 1 (one Fashion-MNIST item on an RGB canvas,
/// exact box and mask, the wsolevaluation layout), with every nuisance that a classifier must
/// not rely on drawn per sample from a range, so that a network trained on it has to recognize
/// the item. Version 1 (`FashionLocConfig`, datasets/fashionloc.hpp) stays as it was, byte for
/// byte; `FashionLocRecipe` holds either.
///
///     auto items = dualgrad::io::load_fashion_mnist(dualgrad::io::FashionMnistSplit::train);
///     auto cfg = dualgrad::datasets::fashionloc_v2_config(1, dualgrad::datasets::FashionLocSplit::train);
///     auto s = dualgrad::datasets::generate(items, 5, cfg);  // s.image, s.label, s.box, s.mask
///
/// Determinism is version 1's: a SplitMix64 stream keyed by (seed, split, index), draws in a
/// fixed order, integer rejection sampling, integer pixel arithmetic (the rotation's sines come
/// from a table computed at compile time). A sample depends on nothing else.
///
/// The recipe, for a canvas of side P, each draw uniform over the closed range given by the
/// `FashionLocV2Ranges` in force (training ranges for train, val and test; shifted ranges for
/// the shifted split, see `fashionloc_v2_ranges`):
/// - background: a family from `backgrounds`; a base colour c0 (each channel 0..255), a second
///   colour c1 = c0 + d per channel (d in [-a, a], a from `contrast`, clamped); a field t in [0, 1]
///   from the family, pixel = c0 + t * (c1 - c0):
///   smooth (version 1's two octaves of value noise), flat (t = 0), gradient (linear along a
///   random direction), texture (value noise on 2..4-pixel cells), stripes (period 4..24, four
///   orientations), checks (cells 4..24), rings (concentric, period 6..20, random centre) and
///   blobs (the smooth field under 4..10 discs of their own colours);
/// - the object: side s from [ceil(min_frac P), floor(max_frac P)], mirrored left-right with
///   probability 1/2 (when `flip`), rotated by an integer angle in [-max_rotation, max_rotation]
///   degrees about its centre (bilinear, no loss at angle 0; an angle whose rotated square would
///   not fit the canvas is replaced by 0), placed wholly inside the canvas;
/// - the ink: a target contrast T from `ink_contrast` (L1 distance summed over RGB), then the
///   one of 16 candidate colours (near-grey, within 12 levels of a grey, with probability
///   `grey_percent` %) whose smaller distance to c0 and c1 is closest to T; style from
///   `ink_styles`: solid, or two_tone (a second ink drawn the same way, blended linearly across
///   the object along a random direction);
/// - fragments (count from `fragments`, painted before the object, which covers them): another
///   item (of the object's class with probability `same_class_percent` %, else any other item),
///   either shrunk whole to f x f pixels (f from `fragment_side`, at most half the object's side,
///   so that the object stays clearly the largest whole item) or an f x f window of it at object
///   scale (the inkiest of 4; f from `fragment_side`, which must stay below the smallest
///   object); inked like the object (solid);
/// - grain: amplitude from `noise`, then version 1's binomial per-pixel luminance grain.
/// Mask: rotated scaled intensity > `mask_threshold`; box: the mask's tight bounds.

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <variant>
#include <vector>

#include "dualgrad/datasets/fashionloc.hpp"

namespace dualgrad::datasets {

/// The generator versions this build can make. Version 1: `FashionLocConfig`; 2: `FashionLocV2Config`.
inline constexpr int fashionloc_latest_version = 2;

/// A closed integer range [lo, hi].
struct IntRange {
    int lo = 0;
    int hi = 0;
    friend bool operator==(const IntRange&, const IntRange&) = default;
};

/// Background families of version 2.
enum class Background { smooth, flat, gradient, texture, stripes, checks, rings, blobs };
inline constexpr std::array<std::string_view, 8> background_names = {"smooth",  "flat",   "gradient", "texture",
                                                                     "stripes", "checks", "rings",    "blobs"};

/// How the object is inked.
enum class InkStyle { solid, two_tone };
inline constexpr std::array<std::string_view, 2> ink_style_names = {"solid", "two_tone"};

/// The ranges every nuisance of version 2 is drawn from (see the recipe in the file comment).
struct FashionLocV2Ranges {
    std::vector<Background> backgrounds;
    IntRange contrast{16, 128};      ///< per-channel amplitude of the second background colour, 0..255
    IntRange noise{0, 12};           ///< grain amplitude, 0..32
    IntRange fragments{0, 12};       ///< number of clutter fragments, 0..64
    IntRange fragment_side{6, 24};   ///< fragment side, pixels; must stay below the smallest object
    int same_class_percent = 30;     ///< share of fragments cut from items of the object's class, 0..100
    IntRange ink_contrast{60, 500};  ///< target L1 (sum over RGB) distance of the ink from the background, 0..765
    int grey_percent = 25;           ///< share of near-grey ink candidates, 0..100
    std::vector<InkStyle> ink_styles;
    double min_frac = 0.25;          ///< object side as a fraction of the canvas: [min_frac, max_frac]
    double max_frac = 0.85;
    int max_rotation = 15;           ///< degrees, 0..30
    bool flip = true;                ///< mirror the object left-right with probability 1/2
    friend bool operator==(const FashionLocV2Ranges&, const FashionLocV2Ranges&) = default;
};

/// The training ranges (train, val and test splits): six background families, solid ink.
[[nodiscard]] inline FashionLocV2Ranges fashionloc_v2_training_ranges() {
    FashionLocV2Ranges r;
    r.backgrounds = {Background::smooth, Background::flat, Background::gradient,
                     Background::texture, Background::stripes, Background::checks};
    r.ink_styles = {InkStyle::solid};
    return r;
}

/// The shifted ranges (the shifted split): what a photographer's data would change. Background
/// families never seen in training (concentric rings, coloured blobs), two-tone ink, denser
/// clutter (13..18 fragments against 0..12) and stronger grain (13..18 against 0..12). Scale,
/// position, rotation and the item itself are drawn as in training.
[[nodiscard]] inline FashionLocV2Ranges fashionloc_v2_shifted_ranges() {
    FashionLocV2Ranges r = fashionloc_v2_training_ranges();
    r.backgrounds = {Background::rings, Background::blobs};
    r.ink_styles = {InkStyle::two_tone};
    r.fragments = {13, 18};
    r.noise = {13, 18};
    return r;
}

/// How FashionLoc version 2 samples are made.
struct FashionLocV2Config {
    std::uint64_t seed = 0;
    int canvas = 128;        ///< side of the square RGB canvas, pixels
    int mask_threshold = 64; ///< mask = scaled item intensity > mask_threshold (0..254)
    FashionLocSplit split = FashionLocSplit::train;
    FashionLocV2Ranges ranges = fashionloc_v2_training_ranges();
    friend bool operator==(const FashionLocV2Config&, const FashionLocV2Config&) = default;
};

/// The ranges a split uses by default: shifted for `FashionLocSplit::shifted`, training otherwise.
[[nodiscard]] inline FashionLocV2Ranges fashionloc_v2_ranges(FashionLocSplit split) {
    return split == FashionLocSplit::shifted ? fashionloc_v2_shifted_ranges() : fashionloc_v2_training_ranges();
}

/// The version 2 config of `split` with its default ranges; the fragment sides scale with the
/// canvas (6..24 pixels at 128, so that they stay below the smallest object at any size).
[[nodiscard]] inline FashionLocV2Config fashionloc_v2_config(std::uint64_t seed, FashionLocSplit split, int canvas = 128) {
    FashionLocV2Config c{.seed = seed, .canvas = canvas, .split = split, .ranges = fashionloc_v2_ranges(split)};
    c.ranges.fragment_side = {std::max(2, 3 * canvas / 64), std::max(2, 3 * canvas / 16)};
    return c;
}

/// The object side range [ceil(min_frac*canvas), floor(max_frac*canvas)] in pixels.
[[nodiscard]] inline std::pair<int, int> item_side_range(const FashionLocV2Config& c) {
    return item_side_range(FashionLocConfig{.canvas = c.canvas, .min_frac = c.ranges.min_frac, .max_frac = c.ranges.max_frac});
}

/// Throws `value_error` naming the setting that cannot work: a range that is empty or out of its
/// bounds, fragments not smaller than the smallest object, a scale range with no whole size, no
/// background family or ink style.
inline void validate(const FashionLocV2Config& c) {
    using dualgrad::detail::raise;
    const FashionLocV2Ranges& r = c.ranges;
    const auto range = [](std::string_view name, IntRange v, int lo, int hi) {
        if (v.lo > v.hi)
            raise<value_error>("FashionLoc v2: the ", name, " range [", v.lo, ", ", v.hi, "] is empty");
        if (v.lo < lo || v.hi > hi)
            raise<value_error>("FashionLoc v2: the ", name, " range [", v.lo, ", ", v.hi, "] must lie within [", lo,
                               ", ", hi, "]");
    };
    const auto percent = [](std::string_view name, int v) {
        if (v < 0 || v > 100) raise<value_error>("FashionLoc v2: ", name, " ", v, " must be a percentage in [0, 100]");
    };
    // The version 1 checks of canvas, fractions, whole sizes and the mask threshold.
    validate(FashionLocConfig{.canvas = c.canvas, .min_frac = r.min_frac, .max_frac = r.max_frac,
                              .mask_threshold = c.mask_threshold,
                              .clutter = {.min_fragments = 0, .max_fragments = 0, .min_fragment_side = 1, .max_fragment_side = 1}});
    range("contrast", r.contrast, 0, 255);
    range("noise", r.noise, 0, 32);
    range("fragments", r.fragments, 0, 64);
    range("fragment_side", r.fragment_side, 1, c.canvas);
    range("ink_contrast", r.ink_contrast, 0, 765);
    percent("same_class_percent", r.same_class_percent);
    percent("grey_percent", r.grey_percent);
    if (r.max_rotation < 0 || r.max_rotation > 30)
        raise<value_error>("FashionLoc v2: max_rotation ", r.max_rotation, " must be in [0, 30] degrees");
    if (r.backgrounds.empty()) raise<value_error>("FashionLoc v2: no background family given");
    if (r.ink_styles.empty()) raise<value_error>("FashionLoc v2: no ink style given");
    const auto [lo, hi] = item_side_range(c);
    if (r.fragment_side.hi >= lo)
        raise<value_error>("FashionLoc v2: fragments of up to ", r.fragment_side.hi,
                           " pixels are not smaller than the smallest object (", lo, " pixels, ", r.min_frac,
                           " of ", c.canvas, "); fragments must be too small to be classified");
}

namespace detail {

/// sin and cos of 0..30 degrees in 16.16 fixed point, computed at compile time (Taylor series
/// to the 15th power, exact to far below the rounding), so no run-time libm is involved.
struct SinCos {
    std::array<std::int64_t, 31> sin{};
    std::array<std::int64_t, 31> cos{};
};
consteval SinCos make_sin_cos() {
    SinCos t;
    constexpr double pi = 3.14159265358979323846;
    for (int d = 0; d <= 30; ++d) {
        const double x = d * pi / 180.0;
        double s = 0, c = 0, term_s = x, term_c = 1;
        for (int k = 0; k < 8; ++k) {
            s += term_s;
            c += term_c;
            term_s *= -x * x / ((2 * k + 2) * (2 * k + 3));
            term_c *= -x * x / ((2 * k + 1) * (2 * k + 2));
        }
        t.sin[static_cast<std::size_t>(d)] = static_cast<std::int64_t>(s * 65536.0 + 0.5);
        t.cos[static_cast<std::size_t>(d)] = static_cast<std::int64_t>(c * 65536.0 + 0.5);
    }
    return t;
}
inline constexpr SinCos sin_cos_table = make_sin_cos();

/// floor(sqrt(v)) for v >= 0, exactly.
[[nodiscard]] constexpr std::int64_t isqrt(std::int64_t v) noexcept {
    std::int64_t r = 0;
    for (std::int64_t bit = std::int64_t{1} << 30; bit > 0; bit >>= 1)
        if ((r + bit) * (r + bit) <= v) r += bit;
    return r;
}

/// An ink colour whose smaller L1 distance to `c0` and `c1` is closest to `target`, among 16
/// candidates (near-grey with probability grey_percent %).
[[nodiscard]] inline Rgb draw_ink_v2(SplitMix64& rng, const Rgb& c0, const Rgb& c1, int target, int grey_percent) {
    Rgb best{};
    int best_gap = -1;
    for (int attempt = 0; attempt < 16; ++attempt) {
        Rgb c{};
        if (rng.uniform(0, 99) < grey_percent) {
            const int g = rng.uniform(0, 255);
            for (auto& v : c) v = std::clamp(g + rng.uniform(-12, 12), 0, 255);
        } else {
            c = draw_color(rng);
        }
        const int gap = std::abs(std::min(l1(c, c0), l1(c, c1)) - target);
        if (best_gap < 0 || gap < best_gap) {
            best = c;
            best_gap = gap;
        }
    }
    return best;
}

/// The background field of one family: t(x, y) in 0..65535.
class BackgroundField {
public:
    BackgroundField(SplitMix64& rng, Background family, int canvas) : family_(family), P_(canvas) {
        switch (family) {
        case Background::smooth:
        case Background::blobs:
            coarse_.emplace_back(rng, canvas, std::max(1, canvas / rng.uniform(2, 4)));
            coarse_.emplace_back(rng, canvas, std::max(1, canvas / rng.uniform(6, 10)));
            if (family == Background::blobs) {
                const int n = rng.uniform(4, 10);
                for (int i = 0; i < n; ++i) {
                    Disc d{};
                    d.x = rng.uniform(0, canvas - 1);
                    d.y = rng.uniform(0, canvas - 1);
                    d.r = rng.uniform(std::max(2, canvas / 16), std::max(2, canvas / 4));
                    d.color = draw_color(rng);
                    discs_.push_back(d);
                }
            }
            break;
        case Background::flat: break;
        case Background::gradient:
            do {
                a_ = rng.uniform(-16, 16);
                b_ = rng.uniform(-16, 16);
            } while (a_ == 0 && b_ == 0);
            lo_ = std::min({0, a_ * (canvas - 1), b_ * (canvas - 1), (a_ + b_) * (canvas - 1)});
            hi_ = std::max({0, a_ * (canvas - 1), b_ * (canvas - 1), (a_ + b_) * (canvas - 1)});
            break;
        case Background::texture: coarse_.emplace_back(rng, canvas, rng.uniform(2, 4)); break;
        case Background::stripes:
            a_ = rng.uniform(4, 24);      // period
            b_ = rng.uniform(0, 3);       // orientation
            lo_ = rng.uniform(0, a_ - 1); // phase
            break;
        case Background::checks:
            a_ = rng.uniform(4, 24);
            lo_ = rng.uniform(0, a_ - 1);
            hi_ = rng.uniform(0, a_ - 1);
            break;
        case Background::rings:
            a_ = rng.uniform(6, 20);
            lo_ = rng.uniform(0, canvas - 1);
            hi_ = rng.uniform(0, canvas - 1);
            break;
        }
    }

    /// The field at (x, y), 0..65535.
    [[nodiscard]] std::int64_t operator()(int x, int y) const noexcept {
        switch (family_) {
        case Background::smooth:
        case Background::blobs: return (2 * coarse_[0](x, y) + coarse_[1](x, y)) / 3;
        case Background::flat: return 0;
        case Background::gradient:
            return (std::int64_t{a_ * x + b_ * y - lo_} * 65535) / std::max(1, hi_ - lo_);
        case Background::texture: return coarse_[0](x, y);
        case Background::stripes: {
            const int q = b_ == 0 ? y : b_ == 1 ? x : b_ == 2 ? x + y : x - y + P_;
            return ((q + lo_) % a_) * 2 < a_ ? 0 : 65535;
        }
        case Background::checks: return (((x + lo_) / a_ + (y + hi_) / a_) & 1) * 65535;
        case Background::rings: {
            const std::int64_t dx = x - lo_, dy = y - hi_;
            return ((isqrt(dx * dx + dy * dy) * 2 / a_) & 1) * 65535;
        }
        }
        return 0;
    }

    /// The colour of the topmost disc over (x, y), if any (blobs only).
    [[nodiscard]] const Rgb* disc_at(int x, int y) const noexcept {
        for (auto it = discs_.rbegin(); it != discs_.rend(); ++it) {
            const std::int64_t dx = x - it->x, dy = y - it->y;
            if (dx * dx + dy * dy <= std::int64_t{it->r} * it->r) return &it->color;
        }
        return nullptr;
    }

private:
    struct Disc {
        int x, y, r;
        Rgb color;
    };
    Background family_;
    int P_;
    int a_ = 0, b_ = 0, lo_ = 0, hi_ = 0;
    std::vector<ValueNoise> coarse_;
    std::vector<Disc> discs_;
};

/// An item scaled to side x side, mirrored when `flip`, as a buffer of intensities 0..255.
[[nodiscard]] inline std::vector<int> scaled_buffer(const io::FashionMnist& source, int item, int side, bool flip) {
    const ScaledItem scaled(source.image(item), source.rows(), source.cols(), side);
    std::vector<int> out(static_cast<std::size_t>(side) * static_cast<std::size_t>(side));
    for (int y = 0; y < side; ++y)
        for (int x = 0; x < side; ++x)
            out[static_cast<std::size_t>(y) * static_cast<std::size_t>(side) + static_cast<std::size_t>(x)] =
                scaled(flip ? side - 1 - x : x, y);
    return out;
}

} // namespace detail

/// Generates sample `index` (>= 0) of `config.split` from the items of `source` (Fashion-MNIST
/// train for the train split, t10k for the others) under version 2 of the recipe. Throws
/// `value_error` for an invalid config (see `validate`), an empty source, a negative index, or an
/// item with no pixel above the mask threshold.
[[nodiscard]] inline FashionLocSample generate(const io::FashionMnist& source, int index, const FashionLocV2Config& config) {
    using dualgrad::detail::raise;
    validate(config);
    if (source.size() == 0) raise<value_error>("FashionLoc: the source ", source.source(), " is empty");
    if (index < 0) raise<value_error>("FashionLoc: sample index ", index, " is negative");
    const int P = config.canvas;
    const FashionLocV2Ranges& r = config.ranges;
    const auto [side_lo, side_hi] = item_side_range(config);
    const std::uint64_t key = detail::sample_key(config.seed ^ 0x2000000000000000ULL, config.split, index);
    detail::SplitMix64 rng(key);
    const auto pick = [&rng](const auto& list) { return list[static_cast<std::size_t>(rng.uniform(0, static_cast<int>(list.size()) - 1))]; };

    // --- every draw, in a fixed order ---------------------------------------------------------
    const Background family = pick(r.backgrounds);
    const detail::Rgb c0 = detail::draw_color(rng);
    const int amplitude = rng.uniform(r.contrast.lo, r.contrast.hi);
    detail::Rgb c1{};
    for (std::size_t c = 0; c < 3; ++c) c1[c] = std::clamp(c0[c] + rng.uniform(-amplitude, amplitude), 0, 255);
    const detail::BackgroundField field(rng, family, P);

    const int item = detail::source_item(config.split, index, source.size());
    const int label = source.label(item);
    const int side = rng.uniform(side_lo, side_hi);
    const bool flip = r.flip && rng.uniform(0, 1) == 1;
    int angle = r.max_rotation > 0 ? rng.uniform(-r.max_rotation, r.max_rotation) : 0;
    const auto extent = [side](int a) {
        const auto& t = detail::sin_cos_table;
        const std::int64_t s = t.sin[static_cast<std::size_t>(std::abs(a))], c = t.cos[static_cast<std::size_t>(std::abs(a))];
        return static_cast<int>((std::int64_t{side} * (s + c) + 65535) >> 16);
    };
    if (extent(angle) > P) angle = 0;
    const int e = extent(angle);
    const int ox = rng.uniform(0, P - e), oy = rng.uniform(0, P - e);
    const int ink_target = rng.uniform(r.ink_contrast.lo, r.ink_contrast.hi);
    const InkStyle style = pick(r.ink_styles);
    const detail::Rgb ink = detail::draw_ink_v2(rng, c0, c1, ink_target, r.grey_percent);
    detail::Rgb ink2 = ink;
    int tone_dx = 0, tone_dy = 0;
    if (style == InkStyle::two_tone) {
        ink2 = detail::draw_ink_v2(rng, c0, c1, ink_target, r.grey_percent);
        do {
            tone_dx = rng.uniform(-8, 8);
            tone_dy = rng.uniform(-8, 8);
        } while (tone_dx == 0 && tone_dy == 0);
    }

    struct Fragment {
        int item, side, x, y, scale, cx, cy;
        detail::Rgb ink;
    };
    std::vector<Fragment> fragments(static_cast<std::size_t>(rng.uniform(r.fragments.lo, r.fragments.hi)));
    for (auto& f : fragments) {
        const bool same = rng.uniform(0, 99) < r.same_class_percent;
        f.item = rng.uniform(0, source.size() - 1);
        // An item of the object's class (when asked, and found within 64 draws), never the object's own.
        for (int attempt = 0; same && attempt < 64 && (source.label(f.item) != label || f.item == item); ++attempt)
            f.item = rng.uniform(0, source.size() - 1);
        if (f.item == item && source.size() > 1) f.item = (f.item + 1) % source.size();
        // Kind 0, a whole item shrunk to f x f, stays at most half the object's side, so that the
        // object is always the one item that is clearly the largest; kind 1, a window of an item
        // at object scale, is a part, and may be as large as the fragment range allows.
        const bool window = rng.uniform(0, 1) == 1;
        f.side = rng.uniform(r.fragment_side.lo,
                             window ? r.fragment_side.hi : std::max(r.fragment_side.lo, std::min(r.fragment_side.hi, side / 2)));
        f.x = rng.uniform(0, P - f.side);
        f.y = rng.uniform(0, P - f.side);
        f.ink = detail::draw_ink_v2(rng, c0, c1, rng.uniform(r.ink_contrast.lo, r.ink_contrast.hi), r.grey_percent);
        f.scale = f.side;
        f.cx = f.cy = 0;
        if (window) {
            f.scale = rng.uniform(side_lo, side_hi);
            std::tie(f.cx, f.cy) = detail::inkiest_window(rng, source, f.item, f.scale, f.side);
        }
    }
    const int noise = rng.uniform(r.noise.lo, r.noise.hi);

    // --- rendering -----------------------------------------------------------------------------
    FashionLocSample s;
    s.image = io::Image(P, P, 3);
    const auto px = [&s](int y, int x) { return &s.image(y, x, 0); };
    for (int y = 0; y < P; ++y)
        for (int x = 0; x < P; ++x) {
            std::uint8_t* p = px(y, x);
            if (const detail::Rgb* disc = field.disc_at(x, y)) {
                for (std::size_t c = 0; c < 3; ++c) p[c] = static_cast<std::uint8_t>((*disc)[c]);
                continue;
            }
            const std::int64_t t = field(x, y);
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
    s.label = label;
    s.item_rect = Box{ox, oy, ox + e - 1, oy + e - 1};
    const std::vector<int> obj = detail::scaled_buffer(source, item, side, flip);
    const auto at = [&](std::int64_t x, std::int64_t y) -> std::int64_t {
        if (x < 0 || y < 0 || x >= side || y >= side) return 0;
        return obj[static_cast<std::size_t>(y) * static_cast<std::size_t>(side) + static_cast<std::size_t>(x)];
    };
    const std::int64_t sn = (angle < 0 ? -1 : 1) * detail::sin_cos_table.sin[static_cast<std::size_t>(std::abs(angle))];
    const std::int64_t cs = detail::sin_cos_table.cos[static_cast<std::size_t>(std::abs(angle))];
    // Two-tone: the ink moves from `ink` to `ink2` along (tone_dx, tone_dy) across the square.
    const std::int64_t tone_lo = std::min({0, tone_dx * (e - 1), tone_dy * (e - 1), (tone_dx + tone_dy) * (e - 1)});
    const std::int64_t tone_hi = std::max({0, tone_dx * (e - 1), tone_dy * (e - 1), (tone_dx + tone_dy) * (e - 1)});
    Box b{P, P, -1, -1};
    for (int v = 0; v < e; ++v)
        for (int u = 0; u < e; ++u) {
            // Output pixel centre relative to the square's centre, in half pixels; the source point
            // (inverse rotation) in 16.16 pixel-index coordinates (pixel i's centre at i).
            const std::int64_t du = 2 * u + 1 - e, dv = 2 * v + 1 - e;
            const std::int64_t sx = (cs * du + sn * dv + std::int64_t{side - 1} * 65536) / 2;
            const std::int64_t sy = (-sn * du + cs * dv + std::int64_t{side - 1} * 65536) / 2;
            const std::int64_t ix = sx >> 16, iy = sy >> 16, fx = sx & 0xffff, fy = sy & 0xffff;
            const std::int64_t top = at(ix, iy) * (65536 - fx) + at(ix + 1, iy) * fx;
            const std::int64_t bottom = at(ix, iy + 1) * (65536 - fx) + at(ix + 1, iy + 1) * fx;
            const int value = static_cast<int>((top * (65536 - fy) + bottom * fy + (std::int64_t{1} << 31)) >> 32);
            if (value == 0) continue;
            detail::Rgb colour = ink;
            if (style == InkStyle::two_tone) {
                const std::int64_t w = (std::int64_t{tone_dx} * u + std::int64_t{tone_dy} * v - tone_lo) * 65536 /
                                       std::max<std::int64_t>(1, tone_hi - tone_lo);
                for (std::size_t c = 0; c < 3; ++c)
                    colour[c] = static_cast<int>((ink[c] * (65536 - w) + ink2[c] * w + 32768) / 65536);
            }
            const int x = ox + u, y = oy + v;
            detail::blend(px(y, x), colour, value);
            if (value > config.mask_threshold) {
                s.mask(y, x) = 1;
                b = Box{std::min(b.x0, x), std::min(b.y0, y), std::max(b.x1, x), std::max(b.y1, y)};
            }
        }
    if (!b.valid())
        raise<value_error>("FashionLoc: item ", item, " of ", source.source(), " has no pixel above the mask threshold ",
                           config.mask_threshold, " when scaled to ", side, " pixels");
    s.box = b;

    detail::add_grain(s.image, key, noise);
    return s;
}

/// A FashionLoc recipe of either version.
using FashionLocRecipe = std::variant<FashionLocConfig, FashionLocV2Config>;

/// The recipe's generator version (1 or 2).
[[nodiscard]] inline int version_of(const FashionLocRecipe& r) noexcept { return r.index() == 0 ? 1 : 2; }

/// Sample `index` under either version.
[[nodiscard]] inline FashionLocSample generate(const io::FashionMnist& source, int index, const FashionLocRecipe& recipe) {
    return std::visit([&](const auto& c) { return generate(source, index, c); }, recipe);
}

/// The default recipe of `version` for `split` (version 1: `FashionLocConfig` with `seed` and
/// `canvas`; version 2: `fashionloc_v2_config`). Throws `value_error` for a version this build
/// does not know, naming the ones it does.
[[nodiscard]] inline FashionLocRecipe fashionloc_recipe(int version, std::uint64_t seed, FashionLocSplit split,
                                                        int canvas = 128) {
    if (version == 1) return FashionLocConfig{.seed = seed, .canvas = canvas, .split = split};
    if (version == 2) return fashionloc_v2_config(seed, split, canvas);
    dualgrad::detail::raise<value_error>("FashionLoc: generator version ", version,
                                         " is unknown to this build, which makes versions 1 to ",
                                         fashionloc_latest_version);
}

} // namespace dualgrad::datasets

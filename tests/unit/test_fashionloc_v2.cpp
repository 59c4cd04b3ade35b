// datasets/fashionloc_v2.hpp and fashionloc_json.hpp: FashionLoc version 2 (every nuisance drawn
// per sample), its recipe as JSON, and the errors for settings that cannot work. On the tiny
// synthetic item set (solid rectangles), whose scaled and rotated shapes can be worked out here.
#include <algorithm>
#include <cmath>
#include <numbers>
#include <set>
#include <string>

#include <catch2/catch.hpp>

#include "synthetic_items.hpp"

#include "dualgrad/datasets/fashionloc_json.hpp"
#include "dualgrad/datasets/fashionloc_v2.hpp"

namespace {

using dualgrad::datasets::Background;
using dualgrad::datasets::FashionLocSample;
using dualgrad::datasets::FashionLocSplit;
using dualgrad::datasets::FashionLocV2Config;
using dualgrad::datasets::InkStyle;
using Catch::Matchers::Contains;

/// A v2 config with nothing but the object: flat background of one colour, no grain, no
/// fragments, no rotation, no flip (each test turns on what it looks at).
FashionLocV2Config plain(std::uint64_t seed, int canvas = 64) {
    FashionLocV2Config c{.seed = seed, .canvas = canvas};
    auto& r = c.ranges;
    r.backgrounds = {Background::flat};
    r.contrast = {0, 0};
    r.noise = {0, 0};
    r.fragments = {0, 0};
    r.max_rotation = 0;
    r.flip = false;
    r.fragment_side = {4, 8};
    return c;
}

std::size_t mask_area(const dualgrad::Mask& m) {
    return static_cast<std::size_t>(std::count_if(m.values().begin(), m.values().end(), [](auto v) { return v != 0; }));
}

} // namespace

TEST_CASE("v2: a sample is a function of seed, split and index", "[fashionloc][v2]") {
    const auto items = dgtest::synthetic_items();
    const auto cfg = dualgrad::datasets::fashionloc_v2_config(4, FashionLocSplit::train, 64);
    const FashionLocSample a = dualgrad::datasets::generate(items, 7, cfg);
    (void)dualgrad::datasets::generate(items, 3, cfg); // other samples in between change nothing
    CHECK(dualgrad::datasets::generate(items, 7, cfg) == a);
    auto other = cfg;
    other.seed = 5;
    CHECK_FALSE(dualgrad::datasets::generate(items, 7, other).image == a.image);
    auto test = cfg;
    test.split = FashionLocSplit::test;
    CHECK_FALSE(dualgrad::datasets::generate(items, 7, test).image == a.image);
    // Version 1 with the same seed, split and index is another image.
    CHECK_FALSE(dualgrad::datasets::generate(items, 7, dualgrad::datasets::FashionLocConfig{.seed = 4, .canvas = 64}).image ==
                a.image);
}

TEST_CASE("v2: boxes are the masks' tight bounds, inside the pasted square", "[fashionloc][v2]") {
    const auto items = dgtest::synthetic_items();
    for (auto split : {FashionLocSplit::train, FashionLocSplit::shifted}) {
        const auto cfg = dualgrad::datasets::fashionloc_v2_config(11, split, 96);
        const auto [lo, hi] = dualgrad::datasets::item_side_range(cfg);
        for (int i = 0; i < 40; ++i) {
            const FashionLocSample s = dualgrad::datasets::generate(items, i, cfg);
            INFO("split " << dualgrad::datasets::split_name(split) << ", sample " << i);
            REQUIRE(s.box == dgtest::tight_bounds(s.mask));
            const auto& q = s.item_rect;
            CHECK((q.x0 >= 0 && q.y0 >= 0 && q.x1 < 96 && q.y1 < 96));
            CHECK((s.box.x0 >= q.x0 && s.box.x1 <= q.x1 && s.box.y0 >= q.y0 && s.box.y1 <= q.y1));
            // The square holds the object of side lo..hi, rotated by at most 15 degrees.
            const int e = q.x1 - q.x0 + 1;
            CHECK(e >= lo);
            CHECK(e <= static_cast<int>(std::ceil(hi * (std::cos(15 * std::numbers::pi / 180) + std::sin(15 * std::numbers::pi / 180)))));
            CHECK(s.label == items.label(s.item));
        }
    }
}

TEST_CASE("v2: unrotated and unflipped, the mask is the scaled item, as version 1 models it", "[fashionloc][v2]") {
    const auto items = dgtest::synthetic_items();
    auto cfg = plain(5);
    int exact = 0, edges = 0;
    for (int i = 0; i < 40; ++i) {
        const FashionLocSample s = dualgrad::datasets::generate(items, i, cfg);
        const int side = s.item_rect.x1 - s.item_rect.x0 + 1;
        const dgtest::Rect r = dgtest::rect_of(s.item);
        const auto [x0, x1] = dgtest::model_extent(r.left, r.right, 28, side);
        const auto [y0, y1] = dgtest::model_extent(r.top, r.bottom, 28, side);
        INFO("sample " << i << ", side " << side << ", box " << s.box);
        for (const auto& [got, want] : {std::pair{s.box.x0, s.item_rect.x0 + x0}, std::pair{s.box.x1, s.item_rect.x0 + x1},
                                        std::pair{s.box.y0, s.item_rect.y0 + y0}, std::pair{s.box.y1, s.item_rect.y0 + y1}}) {
            CHECK(std::abs(got - want) <= 1);
            exact += got == want;
            ++edges;
        }
        // Outside the mask's square the flat background is one colour.
        const auto bg = std::array<int, 3>{s.image(0, 0, 0), s.image(0, 0, 1), s.image(0, 0, 2)};
        if (s.item_rect.x0 > 0 && s.item_rect.y0 > 0)
            for (int x = 0; x < s.item_rect.x0; ++x)
                REQUIRE(std::array<int, 3>{s.image(0, x, 0), s.image(0, x, 1), s.image(0, x, 2)} == bg);
    }
    CHECK(exact * 100 >= edges * 95);
}

TEST_CASE("v2: flips mirror the item left-right, about half of the time", "[fashionloc][v2]") {
    const auto items = dgtest::synthetic_items();
    auto cfg = plain(6, 96);
    cfg.ranges.flip = true;
    int flipped = 0, kept = 0;
    for (int i = 0; i < 60; ++i) {
        const FashionLocSample s = dualgrad::datasets::generate(items, i, cfg);
        const int side = s.item_rect.x1 - s.item_rect.x0 + 1;
        const dgtest::Rect r = dgtest::rect_of(s.item);
        // The items' rectangles are not centred left-right, so the two cases are told apart.
        const auto [x0, x1] = dgtest::model_extent(r.left, r.right, 28, side);
        const auto [m0, m1] = dgtest::model_extent(28 - r.right, 28 - r.left, 28, side);
        const int bx0 = s.box.x0 - s.item_rect.x0, bx1 = s.box.x1 - s.item_rect.x0;
        const bool as_is = std::abs(bx0 - x0) <= 1 && std::abs(bx1 - x1) <= 1;
        const bool mirrored = std::abs(bx0 - m0) <= 1 && std::abs(bx1 - m1) <= 1;
        INFO("sample " << i << ": box x " << bx0 << ".." << bx1 << ", as is " << x0 << ".." << x1 << ", mirrored " << m0 << ".." << m1);
        CHECK((as_is || mirrored));
        if (as_is && !mirrored) ++kept;
        if (mirrored && !as_is) ++flipped;
    }
    CHECK(flipped >= 15);
    CHECK(kept >= 15);
}

TEST_CASE("v2: rotation keeps the object's area and turns its box as a rotated rectangle's", "[fashionloc][v2]") {
    const auto items = dgtest::synthetic_items(false);
    auto flat = plain(8, 96);
    auto turned = flat;
    turned.ranges.max_rotation = 30;
    int rotated = 0;
    for (int i = 0; i < 30; ++i) {
        // The side is drawn before the angle, so both configs scale the item alike.
        const FashionLocSample a = dualgrad::datasets::generate(items, i, flat);
        const FashionLocSample b = dualgrad::datasets::generate(items, i, turned);
        const int side = a.item_rect.x1 - a.item_rect.x0 + 1;
        INFO("sample " << i << ", side " << side);
        const double area_a = static_cast<double>(mask_area(a.mask)), area_b = static_cast<double>(mask_area(b.mask));
        CHECK(std::abs(area_b - area_a) <= 0.08 * area_a + 4);
        // A w x h rectangle turned by theta has bounds w|cos|+h|sin| by w|sin|+h|cos|: some integer
        // angle in [-30, 30] must explain b's box from a's within 2 pixels.
        const double w = a.box.x1 - a.box.x0 + 1, h = a.box.y1 - a.box.y0 + 1;
        const double bw = b.box.x1 - b.box.x0 + 1, bh = b.box.y1 - b.box.y0 + 1;
        bool explained = false;
        for (int d = 0; d <= 30 && !explained; ++d) {
            const double t = d * std::numbers::pi / 180, c = std::cos(t), s = std::sin(t);
            explained = std::abs(w * c + h * s - bw) <= 2.5 && std::abs(w * s + h * c - bh) <= 2.5;
        }
        CHECK(explained);
        rotated += b.item_rect.x1 - b.item_rect.x0 + 1 > side;
    }
    CHECK(rotated >= 20);
}

TEST_CASE("v2: every background family and ink style renders, and the shifted split shows the test items",
          "[fashionloc][v2]") {
    const auto items = dgtest::synthetic_items();
    for (std::size_t f = 0; f < dualgrad::datasets::background_names.size(); ++f) {
        auto cfg = dualgrad::datasets::fashionloc_v2_config(2, FashionLocSplit::test, 64);
        cfg.ranges.backgrounds = {static_cast<Background>(f)};
        cfg.ranges.noise = {0, 0};
        cfg.ranges.fragments = {0, 0};
        cfg.ranges.contrast = {100, 100};
        const FashionLocSample s = dualgrad::datasets::generate(items, 1, cfg);
        std::set<int> reds;
        for (int y = 0; y < 64; ++y)
            for (int x = 0; x < 64; ++x)
                if (x < s.item_rect.x0 || x > s.item_rect.x1 || y < s.item_rect.y0 || y > s.item_rect.y1)
                    reds.insert(s.image(y, x, 0));
        INFO(dualgrad::datasets::background_names[f] << ": " << reds.size() << " red levels outside the object's square");
        // flat is one colour (its second colour is never used); every other family varies.
        if (static_cast<Background>(f) == Background::flat) CHECK(reds.size() == 1);
        else CHECK(reds.size() >= 2);
    }
    const auto test = dualgrad::datasets::fashionloc_v2_config(2, FashionLocSplit::test, 64);
    const auto shifted = dualgrad::datasets::fashionloc_v2_config(2, FashionLocSplit::shifted, 64);
    for (int i = 0; i < 12; ++i) {
        const auto a = dualgrad::datasets::generate(items, i, test), b = dualgrad::datasets::generate(items, i, shifted);
        CHECK(a.item == b.item);
        CHECK_FALSE(a.image == b.image);
    }
}

TEST_CASE("v2: settings that cannot work are value_errors that name the setting", "[fashionloc][v2]") {
    const auto items = dgtest::synthetic_items();
    const auto fails = [&](FashionLocV2Config c, const std::string& what) {
        INFO("expecting: " << what);
        CHECK_THROWS_AS(dualgrad::datasets::validate(c), dualgrad::value_error);
        CHECK_THROWS_WITH(dualgrad::datasets::generate(items, 0, c), Contains(what));
    };
    const auto base = dualgrad::datasets::fashionloc_v2_config(1, FashionLocSplit::train, 128);
    CHECK_NOTHROW(dualgrad::datasets::validate(base));
    auto c = base;
    c.ranges.fragment_side = {6, 40}; // the smallest object is 32 pixels
    fails(c, "not smaller than the smallest object");
    c = base;
    c.ranges.min_frac = 0.5;
    c.ranges.max_frac = 0.4;
    fails(c, "greater than max_frac");
    c = base;
    c.ranges.min_frac = c.ranges.max_frac = 0.3; // 38.4 pixels: no whole size
    fails(c, "no whole object size");
    c = base;
    c.ranges.noise = {5, 2};
    fails(c, "noise range [5, 2] is empty");
    c = base;
    c.ranges.fragments = {0, 65};
    fails(c, "fragments range [0, 65] must lie within [0, 64]");
    c = base;
    c.ranges.backgrounds.clear();
    fails(c, "no background family");
    c = base;
    c.ranges.ink_styles.clear();
    fails(c, "no ink style");
    c = base;
    c.ranges.max_rotation = 45;
    fails(c, "max_rotation 45");
    c = base;
    c.ranges.grey_percent = 101;
    fails(c, "grey_percent 101");
}

TEST_CASE("recipes round-trip through JSON; unknown versions and bad fields are named errors", "[fashionloc][v2]") {
    using dualgrad::datasets::recipe_from_json;
    using dualgrad::datasets::recipe_to_json;
    const dualgrad::datasets::FashionLocRecipe v2 = dualgrad::datasets::fashionloc_v2_config(3, FashionLocSplit::train);
    const auto j = recipe_to_json(v2);
    CHECK(j.at("version") == 2);
    CHECK(recipe_from_json(j, "a.json") == v2);
    CHECK(recipe_from_json(j, "a.json", FashionLocSplit::shifted) ==
          dualgrad::datasets::FashionLocRecipe(dualgrad::datasets::fashionloc_v2_config(3, FashionLocSplit::shifted)));
    const dualgrad::datasets::FashionLocRecipe v1 = dualgrad::datasets::FashionLocConfig{.seed = 9, .canvas = 96};
    CHECK(recipe_to_json(v1).at("version") == 1);
    CHECK(recipe_from_json(recipe_to_json(v1), "b.json") == v1);

    auto bad = j;
    bad["version"] = 3;
    CHECK_THROWS_WITH(recipe_from_json(bad, "c.json"),
                      Contains("c.json") && Contains("version 3 is unknown to this build"));
    CHECK_THROWS_WITH(dualgrad::datasets::fashionloc_recipe(7, 1, FashionLocSplit::test), Contains("version 7 is unknown"));
    bad = j;
    bad["ranges"]["noise"] = "loud";
    CHECK_THROWS_WITH(recipe_from_json(bad, "d.json"), Contains("d.json (ranges)") && Contains("'noise'"));
    bad = j;
    bad["ranges"]["backgrounds"] = {"smooth", "plaid"};
    CHECK_THROWS_WITH(recipe_from_json(bad, "e.json"), Contains("plaid") && Contains("checks"));
    bad = j;
    bad.erase("seed");
    CHECK_THROWS_WITH(recipe_from_json(bad, "f.json"), Contains("f.json: field 'seed' is missing"));
    bad = j;
    bad["canvas"] = 1e12;
    CHECK_THROWS_WITH(recipe_from_json(bad, "g.json"), Contains("'canvas' has the wrong type"));
    bad = j;
    bad["ranges"]["fragment_side"] = {6, 99};
    CHECK_THROWS_WITH(recipe_from_json(bad, "h.json"), Contains("not smaller than the smallest object"));
}

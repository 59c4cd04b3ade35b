// datasets/fashionloc.hpp: the FashionLoc generator and its wsolevaluation writer, on a tiny
// synthetic item set (no dataset needed); one test uses Debian's Fashion-MNIST when installed.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "synthetic_items.hpp"
#include "temp_files.hpp"
#include <unistd.h>

#include "dualgrad/datasets/fashionloc.hpp"
#include "dualgrad/io/datasets.hpp"
#include "dualgrad/io/image.hpp"

namespace {

namespace fs = std::filesystem;
using dualgrad::Box;
using dualgrad::datasets::FashionLocConfig;
using dualgrad::datasets::FashionLocSample;
using dualgrad::datasets::FashionLocSplit;
using Catch::Matchers::Contains;

using dgtest::kItems;
using dgtest::model_extent;
using dgtest::Rect;
using dgtest::rect_of;
using dgtest::synthetic_items;
using dgtest::tight_bounds;

using dgtest::TempDir;

std::vector<std::string> lines_of(const fs::path& p) {
    std::ifstream in(p);
    std::vector<std::string> lines;
    for (std::string l; std::getline(in, l);) lines.push_back(l);
    return lines;
}

} // namespace

TEST_CASE("SplitMix64 reproduces the reference generator's sequence", "[fashionloc]") {
    // Vigna's splitmix64.c seeded with 0 (the values every port of it checks).
    dualgrad::datasets::detail::SplitMix64 rng(0);
    CHECK(rng.next() == 0xe220a8397b1dcdafULL);
    CHECK(rng.next() == 0x6e789e6aa1b965f4ULL);
    CHECK(rng.next() == 0x06c45d188009454fULL);
}

TEST_CASE("uniform integers stay in their range and reach every value", "[fashionloc]") {
    dualgrad::datasets::detail::SplitMix64 rng(42);
    std::vector<int> seen(11, 0);
    for (int i = 0; i < 5000; ++i) {
        const int v = rng.uniform(-5, 5);
        REQUIRE(v >= -5);
        REQUIRE(v <= 5);
        ++seen[static_cast<std::size_t>(v + 5)];
    }
    // 5000 draws over 11 values: each near 455; 300 is more than 7 standard deviations below.
    for (int c : seen) CHECK(c > 300);
    CHECK(rng.uniform(7, 7) == 7);
}

TEST_CASE("a sample is a function of seed, split and index", "[fashionloc]") {
    const auto items = synthetic_items();
    FashionLocConfig cfg;
    cfg.seed = 1234;
    const FashionLocSample a = dualgrad::datasets::generate(items, 5, cfg);
    const FashionLocSample b = dualgrad::datasets::generate(items, 5, cfg);
    CHECK(a.image.pixels == b.image.pixels);
    CHECK(a == b);

    FashionLocConfig other = cfg;
    other.seed = 1235;
    const FashionLocSample c = dualgrad::datasets::generate(items, 5, other);
    CHECK(c.image.pixels != a.image.pixels);

    FashionLocConfig test = cfg;
    test.split = FashionLocSplit::test;
    const FashionLocSample d = dualgrad::datasets::generate(items, 5, test);
    CHECK(d.item == a.item); // train and test both read item 5 ...
    CHECK(d.image.pixels != a.image.pixels); // ... at other places, sizes and colours
    CHECK(dualgrad::datasets::generate(items, 6, cfg).image.pixels != a.image.pixels);
}

TEST_CASE("a sample does not depend on which samples were generated before it", "[fashionloc]") {
    const auto items = synthetic_items();
    FashionLocConfig cfg;
    cfg.seed = 7;
    const auto batch = dualgrad::datasets::generate_range(items, 0, 8, cfg);
    REQUIRE(batch.size() == 8);
    CHECK(dualgrad::datasets::generate(items, 5, cfg) == batch[5]);
    const auto shard = dualgrad::datasets::generate_range(items, 4, 3, cfg); // samples 4, 5, 6
    CHECK(shard[1] == batch[5]);
    CHECK(shard[2] == batch[6]);
}

TEST_CASE("boxes are the masks' tight bounds; objects have the requested size", "[fashionloc]") {
    const auto items = synthetic_items();
    for (const auto& [canvas, lo, hi] : {std::tuple{128, 0.3, 0.8}, std::tuple{64, 0.25, 0.9}, std::tuple{96, 0.5, 0.5}}) {
        FashionLocConfig cfg;
        cfg.seed = 99;
        cfg.canvas = canvas;
        cfg.min_frac = lo;
        cfg.max_frac = hi;
        INFO("canvas " << canvas << ", fractions " << lo << " .. " << hi);
        for (int i = 0; i < 40; ++i) {
            INFO("sample " << i);
            const FashionLocSample s = dualgrad::datasets::generate(items, i, cfg);
            REQUIRE(s.image.height == canvas);
            REQUIRE(s.image.width == canvas);
            REQUIRE(s.image.channels == 3);
            REQUIRE(s.mask.height() == canvas);
            REQUIRE(s.mask.width() == canvas);
            CHECK(s.box == tight_bounds(s.mask));
            for (auto v : s.mask.values()) REQUIRE((v == 0 || v == 1));

            const Box& r = s.item_rect;
            const int side = r.x1 - r.x0 + 1;
            CHECK(r.y1 - r.y0 + 1 == side);
            CHECK(side >= lo * canvas - 1e-9);
            CHECK(side <= hi * canvas + 1e-9);
            CHECK(r.x0 >= 0);
            CHECK(r.y0 >= 0);
            CHECK(r.x1 < canvas);
            CHECK(r.y1 < canvas);
            // The mask lies inside the item's square.
            CHECK(s.box.x0 >= r.x0);
            CHECK(s.box.y0 >= r.y0);
            CHECK(s.box.x1 <= r.x1);
            CHECK(s.box.y1 <= r.y1);
        }
    }
}

TEST_CASE("masks follow the item's ink at the pasted scale", "[fashionloc]") {
    const auto items = synthetic_items();
    FashionLocConfig cfg;
    cfg.seed = 5;
    cfg.canvas = 64;
    cfg.min_frac = 0.25; // sides 16..57: shrinking (area) and enlarging (bilinear) both occur
    cfg.max_frac = 0.9;
    bool shrunk = false, enlarged = false;
    int exact = 0, edges = 0;
    for (int i = 0; i < 60; ++i) {
        const FashionLocSample s = dualgrad::datasets::generate(items, i, cfg);
        const int side = s.item_rect.x1 - s.item_rect.x0 + 1;
        (side < 28 ? shrunk : enlarged) = true;
        const Rect r = rect_of(s.item);
        const auto [x0, x1] = model_extent(r.left, r.right, 28, side);
        const auto [y0, y1] = model_extent(r.top, r.bottom, 28, side);
        INFO("sample " << i << ", item " << s.item << ", side " << side << ", box " << s.box);
        // The model is in doubles, the generator in fixed point: an edge may differ by one pixel
        // where the value is within rounding of the threshold, which is rare.
        for (const auto& [got, want] : {std::pair{s.box.x0, s.item_rect.x0 + x0}, std::pair{s.box.x1, s.item_rect.x0 + x1},
                                        std::pair{s.box.y0, s.item_rect.y0 + y0}, std::pair{s.box.y1, s.item_rect.y0 + y1}}) {
            CHECK(std::abs(got - want) <= 1);
            exact += got == want;
            ++edges;
        }
    }
    INFO(exact << " of " << edges << " box edges exactly as the model");
    CHECK(exact * 100 >= edges * 95);
    CHECK(shrunk);
    CHECK(enlarged);
}

TEST_CASE("labels are the source items' labels, in the split's item order", "[fashionloc]") {
    const auto items = synthetic_items();
    FashionLocConfig cfg;
    for (int i = 0; i < 45; ++i) {
        cfg.split = FashionLocSplit::train;
        auto s = dualgrad::datasets::generate(items, i, cfg);
        CHECK(s.item == i % kItems);
        CHECK(s.label == items.label(s.item));
        cfg.split = FashionLocSplit::test;
        s = dualgrad::datasets::generate(items, i, cfg);
        CHECK(s.item == i % kItems);
        CHECK(s.label == (i % kItems) % 10);
        cfg.split = FashionLocSplit::val; // from the end, so val and test share no item
        s = dualgrad::datasets::generate(items, i, cfg);
        CHECK(s.item == kItems - 1 - i % kItems);
        CHECK(s.label == items.label(s.item));
    }
}

TEST_CASE("without clutter the canvas outside the object is one colour", "[fashionloc]") {
    const auto items = synthetic_items(false);
    FashionLocConfig cfg;
    cfg.seed = 3;
    cfg.clutter.texture_contrast = 0;
    cfg.clutter.noise = 0;
    cfg.clutter.min_fragments = cfg.clutter.max_fragments = 0;
    const FashionLocSample s = dualgrad::datasets::generate(items, 2, cfg);
    const auto at = [&](int y, int x) {
        return std::array<int, 3>{s.image(y, x, 0), s.image(y, x, 1), s.image(y, x, 2)};
    };
    // Find a corner outside the item's square for the background colour.
    const int bx = s.item_rect.x0 > 0 ? 0 : cfg.canvas - 1, by = s.item_rect.y0 > 0 ? 0 : cfg.canvas - 1;
    const auto background = at(by, bx);
    int inside_differs = 0, mask_pixels = 0;
    for (int y = 0; y < cfg.canvas; ++y)
        for (int x = 0; x < cfg.canvas; ++x) {
            const bool in_square = x >= s.item_rect.x0 && x <= s.item_rect.x1 && y >= s.item_rect.y0 && y <= s.item_rect.y1;
            if (!in_square) REQUIRE(at(y, x) == background);
            if (s.mask(y, x) != 0) {
                ++mask_pixels;
                const auto p = at(y, x);
                // Alpha > 64/255 towards an ink colour >= 160 away (L1) from the background moves the
                // pixel by more than 40, less up to 1.5 of rounding.
                inside_differs += std::abs(p[0] - background[0]) + std::abs(p[1] - background[1]) +
                                          std::abs(p[2] - background[2]) >= 38;
            }
        }
    CHECK(mask_pixels > 0);
    CHECK(inside_differs == mask_pixels);
}

TEST_CASE("sizes that cannot fit the item are value_errors that say why", "[fashionloc]") {
    const auto items = synthetic_items();
    const auto fails = [&](FashionLocConfig cfg, const std::string& what) {
        INFO(what);
        CHECK_THROWS_AS(dualgrad::datasets::validate(cfg), dualgrad::value_error);
        CHECK_THROWS_WITH(dualgrad::datasets::validate(cfg), Contains(what));
        CHECK_THROWS_AS(dualgrad::datasets::generate(items, 0, cfg), dualgrad::value_error);
    };
    FashionLocConfig c;
    c.canvas = 10;
    fails(c, "canvas side 10");
    c = {};
    c.canvas = 40; // 0.3 * 40 = 12 pixels < 16
    fails(c, "would be 12 pixels");
    c = {};
    c.min_frac = 0.9;
    c.max_frac = 0.5;
    fails(c, "min_frac 0.9 is greater than max_frac 0.5");
    c = {};
    c.min_frac = 0.0;
    fails(c, "(0, 1]");
    c = {};
    c.max_frac = 1.5;
    fails(c, "(0, 1]");
    c = {};
    c.canvas = 100;
    c.min_frac = 0.161; // 16.1 .. 16.9 pixels: no whole size
    c.max_frac = 0.169;
    fails(c, "no whole object size");
    c = {};
    c.canvas = 60; // smallest object 18 pixels; fragments of up to 20 would not be smaller
    c.clutter.max_fragment_side = 20;
    fails(c, "not smaller than the smallest object (18 pixels)");
    c = {};
    c.clutter.min_fragments = 5;
    c.clutter.max_fragments = 3;
    fails(c, "fragment counts");
    c = {};
    c.clutter.noise = 40;
    fails(c, "noise amplitude 40");
    c = {};
    c.mask_threshold = 255;
    fails(c, "mask threshold 255");

    // The boundary cases fit: 0.3 * 100 is 30 pixels, not 31.
    c = {};
    c.canvas = 100;
    CHECK(dualgrad::datasets::item_side_range(c) == std::pair{30, 80});
    c.canvas = 54; // 0.3 * 54 = 16.2: smallest object 17
    CHECK_NOTHROW(dualgrad::datasets::generate(items, 0, c));
    c.min_frac = c.max_frac = 1.0; // the item fills the canvas
    const auto full = dualgrad::datasets::generate(items, 1, c);
    CHECK(full.item_rect == Box{0, 0, 53, 53});

    CHECK_THROWS_WITH(dualgrad::datasets::generate(items, -1, FashionLocConfig{}), Contains("negative"));
    CHECK_THROWS_WITH(dualgrad::datasets::generate(dualgrad::io::FashionMnist{}, 0, FashionLocConfig{}),
                      Contains("empty"));
}

TEST_CASE("an item with no ink above the threshold is reported", "[fashionloc]") {
    std::vector<std::uint8_t> pixels(28 * 28, 30), labels{3};
    const dualgrad::io::FashionMnist faint(1, 28, 28, pixels, labels, "faint items");
    CHECK_THROWS_WITH(dualgrad::datasets::generate(faint, 0, FashionLocConfig{}),
                      Contains("item 0 of faint items") && Contains("no pixel above the mask threshold 64"));
}

TEST_CASE("the wsolevaluation layout lists every sample with its box and mask", "[fashionloc]") {
    const auto items = synthetic_items();
    FashionLocConfig cfg;
    cfg.seed = 11;
    cfg.canvas = 64;
    cfg.split = FashionLocSplit::test;
    const auto samples = dualgrad::datasets::generate_range(items, 0, 3, cfg);
    TempDir dir;
    dualgrad::datasets::write_wsol_layout(dir.path, "test", samples);

    const fs::path meta = dir.path / "metadata" / "test";
    const auto ids = lines_of(meta / "image_ids.txt");
    REQUIRE(ids.size() == 3);
    const std::vector<std::string> classes{"0_tshirt_top", "1_trouser", "2_pullover"}; // items 0, 1, 2
    for (std::size_t i = 0; i < 3; ++i) {
        const auto& s = samples[i];
        const std::string id = "test/" + classes[i] + "/000000" + std::to_string(i) + ".png";
        CHECK(ids[i] == id);
        CHECK(lines_of(meta / "class_labels.txt")[i] == id + "," + std::to_string(s.label));
        CHECK(lines_of(meta / "image_sizes.txt")[i] == id + ",64,64");
        std::ostringstream box;
        box << id << ',' << s.box.x0 << ',' << s.box.y0 << ',' << s.box.x1 << ',' << s.box.y1;
        CHECK(lines_of(meta / "localization.txt")[i] == box.str());
        const std::string mask = "test/" + classes[i] + "/000000" + std::to_string(i) + "_mask.png";
        const fs::path meta_masks = dir.path / "metadata_masks" / "test";
        CHECK(lines_of(meta_masks / "localization.txt")[i] == id + "," + mask + ",test/ignore_64x64.png");
        for (const char* name : {"image_ids.txt", "class_labels.txt", "image_sizes.txt"})
            CHECK(lines_of(meta_masks / name) == lines_of(meta / name));

        // The PNGs decode to the sample's pixels (the decoder is checked against OpenCV in test_image).
        const auto img = dualgrad::io::read_image(dir.path / "images" / id, 3);
        CHECK(img == s.image);
        const auto m = dualgrad::io::read_image(dir.path / "masks" / mask, 1);
        REQUIRE(m.height == 64);
        REQUIRE(m.width == 64);
        for (std::size_t k = 0; k < s.mask.size(); ++k) REQUIRE(int{m.pixels[k]} == 255 * s.mask.values()[k]);
    }
    const auto ignore = dualgrad::io::read_image(dir.path / "masks" / "test" / "ignore_64x64.png", 1);
    CHECK(ignore == dualgrad::io::Image(64, 64, 1, 0));

    // dualgrad's own wsolevaluation reader takes both folders as they are.
    const auto boxes = dualgrad::io::read_wsol_metadata(meta);
    REQUIRE(boxes.size() == 3);
    CHECK(boxes.localization == dualgrad::io::Localization::boxes);
    const auto masks = dualgrad::io::read_wsol_metadata(dir.path / "metadata_masks" / "test");
    REQUIRE(masks.size() == 3);
    CHECK(masks.localization == dualgrad::io::Localization::masks);
    for (std::size_t i = 0; i < 3; ++i) {
        CHECK(boxes.images[i].label == samples[i].label);
        CHECK(boxes.images[i].boxes == std::vector<Box>{samples[i].box});
        CHECK(masks.images[i].mask_paths.size() == 1);
        CHECK(masks.images[i].ignore_path == "test/ignore_64x64.png");
    }

    CHECK_THROWS_AS(dualgrad::datasets::WsolLayoutWriter(dir.path, "../up"), dualgrad::value_error);
}

TEST_CASE("the preview grid puts the samples side by side with their boxes", "[fashionloc]") {
    const auto items = synthetic_items();
    FashionLocConfig cfg;
    cfg.canvas = 64;
    const auto samples = dualgrad::datasets::generate_range(items, 0, 4, cfg);
    const auto grid = dualgrad::datasets::preview_grid(samples, 4, 4);
    CHECK(grid.height == 64);
    CHECK(grid.width == 4 * 64 + 3 * 4);
    const Box& b = samples[2].box;
    const int left = 2 * (64 + 4);
    CHECK(grid(b.y0, left + b.x0, 0) == 255); // red outline
    CHECK(grid(b.y0, left + b.x0, 1) == 0);
    CHECK(grid(10, 64 + 1, 0) == 255); // white gap
    const auto grid2 = dualgrad::datasets::preview_grid(samples, 2, 0);
    CHECK(grid2.height == 128);
    CHECK(grid2.width == 128);
}

TEST_CASE("FashionLoc on Debian's Fashion-MNIST keeps the items' labels", "[fashionloc][dataset]") {
    const fs::path dir(dualgrad::io::fashion_mnist_default_dir);
    // ctest runs the [dataset] tests only where Fashion-MNIST is installed (tests/CMakeLists.txt).
    REQUIRE(fs::exists(dir / "t10k-labels-idx1-ubyte.gz"));
    REQUIRE(fs::exists(dir / "t10k-images-idx3-ubyte.gz"));
    const auto t10k = dualgrad::io::load_fashion_mnist(dualgrad::io::FashionMnistSplit::test);
    FashionLocConfig cfg;
    cfg.seed = 1;
    cfg.split = FashionLocSplit::test;
    // t10k's first labels: ankle boot, pullover, trouser, trouser, shirt (zalandoresearch/fashion-mnist).
    const std::vector<int> labels{9, 2, 1, 1, 6};
    for (int i = 0; i < 5; ++i) {
        const auto s = dualgrad::datasets::generate(t10k, i, cfg);
        CHECK(s.label == labels[static_cast<std::size_t>(i)]);
        CHECK(s.box == tight_bounds(s.mask));
        // A real item covers a good part of its square: more than a tenth of it is mask.
        const long area = static_cast<long>(s.item_rect.x1 - s.item_rect.x0 + 1) * (s.item_rect.y1 - s.item_rect.y0 + 1);
        long on = 0;
        for (auto v : s.mask.values()) on += v;
        CHECK(on * 10 > area);
    }
    cfg.split = FashionLocSplit::val;
    CHECK(dualgrad::datasets::generate(t10k, 0, cfg).label == t10k.label(9999));
}

// Exact merging: random shards of one random data set, merged in any order, give the same
// counts and bit-identical results as one accumulator run over every image.
#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include <catch2/catch.hpp>

#include <dualgrad/metrics/loc_metrics.hpp>

namespace {

using dualgrad::Box;
using dualgrad::LocMetrics;
using dualgrad::Mask;
using dualgrad::ScoreMap;

struct Image {
    std::vector<Box> gt;
    std::vector<std::vector<Box>> largest, multi;
    int gt_class = 0;
    std::vector<int> ranked;
    ScoreMap score;
    Mask mask, ignore;
};

Box random_box(std::mt19937& rng, int w, int h) {
    std::uniform_int_distribution<int> ux(0, w - 1), uy(0, h - 1);
    int x0 = ux(rng), x1 = ux(rng), y0 = uy(rng), y1 = uy(rng);
    return {std::min(x0, x1), std::min(y0, y1), std::max(x0, x1), std::max(y0, y1)};
}

std::vector<Image> random_images(std::size_t n, std::size_t thresholds, unsigned seed) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> count(1, 3), cls(0, 9);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    std::vector<Image> out(n);
    for (auto& im : out) {
        const int w = 20, h = 16;
        for (int g = count(rng); g > 0; --g) im.gt.push_back(random_box(rng, w, h));
        for (std::size_t t = 0; t < thresholds; ++t) {
            // Near the first GT box half of the time, so that every IoU range occurs.
            Box b = u(rng) < 0.5 ? random_box(rng, w, h) : im.gt[0];
            if (u(rng) < 0.5) b.x1 = std::max(b.x0, b.x1 - 2);
            im.largest.push_back({b});
            im.multi.push_back({b});
            for (int e = count(rng) - 1; e > 0; --e) im.multi.back().push_back(random_box(rng, w, h));
        }
        im.gt_class = cls(rng);
        for (int c = 0; c < 10; ++c) im.ranked.push_back(c);
        std::shuffle(im.ranked.begin(), im.ranked.end(), rng);
        im.score = ScoreMap(h, w);
        im.mask = Mask(h, w);
        im.ignore = Mask(h, w);
        for (int y = 0; y < h; ++y)
            for (int x = 0; x < w; ++x) {
                im.mask(y, x) = u(rng) < 0.3;
                // Scores on and between the .01 edges, higher on the object.
                const double v = std::min(1.0, u(rng) * 0.7 + (im.mask(y, x) ? 0.3 : 0.0));
                im.score(y, x) = static_cast<float>(u(rng) < 0.3 ? std::floor(v * 100) / 100 : v);
                im.ignore(y, x) = u(rng) < 0.1;
            }
    }
    return out;
}

void add(LocMetrics& m, const Image& im) {
    m.add({.gt_boxes = im.gt, .largest = im.largest, .multi = im.multi, .gt_class = im.gt_class,
           .ranked_classes = im.ranked});
    m.add_mask(im.score, im.mask, im.ignore);
}

} // namespace

TEST_CASE("Merged shards equal one run over all images, exactly", "[metrics][merge]") {
    const auto interval = GENERATE(0.01, 0.1);
    const auto proto = LocMetrics::with_interval(interval);
    const auto images = random_images(60, proto.cam_thresholds().size(), 7u);

    LocMetrics whole = proto;
    for (const auto& im : images) add(whole, im);

    std::mt19937 rng(11);
    std::uniform_int_distribution<int> pick(0, 3);
    std::vector<LocMetrics> shards(4, proto);
    for (const auto& im : images) add(shards[static_cast<std::size_t>(pick(rng))], im);

    LocMetrics merged = proto;
    for (std::size_t i : {2u, 0u, 3u, 1u}) merged += shards[i];
    LocMetrics tree = shards[3];
    tree.merge(shards[1]).merge(LocMetrics(shards[0]).merge(shards[2]));

    REQUIRE(merged == whole); // every count
    REQUIRE(tree == whole);
    REQUIRE(merged.max_box_acc().num_images() == 60);
    REQUIRE(merged.pxap().num_images() == 60);

    const auto a = merged.result(), b = whole.result();
    REQUIRE(a.max_box_acc->mean == b.max_box_acc->mean);
    REQUIRE(a.max_box_acc_v2->mean == b.max_box_acc_v2->mean);
    for (std::size_t k = 0; k < 3; ++k) {
        REQUIRE(a.max_box_acc_v2->per_iou[k].accuracy == b.max_box_acc_v2->per_iou[k].accuracy);
        REQUIRE(a.max_box_acc_v2->per_iou[k].best_threshold_index ==
                b.max_box_acc_v2->per_iou[k].best_threshold_index);
    }
    REQUIRE(a.loc->top1_loc == b.loc->top1_loc);
    REQUIRE(a.loc->top5_loc == b.loc->top5_loc);
    REQUIRE(a.loc->gt_known_loc == b.loc->gt_known_loc);
    REQUIRE(a.pxap->pxap == b.pxap->pxap);
    // The random data are not degenerate: the metrics are strictly between 0 and 100.
    REQUIRE(b.max_box_acc_v2->mean > 0.0);
    REQUIRE(b.max_box_acc_v2->mean < 100.0);
    REQUIRE(b.pxap->pxap > 0.0);
    REQUIRE(b.pxap->pxap < 100.0);
    // GT-known counts are MaxBoxAcc's IoU-50 counts on the same largest-contour boxes.
    const auto gk = whole.loc_accuracy().gt_known_loc_counts();
    const auto mb = whole.max_box_acc().num_correct(0);
    REQUIRE(std::equal(gk.begin(), gk.end(), mb.begin(), mb.end()));
}

// Dataset metadata readers: wsolevaluation folders (boxes and OpenImages masks) and CUB-200-2011's
// own files, on the committed fixtures (tools/fixtures/make_io_fixtures.py); every malformed line
// on a temporary copy, each error naming the file and the 1-based line.
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "temp_files.hpp"

#include <nlohmann/json.hpp>

#include <dualgrad/io/datasets.hpp>
#include <dualgrad/localize/box_extractor.hpp>
#include <dualgrad/metrics/box_accuracy.hpp>
#include <dualgrad/io/masks.hpp>
#include <dualgrad/io/npy.hpp>

using namespace dualgrad;
using Catch::Matchers::Contains;

namespace {

using dgtest::io_error_of;
using dgtest::TempDir;

const std::filesystem::path kDir = std::filesystem::path(DUALGRAD_FIXTURES_DIR) / "datasets";



/// A small valid wsolevaluation box folder in a temporary directory; `with` replaces one file.
struct WsolFolder {
    TempDir tmp;
    std::map<std::string, std::string> files{
        {"image_ids.txt", "a.jpg\nb.jpg\n"},
        {"class_labels.txt", "a.jpg,0\nb.jpg,1\n"},
        {"image_sizes.txt", "a.jpg,100,50\nb.jpg,20,30\n"},
        {"localization.txt", "a.jpg,0,0,99,49\nb.jpg,1,2,3,4\n"},
    };
    WsolFolder& with(const std::string& name, const std::string& text) {
        files[name] = text;
        return *this;
    }
    WsolFolder& without(const std::string& name) {
        files.erase(name);
        return *this;
    }
    /// Writes the files and reads the folder; returns the io_error message.
    std::string error() {
        write();
        return io_error_of([&] { (void)io::read_wsol_metadata(tmp.path); });
    }
    void write() {
        for (const auto& [name, text] : files) std::ofstream(tmp.path / name, std::ios::binary) << text;
    }
    [[nodiscard]] std::string file(const std::string& name) const { return (tmp.path / name).string(); }
};

/// A copy of the CUB fixture with one file replaced.
struct CubFolder {
    TempDir tmp;
    CubFolder() {
        for (const auto& e : std::filesystem::directory_iterator(kDir / "cub"))
            std::filesystem::copy_file(e.path(), tmp.path / e.path().filename());
    }
    CubFolder& with(const std::string& name, const std::string& text) {
        std::ofstream(tmp.path / name, std::ios::binary) << text;
        return *this;
    }
    std::string error(const io::CubReadOptions& opts = {}) {
        return io_error_of([&] { (void)io::read_cub(tmp.path, opts); });
    }
    [[nodiscard]] std::string file(const std::string& name) const { return (tmp.path / name).string(); }
};

} // namespace

// --- wsolevaluation boxes ------------------------------------------------------------------------

TEST_CASE("wsol metadata: boxes, several per image, in image_ids order", "[io][datasets]") {
    const auto ds = io::read_wsol_metadata(kDir / "wsol_boxes");
    CHECK(ds.localization == io::Localization::boxes);
    REQUIRE(ds.size() == 4);
    CHECK(ds.images[0].id == "a/img0.jpg");
    CHECK(ds.images[3].id == "b/c/img3.jpg");
    CHECK(ds.images[0].label == 0);
    CHECK(ds.images[1].label == 2);
    CHECK(ds.images[2].label == 1);
    CHECK(ds.num_classes() == 3); // the id only in class_labels.txt (class 5) is ignored
    CHECK(ds.images[0].size.width == 500);
    CHECK(ds.images[0].size.height == 375);
    CHECK(ds.images[0].boxes == std::vector<Box>{{60, 27, 385, 331}});
    CHECK(ds.images[1].boxes == std::vector<Box>{{0, 0, 63, 47}}); // the whole 64 x 48 image
    CHECK(ds.at("b/img2.png").boxes == std::vector<Box>{{1, 2, 3, 4}, {5, 5, 9, 9}, {0, 0, 0, 0}});
    CHECK(ds.at("b/c/img3.jpg").boxes == std::vector<Box>{{10, 20, 299, 199}}); // CRLF line
    CHECK(ds.find("nope") == nullptr);
    CHECK_THAT(io_error_of([&] { (void)ds.at("nope"); }), Contains("no image with id 'nope'"));
}

TEST_CASE("wsol metadata: scale_box is wsolevaluation's resize_bbox", "[io][datasets]") {
    // resize_bbox((60, 27, 385, 331), (500, 335), (224, 224)): int(26.88), int(18.05), int(172.48), int(221.32).
    CHECK(io::scale_box({60, 27, 385, 331}, ImageSize{335, 500}, ImageSize{224, 224}) == Box{26, 18, 172, 221});
    CHECK(io::scale_box({60, 27, 385, 331}, ImageSize{335, 500}, ImageSize{335, 500}) == Box{60, 27, 385, 331});
    CHECK_THROWS_AS(io::scale_box({0, 0, 1, 1}, ImageSize{0, 5}, ImageSize{5, 5}), value_error);
}

TEST_CASE("wsol metadata: written folders read back the same", "[io][datasets]") {
    const auto ds = io::read_wsol_metadata(kDir / "wsol_boxes");
    TempDir tmp;
    io::write_wsol_metadata(tmp.path / "copy", ds);
    const auto back = io::read_wsol_metadata(tmp.path / "copy");
    REQUIRE(back.size() == ds.size());
    for (std::size_t i = 0; i < ds.size(); ++i) {
        CHECK(back.images[i].id == ds.images[i].id);
        CHECK(back.images[i].label == ds.images[i].label);
        CHECK(back.images[i].size.width == ds.images[i].size.width);
        CHECK(back.images[i].size.height == ds.images[i].size.height);
        CHECK(back.images[i].boxes == ds.images[i].boxes);
    }
    const auto masks = io::read_wsol_metadata(kDir / "wsol_masks");
    io::write_wsol_metadata(tmp.path / "masks", masks);
    const auto mback = io::read_wsol_metadata(tmp.path / "masks");
    CHECK(mback.images[0].mask_paths == masks.images[0].mask_paths);
    CHECK(mback.images[0].ignore_path == masks.images[0].ignore_path);
}

TEST_CASE("wsol metadata: lenient parsing as Python's int() and readlines", "[io][datasets]") {
    WsolFolder f;
    f.with("class_labels.txt", "a.jpg, 0\r\nb.jpg,+1\r\n\n\n").with("image_sizes.txt", "a.jpg,100 ,50\n\nb.jpg,20,30");
    f.write();
    const auto ds = io::read_wsol_metadata(f.tmp.path);
    CHECK(ds.images[1].label == 1);
    CHECK(ds.images[0].size.width == 100);
}

TEST_CASE("wsol metadata: a line with too few or too many fields", "[io][datasets][errors]") {
    {
        WsolFolder f;
        CHECK_THAT(f.with("localization.txt", "a.jpg,0,0,99,49\nb.jpg,1,2,3\n").error(),
                   Contains(f.file("localization.txt") + ":2: too few fields: 4 where 5 are expected (id,x0,y0,x1,y1)"));
    }
    {
        WsolFolder f;
        CHECK_THAT(f.with("class_labels.txt", "a.jpg,0\nb.jpg\n").error(),
                   Contains(f.file("class_labels.txt") + ":2: too few fields: 1 where 2 are expected (id,class)"));
    }
    {
        WsolFolder f;
        CHECK_THAT(f.with("image_sizes.txt", "a.jpg,100\nb.jpg,20,30\n").error(),
                   Contains(f.file("image_sizes.txt") + ":1: too few fields"));
    }
    {
        WsolFolder f;
        CHECK_THAT(f.with("localization.txt", "a.jpg,0,0,99,49\nb.jpg,1,2,3,4,5\n").error(),
                   Contains("localization.txt:2: too many fields: 6 where 5"));
    }
    {
        WsolFolder f; // the first line decides between boxes and masks
        CHECK_THAT(f.with("localization.txt", "a.jpg,0,0,99\n").error(),
                   Contains("localization.txt:1: 4 fields: expected 5 (id,x0,y0,x1,y1: boxes) or 3"));
    }
}

TEST_CASE("wsol metadata: a field that is not a number", "[io][datasets][errors]") {
    {
        WsolFolder f;
        CHECK_THAT(f.with("localization.txt", "a.jpg,0,zero,99,49\nb.jpg,1,2,3,4\n").error(),
                   Contains(f.file("localization.txt") + ":1: y0 is not an integer: 'zero'"));
    }
    {
        WsolFolder f;
        CHECK_THAT(f.with("localization.txt", "a.jpg,0,0,99.5,49\nb.jpg,1,2,3,4\n").error(),
                   Contains("localization.txt:1: x1 is not an integer: '99.5'"));
    }
    {
        WsolFolder f;
        CHECK_THAT(f.with("class_labels.txt", "a.jpg,0\nb.jpg,cat\n").error(),
                   Contains("class_labels.txt:2: the class is not an integer: 'cat'"));
    }
    {
        WsolFolder f;
        CHECK_THAT(f.with("image_sizes.txt", "a.jpg,100,50\nb.jpg,20,\n").error(),
                   Contains("image_sizes.txt:2: the height is not an integer: ''"));
    }
    {
        WsolFolder f;
        CHECK_THAT(f.with("image_sizes.txt", "a.jpg,100,50\nb.jpg,0,30\n").error(),
                   Contains("image_sizes.txt:2: the image size 0x30 (width x height) must be positive"));
    }
    {
        WsolFolder f;
        CHECK_THAT(f.with("class_labels.txt", "a.jpg,0\nb.jpg,-1\n").error(), Contains("class_labels.txt:2: negative class -1"));
    }
}

TEST_CASE("wsol metadata: an id missing from another file, or listed twice", "[io][datasets][errors]") {
    {
        WsolFolder f;
        CHECK_THAT(f.with("class_labels.txt", "a.jpg,0\n").error(),
                   Contains(f.file("class_labels.txt") + ": no class label for image 'b.jpg' (" +
                            f.file("image_ids.txt") + ":2)"));
    }
    {
        WsolFolder f;
        CHECK_THAT(f.with("image_sizes.txt", "b.jpg,20,30\n").error(),
                   Contains("image_sizes.txt: no size for image 'a.jpg'") && Contains("image_ids.txt:1)"));
    }
    {
        WsolFolder f;
        CHECK_THAT(f.with("localization.txt", "a.jpg,0,0,99,49\n").error(),
                   Contains("localization.txt: no box for image 'b.jpg'"));
    }
    {
        WsolFolder f;
        CHECK_THAT(f.with("image_ids.txt", "a.jpg\nb.jpg\na.jpg\n").error(),
                   Contains("image_ids.txt:3: duplicate image id 'a.jpg' (first on line 1)"));
    }
    {
        WsolFolder f;
        CHECK_THAT(f.with("class_labels.txt", "a.jpg,0\nb.jpg,1\nb.jpg,2\n").error(),
                   Contains("class_labels.txt:3: duplicate image id 'b.jpg' (first on line 2)"));
    }
    {
        WsolFolder f;
        CHECK_THAT(f.without("localization.txt").error(), Contains(f.file("localization.txt") + ": cannot open: no such file"));
    }
    CHECK_THAT(io_error_of([] { (void)io::read_wsol_metadata(kDir / "no_such_split"); }), Contains("no such directory"));
}

TEST_CASE("wsol metadata: x1 < x0, y1 < y0 and a box outside the image", "[io][datasets][errors]") {
    {
        WsolFolder f;
        CHECK_THAT(f.with("localization.txt", "a.jpg,0,0,99,49\nb.jpg,5,2,3,4\n").error(),
                   Contains(f.file("localization.txt") + ":2: box (5, 2, 3, 4) has x1 < x0"));
    }
    {
        WsolFolder f;
        CHECK_THAT(f.with("localization.txt", "a.jpg,0,9,99,8\nb.jpg,1,2,3,4\n").error(),
                   Contains("localization.txt:1: box (0, 9, 99, 8) has y1 < y0"));
    }
    {
        WsolFolder f; // pixel-inclusive: x1 = width is one column too far
        CHECK_THAT(f.with("localization.txt", "a.jpg,0,0,100,49\nb.jpg,1,2,3,4\n").error(),
                   Contains(f.file("localization.txt") +
                            ":1: box (0, 0, 100, 49) lies outside the image of width 100 and height 50 "
                            "(image_sizes.txt:1)"));
    }
    {
        WsolFolder f;
        CHECK_THAT(f.with("localization.txt", "a.jpg,0,0,99,49\nb.jpg,1,2,3,30\n").error(),
                   Contains("localization.txt:2: box (1, 2, 3, 30) lies outside the image of width 20 and height 30"));
    }
    {
        WsolFolder f;
        CHECK_THAT(f.with("localization.txt", "a.jpg,-1,0,99,49\nb.jpg,1,2,3,4\n").error(),
                   Contains("localization.txt:1: box (-1, 0, 99, 49) lies outside the image"));
    }
}

// --- wsolevaluation masks (OpenImages) -----------------------------------------------------------

TEST_CASE("wsol metadata: OpenImages masks and ignore regions", "[io][datasets][masks]") {
    const auto ds = io::read_wsol_metadata(kDir / "wsol_masks");
    CHECK(ds.localization == io::Localization::masks);
    REQUIRE(ds.size() == 2);
    CHECK(ds.images[0].mask_paths == std::vector<std::string>{"val/c1/x_m1.png", "val/c1/x_m2.png"});
    CHECK(ds.images[0].ignore_path == "val/c1/x_ignore.png");
    CHECK(ds.images[1].mask_paths == std::vector<std::string>{"val/c2/y_m1.png"});
    CHECK(ds.images[1].ignore_path.empty());
    CHECK(ds.images[0].boxes.empty());

    // wsolevaluation's get_mask rule, computed with cv2 by the fixture script (at 24 x 32).
    for (std::size_t i = 0; i < 2; ++i) {
        INFO("image " << i);
        const auto m = io::load_wsol_masks(kDir / "wsol_masks" / "masks", ds.images[i], 24, 32);
        const auto fg = io::read_npy(kDir / "wsol_masks" / ("expected_fg_" + std::to_string(i) + ".npy")).as_int64();
        const auto ig = io::read_npy(kDir / "wsol_masks" / ("expected_ignore_" + std::to_string(i) + ".npy")).as_int64();
        REQUIRE(m.foreground.size() == fg.size());
        std::size_t fg_diff = 0, ig_diff = 0;
        for (std::size_t k = 0; k < fg.size(); ++k) {
            fg_diff += int{m.foreground.values()[k]} != fg[k];
            ig_diff += int{m.ignore.values()[k]} != ig[k];
        }
        CHECK(fg_diff == 0);
        CHECK(ig_diff == 0);
    }
    auto broken = ds.images[0];
    broken.mask_paths[1] = "val/c1/missing.png";
    CHECK_THAT(io_error_of([&] { (void)io::load_wsol_masks(kDir / "wsol_masks" / "masks", broken, 24, 32); }),
               Contains("missing.png: cannot open: no such file"));
}

TEST_CASE("wsol metadata: an ignore path on a later line of the same image", "[io][datasets][masks][errors]") {
    WsolFolder f;
    f.with("localization.txt", "a.jpg,m/a1.png,m/a_ignore.png\na.jpg,m/a2.png,m/other.png\nb.jpg,m/b.png,\n");
    CHECK_THAT(f.error(), Contains(f.file("localization.txt") + ":2: an ignore path on a later line of image 'a.jpg'"));
    WsolFolder g;
    CHECK_THAT(g.with("localization.txt", "a.jpg,m/a1.png,\nb.jpg,,\n").error(), Contains("localization.txt:2: empty mask path"));
    WsolFolder h;
    CHECK_THAT(h.with("localization.txt", "a.jpg,m/a1.png,\n").error(), Contains("no mask for image 'b.jpg'"));
}

// --- CUB-200-2011 --------------------------------------------------------------------------------

TEST_CASE("CUB: splits, 0-based classes and wsolevaluation's box conversion", "[io][datasets][cub]") {
    const auto test = io::read_cub(kDir / "cub");
    REQUIRE(test.size() == 3);
    CHECK(test.images[0].id == "001.Black_footed_Albatross/Black_Footed_Albatross_0046_18.jpg");
    CHECK(test.images[0].label == 0);
    // CUB's image 1, "60 27 325 304", is wsolevaluation's "60,27,385,331"; image 3 likewise.
    CHECK(test.images[0].boxes == std::vector<Box>{{60, 27, 385, 331}});
    CHECK(test.images[1].boxes == std::vector<Box>{{14, 112, 402, 298}});
    // Fractional values truncate as Python's int(): 10.7, 5.2, 10.7 + 20.6 = 31.3, 5.2 + 30.9 = 36.1.
    CHECK(test.images[2].boxes == std::vector<Box>{{10, 5, 31, 36}});
    CHECK(test.images[2].label == 1);
    CHECK(test.images[0].size.width == 0); // unknown without image_size

    const auto train = io::read_cub(kDir / "cub", {.split = io::CubSplit::train});
    REQUIRE(train.size() == 2);
    CHECK(train.images[0].id == "001.Black_footed_Albatross/Black_Footed_Albatross_0009_34.jpg");
    CHECK(io::read_cub(kDir / "cub", {.split = io::CubSplit::all}).size() == 5);

    // Sizes from a callback (read_image_info in practice) are stored and checked.
    std::vector<std::string> asked;
    const auto sized = io::read_cub(kDir / "cub", {.split = io::CubSplit::test, .image_size = [&](const std::string& id) {
                                                       asked.push_back(id);
                                                       return ImageSize{335, 500};
                                                   }});
    CHECK(asked.size() == 3);
    CHECK(sized.images[0].size.height == 335);
}

TEST_CASE("CUB: bad lines name the file and the line", "[io][datasets][cub][errors]") {
    {
        CubFolder f;
        CHECK_THAT(f.with("bounding_boxes.txt", "1 60.0 27.0 325.0\n").error(),
                   Contains(f.file("bounding_boxes.txt") + ":1: too few fields: 4 where 5 are expected"));
    }
    {
        CubFolder f;
        CHECK_THAT(f.with("bounding_boxes.txt", "1 60.0 27.0 325.0 304.0\n2 1 2 x 4\n").error(),
                   Contains("bounding_boxes.txt:2: width is not a number: 'x'"));
    }
    {
        CubFolder f;
        CHECK_THAT(f.with("bounding_boxes.txt", "1 60.0 27.0 -3.0 304.0\n").error(),
                   Contains("bounding_boxes.txt:1: negative box width -3"));
    }
    {
        CubFolder f;
        CHECK_THAT(f.with("image_class_labels.txt", "1 1\n2 1\n3 1\n4 2\n").error(),
                   Contains(f.file("image_class_labels.txt") + ": no class for image 5 (" + f.file("images.txt") + ":5)"));
    }
    {
        CubFolder f;
        CHECK_THAT(f.with("train_test_split.txt", "1 0\n2 1\n3 0\n4 0\n5 1\n9 1\n").error(),
                   Contains("train_test_split.txt:6: image number 9 is not in"));
    }
    {
        CubFolder f;
        CHECK_THAT(f.with("train_test_split.txt", "1 0\n2 1\n3 2\n4 0\n5 1\n").error(),
                   Contains("train_test_split.txt:3: is_training_image is 2; it must be 0 or 1"));
    }
    {
        CubFolder f;
        CHECK_THAT(f.with("image_class_labels.txt", "1 0\n2 1\n3 1\n4 2\n5 2\n").error(),
                   Contains("image_class_labels.txt:1: class 0: CUB classes count from 1"));
    }
    {
        CubFolder f; // image 1's box (x1 = 385) does not fit a 300-pixel-wide image
        const auto msg = f.error({.split = io::CubSplit::test, .image_size = [](const std::string&) { return ImageSize{400, 300}; }});
        CHECK_THAT(msg, Contains(f.file("bounding_boxes.txt") +
                                 ":1: box (60, 27, 385, 331) lies outside the image of width 300 and height 400"));
    }
    CHECK_THAT(io_error_of([] { (void)io::read_cub(kDir / "nope"); }), Contains("not a CUB-200-2011 folder"));
}

// --- the score fixture (tools/fixtures/make_score_fixture.py) ------------------------------------

TEST_CASE("score fixture: wsolevaluation's BoxEvaluator counts from the metadata and .npy readers",
          "[io][datasets][score]") {
    // What `dualgrad score` does with a wsolevaluation folder: read the metadata and each
    // <image_id>.npy, scale the ground-truth boxes to the map's size as BoxEvaluator does
    // (resize_bbox), extract boxes at the map's size, count. The counts must be wsolevaluation's.
    const auto root = std::filesystem::path(DUALGRAD_FIXTURES_DIR) / "score";
    std::ifstream in(root / "expected.json");
    const auto expected = nlohmann::json::parse(in);
    const auto ds = io::read_wsol_metadata(root / "metadata");
    REQUIRE(ds.size() == 8);
    for (const auto& [mode, multi] : {std::pair{"largest_contour", false}, std::pair{"multi_contour", true}}) {
        INFO(mode);
        const std::vector<double> ious{30, 50, 70};
        BoxAccuracy acc(cam_thresholds(0.01, "test"), ious);
        BoxExtractor<WsolLargestContour> largest;
        BoxExtractor<WsolMultiContour> all;
        for (const auto& im : ds.images) {
            const ScoreMap m = io::read_score_map(root / "scoremaps" / (im.id + ".npy"));
            const ImageSize size{m.height(), m.width()};
            std::vector<Box> gt;
            for (const auto& b : im.boxes) gt.push_back(io::scale_box(b, im.size, size));
            const auto want_gt = expected[mode]["gt_boxes_at_evaluation_size"][im.id];
            for (std::size_t k = 0; k < gt.size(); ++k)
                CHECK(gt[k] == Box{want_gt[k][0].get<int>(), want_gt[k][1].get<int>(), want_gt[k][2].get<int>(),
                                   want_gt[k][3].get<int>()});
            const auto boxes = multi ? all.boxes_per_threshold(m, size) : largest.boxes_per_threshold(m, size);
            acc.add(boxes, gt);
        }
        for (std::size_t k = 0; k < ious.size(); ++k) {
            const auto want = expected[mode]["num_correct"][std::to_string(static_cast<int>(ious[k]))].get<std::vector<std::int64_t>>();
            const auto got = acc.num_correct(k);
            CHECK(std::vector<std::int64_t>(got.begin(), got.end()) == want);
        }
        const auto r = acc.result();
        if (!multi) CHECK(r.at_iou(50).max_box_acc == expected["MaxBoxAcc"].get<double>());
        else CHECK(r.mean == expected["MaxBoxAccV2"].get<double>());
    }
}

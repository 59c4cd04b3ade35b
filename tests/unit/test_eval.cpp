// eval/: evaluate, protocols as types, the registries, the centre-box baseline. The dataset is
// written here (FashionLoc v2 on a flat background, so the object's pixels are known exactly) and
// the model is an oracle: its "map" of an image is how far each input pixel is from the
// background, so it localizes perfectly at the right threshold.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "synthetic_items.hpp"
#include "temp_files.hpp"

#include "dualgrad/datasets/fashionloc_v2.hpp"
#include "dualgrad/eval.hpp"

namespace {

using dualgrad::Box;
using dualgrad::ImageSize;
using dualgrad::ScoreMap;
using namespace dualgrad::eval;
using Catch::Matchers::Contains;

constexpr int kCanvas = 64, kImages = 6;

/// Six FashionLoc v2 test samples on a flat background, no grain, no clutter, in the
/// wsolevaluation layout under `root`.
void write_dataset(const std::filesystem::path& root) {
    const auto items = dgtest::synthetic_items();
    auto cfg = dualgrad::datasets::fashionloc_v2_config(3, dualgrad::datasets::FashionLocSplit::test, kCanvas);
    cfg.ranges.backgrounds = {dualgrad::datasets::Background::flat};
    cfg.ranges.noise = {0, 0};
    cfg.ranges.fragments = {0, 0};
    cfg.ranges.contrast = {0, 0};
    cfg.ranges.ink_contrast = {300, 500};
    dualgrad::datasets::WsolLayoutWriter w(root, "test");
    for (int i = 0; i < kImages; ++i) w.add(dualgrad::datasets::generate(items, i, cfg), i);
    w.close();
}

/// The oracle: per sample, sum over channels of |x - x(0, 0)| (the background colour), at the
/// input's resolution. Logits favour class 0 for every sample except that the ground truth is
/// ranked as `rank_of_gt` says (only the methods' names matter, not their maths).
class OracleModel final : public MapModel {
public:
    std::string name() const override { return "oracle"; }
    std::vector<std::string> default_layers() const override { return {"input"}; }
    std::string cam_layer() const override { return ""; }
    bool same_layer(const std::string& a, const std::string& b) const override { return a == b; }
    void check_layer(const std::string& l) const override {
        if (l != "input") dualgrad::detail::raise<dualgrad::value_error>("unknown layer '", l, "'");
    }
    bool cam_layer_only(const std::string& m) const override {
        if (m != "oracle" && m != "flat") dualgrad::detail::raise<dualgrad::value_error>("unknown method '", m, "'");
        return false;
    }
    BatchMaps maps(const dualgrad::io::NchwTensor& x, const std::vector<std::string>& layers,
                   const std::vector<std::string>& methods, const dualgrad::TargetRule& targets, const dualgrad::AnyCost&,
                   bool) override {
        const auto N = static_cast<int>(x.shape[0]), H = static_cast<int>(x.shape[2]), W = static_cast<int>(x.shape[3]);
        std::vector<float> logits(static_cast<std::size_t>(N) * 10, 0.0f);
        for (int n = 0; n < N; ++n) logits[static_cast<std::size_t>(n) * 10] = 1.0f; // class 0 predicted
        BatchMaps out{dualgrad::Logits(N, 10, logits), {}, {}};
        out.targets = targets.resolve(out.logits);
        ++calls;
        for (const auto& m : methods) {
            auto& per_layer = out.maps.emplace_back();
            for (std::size_t l = 0; l < layers.size(); ++l) {
                auto& slot = per_layer.emplace_back(1);
                for (int n = 0; n < N; ++n) {
                    const auto s = x.sample(n);
                    ScoreMap map(H, W, 0.0f);
                    if (m == "oracle")
                        for (int y = 0; y < H; ++y)
                            for (int xx = 0; xx < W; ++xx)
                                for (int c = 0; c < 3; ++c) {
                                    const auto at = [&](int yy, int xc) { return s[static_cast<std::size_t>((c * H + yy) * W + xc)]; };
                                    map(y, xx) += std::abs(at(y, xx) - at(0, 0));
                                }
                    slot[0].push_back(std::move(map));
                }
            }
        }
        return out;
    }
    int calls = 0;
};

/// The dataset in a temporary folder, opened, and the oracle.
struct Setup {
    dgtest::TempDir dir;
    EvalDataset data = (write_dataset(dir.path), EvalDataset::open(dir.path / "metadata" / "test", dir.path / "images"));
    OracleModel model;
};

EvalOptions base_options() {
    EvalOptions o;
    o.methods = {"oracle", "flat"};
    o.preprocess.height = o.preprocess.width = kCanvas;
    o.batch = 4;
    return o;
}

} // namespace

TEST_CASE("centre_box: a centred box of the given fraction of the frame", "[eval]") {
    CHECK(centre_box({10, 20}, 0.5) == Box{5, 2, 14, 6}); // 10 x 5 in a 20 x 10 frame
    CHECK(centre_box({10, 20}, 1.0) == Box{0, 0, 19, 9});
    CHECK(centre_box({7, 7}, 0.01) == Box{3, 3, 3, 3}); // at least one pixel
}

TEST_CASE("evaluate: an oracle map localizes every image; a flat map none; counts as worked out", "[eval]") {
    Setup setup;
    const auto& data = setup.data;
    auto& model = setup.model;
    auto o = base_options();
    o.protocols = {WsolevaluationProtocol{}, LayerCamProtocol{}};
    o.keep_records = true;
    o.examples = 2;
    std::vector<std::pair<std::size_t, std::size_t>> progress;
    o.progress = [&](std::size_t done, std::size_t total) { progress.emplace_back(done, total); };
    const EvalResult r = evaluate(model, data, o);
    CHECK(r.images == kImages);
    CHECK(model.calls == 2); // batches of 4: one pass per batch for every method
    CHECK(progress == std::vector<std::pair<std::size_t, std::size_t>>{{0, 6}, {4, 6}, {6, 6}});
    REQUIRE(r.protocols.size() == 2);
    for (const auto& pr : r.protocols) {
        INFO("protocol " << pr.runs.protocol);
        const auto* oracle = pr.runs.find("oracle", "input");
        const auto* flat = pr.runs.find("flat", "input");
        REQUIRE(oracle);
        REQUIRE(flat);
        const auto best = oracle->loc_accuracy().result().best_by_gt_known();
        CHECK(best.gt_known_loc == 100.0);
        // Class 0 is predicted for every image: top-1 loc counts exactly the images of class 0.
        int class0 = 0;
        for (const auto& im : data.metadata.images) class0 += im.label == 0;
        CHECK(best.top1_loc == Approx(100.0 * class0 / kImages));
        // A constant map normalizes to zeros: box (0, 0, 0, 0) (wsolevaluation) or (0, 0, 1, 1) (layercam).
        CHECK(flat->loc_accuracy().result().best_by_gt_known().gt_known_loc == 0.0);
        // Records: the oracle hits at its best threshold on every image.
        REQUIRE(pr.records.size() == kImages);
        for (const auto& rec : pr.records) CHECK(rec.hits.at("oracle@input").at(best.threshold_index) == 1);
        CHECK(pr.examples.size() == 2);
    }
}

TEST_CASE("evaluate: the centre-box baseline picks its size on the set, as MaxBoxAcc picks a threshold", "[eval]") {
    Setup setup;
    const auto& data = setup.data;
    auto& model = setup.model;
    const EvalResult r = evaluate(model, data, base_options());
    const auto* centre = r.protocols.at(0).runs.find(centre_box_method, centre_box_layer);
    REQUIRE(centre);
    const auto res = centre->loc_accuracy().result();
    // Worked out here: for each size, the images whose GT box the centred box meets at IoU >= 0.5.
    std::vector<double> want;
    for (std::size_t t = 0; t < res.thresholds.size(); ++t) {
        int hits = 0;
        for (const auto& im : data.metadata.images)
            hits += dualgrad::iou(centre_box({kCanvas, kCanvas}, 1.0 - res.thresholds[t]), im.boxes.at(0)) >= 0.5;
        want.push_back(100.0 * hits / kImages);
    }
    REQUIRE(res.gt_known_loc.size() == want.size());
    for (std::size_t t = 0; t < want.size(); ++t) CHECK(res.gt_known_loc[t] == Approx(want[t]));
    CHECK(*std::max_element(want.begin(), want.end()) > 0.0);
}

TEST_CASE("evaluate: shards add up to the unsharded counts exactly", "[eval]") {
    Setup setup;
    const auto& data = setup.data;
    auto& model = setup.model;
    auto o = base_options();
    const auto whole = evaluate(model, data, o).protocols.at(0).runs;
    o.shard = dualgrad::Shard{0, 2};
    auto merged = evaluate(model, data, o).protocols.at(0).runs;
    o.shard = dualgrad::Shard{1, 2};
    merged.merge(evaluate(model, data, o).protocols.at(0).runs);
    CHECK(runs_to_json(merged, {}) == runs_to_json(whole, {}));
}

TEST_CASE("evaluate: bad requests are errors that name what is wrong", "[eval]") {
    Setup setup;
    const auto& data = setup.data;
    auto& model = setup.model;
    auto o = base_options();
    o.methods = {"oracle", "nope"};
    CHECK_THROWS_WITH(evaluate(model, data, o), Contains("unknown method 'nope'"));
    o = base_options();
    o.layers = {"layer9"};
    CHECK_THROWS_WITH(evaluate(model, data, o), Contains("unknown layer 'layer9'"));
    o = base_options();
    o.protocols = {LayerCamProtocol{}, LayerCamProtocol{}};
    CHECK_THROWS_WITH(evaluate(model, data, o), Contains("protocol 'layercam' is asked for twice"));
    CHECK_THROWS_WITH(EvalDataset::open(setup.dir.path / "metadata" / "test", setup.dir.path / "images", setup.dir.path / "m"),
                      Contains("go together"));
}

namespace {
/// A protocol of the user's own: one box, the whole frame.
struct WholeFrame {
    std::string name() const { return "whole-frame"; }
    std::vector<double> thresholds() const { return {0.0}; }
    void boxes(const ScoreMap&, ImageSize f, ProtocolBoxes& out) const { out.largest = out.multi = {{Box{0, 0, f.width - 1, f.height - 1}}}; }
};
static_assert(BoxProtocol<WholeFrame>);
} // namespace

TEST_CASE("protocols: a user's type plugs in by name; unknown and duplicate names are errors", "[eval]") {
    AnyProtocol p = WholeFrame{};
    CHECK(p.name() == "whole-frame");
    CHECK(p.frame() == EvalFrame::original);
    CHECK_FALSE(p.has_pxap());
    CHECK_THROWS_WITH(p.pxap_map(ScoreMap(2, 2, 0.0f), {2, 2}), Contains("defines no PxAP map"));
    CHECK(AnyProtocol(WsolevaluationProtocol{}).frame() == EvalFrame::input);
    CHECK(AnyProtocol(WsolevaluationProtocol{}).has_pxap());

    CHECK_THROWS_WITH(ProtocolRegistry::global().make("voc"), Contains("unknown protocol 'voc'") && Contains("wsolevaluation, layercam, cam"));
    const auto names = ProtocolRegistry::global().names();
    if (std::find(names.begin(), names.end(), "whole-frame") == names.end()) register_protocol<WholeFrame>();
    ProtocolBoxes b;
    ProtocolRegistry::global().make("whole-frame").boxes(ScoreMap(3, 3, 1.0f), {5, 8}, b);
    CHECK(b.largest.at(0).at(0) == Box{0, 0, 7, 4});
    CHECK_THROWS_WITH(register_protocol<WholeFrame>(), Contains("already registered"));
    CHECK_THROWS_WITH(register_protocol("a,b", {}), Contains("not a valid protocol name"));
    CHECK(ProtocolRegistry::global().make("wsolevaluation", {.interval = 0.25}).thresholds() ==
          std::vector<double>{0.0, 0.25, 0.5, 0.75});
}

TEST_CASE("methods: registered by name, used by class_maps; bad names are errors", "[eval]") {
    using B = dualgrad::EigenBackend;
    auto& reg = dualgrad::MethodRegistry<B>::global();
    CHECK_THROWS_WITH(reg.at("nope"), Contains("unknown method 'nope'") && Contains("cam, gradcam, gradcampp"));
    if (!reg.contains("test-negated-pcs"))
        dualgrad::register_method<B>({.name = "test-negated-pcs", .maps = [](const dualgrad::LayerGradients<B>& g, const dualgrad::MethodInputs&) {
                                          std::vector<B::tensor> out;
                                          for (const auto& G : g.class_vjps) out.push_back(-dualgrad::PixelClassSelector<B>{}(g.activations, G));
                                          return out;
                                      }});
    CHECK_THROWS_WITH(dualgrad::register_method<B>({.name = "test-negated-pcs", .maps = reg.at("pcs").maps}),
                      Contains("already registered"));
    CHECK_THROWS_WITH(dualgrad::register_method<B>({.name = "a@b", .maps = reg.at("pcs").maps}), Contains("must not contain"));
    CHECK_THROWS_WITH(dualgrad::register_method<B>({.name = "no-callable", .maps = {}}), Contains("has no callable"));
    // S = 1 everywhere, G = 2 everywhere on 3 channels: PCS = sum_k G S = 6 at every pixel.
    B::tensor S(1, 3, 2, 2), G(1, 3, 2, 2);
    S.setConstant(1.0f);
    G.setConstant(2.0f);
    const dualgrad::LayerGradients<B> g{S, {G}, std::nullopt, {}, {}};
    const auto pcs = dualgrad::class_maps<B>("pcs", g);
    const auto neg = dualgrad::class_maps<B>("test-negated-pcs", g);
    REQUIRE(pcs.size() == 1);
    CHECK(pcs[0](0, 0, 1, 1) == 6.0f);
    CHECK(neg[0](0, 0, 1, 1) == -6.0f);
    CHECK_THROWS_WITH(dualgrad::class_maps<B>("cam", g), Contains("needs the classifier head"));
}

namespace {
/// The oracle with a forward pass of perturbed inputs whose logits are all zero (p = 0.1 for
/// every class, whatever the input), counting the inputs it is given.
class ForwardOracle final : public MapModel {
public:
    std::string name() const override { return inner.name(); }
    std::vector<std::string> default_layers() const override { return inner.default_layers(); }
    std::string cam_layer() const override { return ""; }
    bool same_layer(const std::string& a, const std::string& b) const override { return inner.same_layer(a, b); }
    void check_layer(const std::string& l) const override { inner.check_layer(l); }
    bool cam_layer_only(const std::string& m) const override { return inner.cam_layer_only(m); }
    BatchMaps maps(const dualgrad::io::NchwTensor& x, const std::vector<std::string>& layers,
                   const std::vector<std::string>& methods, const dualgrad::TargetRule& targets, const dualgrad::AnyCost& c,
                   bool skip) override {
        return inner.maps(x, layers, methods, targets, c, skip);
    }
    bool has_forward() const override { return true; }
    dualgrad::Logits forward_filled(dualgrad::Shape4 shape, const dualgrad::HeadFill& fill) override {
        std::vector<float> in(static_cast<std::size_t>(shape.count()));
        fill(in);
        inputs += shape.n;
        max_batch = std::max<std::int64_t>(max_batch, shape.n);
        return dualgrad::Logits(static_cast<int>(shape.n), 10, std::vector<float>(static_cast<std::size_t>(shape.n) * 10, 0.0f));
    }
    OracleModel inner;
    std::int64_t inputs = 0, max_batch = 0;
};
} // namespace

TEST_CASE("evaluate: faithfulness metrics per run, worked out with a constant classifier; shards merge exactly", "[eval][faithfulness]") {
    Setup setup;
    ForwardOracle model;
    auto o = base_options();
    dualgrad::FaithfulnessOptions f;
    f.steps = 8;
    f.tolerance = 0;
    f.batch = 5;
    o.faithfulness = f;
    const auto whole = evaluate(model, setup.data, o).protocols.at(0).runs;
    // Six images: the image and its two runs' masked copies for the confidence, and per run 9 + 9
    // inputs for the curves (64 x 64 pixels in 8 steps of 512).
    CHECK(model.inputs == kImages * (3 + 2 * 2 * 9));
    CHECK(model.max_batch == 5);
    REQUIRE(whole.faithfulness.size() == 2); // not the centre box
    for (const char* run : {"oracle@input", "flat@input"}) {
        INFO(run);
        const auto r = whole.faithfulness.at(run).result();
        // p(x) = p(s * x) = 0.1: no drop, no increase.
        CHECK(r.avg_drop == 0.0);
        CHECK(r.increase == 0.0);
        CHECK(r.deletion_auc == Approx(0.1).epsilon(1e-9));
        CHECK(r.insertion_auc == Approx(0.1).epsilon(1e-9));
        CHECK(r.deletion_curve.size() == 9);
    }
    // The oracle's maximum is on the object; the flat map's is the corner (0, 0), off every box.
    CHECK(whole.faithfulness.at("oracle@input").result().pointing == 1.0);
    CHECK(whole.faithfulness.at("flat@input").result().pointing == 0.0);

    o.shard = dualgrad::Shard{0, 2};
    auto merged = evaluate(model, setup.data, o).protocols.at(0).runs;
    o.shard = dualgrad::Shard{1, 2};
    merged.merge(evaluate(model, setup.data, o).protocols.at(0).runs);
    CHECK(runs_to_json(merged, {}) == runs_to_json(whole, {}));

    // The file form reads back to the same counts.
    dgtest::TempDir dir;
    const auto file = dir.path / "metrics.json";
    {
        std::ofstream out(file);
        out << runs_to_json(whole, {}).dump();
    }
    CHECK(runs_to_json(read_runs(file), {}) == runs_to_json(whole, {}));
}

TEST_CASE("evaluate: faithfulness requests that cannot be met are errors", "[eval][faithfulness][bad-input]") {
    Setup setup;
    auto o = base_options();
    o.faithfulness = dualgrad::FaithfulnessOptions{};
    // The oracle has no forward pass of new inputs.
    CHECK_THROWS_WITH(evaluate(setup.model, setup.data, o),
                      Contains("need the logits of perturbed inputs, and model 'oracle' gives none"));
    // The pointing game alone needs none.
    o.faithfulness->confidence = o.faithfulness->deletion = o.faithfulness->insertion = false;
    const auto r = evaluate(setup.model, setup.data, o).protocols.at(0).runs;
    CHECK(r.faithfulness.at("oracle@input").result().pointing > 0.5);
    CHECK(std::isnan(r.faithfulness.at("oracle@input").result().deletion_auc));
    o.tencrop = true;
    CHECK_THROWS_WITH(evaluate(setup.model, setup.data, o), Contains("10-crop gives ten"));
    o.tencrop = false;
    o.faithfulness->pointing = false;
    CHECK_THROWS_WITH(evaluate(setup.model, setup.data, o), Contains("no metric"));
}

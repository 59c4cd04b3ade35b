// The bundled FashionLoc models (models/fashionloc) reproduce their recorded test accuracy on a
// small fixed subset: FashionLoc test samples 0..count-1 of seed 1 (generated in memory from
// Debian's dataset-fashion-mnist, the bytes `dualgrad_fashionloc` writes), classified by the CPU
// engine. The recorded counts are in models/fashionloc/models.json ("ci_subset"), written from
// `dualgrad eval` runs on the same images (docs/results.md gives the command).
#include <filesystem>
#include <fstream>
#include <string>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <dualgrad/datasets/fashionloc.hpp>
#include <dualgrad/io/idx.hpp>
#include <dualgrad/io/image.hpp>
#include <dualgrad/models/cpu_model.hpp>

namespace fs = std::filesystem;

TEST_CASE("Bundled models reproduce their recorded FashionLoc test accuracy", "[bundled][fashionloc][dataset]") {
    const fs::path dir = fs::path(DUALGRAD_FIXTURES_DIR) / ".." / ".." / "models" / "fashionloc";
    std::ifstream in(dir / "models.json");
    INFO("reading " << (dir / "models.json") << " (written by tools/train/record_models.sh)");
    REQUIRE(in.good());
    const auto manifest = nlohmann::json::parse(in);
    const fs::path fm(dualgrad::io::fashion_mnist_default_dir);
    if (!fs::exists(fm / "t10k-images-idx3-ubyte.gz")) {
        FAIL("Fashion-MNIST is not installed in " << fm << ": install the Debian package dataset-fashion-mnist");
    }
    const auto t10k = dualgrad::io::load_fashion_mnist(dualgrad::io::FashionMnistSplit::test);
    REQUIRE(manifest.contains("models"));
    for (const auto& [arch, entry] : manifest["models"].items()) {
        const auto& sub = entry.at("ci_subset");
        const int first = sub.at("first").get<int>(), count = sub.at("count").get<int>();
        const int recorded = sub.at("correct").get<int>();
        dualgrad::datasets::FashionLocConfig cfg;
        cfg.seed = sub.at("seed").get<std::uint64_t>();
        cfg.canvas = entry.at("size").get<int>();
        cfg.split = dualgrad::datasets::FashionLocSplit::test;
        auto model = dualgrad::models::load_model(arch, dir / entry.at("weights").get<std::string>());
        dualgrad::io::PreprocessOptions pre;
        pre.resize = false;
        int correct = 0;
        const int batch = 25;
        for (int i = first; i < first + count; i += batch) {
            std::vector<dualgrad::io::Image> images;
            std::vector<int> labels;
            for (int k = i; k < std::min(first + count, i + batch); ++k) {
                auto s = dualgrad::datasets::generate(t10k, k, cfg);
                images.push_back(std::move(s.image));
                labels.push_back(s.label);
            }
            const auto x = dualgrad::io::preprocess(images, pre);
            const auto logits = model.graph.forward(
                dualgrad::EigenBackend::from_host({x.shape[0], x.shape[1], x.shape[2], x.shape[3]}, x.values), {1});
            for (int n = 0; n < logits.samples(); ++n) {
                const auto row = logits.row(n);
                const auto best = std::max_element(row.begin(), row.end()) - row.begin();
                correct += best == labels[static_cast<std::size_t>(n)];
            }
        }
        INFO(arch << ": " << correct << " of " << count << " correct; recorded " << recorded);
        CHECK(correct == recorded);
    }
}

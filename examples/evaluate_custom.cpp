// A user-defined method (DGL with ReLU'd gradients) under a user-defined box protocol (a percentile
// threshold) through eval::evaluate, on the bundled FashionLoc model and 12 FashionLoc test images.
#include <algorithm>
#include <cstdio>
#include <dualgrad/eval.hpp>
using namespace dualgrad;

struct Percentile { // the tight box of the pixels at or above the map's 80th percentile
    std::string name() const { return "percentile80"; }
    std::vector<double> thresholds() const { return {0.0}; }
    void boxes(const ScoreMap& raw, ImageSize f, eval::ProtocolBoxes& out) const {
        const ScoreMap m = resize(raw, f.height, f.width, Interpolation::cubic);
        std::vector<float> v(m.values().begin(), m.values().end());
        std::nth_element(v.begin(), v.begin() + v.size() * 8 / 10, v.end());
        Box b{f.width, f.height, -1, -1};
        for (int y = 0; y < f.height; ++y)
            for (int x = 0; x < f.width; ++x)
                if (m(y, x) >= v[v.size() * 8 / 10]) b = {std::min(b.x0, x), std::min(b.y0, y), std::max(b.x1, x), std::max(b.y1, y)};
        out.largest = out.multi = {{b}};
    }
};

int main() {
    register_method<EigenBackend>({.name = "dgl-relu-grad", .needs_cost = true, .maps = [](const auto& g, const MethodInputs&) {
        std::vector<EigenBackend::tensor> maps;
        const EnhancedMapper<EigenBackend> cem; // A_c = l2(S) - l2(dcost/dS), reference cost
        for (const auto& G : g.class_vjps)
            maps.push_back(ops::pixel_sum<EigenBackend>(G, cem.enhanced_activations(g.activations, cem.cost_gradient(G, *g.prob_vjp)), PixelTerm::relu_grad));
        return maps;
    }});
    const std::string root = DUALGRAD_SOURCE_DIR, data = root + "/tests/fixtures/cli/fashionloc_mini";
    auto model = eval::cpu_map_model(models::load_model("resnet50", root + "/models/fashionloc/resnet50.safetensors"));
    eval::EvalOptions o{.methods = {"dgl", "dgl-relu-grad"}, .layers = {"layer3.3"}, .protocols = {Percentile{}}};
    o.preprocess.height = o.preprocess.width = 128;
    const auto result = eval::evaluate(*model, eval::EvalDataset::open(data + "/metadata/test", data + "/images"), o);
    for (const auto& [run, m] : result.protocols[0].runs.runs)
        std::printf("%-26s GT-known loc %.1f %%\n", run.c_str(), m.loc_accuracy().result().best_by_gt_known().gt_known_loc);
    return result.images == 12 ? 0 : 1;
}

// DGL and the CAM family against tests/fixtures/core/dgl_fixture.json, made by
// tools/fixtures/make_core_fixture.py in PyTorch from the authors' formulas: autograd gradients,
// one backward per cotangent, TensorFlow's `prob - labels` cost kernel and l2_normalize.
#include <fstream>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <dualgrad/core/methods.hpp>

#include "backends.hpp"
#include "json_fixture.hpp"
#include "tensor_matchers.hpp"

using namespace dualgrad;

namespace {
const nlohmann::json& fixture() { return dgtest::json_fixture("core/dgl_fixture.json"); }
using dgtest::doubles;
using dgtest::floats;
} // namespace

TEMPLATE_LIST_TEST_CASE("DGL and the CAM family match the PyTorch fixture", "[core][fixture]", dgtest::Backends) {
    using B = TestType;
    const auto& f = fixture();
    const auto dims = f["shape"].get<std::vector<std::int64_t>>();
    const Shape4 s{dims[0], dims[1], dims[2], dims[3]};

    LayerGradients<B> g;
    g.activations = B::from_host(s, floats(f["S"]));
    g.prob_vjp = B::from_host(s, floats(f["P"]));
    for (const auto& slot : f["slots"]) g.class_vjps.push_back(B::from_host(s, floats(slot["G"])));

    // The fixture's slot 0 is the top-1 class: our Targets::top_k must agree.
    const Logits logits(static_cast<int>(s.n), f["classes"].get<int>(), floats(f["logits"]));
    const auto top = Targets::top_k(logits, 3);
    for (int n = 0; n < s.n; ++n) {
        REQUIRE(top(n, 0) == f["slots"][0]["classes"][n].get<int>());
        REQUIRE(top(n, 2) == f["slots"][1]["classes"][n].get<int>());
    }

    const double abs_tol = 1e-6, rel_tol = 1e-4;
    for (Method m : {Method::gradcam, Method::gradcampp, Method::xgradcam, Method::hirescam,
                     Method::gradcam_elementwise, Method::layercam, Method::pcs}) {
        INFO("method " << name(m));
        const auto maps = class_maps<B>(m, g);
        for (std::size_t t = 0; t < maps.size(); ++t)
            REQUIRE_THAT(B::to_host(maps[t]), dgtest::all_close(doubles(f["slots"][t]["maps"][std::string(name(m))]), abs_tol, rel_tol));
    }
    for (float alpha : {10.0f, 3.0f}) {
        const std::string a = alpha == 10.0f ? "10" : "3";
        INFO("alpha " << a);
        MapOptions<ReferenceCost> ref{ReferenceCost{alpha}, {}};
        MapOptions<CrossEntropyCost> xent{CrossEntropyCost{alpha}, {}};
        const auto r = class_maps<B>(Method::dgl, g, nullptr, ref);
        const auto x = class_maps<B>(Method::dgl, g, nullptr, xent);
        for (std::size_t t = 0; t < r.size(); ++t) {
            const auto& slot = f["slots"][t];
            REQUIRE_THAT(B::to_host(r[t]), dgtest::all_close(doubles(slot["maps"]["dgl_reference_a" + a]), abs_tol, rel_tol));
            REQUIRE_THAT(B::to_host(x[t]), dgtest::all_close(doubles(slot["maps"]["dgl_xent_a" + a]), abs_tol, rel_tol));
            // The explicit-cost-gradient path (2T products) gives the same map.
            const auto Gc = B::from_host(s, floats(slot["cost_grads"]["reference_a" + a]));
            const auto direct = EnhancedMapper<B, ReferenceCost>(ReferenceCost{alpha}).from_cost_gradient(g.activations, g.class_vjps[t], Gc);
            REQUIRE_THAT(B::to_host(direct), dgtest::all_close(doubles(slot["maps"]["dgl_reference_a" + a]), abs_tol, rel_tol));
        }
    }
}

// dualgrad::torch, in one translation unit (LibTorch headers compile slowly):
// - TorchBackend against EigenBackend: every method on the same inputs, within 1e-5; half and
//   bfloat16 inputs computed in float; bad input (mixed devices, integer dtype, wrong rank).
// - TorchModel, the LibTorch gradient source built from the CPU engine's descriptions: the same
//   parameter names and shapes, the same load errors, and on the PyTorch fixtures of the four
//   backbones the same logits, S and VJPs as the CPU engine (and as PyTorch), within 1e-4
//   relative, with either way of batching the cotangents.
// - The adapters for a user's own model (TorchStagedModel, TorchTapsModel) against PyTorch's
//   autograd on TorchScript fixtures; TorchBackbone, the backbones as torch::nn modules.
#include <cmath>
#include <set>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <dualgrad/backend/torch.hpp>
#include <dualgrad/core/methods.hpp>
#include <dualgrad/models/cpu_model.hpp>
#include <dualgrad/io/npy.hpp>
#include <dualgrad/models/torch_adapter.hpp>
#include <dualgrad/models/torch_model.hpp>
#include <dualgrad/models/torch_module.hpp>
#include <torch/optim/sgd.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/pooling.h>
#include <torch/nn/modules/linear.h>

#include "backends.hpp"
#include "tensor_matchers.hpp"
#include "model_fixtures.hpp"

using namespace dualgrad;
using dualgrad::models::CotangentBatching;

namespace {

using TB = TorchBackend;
using EB = EigenBackend;

std::vector<float> host(const at::Tensor& t) { return TB::to_host(t); }

struct MapCase {
    Shape4 s;
    std::vector<float> S, G, P, C;
};

MapCase random_case(Shape4 s, unsigned seed) {
    const auto n = static_cast<std::size_t>(s.count());
    // S >= 0 as after a ReLU; gradients of both signs.
    return {s, dgtest::random_values(n, seed, 0.0f, 2.0f), dgtest::random_values(n, seed + 1),
            dgtest::random_values(n, seed + 2), dgtest::random_values(n, seed + 3)};
}

template <class B>
LayerGradients<B> layer_gradients(const MapCase& c, int slots) {
    LayerGradients<B> g;
    g.activations = B::from_host(c.s, c.S);
    for (int t = 0; t < slots; ++t) {
        auto v = c.G;
        for (auto& x : v) x *= 1.0f + 0.5f * t;
        g.class_vjps.push_back(B::from_host(c.s, v));
        g.cost_vjps.push_back(B::from_host(c.s, c.C));
    }
    g.prob_vjp = B::from_host(c.s, c.P);
    return g;
}

using dgtest::require_close;
std::string fixture(const std::string& name) { return dgtest::model_fixture(name); }

at::Tensor torch_input(const io::SafetensorsFile& f, const std::string& name) {
    const auto& info = f.info(name);
    auto v = f.read_float(name);
    return at::from_blob(v.data(), info.shape, at::TensorOptions().dtype(at::kFloat)).clone();
}

nn::Tensor eigen_input(const io::SafetensorsFile& f, const std::string& name) {
    const auto& info = f.info(name);
    nn::Tensor t(info.shape.at(0), info.shape.at(1), info.shape.at(2), info.shape.at(3));
    f.read_float_into(name, {t.data(), static_cast<std::size_t>(t.size())});
    return t;
}

std::vector<at::Device> devices() {
    std::vector<at::Device> d{at::kCPU};
    if (at::hasCUDA()) d.emplace_back(at::kCUDA);
    return d;
}

} // namespace

// --- TorchBackend ---------------------------------------------------------------------------------

TEST_CASE("TorchBackend and EigenBackend give the same maps for every method", "[torch][backend]") {
    const auto c = random_case({3, 7, 5, 6}, 11);
    const Targets targets(std::vector<std::vector<int>>{{2, 0}, {0, 3}, {3, 1}});
    const int classes = 4;
    const auto fc = dgtest::random_values(static_cast<std::size_t>(classes * c.s.c), 5);
    const auto bias = dgtest::random_values(static_cast<std::size_t>(classes), 6);
    MapOptions<> with_fc;
    with_fc.fc = FcHead{fc, classes, static_cast<int>(c.s.c), bias};
    const auto ge = layer_gradients<EB>(c, 2);

    for (const auto& device : devices()) {
        INFO("device " << device.str());
        auto gt = layer_gradients<TB>(c, 2);
        gt.activations = gt.activations.to(device);
        for (auto& t : gt.class_vjps) t = t.to(device);
        for (auto& t : gt.cost_vjps) t = t.to(device);
        *gt.prob_vjp = gt.prob_vjp->to(device);
        for (const auto& [method, text] : method_names) {
            INFO("method " << text);
            const auto want = class_maps<EB>(method, ge, &targets, with_fc);
            const auto got = class_maps<TB>(method, gt, &targets, with_fc);
            REQUIRE(got.size() == want.size());
            for (std::size_t t = 0; t < want.size(); ++t) {
                REQUIRE(TB::shape(got[t]) == EB::shape(want[t]));
                REQUIRE(got[t].device() == device);
                REQUIRE_THAT(host(got[t]), dgtest::all_close(EB::to_host(want[t]), 1e-5, 1e-5));
            }
        }
        // DGL from the cost gradient itself, and with the textbook cost.
        const EnhancedMapper<EB, CrossEntropyCost> ce_e(CrossEntropyCost{3.0f});
        const EnhancedMapper<TB, CrossEntropyCost> ce_t(CrossEntropyCost{3.0f});
        REQUIRE_THAT(host(ce_t(gt.activations, gt.class_vjps[0], *gt.prob_vjp)),
                     dgtest::all_close(EB::to_host(ce_e(ge.activations, ge.class_vjps[0], *ge.prob_vjp)), 1e-5, 1e-5));
        REQUIRE_THAT(host(ce_t.from_cost_gradient(gt.activations, gt.class_vjps[1], gt.cost_vjps[1])),
                     dgtest::all_close(EB::to_host(ce_e.from_cost_gradient(ge.activations, ge.class_vjps[1], ge.cost_vjps[1])),
                                       1e-5, 1e-5));
        REQUIRE_THAT(host(ce_t.enhanced_activations(gt.activations, gt.cost_vjps[0])),
                     dgtest::all_close(EB::to_host(ce_e.enhanced_activations(ge.activations, ge.cost_vjps[0])), 1e-5, 1e-5));
    }
}

TEST_CASE("TorchBackend kernels equal the portable kernels", "[torch][backend]") {
    const auto c = random_case({2, 5, 4, 3}, 21);
    const auto S = TB::from_host(c.s, c.S), G = TB::from_host(c.s, c.G), X = TB::from_host(c.s, c.P);
    const auto Se = EB::from_host(c.s, c.S), Ge = EB::from_host(c.s, c.G), Xe = EB::from_host(c.s, c.P);
    const auto want_m = ops::moments<EB>(Se, Ge, Xe), got_m = ops::moments<TB>(S, G, X);
    REQUIRE(got_m.size() == want_m.size());
    for (std::size_t n = 0; n < got_m.size(); ++n) {
        REQUIRE_THAT(got_m[n].ss, Catch::Matchers::WithinRel(want_m[n].ss, 1e-6));
        REQUIRE_THAT(got_m[n].gg, Catch::Matchers::WithinRel(want_m[n].gg, 1e-6));
        REQUIRE_THAT(got_m[n].xx, Catch::Matchers::WithinRel(want_m[n].xx, 1e-6));
        REQUIRE_THAT(got_m[n].gx, Catch::Matchers::WithinAbs(want_m[n].gx, 1e-5));
    }
    const auto ws = ops::spatial_sum<EB>(Ge), gs = ops::spatial_sum<TB>(G);
    const auto wd = ops::spatial_dot<EB>(Ge, Xe), gd = ops::spatial_dot<TB>(G, X);
    const auto wq = ops::sum_squares<EB>(Ge), gq = ops::sum_squares<TB>(G);
    for (std::size_t i = 0; i < ws.size(); ++i) {
        REQUIRE_THAT(gs[i], Catch::Matchers::WithinAbs(ws[i], 1e-5));
        REQUIRE_THAT(gd[i], Catch::Matchers::WithinAbs(wd[i], 1e-5));
    }
    for (std::size_t i = 0; i < wq.size(); ++i) REQUIRE_THAT(gq[i], Catch::Matchers::WithinRel(wq[i], 1e-6));
    const std::vector<float> a{0.5f, -2.0f}, b{3.0f, 0.25f};
    REQUIRE_THAT(host(ops::axpby<TB>(S, a, X, b)), dgtest::all_close(EB::to_host(ops::axpby<EB>(Se, a, Xe, b))));
    REQUIRE_THAT(host(ops::relu<TB>(G)), dgtest::all_close(EB::to_host(ops::relu<EB>(Ge))));
    REQUIRE(TB::to_host(TB::from_host(c.s, c.S)) == c.S);
}

TEST_CASE("TorchBackend computes half and bfloat16 inputs in float", "[torch][backend]") {
    const auto c = random_case({2, 6, 4, 5}, 31);
    const auto dtype = GENERATE(at::kHalf, at::kBFloat16);
    INFO("dtype " << c10::toString(dtype));
    LayerGradients<TB> low;
    low.activations = TB::from_host(c.s, c.S).to(dtype);
    low.class_vjps.push_back(TB::from_host(c.s, c.G).to(dtype));
    low.prob_vjp = TB::from_host(c.s, c.P).to(dtype);
    // The oracle: Eigen on the same values rounded to the low precision, widened exactly.
    LayerGradients<EB> want;
    want.activations = EB::from_host(c.s, TB::to_host(low.activations));
    want.class_vjps.push_back(EB::from_host(c.s, TB::to_host(low.class_vjps[0])));
    want.prob_vjp = EB::from_host(c.s, TB::to_host(*low.prob_vjp));
    for (Method m : {Method::dgl, Method::pcs, Method::gradcam, Method::layercam}) {
        INFO("method " << name(m));
        const auto got = class_maps<TB>(m, low);
        REQUIRE(got[0].scalar_type() == at::kFloat);
        REQUIRE_THAT(host(got[0]), dgtest::all_close(EB::to_host(class_maps<EB>(m, want)[0]), 1e-5, 1e-5));
    }
}

TEST_CASE("TorchBackend: bad input gives clear errors", "[torch][backend][errors]") {
    const Shape4 s{1, 2, 3, 3};
    const auto S = TB::from_host(s, std::vector<float>(9 * 2, 1.0f));
    SECTION("tensors on different devices") {
        // The meta device stands in for a second device on a machine without a GPU.
        const auto G = at::empty({1, 2, 3, 3}, at::TensorOptions().dtype(at::kFloat).device(at::kMeta));
        REQUIRE_THROWS_WITH(PixelClassSelector<TB>{}(S, G),
                            Catch::Contains("different devices") && Catch::Contains("activations S is on cpu") &&
                                Catch::Contains("meta"));
        REQUIRE_THROWS_AS(EnhancedMapper<TB>{}(S, S, G), value_error);
    }
    SECTION("an integer dtype") {
        const auto G = at::ones({1, 2, 3, 3}, at::kLong);
        REQUIRE_THROWS_WITH(PixelClassSelector<TB>{}(S, G),
                            Catch::Contains("gradient dl_c/dS has dtype Long") && Catch::Contains("floating-point"));
        REQUIRE_THROWS_WITH(ops::relu<TB>(at::ones({1, 1, 2, 2}, at::kInt)), Catch::Contains("dtype Int"));
    }
    SECTION("a tensor that is not 4-D") {
        REQUIRE_THROWS_WITH(TB::shape(at::ones({2, 3})), Catch::Contains("4-D") && Catch::Contains("[2, 3]"));
        REQUIRE_THROWS_AS(PixelClassSelector<TB>{}(S, at::ones({2, 3, 3})), shape_error);
    }
    SECTION("mismatched shapes") {
        REQUIRE_THROWS_WITH(PixelClassSelector<TB>{}(S, at::ones({1, 3, 3, 3})), Catch::Contains("shape mismatch"));
    }
}

// --- TorchModel -----------------------------------------------------------------------------------

TEST_CASE("TorchModel has the CPU engine's parameter names and shapes", "[torch][models]") {
    for (auto arch : models::architectures) {
        INFO("arch " << arch);
        const auto d = models::describe(arch, {.num_classes = 7, .width = 1.0 / 16});
        auto graph = models::build_graph(d);
        const auto specs = models::parameter_specs(d);
        const auto params = graph.parameters();
        REQUIRE(specs.size() == params.size());
        for (std::size_t i = 0; i < specs.size(); ++i) {
            REQUIRE(specs[i].name == params[i].first);
            REQUIRE(specs[i].shape == params[i].second.shape);
        }
        const models::TorchModel m(d);
        REQUIRE(m.parameters().size() == specs.size());
    }
}

TEST_CASE("TorchModel and the CPU engine agree on the four fixture backbones", "[torch][models][fixture]") {
    const std::string arch = GENERATE(as<std::string>{}, "vgg16", "inception_v3", "resnet50", "se_resnet50");
    const auto batching = GENERATE(CotangentBatching::separate, CotangentBatching::repeat);
    INFO("arch " << arch << ", batching " << (batching == CotangentBatching::separate ? "separate" : "repeat"));
    const auto weights = io::SafetensorsFile::open(fixture(arch + ".safetensors"));
    const auto expected = io::SafetensorsFile::open(fixture(arch + ".expected.safetensors"));
    const auto taps = nlohmann::json::parse(expected.metadata().at("taps")).get<std::vector<std::string>>();
    const int slots = std::stoi(expected.metadata().at("slots"));

    auto cpu = models::load_model(arch, weights);
    auto tm = models::load_torch_model(arch, weights);
    tm.batching = batching;
    REQUIRE(tm.description().num_classes == 6);

    const GradientRequest req{taps, TargetRule::top_k(slots)};
    const auto want = cpu.graph.gradients(eigen_input(expected, "input"), req, nn::ExecContext{2});
    const auto x = torch_input(expected, "input");
    const auto got = tm.gradients(x, req);

    require_close({got.logits.values().begin(), got.logits.values().end()},
                  {want.logits.values().begin(), want.logits.values().end()}, 1e-4, "logits");
    require_close(host(tm.forward(x).view({x.size(0), -1, 1, 1})), {want.logits.values().begin(), want.logits.values().end()},
                  1e-4, "forward() logits");
    const auto pytorch_targets = expected.read_float("targets");
    for (int n = 0; n < got.targets.samples(); ++n)
        for (int t = 0; t < slots; ++t) {
            REQUIRE(got.targets(n, t) == want.targets(n, t));
            REQUIRE(got.targets(n, t) == static_cast<int>(pytorch_targets[static_cast<std::size_t>(n * slots + t)]));
        }
    for (const auto& tap : taps) {
        const auto& g = got.layer(tap);
        const auto& w = want.layer(tap);
        require_close(host(g.activations), EB::to_host(w.activations), 1e-4, tap + ".S");
        REQUIRE(g.slots() == slots);
        for (int t = 0; t < slots; ++t) {
            require_close(host(g.class_vjps[t]), EB::to_host(w.class_vjps[t]), 1e-4, tap + ".G" + std::to_string(t));
            require_close(host(g.class_vjps[t]), expected.read_float(tap + ".G" + std::to_string(t)), 1e-4,
                          tap + ".G" + std::to_string(t) + " (PyTorch)");
        }
        REQUIRE(g.prob_vjp.has_value());
        require_close(host(*g.prob_vjp), EB::to_host(*w.prob_vjp), 1e-4, tap + ".P");
        require_close(host(*g.prob_vjp), expected.read_float(tap + ".P"), 1e-4, tap + ".P (PyTorch)");
    }
}

TEST_CASE("TorchModel: cost cotangents, aliases, S only, and the trunk without autograd", "[torch][models]") {
    const auto weights = io::SafetensorsFile::open(fixture("resnet50.safetensors"));
    auto cpu = models::load_model("resnet50", weights);
    auto tm = models::load_torch_model("resnet50", weights);
    const auto x = at::rand({1, 3, 32, 32}, at::TensorOptions().dtype(at::kFloat));
    nn::Tensor xe(1, 3, 32, 32);
    std::copy_n(x.data_ptr<float>(), xe.size(), xe.data());

    SECTION("a non-linear cost policy's cotangents (2T products), a layer requested by two names") {
        auto req = request_for({"group2/block5", "layer3.5", "layer4.0"}, TargetRule::given({{4, 1}}), ReferenceCost{});
        req.prob_vjp = false;
        req.cost_cotangent = [](std::span<const float> l, int c, std::span<float> out) { ReferenceCost{}.cotangent(l, c, out); };
        for (auto batching : {CotangentBatching::separate, CotangentBatching::repeat}) {
            tm.batching = batching;
            const auto got = tm.gradients(x, req);
            const auto want = cpu.graph.gradients(xe, req, nn::ExecContext{1});
            for (const auto& l : req.layers) {
                REQUIRE(got.layer(l).cost_vjps.size() == 2);
                REQUIRE_FALSE(got.layer(l).prob_vjp.has_value());
                for (int t = 0; t < 2; ++t) {
                    require_close(host(got.layer(l).cost_vjps[t]), EB::to_host(want.layer(l).cost_vjps[t]), 1e-4, l + " cost");
                    require_close(host(got.layer(l).class_vjps[t]), EB::to_host(want.layer(l).class_vjps[t]), 1e-4, l + " class");
                }
            }
        }
    }
    SECTION("class_vjps = false gives S only") {
        GradientRequest req{{"layer4.2"}, TargetRule::top1()};
        req.class_vjps = false;
        const auto got = tm.gradients(x, req);
        REQUIRE(got.layer("layer4.2").class_vjps.empty());
        require_close(host(got.layer("layer4.2").activations),
                      EB::to_host(cpu.graph.gradients(xe, req, nn::ExecContext{1}).layer("layer4.2").activations), 1e-4, "S");
    }
    SECTION("S is detached and the parameters need no gradient") {
        const auto got = tm.gradients(x, {{"layer3.1", "layer4.2"}, TargetRule::top1()});
        for (const auto& l : got.layers) {
            REQUIRE_FALSE(l.activations.requires_grad());
            REQUIRE_FALSE(l.class_vjps[0].requires_grad());
        }
        for (const auto& [name, p] : tm.parameters()) REQUIRE_FALSE(p.requires_grad());
    }
    SECTION("a half-precision input is computed in float") {
        const auto got = tm.forward(x.to(at::kHalf));
        REQUIRE(got.scalar_type() == at::kFloat);
    }
}

TEST_CASE("TorchModel: bad input gives the CPU engine's errors", "[torch][models][errors]") {
    const auto weights = io::SafetensorsFile::open(fixture("resnet50.safetensors"));
    auto tm = models::load_torch_model("resnet50", weights);
    SECTION("an unknown layer name lists the valid ones") {
        REQUIRE_THROWS_WITH(tm.gradients(at::zeros({1, 3, 32, 32}), {{"layer9.9"}}),
                            Catch::Contains("unknown layer 'layer9.9'") && Catch::Contains("layer3.5") &&
                                Catch::Contains("group2/block5"));
    }
    SECTION("an input with the wrong channel count or rank") {
        REQUIRE_THROWS_WITH(tm.gradients(at::zeros({1, 1, 32, 32}), {{"layer3.5"}}),
                            Catch::Contains("1 channels, the model expects 3"));
        REQUIRE_THROWS_AS(tm.forward(at::zeros({3, 32, 32})), shape_error);
    }
    SECTION("an input too small for the network names the operation") {
        const models::TorchModel vgg(models::describe("vgg16", {.num_classes = 3, .width = 1.0 / 16}));
        REQUIRE_THROWS_WITH(vgg.forward(at::zeros({1, 3, 4, 4})),
                            Catch::Contains("operation 'features.16' failed on input of shape [1, 16, 1, 1]"));
    }
    SECTION("an integer input, or an input on another device") {
        REQUIRE_THROWS_WITH(tm.forward(at::zeros({1, 3, 32, 32}, at::kLong)), Catch::Contains("dtype Long"));
        REQUIRE_THROWS_WITH(tm.forward(at::empty({1, 3, 32, 32}, at::TensorOptions().device(at::kMeta))),
                            Catch::Contains("input is on meta") && Catch::Contains("parameters are on cpu"));
    }
    SECTION("weights that do not fit the description name the tensor, and leave the model untouched") {
        models::TorchModel wrong(models::describe("resnet50", {.num_classes = 6, .width = 1.0 / 8}));
        REQUIRE_THROWS_WITH(wrong.load(weights), Catch::Contains("conv1.weight") && Catch::Contains("shape"));
        REQUIRE(wrong.parameters().at("conv1.weight").abs().sum().item<float>() == 0.0f);
        REQUIRE_THROWS_AS(models::load_torch_model("vgg16", weights), io_error);
    }
    SECTION("a missing tensor is named") {
        io::SafetensorsWriter w;
        for (const auto& name : weights.names())
            if (name != "layer2.1.bn2.running_var" && name.find("num_batches") == std::string::npos)
                w.add(name, weights.info(name).shape, weights.read_float(name));
        const auto bytes = w.bytes();
        const auto partial = io::SafetensorsFile::from_bytes(std::span<const std::byte>(bytes), "partial");
        REQUIRE_THROWS_WITH(models::load_torch_model("resnet50", partial),
                            Catch::Contains("missing 1 tensor") && Catch::Contains("layer2.1.bn2.running_var"));
    }
}

// --- Adapters for the user's own LibTorch models, and the backbones as torch::nn modules ----------
// Oracle: tests/fixtures/torch_adapter (tools/fixtures/make_torch_adapter_fixture.py), PyTorch's own
// autograd on a small CNN saved as TorchScript in both adapter shapes.
namespace {

std::string adapter_fixture(const std::string& name) {
    return std::string(DUALGRAD_FIXTURES_DIR) + "/torch_adapter/" + name;
}

std::vector<float> flat(const at::Tensor& t) {
    const auto c = t.detach().to(at::kCPU, at::kFloat).contiguous();
    return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

at::Tensor npy_tensor(const std::string& name) {
    auto d = io::read_npy_float(adapter_fixture(name));
    return at::from_blob(d.values.data(), d.shape, at::TensorOptions().dtype(at::kFloat)).clone();
}

/// The adapter's result against PyTorch's: logits, S at relu1 and relu2, and the top-2 VJPs.
void check_against_pytorch(const GradientResult<TB>& r) {
    const auto logits = npy_tensor("logits.npy");
    require_close(std::vector<float>(r.logits.values().begin(), r.logits.values().end()), flat(logits), 1e-5, "logits");
    const auto top2 = io::read_npy_int64(adapter_fixture("top2.npy"));
    REQUIRE(r.targets.slots() == 2);
    for (int n = 0; n < 2; ++n)
        for (int t = 0; t < 2; ++t) REQUIRE(r.targets(n, t) == top2.values[static_cast<std::size_t>(n * 2 + t)]);
    const char* taps[] = {"relu1", "relu2"};
    for (std::size_t l = 0; l < 2; ++l) {
        const auto& g = r.layers[l];
        require_close(flat(g.activations), flat(npy_tensor(std::string(taps[l]) + ".npy")), 1e-5, taps[l]);
        const auto ref = npy_tensor(std::string("grad_") + taps[l] + ".npy"); // [n, t, C, H, W]
        for (int t = 0; t < 2; ++t)
            require_close(flat(g.class_vjps[static_cast<std::size_t>(t)]), flat(ref.select(1, t).contiguous()), 1e-5, "VJP");
        REQUIRE(g.prob_vjp.has_value());
    }
}

GradientRequest top2_request() { return {{"relu1", "relu2"}, TargetRule::top_k(2)}; }

} // namespace

TEST_CASE("TorchStagedModel: a TorchScript nn.Sequential split at its children matches PyTorch", "[torch][adapter]") {
    const auto module = torch::jit::load(adapter_fixture("sequential.pt"));
    const auto model = models::TorchStagedModel::from_script(module);
    REQUIRE(model.layer_names() == std::vector<std::string>{"conv1", "relu1", "conv2", "relu2", "cam", "gap", "flatten"});
    const auto x = npy_tensor("input.npy");
    require_close(flat(model.forward(x)), flat(npy_tensor("logits.npy")), 1e-5, "forward");
    check_against_pytorch(model.gradients(x, top2_request()));
    // DGL on the adapter equals DGL on the same gradients computed by PyTorch.
    const auto r = model.gradients(x, top2_request());
    const auto maps = class_maps<TB>(Method::dgl, r.layers[1], &r.targets);
    REQUIRE(maps.size() == 2);
    REQUIRE(TB::shape(maps[0]) == Shape4{2, 1, 8, 8});
}

TEST_CASE("TorchStagedModel: a C++ torch::nn::Sequential with the same weights matches PyTorch", "[torch][adapter]") {
    auto script = torch::jit::load(adapter_fixture("sequential.pt"));
    torch::nn::Sequential seq;
    seq->push_back("conv1", torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 8, 3).padding(1)));
    seq->push_back("relu1", torch::nn::ReLU());
    seq->push_back("conv2", torch::nn::Conv2d(torch::nn::Conv2dOptions(8, 16, 3).stride(2).padding(1)));
    seq->push_back("relu2", torch::nn::ReLU());
    seq->push_back("cam", torch::nn::Conv2d(torch::nn::Conv2dOptions(16, 4, 1)));
    seq->push_back("gap", torch::nn::AdaptiveAvgPool2d(1));
    seq->push_back("flatten", torch::nn::Flatten());
    {
        at::NoGradGuard no_grad;
        auto params = seq->named_parameters();
        for (const auto& p : script.named_parameters()) params[p.name].copy_(p.value);
    }
    const auto model = models::TorchStagedModel::from_sequential(seq);
    check_against_pytorch(model.gradients(npy_tensor("input.npy"), top2_request()));
}

TEST_CASE("TorchTapsModel: a TorchScript forward returning the taps matches PyTorch", "[torch][adapter]") {
    const auto module = torch::jit::load(adapter_fixture("taps.pt"));
    const auto model = models::TorchTapsModel::from_script(module, "forward_with_taps", {"relu1", "relu2"});
    check_against_pytorch(model.gradients(npy_tensor("input.npy"), top2_request()));
    // S only (CAM): no backward pass.
    GradientRequest s_only{{"relu2"}, TargetRule::top1()};
    s_only.class_vjps = false;
    const auto r = model.gradients(npy_tensor("input.npy"), s_only);
    REQUIRE(r.layers[0].class_vjps.empty());
    require_close(flat(r.layers[0].activations), flat(npy_tensor("relu2.npy")), 1e-5, "S");
}

TEST_CASE("Torch adapters: bad input gives clear errors", "[torch][adapter][errors]") {
    const auto staged = models::TorchStagedModel::from_script(torch::jit::load(adapter_fixture("sequential.pt")));
    const auto x = npy_tensor("input.npy");
    REQUIRE_THROWS_WITH(staged.gradients(x, {{"layer3"}, TargetRule::top1()}),
                        Catch::Contains("unknown layer 'layer3'") && Catch::Contains("conv1, relu1, conv2"));
    REQUIRE_THROWS_WITH(staged.gradients(x, {{"flatten"}, TargetRule::top1()}), Catch::Contains("the model's output"));
    REQUIRE_THROWS_WITH(staged.gradients(at::ones({2, 3, 16, 16}, at::kLong), top2_request()),
                        Catch::Contains("dtype Long"));
    REQUIRE_THROWS_WITH(staged.gradients(at::ones({2, 5, 16, 16}), top2_request()),
                        Catch::Contains("stage 'conv1' failed on input of shape [2, 5, 16, 16]") &&
                            Catch::Contains("to have 3 channels, but got 5 channels"));
    REQUIRE_THROWS_WITH(models::TorchStagedModel({{"a", [](const at::Tensor& t) { return t; }},
                                                  {"a", [](const at::Tensor& t) { return t; }}}),
                        Catch::Contains("two stages are named 'a'"));

    const auto module = torch::jit::load(adapter_fixture("taps.pt"));
    REQUIRE_THROWS_WITH(models::TorchTapsModel::from_script(module, "forward_taps", {"relu1"}),
                        Catch::Contains("no method 'forward_taps'"));
    const auto taps = models::TorchTapsModel::from_script(module, "forward_with_taps", {"relu1", "relu2"});
    REQUIRE_THROWS_WITH(taps.gradients(x, {{"conv9"}, TargetRule::top1()}),
                        Catch::Contains("unknown layer 'conv9'") && Catch::Contains("relu1, relu2"));
    const auto wrong_count = models::TorchTapsModel::from_script(module, "forward_with_taps", {"relu1"});
    REQUIRE_THROWS_WITH(wrong_count.gradients(x, {{"relu1"}, TargetRule::top1()}),
                        Catch::Contains("returned 2 taps for the 1 names"));
    const models::TorchTapsModel detached(
        [](const at::Tensor& in) {
            auto s = at::relu(in).detach();
            return std::make_pair(s.mean({2, 3}), std::vector<at::Tensor>{s});
        },
        {"s"});
    REQUIRE_THROWS_WITH(detached.gradients(x, {{"s"}, TargetRule::top1()}), Catch::Contains("tap 's' is not connected"));
}

TEST_CASE("TorchBackbone: a torch::nn::Module with the state_dict names, sharing TorchModel's parameters",
          "[torch][module]") {
    const auto file = io::SafetensorsFile::open(fixture("resnet50.safetensors"));
    const auto cfg = models::config_from_weights("resnet50", file, {});
    models::TorchBackbone net(models::describe("resnet50", cfg));
    // Names: parameters and buffers together are exactly the description's parameter specs.
    std::set<std::string> names;
    for (const auto& p : net->named_parameters()) names.insert(p.key());
    for (const auto& b : net->named_buffers()) names.insert(b.key());
    std::set<std::string> expected;
    for (const auto& s : models::parameter_specs(net->description())) expected.insert(s.name);
    REQUIRE(names == expected);
    REQUIRE(net->named_parameters().contains("layer1.0.conv1.weight"));
    REQUIRE(net->named_buffers().contains("layer1.0.bn1.running_mean"));

    net->load(fixture("resnet50.safetensors"));
    const auto ref = models::load_torch_model("resnet50", file);
    const auto x = at::randn({2, 3, 64, 64});
    net->eval();
    require_close(flat(net->forward(x).detach()), flat(ref.forward(x)), 1e-5, "module forward");

    // One optimizer step through the module moves the gradient source's parameters too.
    net->train();
    torch::optim::SGD opt(net->parameters(), 0.1);
    const auto loss = at::cross_entropy_loss(net->forward(x), at::zeros({2}, at::kLong));
    loss.backward();
    opt.step();
    net->eval();
    const auto before = ref.forward(x), after = net->source().forward(x);
    REQUIRE(at::max(at::abs(before - after)).item<float>() > 1e-6f);
    require_close(flat(after), flat(net->forward(x).detach()), 1e-6, "after a step");
    REQUIRE_THROWS_WITH(net->to(at::Device(at::kCUDA, 0)),
                        Catch::Contains("no CUDA support") || Catch::Contains("cuda"));
}

TEST_CASE("TorchModel: CUDA requested where LibTorch has none is a clear error", "[torch][models][errors]") {
    if (at::hasCUDA()) // a CUDA build: the model lives where it was asked to
        CHECK(models::TorchModel(models::describe("resnet50", {}), at::Device(at::kCUDA, 0)).device().is_cuda());
    else
        REQUIRE_THROWS_WITH(models::TorchModel(models::describe("resnet50", {}), at::Device(at::kCUDA, 0)),
                            Catch::Contains("requested, but this LibTorch build has no CUDA support"));
}

// --- The fused-kernel bridge (cuda/config.hpp): TorchBackend calls a registered one-pass kernel --
// On this machine the registered "kernel" is a CPU stand-in taking CPU tensors (device type 0):
// the real one (dualgrad/cuda/register.cuh) takes CUDA tensors and is tested in tests/cuda.
namespace {

struct FormCost {
    float u = 1.0f, v = -10.0f;
    [[nodiscard]] CotangentForm form() const noexcept { return {u, v}; }
    void cotangent(std::span<const float> logits, int c, std::span<float> out) const {
        dualgrad::detail::linear_cotangent(*this, logits, c, out);
    }
};

bool fake_writes_nan = false;

int fake_fused_dgl(const float* S, const float* G, const float* X, int N, int K, int HW, int mode, float u, float v,
                   void* workspace, float* out, void*) {
    if (!workspace) return 11;
    const Shape4 s{N, K, HW, 1};
    const auto n = static_cast<std::size_t>(s.count());
    const auto St = EB::from_host(s, {S, n}), Gt = EB::from_host(s, {G, n}), Xt = EB::from_host(s, {X, n});
    const auto map = mode == 0 ? EnhancedMapper<EB, FormCost>(FormCost{u, v})(St, Gt, Xt)
                               : EnhancedMapper<EB, FormCost>{}.from_cost_gradient(St, Gt, Xt);
    const auto h = EB::to_host(map);
    for (std::size_t i = 0; i < h.size(); ++i) out[i] = fake_writes_nan ? std::nanf("") : h[i];
    return 0;
}

struct FakeKernelScope {
    FakeKernelScope() {
        auto& k = cuda::fused_kernels();
        k.dgl = &fake_fused_dgl;
        k.workspace_bytes = [](int N, int HW) { return static_cast<std::size_t>(N) * HW * 12 + 32 * N; };
        k.device_type = static_cast<int>(at::DeviceType::CPU);
        k.calls = 0;
    }
    ~FakeKernelScope() { cuda::fused_kernels() = {}; }
};

} // namespace

TEST_CASE("TorchBackend hands DGL to a registered fused kernel, and falls back on a bad result", "[torch][fused]") {
    const MapCase c = random_case({2, 6, 5, 4}, 77);
    const auto S = TB::from_host(c.s, c.S), G = TB::from_host(c.s, c.G), P = TB::from_host(c.s, c.P),
               C = TB::from_host(c.s, c.C);
    const auto two_pass = host(EnhancedMapper<TB>{}(S, G, P));
    const auto two_pass_cost = host(EnhancedMapper<TB>{}.from_cost_gradient(S, G, C));
    REQUIRE(cuda::fused_kernels().dgl == nullptr);
    {
        FakeKernelScope scope;
        require_close(host(EnhancedMapper<TB>{}(S, G, P)), two_pass, 1e-5, "fused, J^T p");
        require_close(host(EnhancedMapper<TB>{}.from_cost_gradient(S, G, C)), two_pass_cost, 1e-5, "fused, cost gradient");
        REQUIRE(cuda::fused_kernels().calls == 2);
        // A non-finite fused result goes back to the checked two-pass path.
        fake_writes_nan = true;
        require_close(host(EnhancedMapper<TB>{}(S, G, P)), two_pass, 1e-5, "fallback");
        auto bad = c.S;
        bad[3] = std::nanf("");
        REQUIRE_THROWS_WITH(EnhancedMapper<TB>{}(TB::from_host(c.s, bad), G, P), Catch::Contains("NaN or Inf"));
        fake_writes_nan = false;
    }
    REQUIRE(cuda::fused_kernels().dgl == nullptr);
}

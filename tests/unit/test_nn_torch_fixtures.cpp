// Layers against PyTorch: forward outputs and input gradients for a batch of T cotangents,
// from tests/fixtures/nn/*.json (tools/fixtures/make_nn_layer_fixture.py, float64 PyTorch).
#include <catch2/catch.hpp>

#include <nn_testing.hpp>
#include <tensor_matchers.hpp>

using namespace dgtest::nn;
using dualgrad::nn::shape_of;

namespace {

double max_abs(const std::vector<double>& v) {
    double m = 0;
    for (double x : v) m = std::max(m, std::abs(x));
    return m;
}

/// Within 1e-4 relative, plus 1e-5 of the tensor's largest magnitude (for values near zero).
void check_close(const std::vector<float>& got, const nlohmann::json& want) {
    const auto w = want.at("data").get<std::vector<double>>();
    CHECK_THAT(got, dgtest::all_close(w, 1e-5 * max_abs(w), 1e-4));
}

} // namespace

TEST_CASE("Layers match PyTorch's outputs and input gradients", "[nn][torch]") {
    const char* names[] = {"conv3x3_pad1",      "conv1x7_pad0_3",     "conv7x1_pad3_0",
                           "conv3x3_stride2",   "conv3x3_dilation2",  "conv1x1",
                           "conv1x1_stride2",   "maxpool3_2_1_ceil",  "maxpool3_2_0_ceil",
                           "maxpool2_2_1_ceil", "avgpool3_1_1",       "avgpool3_2_1_ceil",
                           "avgpool3_2_1_ceil_exclude_pad", "batchnorm_eps1e-3", "se",
                           "linear",            "global_avgpool"};
    for (const char* name : names) {
        for (int threads : {1, 2}) {
            DYNAMIC_SECTION(name << ", threads = " << threads) {
                const auto fx = load_fixture(name);
                const auto layer = make_fixture_layer(fx);
                const int T = fx.at("T");
                std::vector<Tensor> xs;
                for (const auto& j : fx.at("inputs")) xs.push_back(json_tensor(j));
                const ExecContext ctx{threads};

                const Tensor y = run_forward(*layer, xs, ctx);
                INFO(layer->repr());
                REQUIRE(shape_of(y) == json_shape(fx.at("output")));
                check_close(values(y), fx.at("output"));

                const Tensor v = json_tensor(fx.at("cotangent"));
                const auto g = run_backward(*layer, xs, y, v, T, ctx);
                REQUIRE(g.size() == fx.at("grad_inputs").size());
                for (std::size_t i = 0; i < g.size(); ++i) {
                    REQUIRE(shape_of(g[i]) == json_shape(fx.at("grad_inputs")[i]));
                    check_close(values(g[i]), fx.at("grad_inputs")[i]);
                }
            }
        }
    }
}

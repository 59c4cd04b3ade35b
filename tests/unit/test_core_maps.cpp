// The map math of docs/design.md §1, over every backend: hand-worked cases, the PCS/CAM
// identity at a GAP+FC head, the alpha behaviour of the two cost policies, and bad input.
#include <cmath>
#include <numeric>

#include <catch2/catch.hpp>

#include <dualgrad/core/cem.hpp>
#include <dualgrad/core/methods.hpp>
#include <dualgrad/core/pcs.hpp>

#include "backends.hpp"
#include "tensor_matchers.hpp"

using namespace dualgrad;
using Catch::Matchers::WithinAbs;
using Catch::Matchers::WithinRel;

TEMPLATE_LIST_TEST_CASE("PCS and DGL on a hand-worked 1x2x1x2 case", "[core][dgl]", dgtest::Backends) {
    using B = TestType;
    // S = [[1, 2]], [[3, 4]] (two channels, one row, two columns); |S|^2 = 30.
    // G = [[1, 0]], [[0, 1]];  P = [[0, 1]], [[1, 0]].
    const Shape4 s{1, 2, 1, 2};
    auto S = B::from_host(s, std::vector<float>{1, 2, 3, 4});
    auto G = B::from_host(s, std::vector<float>{1, 0, 0, 1});
    auto P = B::from_host(s, std::vector<float>{0, 1, 1, 0});

    // PCS: pixel 0: 1*1 + 0*3 = 1; pixel 1: 0*2 + 1*4 = 4.
    const auto pcs = B::to_host(PixelClassSelector<B>{}(S, G));
    REQUIRE(pcs == std::vector<float>{1, 4});

    // Reference cost, alpha = 2: dcost/dS = P - 2G = [[-2, 1]], [[1, -2]], |.|^2 = 10.
    // A = S/sqrt(30) - (P - 2G)/sqrt(10).
    // pixel 0: G=(1,0) -> A_0 = 1/sqrt(30) + 2/sqrt(10);  pixel 1: G=(0,1) -> A_1 = 4/sqrt(30) + 2/sqrt(10).
    EnhancedMapper<B, ReferenceCost> dgl(ReferenceCost{2.0f});
    const auto m = B::to_host(dgl(S, G, P));
    REQUIRE_THAT(m[0], WithinAbs(1 / std::sqrt(30.0) + 2 / std::sqrt(10.0), 1e-6));
    REQUIRE_THAT(m[1], WithinAbs(4 / std::sqrt(30.0) + 2 / std::sqrt(10.0), 1e-6));

    // The same through the explicit cost gradient and through the materialized enhanced map.
    const auto Gc = dgl.cost_gradient(G, P);
    REQUIRE(B::to_host(Gc) == std::vector<float>{-2, 1, 1, -2});
    REQUIRE_THAT(B::to_host(dgl.from_cost_gradient(S, G, Gc)), dgtest::all_close(m));
    const auto A = dgl.enhanced_activations(S, Gc);
    REQUIRE_THAT(B::to_host(PixelClassSelector<B>{}(A, G)), dgtest::all_close(m));
}

TEMPLATE_LIST_TEST_CASE("PCS at the last layer of a GAP+FC head is CAM / (H*W)", "[core][pcs][cam]", dgtest::Backends) {
    using B = TestType;
    const int N = 3, K = 7, H = 6, W = 5, C = 4;
    const Shape4 s{N, K, H, W};
    const auto S = dgtest::random_tensor<B>(s, 1, 0.0f, 2.0f);
    const auto fc = dgtest::random_values(static_cast<std::size_t>(C * K), 2);
    const Targets targets(std::vector<std::vector<int>>{{2}, {0}, {3}});
    // logits = fc . GAP(S) + b, so dl_c/dS[n,k,h,w] = fc[c,k] / (H*W), worked out by hand.
    std::vector<float> g(static_cast<std::size_t>(s.count()));
    for (int n = 0; n < N; ++n)
        for (int k = 0; k < K; ++k)
            for (int i = 0; i < H * W; ++i)
                g[static_cast<std::size_t>((n * K + k) * H * W + i)] = fc[static_cast<std::size_t>(targets(n, 0) * K + k)] / (H * W);
    const auto G = B::from_host(s, g);

    const auto pcs = B::to_host(PixelClassSelector<B>{}(S, G));
    auto cam_map = B::to_host(cam<B>(S, FcHead{fc, C, K}, targets, 0));
    for (auto& v : cam_map) v /= static_cast<float>(H * W);
    REQUIRE_THAT(pcs, dgtest::all_close(cam_map, 1e-6, 1e-5));
}

TEMPLATE_LIST_TEST_CASE("alpha: irrelevant for the textbook cost, not for the reference cost", "[core][cost]",
                        dgtest::Backends) {
    using B = TestType;
    const Shape4 s{2, 8, 7, 7};
    const auto S = dgtest::random_tensor<B>(s, 3, 0.0f, 1.0f);
    const auto G = dgtest::random_tensor<B>(s, 4);
    const auto P = dgtest::random_tensor<B>(s, 5);

    const auto x3 = B::to_host(EnhancedMapper<B, CrossEntropyCost>(CrossEntropyCost{3.0f})(S, G, P));
    const auto x10 = B::to_host(EnhancedMapper<B, CrossEntropyCost>(CrossEntropyCost{10.0f})(S, G, P));
    REQUIRE_THAT(x3, dgtest::all_close(x10, 1e-6, 1e-5));

    const auto r3 = B::to_host(EnhancedMapper<B, ReferenceCost>(ReferenceCost{3.0f})(S, G, P));
    const auto r10 = B::to_host(EnhancedMapper<B, ReferenceCost>(ReferenceCost{10.0f})(S, G, P));
    double max_diff = 0;
    for (std::size_t i = 0; i < r3.size(); ++i) max_diff = std::max(max_diff, double(std::abs(r3[i] - r10[i])));
    REQUIRE(max_diff > 1e-3);
}

TEMPLATE_LIST_TEST_CASE("At the last layer DGL is CAM scaled and shifted per sample", "[core][dgl][cam]",
                        dgtest::Backends) {
    using B = TestType;
    // With a GAP+FC head, G = fc[c]/(HW) and J^T p = sum_j p_j fc[j]/(HW) are constant over H, W, so
    // sum_k G_k (a S_k - b Gc_k) = a*CAM/(HW) - const: equal after min-max normalization.
    const int N = 2, K = 5, H = 4, W = 6, C = 3;
    const Shape4 s{N, K, H, W};
    const auto S = dgtest::random_tensor<B>(s, 6, 0.0f, 1.0f);
    const auto fc = dgtest::random_values(static_cast<std::size_t>(C * K), 7);
    const std::vector<float> p{0.2f, 0.5f, 0.3f, 0.6f, 0.1f, 0.3f};
    const Targets targets(std::vector<std::vector<int>>{{1}, {0}});
    std::vector<float> g(static_cast<std::size_t>(s.count())), pv(g.size());
    for (int n = 0; n < N; ++n)
        for (int k = 0; k < K; ++k) {
            float jp = 0;
            for (int j = 0; j < C; ++j) jp += p[static_cast<std::size_t>(n * C + j)] * fc[static_cast<std::size_t>(j * K + k)];
            for (int i = 0; i < H * W; ++i) {
                const auto idx = static_cast<std::size_t>((n * K + k) * H * W + i);
                g[idx] = fc[static_cast<std::size_t>(targets(n, 0) * K + k)] / (H * W);
                pv[idx] = jp / (H * W);
            }
        }
    const auto dgl = B::to_host(EnhancedMapper<B>{}(S, B::from_host(s, g), B::from_host(s, pv)));
    const auto cm = B::to_host(cam<B>(S, FcHead{fc, C, K}, targets, 0));
    for (int n = 0; n < N; ++n) {
        auto norm = [&](const std::vector<float>& v) {
            const auto b = v.begin() + n * H * W, e = b + H * W;
            const float lo = *std::min_element(b, e), hi = *std::max_element(b, e);
            std::vector<float> out;
            for (auto it = b; it != e; ++it) out.push_back((*it - lo) / (hi - lo));
            return out;
        };
        REQUIRE_THAT(norm(dgl), dgtest::all_close(norm(cm), 1e-5, 1e-4));
    }
}

TEMPLATE_LIST_TEST_CASE("Bad input to the map math", "[core][errors]", dgtest::Backends) {
    using B = TestType;
    const auto S = dgtest::random_tensor<B>({1, 3, 4, 4}, 8);
    const auto G = dgtest::random_tensor<B>({1, 3, 4, 4}, 9);
    const auto wrong = dgtest::random_tensor<B>({1, 3, 4, 5}, 10);

    SECTION("a shape mismatch between S and its gradients names both shapes") {
        REQUIRE_THROWS_MATCHES(PixelClassSelector<B>{}(S, wrong), shape_error,
                               Catch::Message("shape mismatch: activations S is [1, 3, 4, 4] but gradient dl_c/dS is [1, 3, 4, 5]"));
        REQUIRE_THROWS_AS(EnhancedMapper<B>{}(S, G, wrong), shape_error);
        REQUIRE_THROWS_AS(gradcam<B>(S, wrong), shape_error);
    }
    SECTION("NaN or Inf in S or a gradient is an error that names the tensor") {
        auto v = B::to_host(S);
        v[5] = std::numeric_limits<float>::quiet_NaN();
        const auto bad = B::from_host(B::shape(S), v);
        REQUIRE_THROWS_WITH(EnhancedMapper<B>{}(bad, G, G), Catch::Contains("activations S") && Catch::Contains("NaN"));
        v[5] = std::numeric_limits<float>::infinity();
        const auto inf = B::from_host(B::shape(S), v);
        REQUIRE_THROWS_WITH(EnhancedMapper<B>{}(S, G, inf), Catch::Contains("J^T p"));
        REQUIRE_THROWS_AS(ops::require_finite<B>(inf, "S"), value_error);
    }
    SECTION("an all-zero tensor: l2 of zero is zero (TensorFlow's epsilon), the map stays finite") {
        const auto zero = ops::zeros<B>(B::shape(S));
        // S = 0: A = -l2(dcost), so the map is -sum_k G*l2(P - 10 G).
        EnhancedMapper<B> dgl;
        const auto m = B::to_host(dgl(zero, G, G)); // dcost = G - 10 G = -9 G; l2 = -G/|G|
        const auto ss = ops::sum_squares<B>(G)[0];
        const auto gg = B::to_host(G);
        for (int i = 0; i < 16; ++i) {
            double want = 0;
            for (int k = 0; k < 3; ++k) want += gg[k * 16 + i] * gg[k * 16 + i] / std::sqrt(ss);
            REQUIRE_THAT(m[static_cast<std::size_t>(i)], WithinAbs(want, 1e-5));
        }
        // Every gradient zero: the map is exactly zero, not NaN.
        for (float x : B::to_host(dgl(S, zero, zero))) REQUIRE(x == 0.0f);
    }
    SECTION("an empty tensor") {
        const auto empty = ops::zeros<B>({0, 3, 4, 4});
        REQUIRE_THROWS_WITH(PixelClassSelector<B>{}(empty, empty), Catch::Contains("empty"));
    }
    SECTION("an unknown method name lists the valid ones") {
        REQUIRE_THROWS_WITH(parse_method("gradcam+"), Catch::Contains("valid methods: cam, gradcam"));
        REQUIRE(parse_method("gradcam-elementwise") == Method::gradcam_elementwise);
    }
}

TEMPLATE_LIST_TEST_CASE("CAM adds the head's bias of the target class", "[core][cam]", dgtest::Backends) {
    using B = TestType;
    // S: 1 sample, 2 channels, 1x2; weights of class 1 = (2, -1), bias of class 1 = 0.5.
    const auto S = B::from_host({1, 2, 1, 2}, std::vector<float>{1, 3, 2, 5});
    const std::vector<float> w{0, 0, 2, -1}, bias{9, 0.5f};
    const Targets t(std::vector<std::vector<int>>{{1}});
    // pixel 0: 2*1 - 1*2 + 0.5 = 0.5; pixel 1: 2*3 - 1*5 + 0.5 = 1.5
    REQUIRE(B::to_host(cam<B>(S, FcHead{w, 2, 2, bias}, t, 0)) == std::vector<float>{0.5f, 1.5f});
    REQUIRE_THROWS_AS(cam<B>(S, FcHead{w, 2, 2, std::span<const float>(bias).first(1)}, t, 0), shape_error);
}

// The fused CUDA DGL kernel against the CPU (Eigen) EnhancedMapper and PixelClassSelector.
// Without a usable GPU the executable exits 77, which ctest reports as skipped.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <cstdio>

#include <dualgrad/backend/eigen.hpp>
#include <dualgrad/core/cem.hpp>
#include <dualgrad/core/pcs.hpp>

#include "backends.hpp"
#include "cuda_harness.hpp"
#include "tensor_matchers.hpp"

using namespace dualgrad;
using B = EigenBackend;

TEST_CASE("The fused CUDA DGL kernel equals the CPU map math", "[cuda]") {
    const auto [N, K, H, W] = GENERATE(std::array<int, 4>{1, 1024, 28, 28}, std::array<int, 4>{3, 512, 14, 14},
                                       std::array<int, 4>{2, 7, 5, 3});
    const Shape4 s{N, K, H, W};
    const auto vs = dgtest::random_values(static_cast<std::size_t>(s.count()), 1, 0.0f, 1.0f);
    const auto vg = dgtest::random_values(static_cast<std::size_t>(s.count()), 2);
    const auto vx = dgtest::random_values(static_cast<std::size_t>(s.count()), 3);
    const auto S = B::from_host(s, vs), G = B::from_host(s, vg), X = B::from_host(s, vx);

    const auto ref = B::to_host(EnhancedMapper<B>{}(S, G, X));
    REQUIRE_THAT(dgcuda::dgl_map(vs, vg, vx, N, K, H * W, 0, 1.0f, -10.0f), dgtest::all_close(ref, 1e-6, 1e-4));
    const auto direct = B::to_host(EnhancedMapper<B>{}.from_cost_gradient(S, G, X));
    REQUIRE_THAT(dgcuda::dgl_map(vs, vg, vx, N, K, H * W, 1, 0, 0), dgtest::all_close(direct, 1e-6, 1e-4));
    const auto pcs = B::to_host(PixelClassSelector<B>{}(S, G));
    REQUIRE_THAT(dgcuda::dgl_map(vs, vg, {}, N, K, H * W, 2, 0, 0), dgtest::all_close(pcs, 1e-5, 1e-4));
}

TEST_CASE("The CUDA kernel rejects invalid arguments", "[cuda]") {
    REQUIRE(dgcuda::invalid_argument_code() == 1); // cudaErrorInvalidValue
}

TEST_CASE("register.cuh fills the fused-kernel registry TorchBackend reads", "[cuda]") {
    REQUIRE(dgcuda::register_fused());
}

int main(int argc, char** argv) {
    if (const auto why = dgcuda::device_problem(); !why.empty()) {
        std::printf("skipped: the CUDA tests need a GPU (%s)\n", why.c_str());
        return 77;
    }
    return Catch::Session().run(argc, argv);
}

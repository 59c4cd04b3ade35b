// nn::Graph's buffer pool is bounded: between passes it holds only what the last pass gave back,
// so memory does not grow with the number of distinct input sizes (eval --no-resize on images of
// many sizes), and a repeated size reuses its buffers.
#include <catch2/catch.hpp>

#include "dualgrad/models/cpu_model.hpp"

namespace {
dualgrad::nn::Tensor input(int size) {
    dualgrad::nn::Tensor x(1, 3, size, size);
    for (std::int64_t i = 0; i < x.size(); ++i) x.data()[i] = static_cast<float>((i * 37) % 11) / 11.0f - 0.5f;
    return x;
}
} // namespace

TEST_CASE("nn::Graph: the buffer pool holds the last pass only, whatever the sizes seen before", "[nn][memory]") {
    dualgrad::models::ModelConfig cfg;
    cfg.num_classes = 10;
    cfg.width = 0.0625;
    auto model = dualgrad::models::CpuModel{dualgrad::models::describe("resnet50", cfg), dualgrad::nn::Graph(3)};
    model.graph = dualgrad::models::build_graph(model.description);
    dualgrad::GradientRequest request;
    request.layers = {"layer3.5", "layer4.2"};
    request.targets = dualgrad::TargetRule::top_k(2);

    (void)model.graph.gradients(input(40), request);
    const std::size_t after_first = model.graph.pooled_bytes();
    REQUIRE(after_first > 0);
    std::size_t most = 0;
    for (int size = 41; size < 91; ++size) { // 50 distinct sizes
        (void)model.graph.gradients(input(size), request);
        most = std::max(most, model.graph.pooled_bytes());
    }
    // The last size's pass alone: a pool that kept every size would hold the sum over all of them.
    (void)model.graph.gradients(input(40), request);
    CHECK(model.graph.pooled_bytes() == after_first);
    // The pool after the largest input is about one pass of that size: far below 50 passes' worth.
    (void)model.graph.gradients(input(90), request);
    const std::size_t one_large = model.graph.pooled_bytes();
    CHECK(most <= one_large);
    // A plain forward pass follows the same rule.
    (void)model.graph.forward(input(40));
    CHECK(model.graph.pooled_bytes() < one_large);
}

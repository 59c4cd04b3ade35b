// parallel_for, and every layer giving the same bits with 1 and 2 threads.
#include <atomic>
#include <stdexcept>

#include <catch2/catch.hpp>

#include <nn_testing.hpp>

using dualgrad::Shape4;
using namespace dualgrad::nn;
using namespace dgtest::nn;

TEST_CASE("parallel_for visits every index once, nests, and rethrows", "[nn][threads]") {
    for (int threads : {1, 2, 3, 8}) {
        std::vector<std::atomic<int>> hits(1000);
        parallel_for(0, 1000, ExecContext{threads}, [&](std::int64_t i) { hits[static_cast<std::size_t>(i)]++; });
        for (const auto& h : hits) REQUIRE(h.load() == 1);
    }
    // Nested regions run inline and still cover everything.
    std::atomic<int> total{0};
    parallel_for(0, 8, ExecContext{2}, [&](std::int64_t) {
        parallel_for(0, 10, ExecContext{2}, [&](std::int64_t) { total++; });
    });
    CHECK(total.load() == 80);
    // Empty and reversed ranges do nothing.
    parallel_for(5, 5, ExecContext{2}, [&](std::int64_t) { FAIL("called"); });
    parallel_for(5, 1, ExecContext{2}, [&](std::int64_t) { FAIL("called"); });
    // The first exception reaches the caller; the pool is usable afterwards.
    CHECK_THROWS_WITH(parallel_for(0, 100, ExecContext{2},
                                   [&](std::int64_t i) {
                                       if (i == 37) throw std::runtime_error("task 37 failed");
                                   }),
                      "task 37 failed");
    std::atomic<int> after{0};
    parallel_for(0, 50, ExecContext{2}, [&](std::int64_t) { after++; });
    CHECK(after.load() == 50);
    // Chunks cover the range with the given grain.
    std::vector<int> seen(103, 0);
    parallel_for_chunks(0, 103, 10, ExecContext{2}, [&](std::int64_t lo, std::int64_t hi) {
        CHECK(hi - lo <= 10);
        for (auto i = lo; i < hi; ++i) seen[static_cast<std::size_t>(i)]++;
    });
    for (int s : seen) REQUIRE(s == 1);
}

TEST_CASE("parallel_for uses a second thread", "[nn][threads]") {
    // Two tasks that wait for each other can only finish when they run at the same time.
    std::atomic<int> arrived{0};
    parallel_for(0, 2, ExecContext{2}, [&](std::int64_t) {
        arrived++;
        const auto start = std::chrono::steady_clock::now();
        while (arrived.load() < 2 && std::chrono::steady_clock::now() - start < std::chrono::seconds(5))
            std::this_thread::yield();
    });
    CHECK(arrived.load() == 2);
}

namespace {

template <class L>
L randomized(L layer, unsigned seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> d(-0.5f, 0.5f);
    for (auto& p : layer.parameters()) {
        for (auto& v : *p.data) v = d(rng);
        if (p.name == "running_var")
            for (auto& v : *p.data) v = 0.5f + std::abs(v);
    }
    return layer;
}

void check_threads_agree(const Layer& layer, const std::vector<Tensor>& xs, int T) {
    INFO(layer.repr());
    const Tensor y1 = run_forward(layer, xs, ExecContext{1});
    const Tensor y2 = run_forward(layer, xs, ExecContext{2});
    CHECK(values(y1) == values(y2));
    const Shape4 os = shape_of(y1);
    const Tensor v = random_tensor({os.n * T, os.c, os.h, os.w}, 99);
    const auto g1 = run_backward(layer, xs, y1, v, T, ExecContext{1});
    const auto g2 = run_backward(layer, xs, y1, v, T, ExecContext{2});
    for (std::size_t i = 0; i < g1.size(); ++i) CHECK(values(g1[i]) == values(g2[i]));
}

} // namespace

TEST_CASE("Every layer gives identical results with 1 and 2 threads", "[nn][threads]") {
    const Shape4 s{2, 16, 30, 30};
    const Tensor x = random_tensor(s, 1);
    for (int T : {1, 3}) {
        check_threads_agree(randomized(Conv2d(16, 12, 3, 1, 1), 2), {x}, T);
        check_threads_agree(randomized(Conv2d(16, 12, 1), 3), {x}, T);
        check_threads_agree(randomized(Conv2d({16, 8, 1, 7, 2, 1, 0, 3, 1, 1, false}), 4), {x}, T);
        check_threads_agree(randomized(BatchNorm2d(16, 1e-3), 5), {x}, T);
        check_threads_agree(ReLU(), {x}, T);
        check_threads_agree(Sigmoid(), {x}, T);
        check_threads_agree(Dropout(), {x}, T);
        check_threads_agree(MaxPool2d(3, 2, 1, true), {x}, T);
        check_threads_agree(AvgPool2d(3, 1, 1), {x}, T);
        check_threads_agree(GlobalAvgPool(), {x}, T);
        check_threads_agree(randomized(Linear(16 * 900, 7), 6), {x}, T);
        check_threads_agree(Add(), {x, random_tensor(s, 7)}, T);
        check_threads_agree(Concat(2), {x, random_tensor({2, 3, 30, 30}, 8)}, T);
        check_threads_agree(randomized(SqueezeExcitation(16, 8), 9), {x}, T);
    }
    // One image, one cotangent: the convolution still splits (column blocks, channel groups).
    const Tensor one = random_tensor({1, 32, 40, 40}, 10);
    check_threads_agree(randomized(Conv2d(32, 16, 3, 1, 1), 11), {one}, 1);
    check_threads_agree(randomized(Conv2d(32, 16, 1), 12), {one}, 1);
}

// Composing WSOL methods from dualgrad's parts (docs/howto-compose.md).
//
// A tiny classifier head sits above the layer S: 1x1 conv -> ReLU -> 1x1 conv -> GAP -> logits.
// Its vector-Jacobian product is written out by hand here; in real use a gradient source (the
// CPU engine, LibTorch) provides S and the products. From the same parts we build:
//   1. DGL as published (reference cost p - 10 e_c);
//   2. DGL with ReLU on the class gradient: sum_k relu(dl_c/dS) * A_c;
//   3. DGL with a user-defined cost policy: the margin cost l_r - l_c against the runner-up class r,
//      which is not of the form u*p + v*e_c, so its gradient is back-propagated on its own.
#include <cstdio>
#include <span>
#include <vector>

#include <dualgrad/backend/eigen.hpp>
#include <dualgrad/core/methods.hpp>

using namespace dualgrad;
using B = EigenBackend;

namespace {

constexpr int K = 8, M = 6, C = 4, H = 7, W = 7;

/// A user-defined cost policy: the margin against the best other class.
struct MarginCost {
    void cotangent(std::span<const float> logits, int c, std::span<float> out) const {
        int runner_up = c == 0 ? 1 : 0;
        for (int j = 0; j < static_cast<int>(logits.size()); ++j)
            if (j != c && logits[j] > logits[runner_up]) runner_up = j;
        std::fill(out.begin(), out.end(), 0.0f);
        out[runner_up] = 1.0f;
        out[c] = -1.0f;
    }
};
static_assert(CostPolicy<MarginCost> && !LinearCostPolicy<MarginCost>);

struct TinyHead {
    std::vector<float> w1 = std::vector<float>(M * K), w2 = std::vector<float>(C * M);
    TinyHead() {
        unsigned state = 12345u;
        auto next = [&] { return (state = state * 1664525u + 1013904223u) / 4294967296.0f - 0.5f; };
        for (auto& x : w1) x = next();
        for (auto& x : w2) x = next();
    }
    // pre-activations of the hidden layer at every pixel: M x (H*W)
    std::vector<float> hidden(const B::tensor& S) const {
        std::vector<float> z(M * H * W, 0.0f);
        for (int m = 0; m < M; ++m)
            for (int k = 0; k < K; ++k)
                for (int i = 0; i < H * W; ++i) z[m * H * W + i] += w1[m * K + k] * S.data()[k * H * W + i];
        return z;
    }
    std::vector<float> logits(const B::tensor& S) const {
        const auto z = hidden(S);
        std::vector<float> l(C, 0.0f);
        for (int c = 0; c < C; ++c)
            for (int m = 0; m < M; ++m)
                for (int i = 0; i < H * W; ++i) l[c] += w2[c * M + m] * std::max(z[m * H * W + i], 0.0f) / (H * W);
        return l;
    }
    // J^T v for a cotangent v on the logits.
    B::tensor vjp(const B::tensor& S, std::span<const float> v) const {
        const auto z = hidden(S);
        B::tensor g(1, K, H, W);
        g.setZero();
        for (int m = 0; m < M; ++m) {
            float dm = 0;
            for (int c = 0; c < C; ++c) dm += w2[c * M + m] * v[c] / (H * W);
            for (int i = 0; i < H * W; ++i)
                if (z[m * H * W + i] > 0)
                    for (int k = 0; k < K; ++k) g.data()[k * H * W + i] += w1[m * K + k] * dm;
        }
        return g;
    }
};

void print_map(const char* title, const B::tensor& map) {
    std::printf("%s\n", title);
    for (int y = 0; y < H; ++y) {
        for (int x = 0; x < W; ++x) std::printf(" %+7.4f", map(0, 0, y, x));
        std::printf("\n");
    }
}

} // namespace

int main() {
    // An activation map with an "object" in the lower right.
    B::tensor S(1, K, H, W);
    for (int k = 0; k < K; ++k)
        for (int y = 0; y < H; ++y)
            for (int x = 0; x < W; ++x) S(0, k, y, x) = (y >= 3 && x >= 3 ? 1.0f : 0.1f) * (1 + 0.1f * k);
    const TinyHead head;
    const auto l = head.logits(S);
    const Logits logits(1, C, l);
    const Targets top1 = Targets::top1(logits);
    const int c = top1(0, 0);
    std::printf("top-1 class %d\n", c);

    // The gradient source's products: J^T e_c and J^T p.
    std::vector<float> e(C, 0.0f), p(C);
    e[c] = 1.0f;
    softmax(logits.row(0), p);
    LayerGradients<B> grads{S, {head.vjp(S, e)}, head.vjp(S, p), {}};

    // 1. DGL as published.
    const auto dgl = class_maps<B>(Method::dgl, grads, &top1);
    print_map("DGL (reference cost, alpha = 10):", dgl[0]);

    // 2. DGL with ReLU on the gradient: the parts are the enhanced map A_c and a pixel selection.
    const EnhancedMapper<B> cem;
    const auto A = cem.enhanced_activations(S, cem.cost_gradient(grads.class_vjps[0], *grads.prob_vjp));
    const auto relu_dgl = ops::pixel_sum<B>(grads.class_vjps[0], A, PixelTerm::relu_grad);
    print_map("DGL with relu(dl_c/dS):", relu_dgl);

    // 3. DGL with the user's cost policy: back-propagate its cotangent per target (2T products).
    const MarginCost margin;
    std::vector<float> v(C);
    margin.cotangent(logits.row(0), c, v);
    grads.cost_vjps = {head.vjp(S, v)};
    const auto margin_dgl = class_maps<B, MarginCost>(Method::dgl, grads, &top1, {margin, {}});
    print_map("DGL with the margin cost:", margin_dgl[0]);

    // The object is where all three put their mass: compare the mean inside and outside it.
    int status = 0;
    for (const auto* map : {&dgl[0], &relu_dgl, &margin_dgl[0]}) {
        double in = 0, out = 0;
        for (int y = 0; y < H; ++y)
            for (int x = 0; x < W; ++x) ((y >= 3 && x >= 3) ? in : out) += (*map)(0, 0, y, x);
        std::printf("mean inside %.4f, outside %.4f\n", in / 16, out / 33);
        if (!(in / 16 > out / 33)) status = 1; // run by ctest: the maps must find the object
    }
    return status;
}

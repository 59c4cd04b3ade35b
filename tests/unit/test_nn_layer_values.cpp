// Layer forward values and VJPs against hand-worked cases, PyTorch's output-size formula, and a
// naive double-precision convolution (sizes that exercise the GEMM blocking and channel groups).
#include <catch2/catch.hpp>

#include <nn_testing.hpp>
#include <tensor_matchers.hpp>

using dualgrad::Shape4;
using namespace dualgrad::nn;
using namespace dgtest::nn;

TEST_CASE("Conv2d 1x3 with padding (0, 1) and bias, by hand", "[nn][conv]") {
    Conv2d conv({.in_channels = 1, .out_channels = 1, .kh = 1, .kw = 3, .ph = 0, .pw = 1});
    conv.weight() = {1, 0, -1};
    conv.bias() = {0.5f};
    const Tensor x = tensor({1, 1, 2, 4}, {1, 2, 3, 4, 5, 6, 7, 8});
    const Tensor y = run_forward(conv, {x});
    REQUIRE(shape_of(y) == Shape4{1, 1, 2, 4});
    // y[ox] = x[ox-1] - x[ox+1] + 0.5, zeros outside
    CHECK_THAT(values(y), dgtest::all_close(std::vector<float>{-1.5f, -1.5f, -1.5f, 3.5f, -5.5f, -1.5f, -1.5f, 7.5f}));
    // VJP of an all-ones cotangent: sum of the kernel taps that reach each input column.
    Tensor v(1, 1, 2, 4);
    v.setConstant(1.0f);
    const auto g = run_backward(conv, {x}, y, v, 1);
    CHECK_THAT(values(g[0]), dgtest::all_close(std::vector<float>{1, 0, 0, -1, 1, 0, 0, -1}));
}

TEST_CASE("Conv2d output size follows PyTorch's formula", "[nn][conv]") {
    auto out = [](Conv2dOptions o, Shape4 in) {
        const Shape4 s[] = {in};
        return Conv2d(o).output_shape(s);
    };
    // InceptionV3 stem at 299: 3x3/2 -> 149, 3x3 -> 147; ResNet conv1 7x7/2 pad 3 at 224 -> 112.
    CHECK(out({3, 32, 3, 3, 2, 2, 0, 0, 1, 1, false}, {1, 3, 299, 299}) == Shape4{1, 32, 149, 149});
    CHECK(out({32, 32, 3, 3, 1, 1, 0, 0, 1, 1, false}, {1, 32, 149, 149}) == Shape4{1, 32, 147, 147});
    CHECK(out({3, 64, 7, 7, 2, 2, 3, 3, 1, 1, false}, {2, 3, 224, 224}) == Shape4{2, 64, 112, 112});
    CHECK(out({8, 8, 1, 7, 1, 1, 0, 3, 1, 1, false}, {1, 8, 17, 17}) == Shape4{1, 8, 17, 17});
    CHECK(out({8, 8, 3, 3, 1, 1, 2, 2, 2, 2, true}, {1, 8, 10, 9}) == Shape4{1, 8, 10, 9});
    CHECK(out({8, 4, 3, 3, 2, 2, 1, 1, 1, 1, true}, {1, 8, 10, 9}) == Shape4{1, 4, 5, 5});
}

namespace {

/// Naive adjoint of naive_conv for cotangents gy [N*T, O, OH, OW]: gx [N*T, C, H, W].
std::vector<double> naive_conv_vjp(const std::vector<float>& gy, Shape4 gs, const std::vector<float>& w, Shape4 is,
                                   const Conv2dOptions& o) {
    std::vector<double> gx(static_cast<std::size_t>(gs.n * is.per_sample()), 0.0);
    for (std::int64_t b = 0; b < gs.n; ++b)
        for (std::int64_t oc = 0; oc < gs.c; ++oc)
            for (std::int64_t oy = 0; oy < gs.h; ++oy)
                for (std::int64_t ox = 0; ox < gs.w; ++ox) {
                    const double g = gy[static_cast<std::size_t>(((b * gs.c + oc) * gs.h + oy) * gs.w + ox)];
                    for (std::int64_t c = 0; c < is.c; ++c)
                        for (std::int64_t ki = 0; ki < o.kh; ++ki)
                            for (std::int64_t kj = 0; kj < o.kw; ++kj) {
                                const std::int64_t iy = oy * o.sh - o.ph + ki * o.dh, ix = ox * o.sw - o.pw + kj * o.dw;
                                if (iy < 0 || iy >= is.h || ix < 0 || ix >= is.w) continue;
                                gx[static_cast<std::size_t>(((b * is.c + c) * is.h + iy) * is.w + ix)] +=
                                    g * w[static_cast<std::size_t>(((oc * is.c + c) * o.kh + ki) * o.kw + kj)];
                            }
                }
    return gx;
}

} // namespace

TEST_CASE("Conv2d matches a naive convolution at sizes that split into blocks and groups", "[nn][conv]") {
    struct Case {
        const char* what;
        Conv2dOptions o;
        Shape4 in;
        int T;
    };
    const Case cases[] = {
        {"3x3 pad 1, 40x40, one cotangent (4 channel groups)", {16, 8, 3, 3, 1, 1, 1, 1, 1, 1, true}, {1, 16, 40, 40}, 1},
        {"3x3 pad 1, many input channels (scratch-bound blocks)", {256, 4, 3, 3, 1, 1, 1, 1, 1, 1, false}, {1, 256, 30, 31}, 3},
        {"1x1, 37x29, N=2 T=3", {24, 10, 1, 1, 1, 1, 0, 0, 1, 1, true}, {2, 24, 37, 29}, 3},
        {"1x7 pad (0, 3), 21x23", {12, 6, 1, 7, 1, 1, 0, 3, 1, 1, false}, {1, 12, 21, 23}, 2},
        {"3x3 stride 2 dilation 2 pad 2, 33x27", {6, 5, 3, 3, 2, 2, 2, 2, 2, 2, true}, {2, 6, 33, 27}, 2},
    };
    for (const auto& c : cases) {
        SECTION(c.what) {
            Conv2d conv(c.o);
            conv.weight() = dgtest::nn::values(random_tensor({1, 1, 1, static_cast<std::int64_t>(conv.weight().size())}, 1, -0.3f, 0.3f));
            if (c.o.bias) conv.bias() = dgtest::nn::values(random_tensor({1, 1, 1, c.o.out_channels}, 2));
            const Tensor x = random_tensor(c.in, 3);
            const Tensor y = run_forward(conv, {x}, ExecContext{2});
            Shape4 os;
            const auto want = naive_conv(values(x), c.in, conv.weight(), conv.bias(), c.o, os);
            REQUIRE(shape_of(y) == os);
            CHECK_THAT(values(y), dgtest::all_close(want, 1e-5, 1e-5));

            const Shape4 gs{os.n * c.T, os.c, os.h, os.w};
            const Tensor v = random_tensor(gs, 4);
            const auto g = run_backward(conv, {x}, y, v, c.T, ExecContext{2});
            CHECK_THAT(values(g[0]), dgtest::all_close(naive_conv_vjp(values(v), gs, conv.weight(), c.in, c.o), 1e-5, 1e-5));
        }
    }
}

TEST_CASE("Pooled output sizes follow PyTorch's pooling_output_shape", "[nn][pool]") {
    // floor((in + 2p - d(k-1) - 1 + (ceil ? s-1 : 0)) / s) + 1, minus one in ceil mode when the last
    // window would start past the input and the left padding.
    CHECK(pool_output_size(112, 3, 2, 1, 1, false) == 56);
    CHECK(pool_output_size(112, 3, 2, 1, 1, true) == 57);  // wsolevaluation's Inception pools
    CHECK(pool_output_size(8, 3, 2, 0, 1, false) == 3);
    CHECK(pool_output_size(8, 3, 2, 0, 1, true) == 4);
    CHECK(pool_output_size(5, 2, 2, 1, 1, true) == 3);     // (3)*2 >= 5 + 1: the 4th window is dropped
    CHECK(pool_output_size(5, 2, 2, 1, 1, false) == 3);
    CHECK(pool_output_size(6, 2, 2, 1, 1, true) == 4);     // 3*2 < 6 + 1: kept
    CHECK(pool_output_size(147, 3, 2, 0, 1, true) == 73);
    CHECK(pool_output_size(7, 3, 1, 1, 2, false) == 5);    // dilation 2: effective kernel 5
    CHECK(pool_output_size(1, 1, 1, 0, 1, true) == 1);

    const Shape4 in[] = {{2, 3, 5, 5}};
    CHECK(MaxPool2d(2, 2, 1, true).output_shape(in) == Shape4{2, 3, 3, 3});
    CHECK(AvgPool2d(2, 2, 1, true).output_shape(in) == Shape4{2, 3, 3, 3});
    CHECK(MaxPool2d(3).output_shape(in) == Shape4{2, 3, 1, 1}); // stride defaults to the kernel
}

TEST_CASE("MaxPool2d values and first-maximum gradient, by hand", "[nn][pool]") {
    // 3x3 input, 2x2 windows, stride 2, ceil mode: windows rows {0,1},{2} x cols {0,1},{2}.
    const Tensor x = tensor({1, 1, 3, 3}, {1, 5, 2, 5, 0, 7, 3, 9, 4});
    MaxPool2d pool(2, 2, 0, true);
    const Tensor y = run_forward(pool, {x});
    REQUIRE(shape_of(y) == Shape4{1, 1, 2, 2});
    CHECK_THAT(values(y), dgtest::all_close(std::vector<float>{5, 7, 9, 4}));
    // The tie 5, 5 in the first window: the first in scan order (index 1) takes the gradient.
    const Tensor v = tensor({2, 1, 2, 2}, {1, 2, 3, 4, 10, 20, 30, 40});
    const auto g = run_backward(pool, {x}, y, v, 2);
    CHECK_THAT(values(g[0]), dgtest::all_close(std::vector<float>{0, 1, 0, 0, 0, 2, 0, 3, 4,  //
                                                                  0, 10, 0, 0, 0, 20, 0, 30, 40}));
    // Padding never wins: all-negative input with padding 1.
    const Tensor neg = tensor({1, 1, 2, 2}, {-4, -3, -2, -1});
    CHECK_THAT(values(run_forward(MaxPool2d(2, 1, 1), {neg})),
               dgtest::all_close(std::vector<float>{-4, -3, -3, -2, -1, -1, -2, -1, -1}));
}

TEST_CASE("AvgPool2d divisors: count_include_pad at the corners and windows past the padding", "[nn][pool]") {
    Tensor ones(1, 1, 4, 4);
    ones.setConstant(1.0f);
    // 3x3 / stride 1 / pad 1: corners see 4 of 9, edges 6 of 9.
    const float a = 4.0f / 9, b = 6.0f / 9;
    CHECK_THAT(values(run_forward(AvgPool2d(3, 1, 1), {ones})),
               dgtest::all_close(std::vector<float>{a, b, b, a, b, 1, 1, b, b, 1, 1, b, a, b, b, a}));
    CHECK_THAT(values(run_forward(AvgPool2d(3, 1, 1, false, false), {ones})),
               dgtest::all_close(std::vector<float>(16, 1.0f)));

    // 6x6, 3x3 / stride 2 / pad 1, ceil mode: 4x4 windows; the last one starts at 5 and is clipped
    // to the padded input [-1, 7), so it counts 2 rows (5, 6), of which only row 5 is input.
    Tensor six(1, 1, 6, 6);
    six.setConstant(1.0f);
    const Tensor y = run_forward(AvgPool2d(3, 2, 1, true), {six});
    REQUIRE(shape_of(y) == Shape4{1, 1, 4, 4});
    CHECK(y(0, 0, 0, 0) == Approx(4.0 / 9));
    CHECK(y(0, 0, 0, 3) == Approx(2.0 / 6));
    CHECK(y(0, 0, 3, 3) == Approx(1.0 / 4));
    CHECK(y(0, 0, 1, 1) == Approx(1.0));
    CHECK(y(0, 0, 1, 3) == Approx(3.0 / 6));
    // Without count_include_pad every window of ones averages to 1.
    CHECK_THAT(values(run_forward(AvgPool2d(3, 2, 1, true, false), {six})), dgtest::all_close(std::vector<float>(16, 1.0f)));
    // The VJP spreads each cotangent with the same divisor.
    Tensor v(1, 1, 4, 4);
    v.setZero();
    v(0, 0, 3, 3) = 1.0f;
    const auto g = run_backward(AvgPool2d(3, 2, 1, true), {six}, y, v, 1);
    CHECK(g[0](0, 0, 5, 5) == Approx(0.25));
    CHECK(g[0](0, 0, 4, 4) == 0.0f);
}

TEST_CASE("BatchNorm2d, GlobalAvgPool, Linear, Concat, Add by hand", "[nn]") {
    BatchNorm2d bn(2, 1.0);
    bn.weight() = {3, 1};
    bn.bias() = {0.5f, 0};
    bn.running_mean() = {1, 0};
    bn.running_var() = {3, 0};
    const Tensor x = tensor({1, 2, 1, 2}, {2, 0, 4, -4});
    // (2 - 1) / sqrt(3 + 1) * 3 + 0.5 = 2; (0 - 1) / 2 * 3 + 0.5 = -1; channel 1: x / 1
    CHECK_THAT(values(run_forward(bn, {x})), dgtest::all_close(std::vector<float>{2, -1, 4, -4}));

    CHECK_THAT(values(run_forward(GlobalAvgPool(), {x})), dgtest::all_close(std::vector<float>{1, 0}));

    Linear fc(2, 3);
    fc.weight() = {1, 2, 3, 4, 5, 6};
    fc.bias() = {0.5f, 0, -1};
    const Tensor f = tensor({1, 2, 1, 1}, {1, -1});
    const Tensor out = run_forward(fc, {f});
    REQUIRE(shape_of(out) == Shape4{1, 3, 1, 1});
    CHECK_THAT(values(out), dgtest::all_close(std::vector<float>{-0.5f, -1, -2}));
    const auto gf = run_backward(fc, {f}, out, tensor({1, 3, 1, 1}, {1, 0, -1}), 1);
    CHECK_THAT(values(gf[0]), dgtest::all_close(std::vector<float>{-4, -4}));

    const Tensor a = tensor({2, 1, 1, 2}, {1, 2, 3, 4}), b = tensor({2, 2, 1, 2}, {5, 6, 7, 8, 9, 10, 11, 12});
    Concat cat(2);
    const Tensor c = run_forward(cat, {a, b});
    REQUIRE(shape_of(c) == Shape4{2, 3, 1, 2});
    CHECK_THAT(values(c), dgtest::all_close(std::vector<float>{1, 2, 5, 6, 7, 8, 3, 4, 9, 10, 11, 12}));
    const auto gc = run_backward(cat, {a, b}, c, c, 1);
    CHECK_THAT(values(gc[0]), dgtest::all_close(values(a)));
    CHECK_THAT(values(gc[1]), dgtest::all_close(values(b)));

    const Tensor s = run_forward(Add(), {b, b});
    CHECK_THAT(values(s), dgtest::all_close(std::vector<float>{10, 12, 14, 16, 18, 20, 22, 24}));
}

TEST_CASE("Parameters are listed in state_dict order with PyTorch shapes", "[nn]") {
    auto names = [](Layer&& l) {
        std::vector<std::string> out;
        for (const auto& p : l.parameters()) {
            std::int64_t count = 1;
            for (auto d : p.shape) count *= d;
            CHECK(count == static_cast<std::int64_t>(p.data->size()));
            out.push_back(p.name);
        }
        return out;
    };
    CHECK(names(Conv2d(3, 8, 3)) == std::vector<std::string>{"weight", "bias"});
    CHECK(names(Conv2d(3, 8, 3, 1, 1, 1, false)) == std::vector<std::string>{"weight"});
    CHECK(names(BatchNorm2d(8)) == std::vector<std::string>{"weight", "bias", "running_mean", "running_var"});
    CHECK(names(Linear(8, 2)) == std::vector<std::string>{"weight", "bias"});
    CHECK(names(SqueezeExcitation(256)) == std::vector<std::string>{"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"});
    CHECK(names(ReLU()).empty());
    CHECK(Conv2d({.in_channels = 3, .out_channels = 8, .kh = 1, .kw = 7}).parameters()[0].shape ==
          std::vector<std::int64_t>{8, 3, 1, 7});
    CHECK(SqueezeExcitation(256).parameters()[0].shape == std::vector<std::int64_t>{16, 256, 1, 1});
}

TEST_CASE("SE reduced width follows timm's make_divisible for seresnet50", "[nn][se]") {
    // seresnet50's blocks have 256, 512, 1024, 2048 channels: 16, 32, 64, 128.
    CHECK(se_reduced_channels(256) == 16);
    CHECK(se_reduced_channels(512) == 32);
    CHECK(se_reduced_channels(1024) == 64);
    CHECK(se_reduced_channels(2048) == 128);
    // Small widths: at least the divisor, rounded to the nearest multiple of 8.
    CHECK(se_reduced_channels(64) == 8);
    CHECK(se_reduced_channels(200) == 16); // 12.5 -> int(16.5) // 8 * 8
    CHECK(se_reduced_channels(184) == 8);  // 11.5 -> int(15.5) // 8 * 8
    CHECK(SqueezeExcitation(512).reduced() == 32);
}

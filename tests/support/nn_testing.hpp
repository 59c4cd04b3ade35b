#pragma once
// Helpers for the CPU engine's layer tests: tensors from values, the finite-difference VJP check,
// a naive double-precision convolution, and the PyTorch layer fixtures (tests/fixtures/nn/*.json).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <dualgrad/nn/layers.hpp>

namespace dgtest::nn {

using dualgrad::Shape4;
using dualgrad::nn::ExecContext;
using dualgrad::nn::Layer;
using dualgrad::nn::Tensor;

inline Tensor tensor(Shape4 s, const std::vector<float>& v) {
    Tensor t(s.n, s.c, s.h, s.w);
    REQUIRE(static_cast<std::int64_t>(v.size()) == s.count());
    std::copy(v.begin(), v.end(), t.data());
    return t;
}

inline std::vector<float> values(const Tensor& t) { return {t.data(), t.data() + t.size()}; }

/// Uniform values in [lo, hi).
inline Tensor random_tensor(Shape4 s, unsigned seed, float lo = -1.0f, float hi = 1.0f) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> d(lo, hi);
    Tensor t(s.n, s.c, s.h, s.w);
    for (std::int64_t i = 0; i < t.size(); ++i) t.data()[i] = d(rng);
    return t;
}

/// Values at least `margin` away from zero (inputs of ReLU away from its kink).
inline Tensor away_from_zero(Shape4 s, unsigned seed, float margin = 0.1f) {
    Tensor t = random_tensor(s, seed);
    for (std::int64_t i = 0; i < t.size(); ++i) {
        float& v = t.data()[i];
        v = (v < 0 ? -1.0f : 1.0f) * (margin + (1.0f - margin) * std::abs(v));
    }
    return t;
}

/// A permutation of {0, 0.01, 0.02, ...} shifted to be centred: pairwise distinct by 0.01
/// (inputs of max pooling away from ties).
inline Tensor distinct_values(Shape4 s, unsigned seed) {
    std::vector<float> v(static_cast<std::size_t>(s.count()));
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = 0.01f * static_cast<float>(i) - 0.005f * static_cast<float>(v.size());
    std::mt19937 rng(seed);
    std::shuffle(v.begin(), v.end(), rng);
    return tensor(s, v);
}

inline Tensor run_forward(const Layer& layer, const std::vector<Tensor>& xs, const ExecContext& ctx = ExecContext{1}) {
    std::vector<const Tensor*> ptrs;
    for (const auto& x : xs) ptrs.push_back(&x);
    Tensor y;
    layer.forward(ptrs, y, ctx);
    return y;
}

inline std::vector<Tensor> run_backward(const Layer& layer, const std::vector<Tensor>& xs, const Tensor& y,
                                        const Tensor& v, int T, const ExecContext& ctx = ExecContext{1}) {
    std::vector<const Tensor*> ptrs;
    std::vector<Shape4> shapes;
    for (const auto& x : xs) ptrs.push_back(&x), shapes.push_back(dualgrad::nn::shape_of(x));
    std::vector<Tensor> gs(xs.size());
    std::vector<Tensor*> gptrs;
    for (auto& g : gs) gptrs.push_back(&g);
    layer.backward(shapes, ptrs, y, v, T, gptrs, ctx);
    return gs;
}

/// The VJP against central differences: for random cotangents v (T per sample) and a random
/// direction d, checks for every cotangent b (sample n = b / T)
///   <v_b, (f(x + h d) - f(x - h d))_n / 2h>  ==  sum_i <(J_i^T v)_b, d_i,n>
/// accumulated in double. The tolerance is `rel` of the larger side plus `rel / 10` of the sum of
/// the absolute products (which bounds float rounding in the presence of cancellation).
inline void check_vjp_fd(const Layer& layer, const std::vector<Tensor>& xs, int T, double h, unsigned seed,
                         double rel = 1e-3) {
    INFO(layer.repr() << ", T = " << T << ", h = " << h);
    const Tensor y = run_forward(layer, xs);
    const Shape4 os = dualgrad::nn::shape_of(y);
    const Tensor v = random_tensor({os.n * T, os.c, os.h, os.w}, seed);
    const auto gs = run_backward(layer, xs, y, v, T);
    REQUIRE(gs.size() == xs.size());

    std::vector<Tensor> plus, minus;
    std::vector<std::vector<double>> dirs; // the perturbation actually applied, / 2h
    for (std::size_t i = 0; i < xs.size(); ++i) {
        const Shape4 s = dualgrad::nn::shape_of(xs[i]);
        REQUIRE(dualgrad::nn::shape_of(gs[i]) == Shape4{s.n * T, s.c, s.h, s.w});
        const Tensor d = random_tensor(s, seed + 101 + static_cast<unsigned>(i));
        Tensor p = xs[i], m = xs[i];
        std::vector<double> eff(static_cast<std::size_t>(s.count()));
        for (std::int64_t k = 0; k < s.count(); ++k) {
            p.data()[k] = static_cast<float>(xs[i].data()[k] + h * d.data()[k]);
            m.data()[k] = static_cast<float>(xs[i].data()[k] - h * d.data()[k]);
            eff[static_cast<std::size_t>(k)] = (static_cast<double>(p.data()[k]) - m.data()[k]) / (2 * h);
        }
        plus.push_back(std::move(p));
        minus.push_back(std::move(m));
        dirs.push_back(std::move(eff));
    }
    const Tensor yp = run_forward(layer, plus), ym = run_forward(layer, minus);
    const std::int64_t out_per = os.per_sample();
    for (std::int64_t b = 0; b < os.n * T; ++b) {
        const std::int64_t n = b / T;
        double lhs = 0, rhs = 0, scale = 0;
        for (std::int64_t e = 0; e < out_per; ++e) {
            const double t = static_cast<double>(v.data()[b * out_per + e]) *
                             (static_cast<double>(yp.data()[n * out_per + e]) - ym.data()[n * out_per + e]) / (2 * h);
            lhs += t;
            scale += std::abs(t);
        }
        for (std::size_t i = 0; i < xs.size(); ++i) {
            const std::int64_t per = dualgrad::nn::shape_of(xs[i]).per_sample();
            for (std::int64_t e = 0; e < per; ++e) {
                const double t = static_cast<double>(gs[i].data()[b * per + e]) * dirs[i][static_cast<std::size_t>(n * per + e)];
                rhs += t;
                scale += std::abs(t);
            }
        }
        INFO("cotangent " << b << ": finite differences " << lhs << ", VJP " << rhs << ", sum of |terms| " << scale);
        CHECK(std::abs(lhs - rhs) <= rel * std::max(std::abs(lhs), std::abs(rhs)) + rel / 10 * scale + 1e-9);
    }
}

/// Naive Conv2d in double: y[n, o, oy, ox] = b[o] + sum w[o, c, ki, kj] x[n, c, iy, ix].
inline std::vector<double> naive_conv(const std::vector<float>& x, Shape4 is, const std::vector<float>& w,
                                      const std::vector<float>& bias, const dualgrad::nn::Conv2dOptions& o, Shape4& os) {
    os = {is.n, o.out_channels, (is.h + 2 * o.ph - o.dh * (o.kh - 1) - 1) / o.sh + 1,
          (is.w + 2 * o.pw - o.dw * (o.kw - 1) - 1) / o.sw + 1};
    std::vector<double> y(static_cast<std::size_t>(os.count()), 0.0);
    for (std::int64_t n = 0; n < is.n; ++n)
        for (std::int64_t oc = 0; oc < os.c; ++oc)
            for (std::int64_t oy = 0; oy < os.h; ++oy)
                for (std::int64_t ox = 0; ox < os.w; ++ox) {
                    double acc = bias.empty() ? 0.0 : bias[static_cast<std::size_t>(oc)];
                    for (std::int64_t c = 0; c < is.c; ++c)
                        for (std::int64_t ki = 0; ki < o.kh; ++ki)
                            for (std::int64_t kj = 0; kj < o.kw; ++kj) {
                                const std::int64_t iy = oy * o.sh - o.ph + ki * o.dh, ix = ox * o.sw - o.pw + kj * o.dw;
                                if (iy < 0 || iy >= is.h || ix < 0 || ix >= is.w) continue;
                                acc += static_cast<double>(w[static_cast<std::size_t>(((oc * is.c + c) * o.kh + ki) * o.kw + kj)]) *
                                       x[static_cast<std::size_t>(((n * is.c + c) * is.h + iy) * is.w + ix)];
                            }
                    y[static_cast<std::size_t>(((n * os.c + oc) * os.h + oy) * os.w + ox)] = acc;
                }
    return y;
}

// --- PyTorch fixtures ----------------------------------------------------------------------------

inline nlohmann::json load_fixture(const std::string& name) {
    const std::string path = std::string(DUALGRAD_FIXTURES_DIR) + "/nn/" + name + ".json";
    std::ifstream f(path);
    INFO("fixture " << path);
    REQUIRE(f.good());
    return nlohmann::json::parse(f);
}

inline Shape4 json_shape(const nlohmann::json& t) {
    const auto s = t.at("shape").get<std::vector<std::int64_t>>();
    REQUIRE(s.size() == 4);
    return {s[0], s[1], s[2], s[3]};
}

inline Tensor json_tensor(const nlohmann::json& t) { return tensor(json_shape(t), t.at("data").get<std::vector<float>>()); }

/// The layer a fixture describes, with the fixture's parameters loaded by name and shape.
inline std::unique_ptr<Layer> make_fixture_layer(const nlohmann::json& fx) {
    const auto& l = fx.at("layer");
    const std::string type = l.at("type");
    std::unique_ptr<Layer> layer;
    if (type == "Conv2d") {
        dualgrad::nn::Conv2dOptions o;
        o.in_channels = l.at("in_channels");
        o.out_channels = l.at("out_channels");
        o.kh = l.at("kh"), o.kw = l.at("kw"), o.sh = l.at("sh"), o.sw = l.at("sw");
        o.ph = l.at("ph"), o.pw = l.at("pw"), o.dh = l.at("dh"), o.dw = l.at("dw");
        o.bias = l.at("bias");
        layer = std::make_unique<dualgrad::nn::Conv2d>(o);
    } else if (type == "MaxPool2d") {
        layer = std::make_unique<dualgrad::nn::MaxPool2d>(l.at("k").get<int>(), l.at("s").get<int>(), l.at("p").get<int>(),
                                                          l.at("ceil_mode").get<bool>());
    } else if (type == "AvgPool2d") {
        layer = std::make_unique<dualgrad::nn::AvgPool2d>(l.at("k").get<int>(), l.at("s").get<int>(), l.at("p").get<int>(),
                                                          l.at("ceil_mode").get<bool>(),
                                                          l.at("count_include_pad").get<bool>());
    } else if (type == "BatchNorm2d") {
        layer = std::make_unique<dualgrad::nn::BatchNorm2d>(l.at("num_features").get<int>(), l.at("eps").get<double>());
    } else if (type == "SEModule") {
        layer = std::make_unique<dualgrad::nn::SqueezeExcitation>(l.at("channels").get<int>(), l.at("reduced").get<int>());
    } else if (type == "Linear") {
        layer = std::make_unique<dualgrad::nn::Linear>(l.at("in_features").get<int>(), l.at("out_features").get<int>());
    } else if (type == "AdaptiveAvgPool2d") {
        layer = std::make_unique<dualgrad::nn::GlobalAvgPool>();
    } else {
        FAIL("unknown fixture layer type " << type);
    }
    const auto& params = fx.at("params");
    auto list = layer->parameters();
    REQUIRE(list.size() == params.size());
    for (auto& p : list) {
        INFO("parameter " << p.name);
        REQUIRE(params.contains(p.name));
        const auto& jp = params.at(p.name);
        REQUIRE(jp.at("shape").get<std::vector<std::int64_t>>() == p.shape);
        const auto data = jp.at("data").get<std::vector<float>>();
        REQUIRE(data.size() == p.data->size());
        *p.data = data;
    }
    return layer;
}

} // namespace dgtest::nn

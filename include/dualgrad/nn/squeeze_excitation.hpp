#pragma once
/// \file
/// `SqueezeExcitation`: timm's `SEModule` (the `se` of `seresnet50`'s bottlenecks) as one layer:
///
///     s = mean_hw(x);  z1 = fc1(s);  a = relu(z1);  z2 = fc2(a);  gate = sigmoid(z2);  y = x * gate
///
/// with fc1, fc2 1x1 convolutions with bias. Its VJP is the full one with respect to x: the
/// direct term g * gate plus the path through the gate,
/// `dx += (1/HW) * fc1^T(relu'(z1) * fc2^T(gate (1 - gate) * sum_hw(g * x)))`.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "dualgrad/nn/detail/checks.hpp"
#include "dualgrad/nn/detail/elementwise.hpp"
#include "dualgrad/nn/layer.hpp"
#include "dualgrad/nn/parallel.hpp"

namespace dualgrad::nn {

/// timm's reduced SE width for `SEModule(channels)` with rd_ratio 1/16, as in `seresnet50`:
/// `make_divisible(channels / 16, 8, round_limit=0)` = max(8, int(channels/16 + 4) // 8 * 8).
[[nodiscard]] inline int se_reduced_channels(int channels, double rd_ratio = 1.0 / 16, int divisor = 8) {
    const double v = channels * rd_ratio;
    const int r = static_cast<int>(v + divisor / 2.0) / divisor * divisor;
    return std::max(divisor, r);
}

/// timm's `SEModule(channels, rd_channels=reduced)` with ReLU and a sigmoid gate.
/// Parameters: "fc1.weight" [reduced, channels, 1, 1], "fc1.bias" [reduced],
/// "fc2.weight" [channels, reduced, 1, 1], "fc2.bias" [channels]; all start at zero.
class SqueezeExcitation final : public Layer {
public:
    explicit SqueezeExcitation(int channels) : SqueezeExcitation(channels, se_reduced_channels(channels)) {}
    SqueezeExcitation(int channels, int reduced) : c_(channels), r_(reduced) {
        detail::check_positive("SEModule", "channels", channels);
        detail::check_positive("SEModule", "reduced channels", reduced);
        const auto cr = static_cast<std::size_t>(channels) * static_cast<std::size_t>(reduced);
        w1_.assign(cr, 0.0f);
        b1_.assign(static_cast<std::size_t>(reduced), 0.0f);
        w2_.assign(cr, 0.0f);
        b2_.assign(static_cast<std::size_t>(channels), 0.0f);
    }

    [[nodiscard]] std::string_view kind() const override { return "SEModule"; }
    [[nodiscard]] std::string repr() const override {
        return dualgrad::detail::concat("SEModule(channels=", c_, ", rd_channels=", r_, ")");
    }
    [[nodiscard]] int channels() const noexcept { return c_; }
    [[nodiscard]] int reduced() const noexcept { return r_; }
    [[nodiscard]] bool backward_needs_inputs() const override { return true; }

    [[nodiscard]] Shape4 output_shape(std::span<const Shape4> in) const override {
        detail::check_arity(*this, in.size());
        detail::check_nonempty(*this, in[0]);
        if (in[0].c != c_)
            dualgrad::detail::raise<shape_error>(repr(), ": input has ", in[0].c, " channels, expected ", c_,
                                                 " (input shape ", in[0], ")");
        return in[0];
    }

    void forward(std::span<const Tensor* const> inputs, Tensor& out, const ExecContext& ctx) const override {
        const Shape4 s = output_shape(detail::input_shapes(*this, inputs));
        out.resize(s.n, s.c, s.h, s.w);
        const float* x = inputs[0]->data();
        std::vector<float> z1, gate;
        gates(x, s, z1, gate, ctx);
        float* y = out.data();
        const std::int64_t plane = s.plane();
        parallel_for_chunks(0, s.n * s.c, detail::plane_grain(plane), ctx, [&](std::int64_t lo, std::int64_t hi) {
            for (std::int64_t p = lo; p < hi; ++p) {
                const float gv = gate[static_cast<std::size_t>(p)];
                for (std::int64_t i = 0; i < plane; ++i) y[p * plane + i] = x[p * plane + i] * gv;
            }
        });
    }

    void backward(std::span<const Shape4> input_shapes, std::span<const Tensor* const> inputs,
                  const Tensor& output, const Tensor& grad_out, int T,
                  std::span<Tensor* const> grad_inputs, const ExecContext& ctx) const override {
        (void)output;
        const Shape4 s = output_shape(detail::backward_input_shapes(*this, input_shapes, inputs));
        detail::check_backward(*this, s, grad_out, T, grad_inputs.size());
        if (!grad_inputs[0]) return;
        const float* x = inputs[0]->data();
        std::vector<float> z1, gate;
        gates(x, s, z1, gate, ctx);
        Tensor& gx_t = *grad_inputs[0];
        gx_t.resize(s.n * T, s.c, s.h, s.w);
        const float* gy = grad_out.data();
        float* gx = gx_t.data();
        const std::int64_t C = c_, R = r_, plane = s.plane(), NT = s.n * T;

        // Direct term and the gate cotangent dgate[b, c] = sum_hw g * x, per cotangent plane.
        std::vector<double> dgate(static_cast<std::size_t>(NT * C));
        parallel_for_chunks(0, NT * C, detail::plane_grain(plane), ctx, [&](std::int64_t lo, std::int64_t hi) {
            for (std::int64_t q = lo; q < hi; ++q) {
                const std::int64_t b = q / C, c = q % C, p = (b / T) * C + c; // p: forward plane
                const float gv = gate[static_cast<std::size_t>(p)];
                const float *g = gy + q * plane, *xp = x + p * plane;
                float* o = gx + q * plane;
                double acc = 0.0;
                for (std::int64_t i = 0; i < plane; ++i) {
                    o[i] = g[i] * gv;
                    acc += static_cast<double>(g[i]) * xp[i];
                }
                dgate[static_cast<std::size_t>(q)] = acc;
            }
        });

        // Back through sigmoid, fc2, relu, fc1 and the mean: ds[b, c], added to every pixel.
        std::vector<float> ds(static_cast<std::size_t>(NT * C));
        const float *w1 = w1_.data(), *w2 = w2_.data(), *gt = gate.data(), *z = z1.data();
        const double* dg = dgate.data();
        parallel_for_chunks(0, NT, 8, ctx, [&](std::int64_t lo, std::int64_t hi) {
            std::vector<double> dz2(static_cast<std::size_t>(C)), dz1(static_cast<std::size_t>(R));
            for (std::int64_t b = lo; b < hi; ++b) {
                const std::int64_t n = b / T;
                for (std::int64_t c = 0; c < C; ++c) {
                    const double gv = gt[n * C + c];
                    dz2[static_cast<std::size_t>(c)] = dg[b * C + c] * gv * (1.0 - gv);
                }
                for (std::int64_t r = 0; r < R; ++r) {
                    double acc = 0.0;
                    if (z[n * R + r] > 0.0f)
                        for (std::int64_t c = 0; c < C; ++c) acc += w2[c * R + r] * dz2[static_cast<std::size_t>(c)];
                    dz1[static_cast<std::size_t>(r)] = acc;
                }
                for (std::int64_t c = 0; c < C; ++c) {
                    double acc = 0.0;
                    for (std::int64_t r = 0; r < R; ++r) acc += w1[r * C + c] * dz1[static_cast<std::size_t>(r)];
                    ds[static_cast<std::size_t>(b * C + c)] = static_cast<float>(acc / static_cast<double>(plane));
                }
            }
        });

        parallel_for_chunks(0, NT * C, detail::plane_grain(plane), ctx, [&](std::int64_t lo, std::int64_t hi) {
            for (std::int64_t q = lo; q < hi; ++q) {
                const float d = ds[static_cast<std::size_t>(q)];
                float* o = gx + q * plane;
                for (std::int64_t i = 0; i < plane; ++i) o[i] += d;
            }
        });
    }

    [[nodiscard]] std::vector<Parameter> parameters() override {
        return {{"fc1.weight", {r_, c_, 1, 1}, &w1_},
                {"fc1.bias", {r_}, &b1_},
                {"fc2.weight", {c_, r_, 1, 1}, &w2_},
                {"fc2.bias", {c_}, &b2_}};
    }

private:
    /// Per sample: z1 = fc1(mean_hw(x)) [N, R] and gate = sigmoid(fc2(relu(z1))) [N, C].
    void gates(const float* x, const Shape4& s, std::vector<float>& z1, std::vector<float>& gate,
               const ExecContext& ctx) const {
        detail::check_parameter(*this, "fc1.weight", w1_, std::int64_t{c_} * r_);
        detail::check_parameter(*this, "fc1.bias", b1_, r_);
        detail::check_parameter(*this, "fc2.weight", w2_, std::int64_t{c_} * r_);
        detail::check_parameter(*this, "fc2.bias", b2_, c_);
        const std::int64_t C = c_, R = r_, plane = s.plane();
        std::vector<float> mean(static_cast<std::size_t>(s.n * C));
        parallel_for_chunks(0, s.n * C, detail::plane_grain(plane), ctx, [&](std::int64_t lo, std::int64_t hi) {
            for (std::int64_t p = lo; p < hi; ++p) {
                double acc = 0.0;
                for (std::int64_t i = 0; i < plane; ++i) acc += x[p * plane + i];
                mean[static_cast<std::size_t>(p)] = static_cast<float>(acc / static_cast<double>(plane));
            }
        });
        z1.assign(static_cast<std::size_t>(s.n * R), 0.0f);
        gate.assign(static_cast<std::size_t>(s.n * C), 0.0f);
        const float *w1 = w1_.data(), *b1 = b1_.data(), *w2 = w2_.data(), *b2 = b2_.data(), *m = mean.data();
        float *z = z1.data(), *gt = gate.data();
        for (std::int64_t n = 0; n < s.n; ++n) {
            for (std::int64_t r = 0; r < R; ++r) {
                double acc = b1[r];
                for (std::int64_t c = 0; c < C; ++c) acc += static_cast<double>(w1[r * C + c]) * m[n * C + c];
                z[n * R + r] = static_cast<float>(acc);
            }
            for (std::int64_t c = 0; c < C; ++c) {
                double acc = b2[c];
                for (std::int64_t r = 0; r < R; ++r) acc += static_cast<double>(w2[c * R + r]) * std::max(0.0f, z[n * R + r]);
                gt[n * C + c] = static_cast<float>(1.0 / (1.0 + std::exp(-acc)));
            }
        }
    }

    int c_, r_;
    std::vector<float> w1_, b1_, w2_, b2_;
};

} // namespace dualgrad::nn

#pragma once
/// \file
/// `BatchNorm2d` in inference mode: y = (x - running_mean) / sqrt(running_var + eps) * weight + bias,
/// applied as y = x * scale[c] + shift[c] (as PyTorch's CPU kernel does). Its VJP is g * scale[c].

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

/// `torch.nn.BatchNorm2d(num_features, eps)` in eval mode. Parameters, in `state_dict` order:
/// "weight" (ones), "bias" (zeros), "running_mean" (zeros), "running_var" (ones), each [C].
/// `num_batches_tracked` is an integer buffer and is not a parameter here.
class BatchNorm2d final : public Layer {
public:
    explicit BatchNorm2d(int num_features, double eps = 1e-5) : c_(num_features), eps_(eps) {
        detail::check_positive("BatchNorm2d", "num_features", num_features);
        if (!(eps > 0)) dualgrad::detail::raise<value_error>("BatchNorm2d: eps must be positive, got ", eps);
        const auto n = static_cast<std::size_t>(num_features);
        weight_.assign(n, 1.0f);
        bias_.assign(n, 0.0f);
        mean_.assign(n, 0.0f);
        var_.assign(n, 1.0f);
    }

    [[nodiscard]] std::string_view kind() const override { return "BatchNorm2d"; }
    [[nodiscard]] std::string repr() const override {
        return dualgrad::detail::concat("BatchNorm2d(", c_, ", eps=", eps_, ")");
    }
    [[nodiscard]] int num_features() const noexcept { return c_; }
    [[nodiscard]] double eps() const noexcept { return eps_; }

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
        std::vector<float> scale, shift;
        coefficients(scale, shift);
        out.resize(s.n, s.c, s.h, s.w);
        const float* x = inputs[0]->data();
        float* y = out.data();
        const std::int64_t plane = s.plane();
        parallel_for_chunks(0, s.n * s.c, detail::plane_grain(plane), ctx, [&](std::int64_t lo, std::int64_t hi) {
            for (std::int64_t p = lo; p < hi; ++p) {
                const auto c = static_cast<std::size_t>(p % s.c);
                const float a = scale[c], b = shift[c];
                const float* xp = x + p * plane;
                float* yp = y + p * plane;
                for (std::int64_t i = 0; i < plane; ++i) yp[i] = xp[i] * a + b;
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
        std::vector<float> scale, shift;
        coefficients(scale, shift);
        Tensor& gx = *grad_inputs[0];
        gx.resize(s.n * T, s.c, s.h, s.w);
        const float* gy = grad_out.data();
        float* g = gx.data();
        const std::int64_t plane = s.plane();
        parallel_for_chunks(0, s.n * T * s.c, detail::plane_grain(plane), ctx, [&](std::int64_t lo, std::int64_t hi) {
            for (std::int64_t p = lo; p < hi; ++p) {
                const float a = scale[static_cast<std::size_t>(p % s.c)];
                const float* gp = gy + p * plane;
                float* op = g + p * plane;
                for (std::int64_t i = 0; i < plane; ++i) op[i] = gp[i] * a;
            }
        });
    }

    [[nodiscard]] std::vector<Parameter> parameters() override {
        const std::vector<std::int64_t> shape{c_};
        return {{"weight", shape, &weight_}, {"bias", shape, &bias_}, {"running_mean", shape, &mean_},
                {"running_var", shape, &var_}};
    }

    [[nodiscard]] std::vector<float>& weight() noexcept { return weight_; }
    [[nodiscard]] std::vector<float>& bias() noexcept { return bias_; }
    [[nodiscard]] std::vector<float>& running_mean() noexcept { return mean_; }
    [[nodiscard]] std::vector<float>& running_var() noexcept { return var_; }

    /// The per-channel affine map y = x * scale + shift that this layer applies (computed in double).
    void coefficients(std::vector<float>& scale, std::vector<float>& shift) const {
        detail::check_parameter(*this, "weight", weight_, c_);
        detail::check_parameter(*this, "bias", bias_, c_);
        detail::check_parameter(*this, "running_mean", mean_, c_);
        detail::check_parameter(*this, "running_var", var_, c_);
        scale.resize(weight_.size());
        shift.resize(weight_.size());
        for (std::size_t c = 0; c < weight_.size(); ++c) {
            const double v = static_cast<double>(var_[c]) + eps_;
            if (!(v > 0))
                dualgrad::detail::raise<value_error>(repr(), ": running_var[", c, "] = ", var_[c],
                                                     " gives a non-positive variance");
            const double a = weight_[c] / std::sqrt(v);
            scale[c] = static_cast<float>(a);
            shift[c] = static_cast<float>(bias_[c] - mean_[c] * a);
        }
    }

private:
    int c_;
    double eps_;
    std::vector<float> weight_, bias_, mean_, var_;
};

} // namespace dualgrad::nn

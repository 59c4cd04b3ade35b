#pragma once
/// \file
/// Element-wise layers: `ReLU`, `Sigmoid`, and `Dropout` (the identity at inference).
/// The VJPs of ReLU and Sigmoid read the forward output of sample b / T.

#include <cmath>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "dualgrad/nn/detail/checks.hpp"
#include "dualgrad/nn/detail/elementwise.hpp"
#include "dualgrad/nn/layer.hpp"
#include "dualgrad/nn/parallel.hpp"

namespace dualgrad::nn {
namespace detail {

/// Shared plumbing of the one-input layers whose output has the input's shape.
class ElementwiseLayer : public Layer {
public:
    [[nodiscard]] Shape4 output_shape(std::span<const Shape4> in) const override {
        check_arity(*this, in.size());
        check_nonempty(*this, in[0]);
        return in[0];
    }

protected:
    /// Validates forward arguments, sizes `out`; returns the input.
    const Tensor& prepare_forward(std::span<const Tensor* const> inputs, Tensor& out) const {
        const auto shapes = input_shapes(*this, inputs);
        const Shape4 s = output_shape(shapes);
        out.resize(s.n, s.c, s.h, s.w);
        return *inputs[0];
    }
    /// Validates backward arguments; returns the gradient tensor to fill (sized), or null.
    Tensor* prepare_backward(std::span<const Shape4> input_shapes, std::span<const Tensor* const> inputs,
                             const Tensor& grad_out, int T, std::span<Tensor* const> grad_inputs) const {
        const auto shapes = backward_input_shapes(*this, input_shapes, inputs);
        const Shape4 s = output_shape(shapes);
        check_backward(*this, s, grad_out, T, grad_inputs.size());
        Tensor* g = grad_inputs[0];
        if (g) g->resize(s.n * T, s.c, s.h, s.w);
        return g;
    }
    /// Checks that the forward output passed to backward has the input's shape.
    void check_output(const Tensor& output, const Shape4& want) const {
        if (shape_of(output) != want)
            dualgrad::detail::raise<shape_error>(repr(), ": backward was given a forward output of shape ",
                                                 shape_of(output), ", expected ", want);
    }
};

} // namespace detail

/// `torch.nn.ReLU`: max(x, 0). The VJP passes the cotangent where the output is positive
/// (PyTorch's `threshold_backward` on the result: zero gradient at x = 0).
class ReLU final : public detail::ElementwiseLayer {
public:
    [[nodiscard]] std::string_view kind() const override { return "ReLU"; }
    [[nodiscard]] std::string repr() const override { return "ReLU()"; }
    [[nodiscard]] bool backward_needs_output() const override { return true; }

    void forward(std::span<const Tensor* const> inputs, Tensor& out, const ExecContext& ctx) const override {
        const float* x = prepare_forward(inputs, out).data();
        float* y = out.data();
        parallel_for_chunks(0, out.size(), detail::element_grain, ctx, [&](std::int64_t lo, std::int64_t hi) {
            for (std::int64_t i = lo; i < hi; ++i) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
        });
    }
    void backward(std::span<const Shape4> input_shapes, std::span<const Tensor* const> inputs,
                  const Tensor& output, const Tensor& grad_out, int T,
                  std::span<Tensor* const> grad_inputs, const ExecContext& ctx) const override {
        Tensor* gx = prepare_backward(input_shapes, inputs, grad_out, T, grad_inputs);
        if (!gx) return;
        const Shape4 s = input_shapes[0];
        check_output(output, s);
        const std::int64_t per = s.per_sample();
        const float *y = output.data(), *gy = grad_out.data();
        float* g = gx->data();
        detail::for_sample_chunks(s.n * T, per, ctx, [&](std::int64_t b, std::int64_t lo, std::int64_t hi) {
            const float* yn = y + (b / T) * per;
            const float* gb = gy + b * per;
            float* o = g + b * per;
            for (std::int64_t i = lo; i < hi; ++i) o[i] = yn[i] > 0.0f ? gb[i] : 0.0f;
        });
    }
};

/// `torch.nn.Sigmoid`: 1 / (1 + exp(-x)); VJP g * y * (1 - y) with y the forward output.
class Sigmoid final : public detail::ElementwiseLayer {
public:
    [[nodiscard]] std::string_view kind() const override { return "Sigmoid"; }
    [[nodiscard]] std::string repr() const override { return "Sigmoid()"; }
    [[nodiscard]] bool backward_needs_output() const override { return true; }

    void forward(std::span<const Tensor* const> inputs, Tensor& out, const ExecContext& ctx) const override {
        const float* x = prepare_forward(inputs, out).data();
        float* y = out.data();
        parallel_for_chunks(0, out.size(), detail::element_grain, ctx, [&](std::int64_t lo, std::int64_t hi) {
            for (std::int64_t i = lo; i < hi; ++i) y[i] = 1.0f / (1.0f + std::exp(-x[i]));
        });
    }
    void backward(std::span<const Shape4> input_shapes, std::span<const Tensor* const> inputs,
                  const Tensor& output, const Tensor& grad_out, int T,
                  std::span<Tensor* const> grad_inputs, const ExecContext& ctx) const override {
        Tensor* gx = prepare_backward(input_shapes, inputs, grad_out, T, grad_inputs);
        if (!gx) return;
        const Shape4 s = input_shapes[0];
        check_output(output, s);
        const std::int64_t per = s.per_sample();
        const float *y = output.data(), *gy = grad_out.data();
        float* g = gx->data();
        detail::for_sample_chunks(s.n * T, per, ctx, [&](std::int64_t b, std::int64_t lo, std::int64_t hi) {
            const float* yn = y + (b / T) * per;
            const float* gb = gy + b * per;
            float* o = g + b * per;
            for (std::int64_t i = lo; i < hi; ++i) o[i] = gb[i] * yn[i] * (1.0f - yn[i]);
        });
    }
};

/// `torch.nn.Dropout(p)` in eval mode: the identity (forward and VJP copy).
class Dropout final : public detail::ElementwiseLayer {
public:
    explicit Dropout(double p = 0.5) : p_(p) {
        if (!(p >= 0.0 && p <= 1.0)) dualgrad::detail::raise<value_error>("Dropout: p must be in [0, 1], got ", p);
    }
    [[nodiscard]] std::string_view kind() const override { return "Dropout"; }
    [[nodiscard]] std::string repr() const override { return dualgrad::detail::concat("Dropout(p=", p_, ")"); }
    [[nodiscard]] double p() const noexcept { return p_; }

    void forward(std::span<const Tensor* const> inputs, Tensor& out, const ExecContext& ctx) const override {
        const Tensor& x = prepare_forward(inputs, out);
        detail::parallel_copy(x.data(), out.data(), x.size(), ctx);
    }
    void backward(std::span<const Shape4> input_shapes, std::span<const Tensor* const> inputs,
                  const Tensor& output, const Tensor& grad_out, int T,
                  std::span<Tensor* const> grad_inputs, const ExecContext& ctx) const override {
        (void)output;
        Tensor* gx = prepare_backward(input_shapes, inputs, grad_out, T, grad_inputs);
        if (gx) detail::parallel_copy(grad_out.data(), gx->data(), grad_out.size(), ctx);
    }

private:
    double p_;
};

} // namespace dualgrad::nn

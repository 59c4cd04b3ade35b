#pragma once
/// \file
/// Layers with several inputs: `Add` (a residual connection, `a + b`) and `Concat`
/// (`torch.cat(inputs, dim=1)`, Inception's branch join).

#include <algorithm>
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

/// `a + b` for two inputs of the same shape (ResNet's `out += identity`). Both VJPs are the cotangent.
class Add final : public Layer {
public:
    [[nodiscard]] std::string_view kind() const override { return "Add"; }
    [[nodiscard]] std::string repr() const override { return "Add()"; }
    [[nodiscard]] int arity() const override { return 2; }

    [[nodiscard]] Shape4 output_shape(std::span<const Shape4> in) const override {
        detail::check_arity(*this, in.size());
        detail::check_nonempty(*this, in[0], 0);
        detail::check_nonempty(*this, in[1], 1);
        if (in[0] != in[1])
            dualgrad::detail::raise<shape_error>(repr(), ": the inputs have different shapes ", in[0], " and ", in[1]);
        return in[0];
    }

    void forward(std::span<const Tensor* const> inputs, Tensor& out, const ExecContext& ctx) const override {
        const Shape4 s = output_shape(detail::input_shapes(*this, inputs));
        out.resize(s.n, s.c, s.h, s.w);
        const float *a = inputs[0]->data(), *b = inputs[1]->data();
        float* y = out.data();
        parallel_for_chunks(0, s.count(), detail::element_grain, ctx, [&](std::int64_t lo, std::int64_t hi) {
            for (std::int64_t i = lo; i < hi; ++i) y[i] = a[i] + b[i];
        });
    }

    void backward(std::span<const Shape4> input_shapes, std::span<const Tensor* const> inputs,
                  const Tensor& output, const Tensor& grad_out, int T,
                  std::span<Tensor* const> grad_inputs, const ExecContext& ctx) const override {
        (void)output;
        const Shape4 s = output_shape(detail::backward_input_shapes(*this, input_shapes, inputs));
        detail::check_backward(*this, s, grad_out, T, grad_inputs.size());
        for (Tensor* g : grad_inputs) {
            if (!g) continue;
            g->resize(s.n * T, s.c, s.h, s.w);
            detail::parallel_copy(grad_out.data(), g->data(), grad_out.size(), ctx);
        }
    }
};

/// `torch.cat(inputs, dim=1)` of `arity` inputs that agree on N, H and W.
class Concat final : public Layer {
public:
    explicit Concat(int arity) : arity_(arity) {
        if (arity < 1) dualgrad::detail::raise<value_error>("Concat: arity must be at least 1, got ", arity);
    }

    [[nodiscard]] std::string_view kind() const override { return "Concat"; }
    [[nodiscard]] std::string repr() const override { return dualgrad::detail::concat("Concat(", arity_, " inputs, dim=1)"); }
    [[nodiscard]] int arity() const override { return arity_; }

    [[nodiscard]] Shape4 output_shape(std::span<const Shape4> in) const override {
        detail::check_arity(*this, in.size());
        Shape4 out = in[0];
        out.c = 0;
        for (std::size_t i = 0; i < in.size(); ++i) {
            detail::check_nonempty(*this, in[i], i);
            if (in[i].n != in[0].n || in[i].h != in[0].h || in[i].w != in[0].w)
                dualgrad::detail::raise<shape_error>(repr(), ": input ", i, " has shape ", in[i], ", input 0 has ", in[0],
                                                     "; all but the channel count must agree");
            out.c += in[i].c;
        }
        return out;
    }

    void forward(std::span<const Tensor* const> inputs, Tensor& out, const ExecContext& ctx) const override {
        const auto shapes = detail::input_shapes(*this, inputs);
        const Shape4 os = output_shape(shapes);
        out.resize(os.n, os.c, os.h, os.w);
        const auto offsets = channel_offsets(shapes);
        float* y = out.data();
        const std::int64_t k = arity_, plane = os.plane();
        parallel_for(0, os.n * k, ctx, [&](std::int64_t task) {
            const std::int64_t n = task / k, i = task % k, per = shapes[static_cast<std::size_t>(i)].per_sample();
            const float* src = inputs[static_cast<std::size_t>(i)]->data() + n * per;
            std::copy(src, src + per, y + n * os.per_sample() + offsets[static_cast<std::size_t>(i)] * plane);
        });
    }

    void backward(std::span<const Shape4> input_shapes, std::span<const Tensor* const> inputs,
                  const Tensor& output, const Tensor& grad_out, int T,
                  std::span<Tensor* const> grad_inputs, const ExecContext& ctx) const override {
        (void)output;
        const auto shapes = detail::backward_input_shapes(*this, input_shapes, inputs);
        const Shape4 os = output_shape(shapes);
        detail::check_backward(*this, os, grad_out, T, grad_inputs.size());
        const auto offsets = channel_offsets(shapes);
        for (std::size_t i = 0; i < grad_inputs.size(); ++i)
            if (grad_inputs[i]) grad_inputs[i]->resize(os.n * T, shapes[i].c, os.h, os.w);
        const float* gy = grad_out.data();
        const std::int64_t k = arity_, plane = os.plane();
        parallel_for(0, os.n * T * k, ctx, [&](std::int64_t task) {
            const auto i = static_cast<std::size_t>(task % k);
            if (!grad_inputs[i]) return;
            const std::int64_t b = task / k, per = shapes[i].per_sample();
            const float* src = gy + b * os.per_sample() + offsets[i] * plane;
            std::copy(src, src + per, grad_inputs[i]->data() + b * per);
        });
    }

private:
    [[nodiscard]] static std::vector<std::int64_t> channel_offsets(const std::vector<Shape4>& shapes) {
        std::vector<std::int64_t> off(shapes.size(), 0);
        for (std::size_t i = 1; i < shapes.size(); ++i) off[i] = off[i - 1] + shapes[i - 1].c;
        return off;
    }

    int arity_;
};

} // namespace dualgrad::nn

#pragma once
/// \file
/// `Linear`: PyTorch's `nn.Linear` applied to the flattened sample (`torch.flatten(x, 1)`), so that
/// the N x C x 1 x 1 output of global average pooling feeds it directly. Output N x out x 1 x 1.

#include <algorithm>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <Eigen/Core>

#include "dualgrad/nn/detail/checks.hpp"
#include "dualgrad/nn/layer.hpp"
#include "dualgrad/nn/parallel.hpp"

namespace dualgrad::nn {

/// `torch.nn.Linear(in_features, out_features, bias)` on `flatten(x, 1)`: y = x W^T + b.
/// Parameters: "weight" [out, in], "bias" [out] (when enabled); both start at zero.
class Linear final : public Layer {
public:
    Linear(int in_features, int out_features, bool bias = true) : in_(in_features), out_(out_features), has_bias_(bias) {
        detail::check_positive("Linear", "in_features", in_features);
        detail::check_positive("Linear", "out_features", out_features);
        weight_.assign(static_cast<std::size_t>(in_features) * static_cast<std::size_t>(out_features), 0.0f);
        if (bias) bias_.assign(static_cast<std::size_t>(out_features), 0.0f);
    }

    [[nodiscard]] std::string_view kind() const override { return "Linear"; }
    [[nodiscard]] std::string repr() const override {
        return dualgrad::detail::concat("Linear(in_features=", in_, ", out_features=", out_,
                                        ", bias=", has_bias_ ? "True" : "False", ")");
    }
    [[nodiscard]] int in_features() const noexcept { return in_; }
    [[nodiscard]] int out_features() const noexcept { return out_; }

    [[nodiscard]] Shape4 output_shape(std::span<const Shape4> in) const override {
        detail::check_arity(*this, in.size());
        detail::check_nonempty(*this, in[0]);
        if (in[0].per_sample() != in_)
            dualgrad::detail::raise<shape_error>(repr(), ": input of shape ", in[0], " has ", in[0].per_sample(),
                                                 " features per sample (C*H*W), expected ", in_);
        return {in[0].n, out_, 1, 1};
    }

    void forward(std::span<const Tensor* const> inputs, Tensor& out, const ExecContext& ctx) const override {
        const Shape4 os = output_shape(detail::input_shapes(*this, inputs));
        check_parameters();
        out.resize(os.n, os.c, 1, 1);
        const float* x = inputs[0]->data();
        float* y = out.data();
        const Eigen::Map<const Matrix> W(weight_.data(), out_, in_);
        parallel_for_chunks(0, os.n, row_grain, ctx, [&](std::int64_t lo, std::int64_t hi) {
            Eigen::Map<Matrix> Y(y + lo * out_, hi - lo, out_);
            Y.noalias() = Eigen::Map<const Matrix>(x + lo * in_, hi - lo, in_) * W.transpose();
            if (has_bias_) Y.rowwise() += Eigen::Map<const Eigen::RowVectorXf>(bias_.data(), out_);
        });
    }

    void backward(std::span<const Shape4> input_shapes, std::span<const Tensor* const> inputs,
                  const Tensor& output, const Tensor& grad_out, int T,
                  std::span<Tensor* const> grad_inputs, const ExecContext& ctx) const override {
        (void)output;
        const auto shapes = detail::backward_input_shapes(*this, input_shapes, inputs);
        const Shape4 os = output_shape(shapes);
        detail::check_backward(*this, os, grad_out, T, grad_inputs.size());
        check_parameters();
        if (!grad_inputs[0]) return;
        const Shape4 is = shapes[0];
        Tensor& gx_t = *grad_inputs[0];
        gx_t.resize(is.n * T, is.c, is.h, is.w);
        const float* gy = grad_out.data();
        float* gx = gx_t.data();
        const Eigen::Map<const Matrix> W(weight_.data(), out_, in_);
        parallel_for_chunks(0, is.n * T, row_grain, ctx, [&](std::int64_t lo, std::int64_t hi) {
            Eigen::Map<Matrix>(gx + lo * in_, hi - lo, in_).noalias() =
                Eigen::Map<const Matrix>(gy + lo * out_, hi - lo, out_) * W;
        });
    }

    [[nodiscard]] std::vector<Parameter> parameters() override {
        std::vector<Parameter> p{{"weight", {out_, in_}, &weight_}};
        if (has_bias_) p.push_back({"bias", {out_}, &bias_});
        return p;
    }

    /// The weights [out, in] row-major, and the bias [out] (empty without bias).
    [[nodiscard]] std::vector<float>& weight() noexcept { return weight_; }
    [[nodiscard]] std::vector<float>& bias() noexcept { return bias_; }

private:
    using Matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    static constexpr std::int64_t row_grain = 16; // rows (samples or cotangents) per task

    void check_parameters() const {
        detail::check_parameter(*this, "weight", weight_, std::int64_t{in_} * out_);
        if (has_bias_) detail::check_parameter(*this, "bias", bias_, out_);
    }

    int in_, out_;
    bool has_bias_;
    std::vector<float> weight_, bias_;
};

} // namespace dualgrad::nn

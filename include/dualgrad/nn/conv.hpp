#pragma once
/// \file
/// `Conv2d`: PyTorch's `nn.Conv2d` (groups = 1), forward and input-VJP.
///
/// Forward is a GEMM per sample, `Y[O, P] = W[O, C*kh*kw] * col[C*kh*kw, P]`, over blocks of
/// output columns (im2col builds only the block's columns, in per-thread scratch memory); a 1x1
/// convolution with stride 1 and no padding multiplies the input directly. The VJP is
/// `col = W^T * G` followed by col2im, per cotangent, over groups of input channels (each group
/// writes its own channels, so the tasks never write the same element).
///
///     nn::Conv2d conv({.in_channels = 64, .out_channels = 128, .kh = 3, .kw = 3, .ph = 1, .pw = 1});

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

/// The arguments of `torch.nn.Conv2d`, per axis (h, w). `stride` 0 is not allowed.
struct Conv2dOptions {
    int in_channels = 0;
    int out_channels = 0;
    int kh = 1, kw = 1; ///< kernel_size
    int sh = 1, sw = 1; ///< stride
    int ph = 0, pw = 0; ///< padding (zeros)
    int dh = 1, dw = 1; ///< dilation
    bool bias = true;
};

namespace detail {

using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MatrixMap = Eigen::Map<RowMatrix, Eigen::Unaligned, Eigen::OuterStride<>>;
using ConstMatrixMap = Eigen::Map<const RowMatrix, Eigen::Unaligned, Eigen::OuterStride<>>;

[[nodiscard]] constexpr std::int64_t floor_div(std::int64_t a, std::int64_t b) noexcept {
    return a >= 0 ? a / b : -((-a + b - 1) / b);
}
[[nodiscard]] constexpr std::int64_t ceil_div(std::int64_t a, std::int64_t b) noexcept { return -floor_div(-a, b); }

/// Columns per block for a GEMM whose right-hand side has `rows` rows and `P` columns: blocks of
/// at most ~512 KB of scratch (L2-sized), and at least 4 blocks when P allows 64 columns each (so that even one
/// image keeps several threads busy). Depends on the problem size only, never on the thread count.
[[nodiscard]] inline std::int64_t column_block(std::int64_t P, std::int64_t rows) {
    const std::int64_t cache_cols = std::max<std::int64_t>(32, (std::int64_t{1} << 17) / std::max<std::int64_t>(1, rows));
    const std::int64_t blocks = std::max(ceil_div(P, cache_cols), std::min<std::int64_t>(4, ceil_div(P, 64)));
    return ceil_div(P, std::max<std::int64_t>(1, blocks));
}

/// Geometry of one convolution call.
struct ConvGeometry {
    std::int64_t C, H, W, OH, OW, kh, kw, sh, sw, ph, pw, dh, dw;

    /// Calls `seg(oy, ox0, ox1, offset)` for the runs of output columns j in [j0, j1) that lie in one
    /// output row; `offset` is the position of (oy, ox0) relative to j0.
    template <class F>
    void for_segments(std::int64_t j0, std::int64_t j1, F&& seg) const {
        std::int64_t j = j0;
        while (j < j1) {
            const std::int64_t oy = j / OW, ox0 = j % OW, ox1 = std::min(OW, ox0 + (j1 - j));
            seg(oy, ox0, ox1, j - j0);
            j += ox1 - ox0;
        }
    }
    /// The output columns [lo, hi) of one row whose input column ox*sw + off lies inside [0, W).
    void valid_columns(std::int64_t off, std::int64_t ox0, std::int64_t ox1, std::int64_t& lo, std::int64_t& hi) const {
        lo = std::clamp(ceil_div(-off, sw), ox0, ox1);
        hi = std::clamp(floor_div(W - 1 - off, sw) + 1, lo, ox1);
    }
};

/// col[r, j - j0] for rows r = (c, ki, kj) and output columns j in [j0, j1) of one sample `x`.
inline void im2col(const float* x, const ConvGeometry& g, std::int64_t j0, std::int64_t j1, float* col) {
    const std::int64_t len = j1 - j0;
    std::int64_t r = 0;
    for (std::int64_t c = 0; c < g.C; ++c)
        for (std::int64_t ki = 0; ki < g.kh; ++ki)
            for (std::int64_t kj = 0; kj < g.kw; ++kj, ++r) {
                const std::int64_t off = kj * g.dw - g.pw;
                g.for_segments(j0, j1, [&](std::int64_t oy, std::int64_t ox0, std::int64_t ox1, std::int64_t at) {
                    float* d = col + r * len + at; // d[ox - ox0] for ox in [ox0, ox1)
                    const std::int64_t iy = oy * g.sh - g.ph + ki * g.dh;
                    if (iy < 0 || iy >= g.H) {
                        std::fill(d, d + (ox1 - ox0), 0.0f);
                        return;
                    }
                    const float* src = x + (c * g.H + iy) * g.W; // src[ox * sw + off]
                    std::int64_t lo, hi;
                    g.valid_columns(off, ox0, ox1, lo, hi);
                    std::fill(d, d + (lo - ox0), 0.0f);
                    if (g.sw == 1) {
                        if (hi > lo) std::copy(src + lo + off, src + hi + off, d + (lo - ox0));
                    } else {
                        for (std::int64_t ox = lo; ox < hi; ++ox) d[ox - ox0] = src[ox * g.sw + off];
                    }
                    std::fill(d + (hi - ox0), d + (ox1 - ox0), 0.0f);
                });
            }
}

/// The adjoint of im2col for channels [c0, c1): gx[c, iy, ix] += col[r, j - j0], where `col`
/// holds only the rows of those channels.
inline void col2im(const float* col, const ConvGeometry& g, std::int64_t c0, std::int64_t c1, std::int64_t j0,
                   std::int64_t j1, float* gx) {
    const std::int64_t len = j1 - j0;
    std::int64_t r = 0;
    for (std::int64_t c = c0; c < c1; ++c)
        for (std::int64_t ki = 0; ki < g.kh; ++ki)
            for (std::int64_t kj = 0; kj < g.kw; ++kj, ++r) {
                const std::int64_t off = kj * g.dw - g.pw;
                g.for_segments(j0, j1, [&](std::int64_t oy, std::int64_t ox0, std::int64_t ox1, std::int64_t at) {
                    const std::int64_t iy = oy * g.sh - g.ph + ki * g.dh;
                    if (iy < 0 || iy >= g.H) return;
                    const float* s = col + r * len + at; // s[ox - ox0]
                    float* dst = gx + (c * g.H + iy) * g.W;  // dst[ox * sw + off]
                    std::int64_t lo, hi;
                    g.valid_columns(off, ox0, ox1, lo, hi);
                    if (hi <= lo) return;
                    if (g.sw == 1) {
                        float* dd = dst + (lo + off);
                        const float* ss = s + (lo - ox0);
                        for (std::int64_t i = 0; i < hi - lo; ++i) dd[i] += ss[i];
                    } else {
                        for (std::int64_t ox = lo; ox < hi; ++ox) dst[ox * g.sw + off] += s[ox - ox0];
                    }
                });
            }
}

} // namespace detail

/// `torch.nn.Conv2d(in, out, kernel_size, stride, padding, dilation, bias=...)`, groups = 1.
/// Parameters: "weight" [out, in, kh, kw], "bias" [out] (when enabled); both start at zero.
class Conv2d final : public Layer {
public:
    explicit Conv2d(const Conv2dOptions& o) : o_(o) {
        detail::check_positive("Conv2d", "in_channels", o.in_channels);
        detail::check_positive("Conv2d", "out_channels", o.out_channels);
        detail::check_positive("Conv2d", "kernel_size", std::min(o.kh, o.kw));
        detail::check_positive("Conv2d", "stride", std::min(o.sh, o.sw));
        detail::check_positive("Conv2d", "dilation", std::min(o.dh, o.dw));
        if (o.ph < 0 || o.pw < 0)
            dualgrad::detail::raise<value_error>("Conv2d: padding must be non-negative, got (", o.ph, ", ", o.pw, ")");
        weight_.assign(static_cast<std::size_t>(o.out_channels) * o.in_channels * o.kh * o.kw, 0.0f);
        if (o.bias) bias_.assign(static_cast<std::size_t>(o.out_channels), 0.0f);
    }
    /// Square kernel, stride, padding and dilation, as `nn.Conv2d(in, out, k, stride, padding, dilation)`.
    Conv2d(int in_channels, int out_channels, int kernel_size, int stride = 1, int padding = 0, int dilation = 1,
           bool bias = true)
        : Conv2d(Conv2dOptions{in_channels, out_channels, kernel_size, kernel_size, stride, stride, padding, padding,
                               dilation, dilation, bias}) {}

    [[nodiscard]] std::string_view kind() const override { return "Conv2d"; }
    [[nodiscard]] std::string repr() const override {
        auto pair = [](int a, int b) { return dualgrad::detail::concat("(", a, ", ", b, ")"); };
        std::string s = dualgrad::detail::concat("Conv2d(", o_.in_channels, ", ", o_.out_channels,
                                                 ", kernel_size=", pair(o_.kh, o_.kw), ", stride=", pair(o_.sh, o_.sw));
        if (o_.ph || o_.pw) s += ", padding=" + pair(o_.ph, o_.pw);
        if (o_.dh != 1 || o_.dw != 1) s += ", dilation=" + pair(o_.dh, o_.dw);
        if (!o_.bias) s += ", bias=False";
        return s + ")";
    }
    [[nodiscard]] const Conv2dOptions& options() const noexcept { return o_; }

    [[nodiscard]] Shape4 output_shape(std::span<const Shape4> in) const override {
        detail::check_arity(*this, in.size());
        const Shape4& s = in[0];
        detail::check_nonempty(*this, s);
        if (s.c != o_.in_channels)
            dualgrad::detail::raise<shape_error>(repr(), ": input has ", s.c, " channels, expected ", o_.in_channels,
                                                 " (input shape ", s, ")");
        const std::int64_t oh = (s.h + 2 * o_.ph - o_.dh * (o_.kh - 1) - 1) / o_.sh + 1;
        const std::int64_t ow = (s.w + 2 * o_.pw - o_.dw * (o_.kw - 1) - 1) / o_.sw + 1;
        if (s.h + 2 * o_.ph < o_.dh * (o_.kh - 1) + 1 || s.w + 2 * o_.pw < o_.dw * (o_.kw - 1) + 1)
            dualgrad::detail::raise<shape_error>(repr(), ": input of ", s.h, " x ", s.w,
                                                 " (padded) is smaller than the dilated kernel");
        return {s.n, o_.out_channels, oh, ow};
    }

    void forward(std::span<const Tensor* const> inputs, Tensor& out, const ExecContext& ctx) const override {
        const auto shapes = detail::input_shapes(*this, inputs);
        const Shape4 os = output_shape(shapes);
        check_parameters();
        const Shape4 is = shapes[0];
        out.resize(os.n, os.c, os.h, os.w);
        const auto g = geometry(is, os);
        const std::int64_t O = o_.out_channels, P = os.h * os.w, CK = is.c * o_.kh * o_.kw;
        const std::int64_t B = detail::column_block(P, CK), nb = detail::ceil_div(P, B);
        const float* x = inputs[0]->data();
        float* y = out.data();
        const bool direct = pointwise();
        detail::ConstMatrixMap Wm(weight_.data(), O, CK, Eigen::OuterStride<>(CK));
        parallel_for(0, is.n * nb, ctx, [&](std::int64_t task) {
            const std::int64_t n = task / nb, j0 = (task % nb) * B, j1 = std::min(P, j0 + B), len = j1 - j0;
            detail::MatrixMap Y(y + n * O * P + j0, O, len, Eigen::OuterStride<>(P));
            const float* xn = x + n * is.per_sample();
            if (direct) {
                Y.noalias() = Wm * detail::ConstMatrixMap(xn + j0, CK, len, Eigen::OuterStride<>(P));
            } else {
                float* col = detail::scratch<float>(0, static_cast<std::size_t>(CK * len));
                detail::im2col(xn, g, j0, j1, col);
                Y.noalias() = Wm * detail::ConstMatrixMap(col, CK, len, Eigen::OuterStride<>(len));
            }
            if (o_.bias) Y.colwise() += Eigen::Map<const Eigen::VectorXf>(bias_.data(), O);
        });
    }

    void backward(std::span<const Shape4> input_shapes, std::span<const Tensor* const> inputs,
                  const Tensor& output, const Tensor& grad_out, int T,
                  std::span<Tensor* const> grad_inputs, const ExecContext& ctx) const override {
        const auto shapes = detail::backward_input_shapes(*this, input_shapes, inputs);
        const Shape4 os = output_shape(shapes);
        (void)output;
        detail::check_backward(*this, os, grad_out, T, grad_inputs.size());
        check_parameters();
        if (!grad_inputs[0]) return;
        const Shape4 is = shapes[0];
        const std::int64_t NT = is.n * T, C = is.c, O = o_.out_channels, P = os.h * os.w, KK = o_.kh * o_.kw;
        Tensor& gx_t = *grad_inputs[0];
        gx_t.resize(NT, is.c, is.h, is.w);
        const float* gy = grad_out.data();
        float* gx = gx_t.data();
        const std::int64_t in_per = is.per_sample();

        if (pointwise()) {
            // gx_b[:, block] = W^T * gy_b[:, block]: columns are independent, split like forward.
            const std::int64_t B = detail::column_block(P, O), nb = detail::ceil_div(P, B);
            detail::ConstMatrixMap Wm(weight_.data(), O, C, Eigen::OuterStride<>(C));
            parallel_for(0, NT * nb, ctx, [&](std::int64_t task) {
                const std::int64_t b = task / nb, j0 = (task % nb) * B, len = std::min(P, j0 + B) - j0;
                detail::MatrixMap GX(gx + b * in_per + j0, C, len, Eigen::OuterStride<>(P));
                GX.noalias() = Wm.transpose() * detail::ConstMatrixMap(gy + b * O * P + j0, O, len, Eigen::OuterStride<>(P));
            });
            return;
        }

        // Groups of input channels: enough tasks for a few threads even for one cotangent.
        const std::int64_t groups = std::min<std::int64_t>(C, NT >= 4 ? 1 : detail::ceil_div(4, NT));
        const auto g = geometry(is, os);
        parallel_for(0, NT * groups, ctx, [&](std::int64_t task) {
            const std::int64_t b = task / groups, k = task % groups;
            const std::int64_t c0 = C * k / groups, c1 = C * (k + 1) / groups, rows = (c1 - c0) * KK;
            float* gxb = gx + b * in_per;
            std::fill(gxb + c0 * is.h * is.w, gxb + c1 * is.h * is.w, 0.0f);
            detail::ConstMatrixMap Wg(weight_.data() + c0 * KK, O, rows, Eigen::OuterStride<>(C * KK));
            const std::int64_t B = detail::column_block(P, rows);
            float* col = detail::scratch<float>(0, static_cast<std::size_t>(rows * std::min(B, P)));
            for (std::int64_t j0 = 0; j0 < P; j0 += B) {
                const std::int64_t j1 = std::min(P, j0 + B), len = j1 - j0;
                detail::MatrixMap Col(col, rows, len, Eigen::OuterStride<>(len));
                Col.noalias() = Wg.transpose() * detail::ConstMatrixMap(gy + b * O * P + j0, O, len, Eigen::OuterStride<>(P));
                detail::col2im(col, g, c0, c1, j0, j1, gxb);
            }
        });
    }

    [[nodiscard]] std::vector<Parameter> parameters() override {
        std::vector<Parameter> p{{"weight", {o_.out_channels, o_.in_channels, o_.kh, o_.kw}, &weight_}};
        if (o_.bias) p.push_back({"bias", {o_.out_channels}, &bias_});
        return p;
    }

    /// The weights [out, in, kh, kw] row-major, and the bias [out] (empty without bias).
    [[nodiscard]] std::vector<float>& weight() noexcept { return weight_; }
    [[nodiscard]] std::vector<float>& bias() noexcept { return bias_; }
    [[nodiscard]] const std::vector<float>& weight() const noexcept { return weight_; }
    [[nodiscard]] const std::vector<float>& bias() const noexcept { return bias_; }

private:
    [[nodiscard]] bool pointwise() const noexcept {
        return o_.kh == 1 && o_.kw == 1 && o_.sh == 1 && o_.sw == 1 && o_.ph == 0 && o_.pw == 0;
    }
    [[nodiscard]] detail::ConvGeometry geometry(const Shape4& is, const Shape4& os) const noexcept {
        return {is.c, is.h, is.w, os.h, os.w, o_.kh, o_.kw, o_.sh, o_.sw, o_.ph, o_.pw, o_.dh, o_.dw};
    }
    void check_parameters() const {
        detail::check_parameter(*this, "weight", weight_,
                                std::int64_t{o_.out_channels} * o_.in_channels * o_.kh * o_.kw);
        if (o_.bias) detail::check_parameter(*this, "bias", bias_, o_.out_channels);
    }

    Conv2dOptions o_;
    std::vector<float> weight_, bias_;
};

} // namespace dualgrad::nn

#pragma once
/// \file
/// Pooling: `MaxPool2d`, `AvgPool2d` and `GlobalAvgPool` (`AdaptiveAvgPool2d(1)`), with PyTorch's
/// output sizes, window clipping and divisors.
///
/// Output size (per axis, PyTorch's `pooling_output_shape`):
///   out = floor((in + 2p - d(k-1) - 1 + (ceil_mode ? s-1 : 0)) / s) + 1, and in ceil mode the last
///   window must start inside the input or the left padding: if (out-1)*s >= in + p, out -= 1.
/// Max pooling sends the cotangent to the first maximum of each window in row-major scan order
/// (a NaN counts as the maximum), as PyTorch's CPU kernel does.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <string_view>

#include "dualgrad/nn/detail/checks.hpp"
#include "dualgrad/nn/detail/elementwise.hpp"
#include "dualgrad/nn/layer.hpp"
#include "dualgrad/nn/parallel.hpp"

namespace dualgrad::nn {

/// The arguments of `torch.nn.MaxPool2d` / `torch.nn.AvgPool2d`, per axis (h, w).
struct Pool2dOptions {
    int kh = 1, kw = 1;                ///< kernel_size
    int sh = 0, sw = 0;                ///< stride; 0 means "= kernel_size" (PyTorch's stride=None)
    int ph = 0, pw = 0;                ///< padding (at most half the kernel)
    int dh = 1, dw = 1;                ///< dilation (max pooling only)
    bool ceil_mode = false;
    bool count_include_pad = true;     ///< average pooling only
    int divisor_override = 0;          ///< average pooling only; 0 = none
};

/// PyTorch's pooled output length along one axis (see the file comment).
[[nodiscard]] constexpr std::int64_t pool_output_size(std::int64_t in, std::int64_t k, std::int64_t s, std::int64_t p,
                                                      std::int64_t d, bool ceil_mode) noexcept {
    std::int64_t num = in + 2 * p - d * (k - 1) - 1 + (ceil_mode ? s - 1 : 0);
    std::int64_t out = (num >= 0 ? num / s : -((-num + s - 1) / s)) + 1;
    if (ceil_mode && (out - 1) * s >= in + p) --out;
    return out;
}

namespace detail {

/// Shared parts of MaxPool2d and AvgPool2d: options, validation, shapes.
class Pool2dBase : public Layer {
public:
    [[nodiscard]] const Pool2dOptions& options() const noexcept { return o_; }

    [[nodiscard]] Shape4 output_shape(std::span<const Shape4> in) const override {
        check_arity(*this, in.size());
        const Shape4& s = in[0];
        check_nonempty(*this, s);
        const std::int64_t oh = pool_output_size(s.h, o_.kh, o_.sh, o_.ph, o_.dh, o_.ceil_mode);
        const std::int64_t ow = pool_output_size(s.w, o_.kw, o_.sw, o_.pw, o_.dw, o_.ceil_mode);
        if (oh < 1 || ow < 1)
            dualgrad::detail::raise<shape_error>(repr(), ": input of ", s.h, " x ", s.w, " gives an output of ", oh,
                                                 " x ", ow, "; the input is too small");
        return {s.n, s.c, oh, ow};
    }

protected:
    Pool2dBase(Pool2dOptions o, const char* name) : o_(o) {
        if (o_.sh == 0) o_.sh = o_.kh;
        if (o_.sw == 0) o_.sw = o_.kw;
        check_positive(name, "kernel_size", std::min(o_.kh, o_.kw));
        check_positive(name, "stride", std::min(o_.sh, o_.sw));
        check_positive(name, "dilation", std::min(o_.dh, o_.dw));
        if (o_.ph < 0 || o_.pw < 0 || o_.ph > o_.kh / 2 || o_.pw > o_.kw / 2)
            dualgrad::detail::raise<value_error>(name, ": padding (", o_.ph, ", ", o_.pw,
                                                 ") must be non-negative and at most half of the kernel size (", o_.kh,
                                                 ", ", o_.kw, ")");
        if (o_.divisor_override < 0)
            dualgrad::detail::raise<value_error>(name, ": divisor_override must be positive, got ", o_.divisor_override);
    }

    [[nodiscard]] std::string repr_with(const char* name, bool with_dilation, bool with_avg) const {
        auto pair = [](int a, int b) { return dualgrad::detail::concat("(", a, ", ", b, ")"); };
        std::string s = dualgrad::detail::concat(name, "(kernel_size=", pair(o_.kh, o_.kw), ", stride=", pair(o_.sh, o_.sw),
                                                 ", padding=", pair(o_.ph, o_.pw));
        if (with_dilation) s += ", dilation=" + pair(o_.dh, o_.dw);
        s += o_.ceil_mode ? ", ceil_mode=True" : ", ceil_mode=False";
        if (with_avg) {
            s += o_.count_include_pad ? ", count_include_pad=True" : ", count_include_pad=False";
            if (o_.divisor_override) s += dualgrad::detail::concat(", divisor_override=", o_.divisor_override);
        }
        return s + ")";
    }

    Pool2dOptions o_;
};

} // namespace detail

/// `torch.nn.MaxPool2d(kernel_size, stride, padding, dilation, ceil_mode)`; padding counts as -inf.
class MaxPool2d final : public detail::Pool2dBase {
public:
    explicit MaxPool2d(const Pool2dOptions& o) : Pool2dBase(o, "MaxPool2d") {}
    /// Square window: `nn.MaxPool2d(kernel, stride or kernel, padding, ceil_mode=ceil_mode)`.
    explicit MaxPool2d(int kernel, int stride = 0, int padding = 0, bool ceil_mode = false)
        : MaxPool2d(Pool2dOptions{kernel, kernel, stride, stride, padding, padding, 1, 1, ceil_mode, true, 0}) {}

    [[nodiscard]] std::string_view kind() const override { return "MaxPool2d"; }
    [[nodiscard]] std::string repr() const override { return repr_with("MaxPool2d", true, false); }
    [[nodiscard]] bool backward_needs_inputs() const override { return true; }

    void forward(std::span<const Tensor* const> inputs, Tensor& out, const ExecContext& ctx) const override {
        const Shape4 is = detail::input_shapes(*this, inputs)[0];
        const Shape4 os = output_shape({&is, 1});
        out.resize(os.n, os.c, os.h, os.w);
        const float* x = inputs[0]->data();
        float* y = out.data();
        parallel_for_chunks(0, is.n * is.c, detail::plane_grain(is.plane()), ctx, [&](std::int64_t lo, std::int64_t hi) {
            for (std::int64_t p = lo; p < hi; ++p)
                scan(x + p * is.plane(), is, os, [&](std::int64_t o, std::int64_t, float v) { y[p * os.plane() + o] = v; });
        });
    }

    void backward(std::span<const Shape4> input_shapes, std::span<const Tensor* const> inputs,
                  const Tensor& output, const Tensor& grad_out, int T,
                  std::span<Tensor* const> grad_inputs, const ExecContext& ctx) const override {
        (void)output;
        const Shape4 is = detail::backward_input_shapes(*this, input_shapes, inputs)[0];
        const Shape4 os = output_shape({&is, 1});
        detail::check_backward(*this, os, grad_out, T, grad_inputs.size());
        if (!grad_inputs[0]) return;
        Tensor& gx_t = *grad_inputs[0];
        gx_t.resize(is.n * T, is.c, is.h, is.w);
        const float *x = inputs[0]->data(), *gy = grad_out.data();
        float* gx = gx_t.data();
        const std::int64_t C = is.c, ip = is.plane(), op = os.plane();
        // One task per forward plane (n, c): its argmax serves the T cotangent planes (n*T + t, c).
        parallel_for_chunks(0, is.n * C, std::max<std::int64_t>(1, detail::plane_grain(ip) / T), ctx,
                            [&](std::int64_t lo, std::int64_t hi) {
            auto* arg = detail::scratch<std::int64_t>(1, static_cast<std::size_t>(op));
            for (std::int64_t p = lo; p < hi; ++p) {
                scan(x + p * ip, is, os, [&](std::int64_t o, std::int64_t idx, float) { arg[o] = idx; });
                const std::int64_t n = p / C, c = p % C;
                for (std::int64_t t = 0; t < T; ++t) {
                    const std::int64_t q = (n * T + t) * C + c; // cotangent plane
                    float* g = gx + q * ip;
                    const float* go = gy + q * op;
                    std::fill(g, g + ip, 0.0f);
                    for (std::int64_t o = 0; o < op; ++o)
                        if (arg[o] >= 0) g[arg[o]] += go[o];
                }
            }
        });
    }

private:
    /// Calls `emit(output index, input index of the window's first maximum (-1: empty window), max)`
    /// for every output position of one plane.
    template <class Emit>
    void scan(const float* x, const Shape4& is, const Shape4& os, Emit&& emit) const {
        const std::int64_t H = is.h, W = is.w;
        for (std::int64_t oy = 0; oy < os.h; ++oy) {
            std::int64_t y0 = oy * o_.sh - o_.ph;
            const std::int64_t y1 = std::min<std::int64_t>(y0 + std::int64_t{o_.kh - 1} * o_.dh + 1, H);
            while (y0 < 0) y0 += o_.dh;
            for (std::int64_t ox = 0; ox < os.w; ++ox) {
                std::int64_t x0 = ox * o_.sw - o_.pw;
                const std::int64_t x1 = std::min<std::int64_t>(x0 + std::int64_t{o_.kw - 1} * o_.dw + 1, W);
                while (x0 < 0) x0 += o_.dw;
                float best = -std::numeric_limits<float>::infinity();
                std::int64_t at = (y0 < y1 && x0 < x1) ? y0 * W + x0 : -1;
                for (std::int64_t iy = y0; iy < y1; iy += o_.dh)
                    for (std::int64_t ix = x0; ix < x1; ix += o_.dw) {
                        const float v = x[iy * W + ix];
                        if (v > best || std::isnan(v)) {
                            best = v;
                            at = iy * W + ix;
                        }
                    }
                emit(oy * os.w + ox, at, best);
            }
        }
    }
};

/// `torch.nn.AvgPool2d(kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)`.
/// Divisor of a window (PyTorch's CPU kernel): `divisor_override` if set; else with
/// count_include_pad the window clipped to the padded input (so windows that ceil_mode lets run
/// past the padding count less), else only the input elements it covers.
class AvgPool2d final : public detail::Pool2dBase {
public:
    explicit AvgPool2d(const Pool2dOptions& o) : Pool2dBase(o, "AvgPool2d") {
        if (o_.dh != 1 || o_.dw != 1) dualgrad::detail::raise<value_error>("AvgPool2d: dilation is not supported");
    }
    /// Square window: `nn.AvgPool2d(kernel, stride or kernel, padding, ceil_mode, count_include_pad)`.
    explicit AvgPool2d(int kernel, int stride = 0, int padding = 0, bool ceil_mode = false, bool count_include_pad = true)
        : AvgPool2d(Pool2dOptions{kernel, kernel, stride, stride, padding, padding, 1, 1, ceil_mode, count_include_pad, 0}) {}

    [[nodiscard]] std::string_view kind() const override { return "AvgPool2d"; }
    [[nodiscard]] std::string repr() const override { return repr_with("AvgPool2d", false, true); }

    void forward(std::span<const Tensor* const> inputs, Tensor& out, const ExecContext& ctx) const override {
        const Shape4 is = detail::input_shapes(*this, inputs)[0];
        const Shape4 os = output_shape({&is, 1});
        out.resize(os.n, os.c, os.h, os.w);
        const float* x = inputs[0]->data();
        float* y = out.data();
        parallel_for_chunks(0, is.n * is.c, detail::plane_grain(is.plane()), ctx, [&](std::int64_t lo, std::int64_t hi) {
            for (std::int64_t p = lo; p < hi; ++p) {
                const float* xp = x + p * is.plane();
                windows(is, os, [&](std::int64_t o, std::int64_t y0, std::int64_t y1, std::int64_t x0, std::int64_t x1,
                                    std::int64_t div) {
                    float sum = 0.0f;
                    for (std::int64_t iy = y0; iy < y1; ++iy)
                        for (std::int64_t ix = x0; ix < x1; ++ix) sum += xp[iy * is.w + ix];
                    y[p * os.plane() + o] = div > 0 ? sum / static_cast<float>(div) : 0.0f;
                });
            }
        });
    }

    void backward(std::span<const Shape4> input_shapes, std::span<const Tensor* const> inputs,
                  const Tensor& output, const Tensor& grad_out, int T,
                  std::span<Tensor* const> grad_inputs, const ExecContext& ctx) const override {
        (void)output;
        const Shape4 is = detail::backward_input_shapes(*this, input_shapes, inputs)[0];
        const Shape4 os = output_shape({&is, 1});
        detail::check_backward(*this, os, grad_out, T, grad_inputs.size());
        if (!grad_inputs[0]) return;
        Tensor& gx_t = *grad_inputs[0];
        gx_t.resize(is.n * T, is.c, is.h, is.w);
        const float* gy = grad_out.data();
        float* gx = gx_t.data();
        parallel_for_chunks(0, is.n * T * is.c, detail::plane_grain(is.plane()), ctx, [&](std::int64_t lo, std::int64_t hi) {
            for (std::int64_t p = lo; p < hi; ++p) {
                float* g = gx + p * is.plane();
                const float* go = gy + p * os.plane();
                std::fill(g, g + is.plane(), 0.0f);
                windows(is, os, [&](std::int64_t o, std::int64_t y0, std::int64_t y1, std::int64_t x0, std::int64_t x1,
                                    std::int64_t div) {
                    if (div <= 0) return;
                    const float v = go[o] / static_cast<float>(div);
                    for (std::int64_t iy = y0; iy < y1; ++iy)
                        for (std::int64_t ix = x0; ix < x1; ++ix) g[iy * is.w + ix] += v;
                });
            }
        });
    }

private:
    /// Calls `f(output index, y0, y1, x0, x1, divisor)` with the window clipped to the input
    /// (divisor 0: the window holds no input element, its output is 0).
    template <class F>
    void windows(const Shape4& is, const Shape4& os, F&& f) const {
        for (std::int64_t oy = 0; oy < os.h; ++oy) {
            std::int64_t y0 = oy * o_.sh - o_.ph, y1 = std::min<std::int64_t>(y0 + o_.kh, is.h + o_.ph);
            const std::int64_t ph = y1 - y0;
            y0 = std::max<std::int64_t>(y0, 0);
            y1 = std::min(y1, is.h);
            for (std::int64_t ox = 0; ox < os.w; ++ox) {
                std::int64_t x0 = ox * o_.sw - o_.pw, x1 = std::min<std::int64_t>(x0 + o_.kw, is.w + o_.pw);
                const std::int64_t pool = ph * (x1 - x0);
                x0 = std::max<std::int64_t>(x0, 0);
                x1 = std::min(x1, is.w);
                std::int64_t div = 0;
                if (y0 < y1 && x0 < x1)
                    div = o_.divisor_override ? o_.divisor_override : (o_.count_include_pad ? pool : (y1 - y0) * (x1 - x0));
                f(oy * os.w + ox, y0, y1, x0, x1, div);
            }
        }
    }
};

/// `torch.nn.AdaptiveAvgPool2d(1)`: N x C x H x W -> N x C x 1 x 1, the mean of each plane.
class GlobalAvgPool final : public Layer {
public:
    [[nodiscard]] std::string_view kind() const override { return "AdaptiveAvgPool2d"; }
    [[nodiscard]] std::string repr() const override { return "AdaptiveAvgPool2d(output_size=1)"; }

    [[nodiscard]] Shape4 output_shape(std::span<const Shape4> in) const override {
        detail::check_arity(*this, in.size());
        detail::check_nonempty(*this, in[0]);
        return {in[0].n, in[0].c, 1, 1};
    }

    void forward(std::span<const Tensor* const> inputs, Tensor& out, const ExecContext& ctx) const override {
        const Shape4 is = detail::input_shapes(*this, inputs)[0];
        (void)output_shape({&is, 1});
        out.resize(is.n, is.c, 1, 1);
        const float* x = inputs[0]->data();
        float* y = out.data();
        const std::int64_t plane = is.plane();
        parallel_for_chunks(0, is.n * is.c, detail::plane_grain(plane), ctx, [&](std::int64_t lo, std::int64_t hi) {
            for (std::int64_t p = lo; p < hi; ++p) {
                double sum = 0.0;
                for (std::int64_t i = 0; i < plane; ++i) sum += x[p * plane + i];
                y[p] = static_cast<float>(sum / static_cast<double>(plane));
            }
        });
    }

    void backward(std::span<const Shape4> input_shapes, std::span<const Tensor* const> inputs,
                  const Tensor& output, const Tensor& grad_out, int T,
                  std::span<Tensor* const> grad_inputs, const ExecContext& ctx) const override {
        (void)output;
        const Shape4 is = detail::backward_input_shapes(*this, input_shapes, inputs)[0];
        detail::check_backward(*this, output_shape({&is, 1}), grad_out, T, grad_inputs.size());
        if (!grad_inputs[0]) return;
        Tensor& gx_t = *grad_inputs[0];
        gx_t.resize(is.n * T, is.c, is.h, is.w);
        const float* gy = grad_out.data();
        float* gx = gx_t.data();
        const std::int64_t plane = is.plane();
        const auto count = static_cast<float>(plane);
        parallel_for_chunks(0, is.n * T * is.c, detail::plane_grain(plane), ctx, [&](std::int64_t lo, std::int64_t hi) {
            for (std::int64_t p = lo; p < hi; ++p) std::fill(gx + p * plane, gx + (p + 1) * plane, gy[p] / count);
        });
    }
};

} // namespace dualgrad::nn

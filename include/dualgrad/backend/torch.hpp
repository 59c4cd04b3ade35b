#pragma once
/// \file
/// `TorchBackend`: tensors are `at::Tensor` (N x C x H x W), on the CPU or a CUDA device. It has no
/// host storage: every map kernel of backend/concepts.hpp is written with ATen operations, so the
/// maps are computed where the tensors live and only the per-sample scalars (moments, channel
/// weights) travel to the host. Half and bfloat16 tensors are computed in float; sums are
/// accumulated in double. Outputs are float tensors on the inputs' device.
/// This is the only core header that includes LibTorch (link `dualgrad::torch`).
///
///     auto S = torch::randn({1, 512, 28, 28});              // or .cuda(), .half()
///     auto map = dualgrad::PixelClassSelector<dualgrad::TorchBackend>{}(S, G);

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "dualgrad/backend/concepts.hpp"
#include "dualgrad/cuda/config.hpp"
#include "dualgrad/error.hpp"

namespace dualgrad {

struct TorchBackend {
    using tensor = at::Tensor;

    /// The 4-D shape; a tensor of another rank (or an undefined one) is a `shape_error`.
    [[nodiscard]] static Shape4 shape(const tensor& t) {
        if (!t.defined()) detail::raise<shape_error>("TorchBackend: undefined tensor (expected N x C x H x W)");
        if (t.dim() != 4)
            detail::raise<shape_error>("TorchBackend: expected a 4-D N x C x H x W tensor, got ", t.dim(),
                                       "-D tensor of shape ", t.sizes());
        return {t.size(0), t.size(1), t.size(2), t.size(3)};
    }
    /// A float CPU tensor holding a copy of `values`.
    [[nodiscard]] static tensor from_host(Shape4 s, std::span<const float> values) {
        if (static_cast<std::int64_t>(values.size()) != s.count())
            detail::raise<shape_error>("TorchBackend::from_host: ", values.size(), " values for shape ", s);
        auto t = at::empty({s.n, s.c, s.h, s.w}, at::TensorOptions().dtype(at::kFloat));
        std::copy(values.begin(), values.end(), t.data_ptr<float>());
        return t;
    }
    /// A float tensor holding a copy of `values`, on `like`'s device.
    [[nodiscard]] static tensor from_host_like(const tensor& like, Shape4 s, std::span<const float> values) {
        auto t = from_host(s, values);
        return like.device().is_cpu() ? t : t.to(like.device());
    }
    /// The values as float, row-major, from any device, dtype or strides.
    [[nodiscard]] static std::vector<float> to_host(const tensor& t) {
        const auto c = as_float(t, "tensor").to(at::kCPU).contiguous();
        const float* p = c.data_ptr<float>();
        return {p, p + c.numel()};
    }

    // --- the map kernels (ATen operations on the tensors' device) ------------------------------

    [[nodiscard]] static std::vector<double> sum_squares(const tensor& t) {
        const auto x = as_float(t, "tensor");
        return to_doubles(at::sum(x * x, {1, 2, 3}, false, at::kDouble));
    }

    [[nodiscard]] static std::vector<SampleMoments> moments(const tensor& S, const tensor& G, const tensor& X) {
        same_device(S, "activations S", G, "gradient dl_c/dS");
        same_device(S, "activations S", X, "second gradient");
        const auto s = as_float(S, "activations S"), g = as_float(G, "gradient dl_c/dS"), x = as_float(X, "second gradient");
        const auto sums = at::stack({at::sum(s * s, {1, 2, 3}, false, at::kDouble),
                                     at::sum(g * g, {1, 2, 3}, false, at::kDouble),
                                     at::sum(x * x, {1, 2, 3}, false, at::kDouble),
                                     at::sum(g * x, {1, 2, 3}, false, at::kDouble)},
                                    1);
        const auto v = to_doubles(sums);
        std::vector<SampleMoments> out(v.size() / 4);
        for (std::size_t n = 0; n < out.size(); ++n) out[n] = {v[4 * n], v[4 * n + 1], v[4 * n + 2], v[4 * n + 3]};
        return out;
    }

    /// sum_k G*(a S + b X + c G), (a, b, c) per sample.
    [[nodiscard]] static tensor select(const tensor& G, const tensor& S, const tensor& X,
                                       std::span<const SelectCoefficients> coef) {
        same_device(S, "activations S", G, "gradient dl_c/dS");
        same_device(S, "activations S", X, "second gradient");
        const auto g = as_float(G, "gradient dl_c/dS"), s = as_float(S, "activations S");
        std::vector<float> a, b, c;
        bool only_a = true;
        for (const auto& k : coef) {
            a.push_back(k.a), b.push_back(k.b), c.push_back(k.c);
            only_a = only_a && k.b == 0.0f && k.c == 0.0f;
        }
        const auto A = per_sample(a, S);
        if (only_a) return at::sum(g * s, {1}, true) * A;
        const auto x = as_float(X, "second gradient");
        return at::sum(g * (A * s + per_sample(b, S) * x + per_sample(c, S) * g), {1}, true);
    }

    [[nodiscard]] static tensor pixel_sum(const tensor& G, const tensor& S, PixelTerm term) {
        same_device(S, "activations S", G, "gradient dl_c/dS");
        const auto g = as_float(G, "gradient dl_c/dS"), s = as_float(S, "activations S");
        switch (term) {
        case PixelTerm::relu_product: return at::sum(at::relu(g * s), {1}, true);
        case PixelTerm::relu_grad: return at::sum(at::relu(g) * s, {1}, true);
        case PixelTerm::product: break;
        }
        return at::sum(g * s, {1}, true);
    }

    /// sum_k w[n*K + k] S[n, k].
    [[nodiscard]] static tensor channel_sum(const tensor& S, std::span<const float> w) {
        const auto s = as_float(S, "activations S");
        const auto W = host_floats(w, s.device()).view({s.size(0), s.size(1), 1, 1});
        return at::sum(s * W, {1}, true);
    }

    [[nodiscard]] static std::vector<double> spatial_sum(const tensor& t) {
        return to_doubles(at::sum(as_float(t, "tensor"), {2, 3}, false, at::kDouble));
    }

    [[nodiscard]] static std::vector<double> spatial_dot(const tensor& a, const tensor& b) {
        same_device(a, "first tensor", b, "second tensor");
        return to_doubles(at::sum(as_float(a, "first tensor") * as_float(b, "second tensor"), {2, 3}, false, at::kDouble));
    }

    /// pytorch-grad-cam's Grad-CAM++ weights, in double: with g = G and s_k = sum_hw S_k,
    /// w_k = sum_hw relu(g) g^2 / (2 g^2 + s_k g^3 + 1e-6), a term being 0 where g <= 0.
    [[nodiscard]] static std::vector<double> gradcampp_weights(const tensor& G, std::span<const double> sum_s) {
        const auto g = as_float(G, "gradient dl_c/dS").to(at::kDouble);
        const auto sk = at::tensor(at::ArrayRef<double>(sum_s.data(), sum_s.size()), at::kDouble)
                            .to(g.device())
                            .view({g.size(0), g.size(1), 1, 1});
        const auto g2 = g * g;
        const auto alpha = g2 / (2 * g2 + sk * g2 * g + 1e-6);
        return to_doubles(at::sum(at::where(g > 0, g * alpha, at::zeros_like(g)), {2, 3}));
    }

    /// Per sample n: a[n] X + b[n] Y.
    [[nodiscard]] static tensor axpby(const tensor& X, std::span<const float> a, const tensor& Y, std::span<const float> b) {
        same_device(X, "first tensor", Y, "second tensor");
        const auto x = as_float(X, "first tensor"), y = as_float(Y, "second tensor");
        return per_sample(a, x) * x + per_sample(b, x) * y;
    }

    [[nodiscard]] static tensor relu(const tensor& t) { return at::relu(as_float(t, "tensor")); }

    /// `t` as float on its device: float as is, half, bfloat16 and double converted; any other
    /// dtype is a `value_error` naming `what`.
    [[nodiscard]] static tensor as_float(const tensor& t, const char* what) {
        (void)shape(t);
        const auto st = t.scalar_type();
        if (st == at::kFloat) return t;
        if (st == at::kHalf || st == at::kBFloat16 || st == at::kDouble) return t.to(at::kFloat);
        detail::raise<value_error>("TorchBackend: ", what, " has dtype ", c10::toString(st),
                                   "; expected a floating-point tensor (float, half, bfloat16 or double)");
    }

    /// The DGL map in one fused pass, when a fused kernel is registered for the tensors' device
    /// (`cuda::fused_kernels()`, filled by dualgrad/cuda/register.cuh); otherwise, or when the
    /// result is not finite (the checked two-pass path then names the bad input), `nullopt`.
    /// mode 0: X = J^T p with cotangent form (u, v); 1: X = the cost gradient.
    [[nodiscard]] static std::optional<tensor> fused_dgl(const tensor& S, const tensor& G, const tensor& X, int mode,
                                                         float u, float v) {
        auto& k = cuda::fused_kernels();
        if (!k.dgl || !k.workspace_bytes || static_cast<int>(S.device().type()) != k.device_type) return std::nullopt;
        const Shape4 s = shape(S);
        if (shape(G) != s || shape(X) != s || G.device() != S.device() || X.device() != S.device() || s.count() == 0)
            return std::nullopt; // the checked path reports it
        const auto Sf = as_float(S, "activations S").contiguous();
        const auto Gf = as_float(G, "gradient dl_c/dS").contiguous();
        const auto Xf = as_float(X, "second gradient").contiguous();
        const int N = static_cast<int>(s.n), K = static_cast<int>(s.c), HW = static_cast<int>(s.plane());
        auto workspace = at::empty({static_cast<std::int64_t>(k.workspace_bytes(N, HW))},
                                   at::TensorOptions().dtype(at::kByte).device(S.device()));
        auto out = at::empty({s.n, 1, s.h, s.w}, at::TensorOptions().dtype(at::kFloat).device(S.device()));
        const int err = k.dgl(Sf.data_ptr<float>(), Gf.data_ptr<float>(), Xf.data_ptr<float>(), N, K, HW, mode, u, v,
                              workspace.data_ptr(), out.data_ptr<float>(), nullptr);
        if (err != 0) detail::raise<value_error>("TorchBackend: the fused DGL kernel failed with error code ", err);
        ++k.calls;
        if (!at::isfinite(out).all().item<bool>()) return std::nullopt;
        return out;
    }

    /// Throws `value_error` unless `a` and `b` are on the same device.
    static void same_device(const tensor& a, const char* a_name, const tensor& b, const char* b_name) {
        if (a.device() != b.device())
            detail::raise<value_error>("TorchBackend: tensors on different devices: ", a_name, " is on ",
                                       a.device().str(), " but ", b_name, " is on ", b.device().str());
    }

private:
    [[nodiscard]] static std::vector<double> to_doubles(const at::Tensor& t) {
        const auto c = t.to(at::kCPU, at::kDouble).contiguous();
        const double* p = c.data_ptr<double>();
        return {p, p + c.numel()};
    }
    [[nodiscard]] static at::Tensor host_floats(std::span<const float> v, at::Device device) {
        auto t = at::empty({static_cast<std::int64_t>(v.size())}, at::TensorOptions().dtype(at::kFloat));
        std::copy(v.begin(), v.end(), t.data_ptr<float>());
        return device.is_cpu() ? t : t.to(device);
    }
    /// N coefficients as an N x 1 x 1 x 1 float tensor on `like`'s device.
    [[nodiscard]] static at::Tensor per_sample(const std::vector<float>& v, const at::Tensor& like) {
        return host_floats(v, like.device()).view({static_cast<std::int64_t>(v.size()), 1, 1, 1});
    }
    [[nodiscard]] static at::Tensor per_sample(std::span<const float> v, const at::Tensor& like) {
        return per_sample(std::vector<float>(v.begin(), v.end()), like);
    }
};

static_assert(TensorBackend<TorchBackend>);

} // namespace dualgrad

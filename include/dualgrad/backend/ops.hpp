#pragma once
/// \file
/// The map kernels as free functions over any `TensorBackend`. Each checks its inputs (shapes,
/// coefficient counts), then calls the backend's own kernel if it has one, else the portable
/// kernel on the backend's host storage.
///
///     auto m = dualgrad::ops::select<EigenBackend>(G, S, X, coef);   // sum_k G*(aS + bX + cG)

#include <cmath>
#include <span>
#include <vector>

#include "dualgrad/backend/concepts.hpp"
#include "dualgrad/backend/portable_kernels.hpp"
#include "dualgrad/error.hpp"

namespace dualgrad::ops {

template <TensorBackend B>
using tensor_t = typename B::tensor;

/// Throws `shape_error` unless `a` and `b` have the same shape; the message names both inputs.
template <TensorBackend B>
void require_same_shape(const tensor_t<B>& a, const char* a_name, const tensor_t<B>& b, const char* b_name) {
    const Shape4 sa = B::shape(a), sb = B::shape(b);
    if (sa != sb)
        detail::raise<shape_error>("shape mismatch: ", a_name, " is ", sa, " but ", b_name, " is ", sb);
}

/// Throws `shape_error` if `t` holds no element.
template <TensorBackend B>
void require_nonempty(const tensor_t<B>& t, const char* name) {
    const Shape4 s = B::shape(t);
    if (s.count() <= 0) detail::raise<shape_error>(name, " is empty (shape ", s, ")");
}

/// A zero tensor of the given shape.
template <TensorBackend B>
[[nodiscard]] tensor_t<B> zeros(Shape4 s) {
    std::vector<float> z(static_cast<std::size_t>(s.count()), 0.0f);
    return B::from_host(s, z);
}

/// A tensor holding a copy of `values`, on the same device as `like` (backends whose tensors can
/// live off the host provide `from_host_like`; for the others this is `from_host`).
template <TensorBackend B>
[[nodiscard]] tensor_t<B> from_host_like(const tensor_t<B>& like, Shape4 s, std::span<const float> values) {
    if constexpr (requires { B::from_host_like(like, s, values); }) return B::from_host_like(like, s, values);
    else return B::from_host(s, values);
}

template <TensorBackend B>
[[nodiscard]] std::vector<double> sum_squares(const tensor_t<B>& t) {
    if constexpr (requires { B::sum_squares(t); }) return B::sum_squares(t);
    else return detail::portable::sum_squares(B::host_data(t).data(), B::shape(t));
}

/// Per-sample sums of S^2, G^2, X^2 and G*X in one pass.
template <TensorBackend B>
[[nodiscard]] std::vector<SampleMoments> moments(const tensor_t<B>& S, const tensor_t<B>& G, const tensor_t<B>& X) {
    require_same_shape<B>(S, "activations S", G, "gradient dl_c/dS");
    require_same_shape<B>(S, "activations S", X, "second gradient");
    if constexpr (requires { B::moments(S, G, X); }) return B::moments(S, G, X);
    else
        return detail::portable::moments(B::host_data(S).data(), B::host_data(G).data(), B::host_data(X).data(),
                                         B::shape(S));
}

/// Map N,1,H,W: sum over channels of G*(a S + b X + c G), with (a, b, c) per sample.
template <TensorBackend B>
[[nodiscard]] tensor_t<B> select(const tensor_t<B>& G, const tensor_t<B>& S, const tensor_t<B>& X,
                                 std::span<const SelectCoefficients> coef) {
    require_same_shape<B>(S, "activations S", G, "gradient dl_c/dS");
    require_same_shape<B>(S, "activations S", X, "second gradient");
    const Shape4 s = B::shape(S);
    if (static_cast<std::int64_t>(coef.size()) != s.n)
        detail::raise<shape_error>("select: ", coef.size(), " coefficient triples for ", s.n, " samples");
    if constexpr (requires { B::select(G, S, X, coef); }) return B::select(G, S, X, coef);
    else {
        auto out = zeros<B>(s.map_shape());
        detail::portable::select(B::host_data(G).data(), B::host_data(S).data(), B::host_data(X).data(), coef, s,
                                 B::host_data(out).data());
        return out;
    }
}

/// Map N,1,H,W: sum over channels of term(G, S).
template <TensorBackend B>
[[nodiscard]] tensor_t<B> pixel_sum(const tensor_t<B>& G, const tensor_t<B>& S, PixelTerm term) {
    require_same_shape<B>(S, "activations S", G, "gradient dl_c/dS");
    if constexpr (requires { B::pixel_sum(G, S, term); }) return B::pixel_sum(G, S, term);
    else {
        const Shape4 s = B::shape(S);
        auto out = zeros<B>(s.map_shape());
        detail::portable::pixel_sum(B::host_data(G).data(), B::host_data(S).data(), term, s,
                                    B::host_data(out).data());
        return out;
    }
}

/// Map N,1,H,W: sum_k w[n*K + k] * S[n, k].
template <TensorBackend B>
[[nodiscard]] tensor_t<B> channel_sum(const tensor_t<B>& S, std::span<const float> w) {
    const Shape4 s = B::shape(S);
    if (static_cast<std::int64_t>(w.size()) != s.n * s.c)
        detail::raise<shape_error>("channel weights: ", w.size(), " weights for activations of shape ", s,
                                   " (N*K = ", s.n * s.c, " expected)");
    if constexpr (requires { B::channel_sum(S, w); }) return B::channel_sum(S, w);
    else {
        auto out = zeros<B>(s.map_shape());
        detail::portable::channel_sum(B::host_data(S).data(), w, s, B::host_data(out).data());
        return out;
    }
}

/// N*K sums over H and W.
template <TensorBackend B>
[[nodiscard]] std::vector<double> spatial_sum(const tensor_t<B>& t) {
    if constexpr (requires { B::spatial_sum(t); }) return B::spatial_sum(t);
    else return detail::portable::spatial_sum(B::host_data(t).data(), B::shape(t));
}

/// N*K sums over H and W of a*b.
template <TensorBackend B>
[[nodiscard]] std::vector<double> spatial_dot(const tensor_t<B>& a, const tensor_t<B>& b) {
    require_same_shape<B>(a, "first tensor", b, "second tensor");
    if constexpr (requires { B::spatial_dot(a, b); }) return B::spatial_dot(a, b);
    else return detail::portable::spatial_dot(B::host_data(a).data(), B::host_data(b).data(), B::shape(a));
}

/// Grad-CAM++ channel weights from the gradient and the spatial sums of S.
template <TensorBackend B>
[[nodiscard]] std::vector<double> gradcampp_weights(const tensor_t<B>& G, std::span<const double> sum_s) {
    const Shape4 s = B::shape(G);
    if (static_cast<std::int64_t>(sum_s.size()) != s.n * s.c)
        detail::raise<shape_error>("gradcampp_weights: ", sum_s.size(), " activation sums for a gradient of shape ", s);
    if constexpr (requires { B::gradcampp_weights(G, sum_s); }) return B::gradcampp_weights(G, sum_s);
    else return detail::portable::gradcampp_weights(B::host_data(G).data(), sum_s, s);
}

/// Per sample n: a[n] X + b[n] Y.
template <TensorBackend B>
[[nodiscard]] tensor_t<B> axpby(const tensor_t<B>& X, std::span<const float> a, const tensor_t<B>& Y,
                                std::span<const float> b) {
    require_same_shape<B>(X, "first tensor", Y, "second tensor");
    const Shape4 s = B::shape(X);
    if (static_cast<std::int64_t>(a.size()) != s.n || static_cast<std::int64_t>(b.size()) != s.n)
        detail::raise<shape_error>("axpby: ", a.size(), " and ", b.size(), " coefficients for ", s.n, " samples");
    if constexpr (requires { B::axpby(X, a, Y, b); }) return B::axpby(X, a, Y, b);
    else {
        auto out = zeros<B>(s);
        detail::portable::axpby(B::host_data(X).data(), a, B::host_data(Y).data(), b, s, B::host_data(out).data());
        return out;
    }
}

template <TensorBackend B>
[[nodiscard]] tensor_t<B> relu(const tensor_t<B>& t) {
    if constexpr (requires { B::relu(t); }) return B::relu(t);
    else {
        const Shape4 s = B::shape(t);
        auto out = zeros<B>(s);
        detail::portable::relu(B::host_data(t).data(), static_cast<std::size_t>(s.count()), B::host_data(out).data());
        return out;
    }
}

/// Throws `value_error` naming `name` and the first offending index if `t` holds NaN or Inf.
template <TensorBackend B>
void require_finite(const tensor_t<B>& t, const char* name) {
    std::vector<float> copy;
    std::span<const float> v;
    if constexpr (HostStorage<B>) v = B::host_data(t);
    else v = copy = B::to_host(t);
    for (std::size_t i = 0; i < v.size(); ++i)
        if (!std::isfinite(v[i]))
            detail::raise<value_error>(name, " holds a non-finite value (", v[i], ") at flat index ", i,
                                       " of shape ", B::shape(t));
}

} // namespace dualgrad::ops

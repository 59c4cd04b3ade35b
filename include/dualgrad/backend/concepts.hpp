#pragma once
/// \file
/// The `TensorBackend` concept: what the core needs from a tensor type.
///
/// A backend is a type `B` (usually an empty struct) with these static members. A user's own
/// tensor type becomes a backend by writing such a struct; see docs/howto-backend.md.
///
/// Required, always:
///   - `typename B::tensor`: a dense 4-D float tensor, logically N x C x H x W, row-major.
///   - `static Shape4 shape(const tensor&)`
///   - `static tensor from_host(Shape4, std::span<const float>)`: a tensor holding a copy of the values.
///   - `static std::vector<float> to_host(const tensor&)`: the values, row-major.
///
/// Then either (a) host storage, and the core runs its portable kernels on it:
///   - `static std::span<const float> host_data(const tensor&)`: contiguous row-major values.
///   - `static std::span<float> host_data(tensor&)`
///
/// or (b) the map kernels themselves (a GPU backend, say). Any kernel may also be given by a
/// host backend to replace the portable one (each is optional when host_data exists):
///   - `sum_squares(t)          -> std::vector<double>` per sample, sum over C,H,W of t^2
///   - `moments(S, G, X)        -> std::vector<SampleMoments>` per sample, one pass
///   - `select(G, S, X, coef)   -> tensor` N,1,H,W: sum_k G*(a S + b X + c G), coef per sample
///   - `pixel_sum(G, S, term)   -> tensor` N,1,H,W: sum_k term(G, S)
///   - `channel_sum(S, w)       -> tensor` N,1,H,W: sum_k w[n*K+k] S[n,k]
///   - `spatial_sum(t)          -> std::vector<double>` N*K: sum over H,W
///   - `spatial_dot(a, b)       -> std::vector<double>` N*K: sum over H,W of a*b
///   - `gradcampp_weights(G, sum_S) -> std::vector<double>` N*K (Grad-CAM++ channel weights)
///   - `axpby(X, a, Y, b)       -> tensor` per sample a[n] X + b[n] Y
///   - `relu(t)                 -> tensor`
///
/// Optional, always: a fused one-pass DGL kernel, which `EnhancedMapper` (core/cem.hpp) uses
/// when the backend has it (`FusedDgl<B>`) and falls back from to its two checked passes when it
/// returns `std::nullopt`:
///   - `static std::optional<tensor> fused_dgl(S, G, X, int mode, float u, float v)`: the DGL map
///     N,1,H,W in one pass over S, G and X. mode 0: X is J^T p and the cost gradient is
///     `u X + v G` (a linear cost policy's `CotangentForm`); mode 1: X is the cost gradient itself
///     (u and v unused). Return `std::nullopt` to decline (no kernel for the tensors' device, a
///     shape it does not handle, a non-finite result: the checked path then reports the cause).
///   `TorchBackend` has one, filled on CUDA by dualgrad/cuda/register.cuh; docs/howto-backend.md.
///
/// Optional for any backend: `from_host_like(like, Shape4, values)`, a copy on `like`'s device.
///
/// The dispatching free functions are in dualgrad/backend/ops.hpp.

#include <concepts>
#include <optional>
#include <span>
#include <vector>

#include "dualgrad/backend/shape.hpp"

namespace dualgrad {
namespace detail {

template <class B>
concept names_a_tensor_type = requires { typename B::tensor; };

template <class B>
concept reports_shape = requires(const typename B::tensor& t) {
    { B::shape(t) } -> std::same_as<Shape4>;
};

template <class B>
concept moves_to_and_from_host = requires(const typename B::tensor& t, Shape4 s, std::span<const float> v) {
    { B::from_host(s, v) } -> std::same_as<typename B::tensor>;
    { B::to_host(t) } -> std::same_as<std::vector<float>>;
};

template <class B>
concept provides_map_kernels = requires(const typename B::tensor& t, std::span<const SelectCoefficients> coef,
                                        std::span<const float> w, std::span<const double> sums) {
    { B::sum_squares(t) } -> std::same_as<std::vector<double>>;
    { B::moments(t, t, t) } -> std::same_as<std::vector<SampleMoments>>;
    { B::select(t, t, t, coef) } -> std::same_as<typename B::tensor>;
    { B::pixel_sum(t, t, PixelTerm::product) } -> std::same_as<typename B::tensor>;
    { B::channel_sum(t, w) } -> std::same_as<typename B::tensor>;
    { B::spatial_sum(t) } -> std::same_as<std::vector<double>>;
    { B::spatial_dot(t, t) } -> std::same_as<std::vector<double>>;
    { B::gradcampp_weights(t, sums) } -> std::same_as<std::vector<double>>;
    { B::axpby(t, w, t, w) } -> std::same_as<typename B::tensor>;
    { B::relu(t) } -> std::same_as<typename B::tensor>;
};

} // namespace detail

/// A backend whose tensors live in contiguous host memory; the core's portable kernels run on it.
template <class B>
concept HostStorage = requires(const typename B::tensor& ct, typename B::tensor& t) {
    { B::host_data(ct) } -> std::same_as<std::span<const float>>;
    { B::host_data(t) } -> std::same_as<std::span<float>>;
};

/// A backend with the optional fused one-pass DGL kernel (see the file comment).
template <class B>
concept FusedDgl = requires(const typename B::tensor& t) {
    { B::fused_dgl(t, t, t, 0, 0.0f, 0.0f) } -> std::same_as<std::optional<typename B::tensor>>;
};

/// A type the core can compute class maps with: it names a 4-D float tensor type, reports shapes,
/// copies to and from the host, and either exposes host storage or provides the map kernels.
template <class B>
concept TensorBackend = detail::names_a_tensor_type<B> && detail::reports_shape<B> &&
                        detail::moves_to_and_from_host<B> &&
                        (HostStorage<B> || detail::provides_map_kernels<B>);

} // namespace dualgrad

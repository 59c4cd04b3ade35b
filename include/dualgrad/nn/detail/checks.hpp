#pragma once
/// \file
/// Input validation shared by the layers: every message starts with the layer's `repr()`.

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "dualgrad/error.hpp"
#include "dualgrad/nn/layer.hpp"

namespace dualgrad::nn::detail {

/// Throws `shape_error` unless exactly `layer.arity()` shapes / tensors were given.
inline void check_arity(const Layer& layer, std::size_t given) {
    if (static_cast<std::int64_t>(given) != layer.arity())
        dualgrad::detail::raise<shape_error>(layer.repr(), ": takes ", layer.arity(), layer.arity() == 1 ? " input" : " inputs",
                                             ", ", given, " given");
}

/// Throws `shape_error` when a dimension of input `index` is not positive.
inline void check_nonempty(const Layer& layer, const Shape4& s, std::size_t index = 0) {
    if (s.n <= 0 || s.c <= 0 || s.h <= 0 || s.w <= 0)
        dualgrad::detail::raise<shape_error>(layer.repr(), ": input ", index, " of shape ", s,
                                             " is empty; expected a non-empty N x C x H x W tensor");
}

/// The shapes of the forward inputs, after checking arity, null pointers and emptiness.
[[nodiscard]] inline std::vector<Shape4> input_shapes(const Layer& layer, std::span<const Tensor* const> inputs) {
    check_arity(layer, inputs.size());
    std::vector<Shape4> shapes;
    shapes.reserve(inputs.size());
    for (std::size_t i = 0; i < inputs.size(); ++i) {
        if (!inputs[i]) dualgrad::detail::raise<value_error>(layer.repr(), ": input ", i, " is null");
        shapes.push_back(shape_of(*inputs[i]));
    }
    return shapes;
}

/// The forward input shapes given to `backward`, checked: the arity, and for every input the
/// layer reads (`backward_needs_inputs()`) a tensor of that shape; other inputs may be null.
[[nodiscard]] inline std::vector<Shape4> backward_input_shapes(const Layer& layer, std::span<const Shape4> shapes,
                                                              std::span<const Tensor* const> inputs) {
    check_arity(layer, shapes.size());
    if (inputs.size() != shapes.size())
        dualgrad::detail::raise<value_error>(layer.repr(), ": backward got ", shapes.size(), " input shapes but ",
                                             inputs.size(), " input tensors");
    for (std::size_t i = 0; i < inputs.size(); ++i) {
        if (!inputs[i]) {
            if (layer.backward_needs_inputs())
                dualgrad::detail::raise<value_error>(layer.repr(), ": backward reads input ", i, ", which is null");
            continue;
        }
        if (shape_of(*inputs[i]) != shapes[i])
            dualgrad::detail::raise<shape_error>(layer.repr(), ": backward input ", i, " has shape ",
                                                 shape_of(*inputs[i]), " but its given shape is ", shapes[i]);
    }
    return {shapes.begin(), shapes.end()};
}

/// Checks the arguments of `backward`: T >= 1, one gradient slot per input, and `grad_out` of
/// shape [N*T, C, H, W] for the forward output shape `out` = [N, C, H, W].
inline void check_backward(const Layer& layer, const Shape4& out, const Tensor& grad_out, int T,
                           std::size_t grad_slots) {
    if (T < 1) dualgrad::detail::raise<value_error>(layer.repr(), ": backward needs T >= 1 cotangents per sample, got ", T);
    if (static_cast<std::int64_t>(grad_slots) != layer.arity())
        dualgrad::detail::raise<shape_error>(layer.repr(), ": backward takes ", layer.arity(), " gradient slots, ",
                                             grad_slots, " given");
    const Shape4 want{out.n * T, out.c, out.h, out.w};
    if (shape_of(grad_out) != want)
        dualgrad::detail::raise<shape_error>(layer.repr(), ": grad_out has shape ", shape_of(grad_out), ", expected ",
                                             want, " (", T, " cotangents for each of the ", out.n, " samples)");
}

/// Throws `value_error` when a parameter vector was resized to the wrong length.
inline void check_parameter(const Layer& layer, const char* name, const std::vector<float>& v, std::int64_t want) {
    if (static_cast<std::int64_t>(v.size()) != want)
        dualgrad::detail::raise<value_error>(layer.repr(), ": parameter '", name, "' holds ", v.size(),
                                             " values, expected ", want);
}

/// Throws `value_error` unless `v > 0`.
inline void check_positive(const char* layer, const char* what, std::int64_t v) {
    if (v <= 0) dualgrad::detail::raise<value_error>(layer, ": ", what, " must be positive, got ", v);
}

} // namespace dualgrad::nn::detail

#pragma once
/// \file
/// The CPU network engine's layer interface. A layer computes a forward pass and the
/// vector-Jacobian product (VJP) with respect to its inputs only: WSOL needs input gradients,
/// never parameter gradients.
///
/// Batched cotangents: `backward` receives the cotangents of T targets at once. For an input of
/// N samples, `grad_out` has N*T samples, ordered sample-major: cotangent b belongs to input sample
/// `b / T` (slot `b % T`). Layers that are linear in their input (Conv2d, BatchNorm2d in inference,
/// pooling by averaging, Linear) ignore the forward values; the others (ReLU, MaxPool2d, sigmoid
/// gating) look up sample `b / T`.

#include <algorithm>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <Eigen/Core>
#include <unsupported/Eigen/CXX11/Tensor>

#include "dualgrad/backend/shape.hpp"
#include "dualgrad/error.hpp"

namespace dualgrad::nn {

/// Activations and their gradients: row-major N x C x H x W float (the EigenBackend tensor).
using Tensor = Eigen::Tensor<float, 4, Eigen::RowMajor>;

[[nodiscard]] inline Shape4 shape_of(const Tensor& t) {
    return {t.dimension(0), t.dimension(1), t.dimension(2), t.dimension(3)};
}

/// A learnable (or running-statistics) tensor of a layer, addressed by its PyTorch `state_dict`
/// suffix ("weight", "bias", "running_mean", ...). `data` is owned by the layer.
struct Parameter {
    std::string name;
    std::vector<std::int64_t> shape;
    std::vector<float>* data = nullptr;
};

/// How work is spread over threads: `threads` workers (1 = the calling thread only). The default
/// is every hardware thread.
struct ExecContext {
    int threads = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
};

class Layer {
public:
    virtual ~Layer() = default;

    /// The PyTorch class name ("Conv2d", "BatchNorm2d", "ReLU", ...).
    [[nodiscard]] virtual std::string_view kind() const = 0;
    /// The layer as PyTorch prints it ("Conv2d(3, 64, kernel_size=(3, 3), ...)"); error messages
    /// start with it.
    [[nodiscard]] virtual std::string repr() const { return std::string(kind()); }
    /// Number of inputs (2+ for add and concat).
    [[nodiscard]] virtual int arity() const { return 1; }
    /// Output shape for these input shapes; throws `shape_error` naming the layer and the mismatch.
    [[nodiscard]] virtual Shape4 output_shape(std::span<const Shape4> inputs) const = 0;
    /// out = f(inputs). `out` is resized by the layer.
    virtual void forward(std::span<const Tensor* const> inputs, Tensor& out, const ExecContext& ctx) const = 0;
    /// grad_inputs[i] = (d f / d inputs[i])^T grad_out, for T cotangents per input sample (see file
    /// comment). `grad_inputs[i]` is resized by the layer (N*T samples); a null entry is skipped.
    /// `input_shapes` are the forward inputs' shapes. A graph may free forward values the layer
    /// does not read: `inputs[i]` may be null unless `backward_needs_inputs()`, and `output` may be
    /// empty unless `backward_needs_output()`.
    virtual void backward(std::span<const Shape4> input_shapes, std::span<const Tensor* const> inputs,
                          const Tensor& output, const Tensor& grad_out, int T, std::span<Tensor* const> grad_inputs,
                          const ExecContext& ctx) const = 0;
    /// Whether `backward` reads the forward inputs / the forward output (else they may be freed).
    [[nodiscard]] virtual bool backward_needs_inputs() const { return false; }
    [[nodiscard]] virtual bool backward_needs_output() const { return false; }
    /// The layer's parameters, in PyTorch `state_dict` order.
    [[nodiscard]] virtual std::vector<Parameter> parameters() { return {}; }
};

} // namespace dualgrad::nn

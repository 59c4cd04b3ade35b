#pragma once
/// \file
/// The backward half of every LibTorch gradient source (`TorchModel`, `TorchStagedModel`,
/// `TorchTapsModel`): logits -> resolved targets -> the cotangent batch (T one-hots, then J^T p,
/// then T cost cotangents, sample-major, as the CPU engine orders them) -> one
/// `torch::autograd::grad` call per cotangent, retaining the graph (the batching measured fastest
/// on LibTorch 1.13, see `CotangentBatching`) -> `LayerGradients` per requested layer.

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <torch/csrc/autograd/autograd.h>

#include "dualgrad/backend/torch.hpp"
#include "dualgrad/core/cotangents.hpp"
#include "dualgrad/core/gradient_source.hpp"

namespace dualgrad::models::detail {

/// Sets `result.logits` (from N x C float logits, any device) and resolves the targets.
inline void torch_fill_logits(GradientResult<TorchBackend>& result, const at::Tensor& logits,
                              const GradientRequest& request) {
    if (logits.dim() != 2)
        dualgrad::detail::raise<shape_error>("the model's logits have shape ", logits.sizes(), "; N x classes expected");
    const auto host = logits.detach().to(at::kCPU, at::kFloat).contiguous();
    const float* p = host.data_ptr<float>();
    result.logits = Logits(static_cast<int>(host.size(0)), static_cast<int>(host.size(1)),
                           std::vector<float>(p, p + host.numel()));
    result.targets = request.targets.resolve(result.logits);
}

/// The cotangents of a request (`CotangentLayout`, core/cotangents.hpp), N x T' x C on `device`.
struct TorchCotangents {
    at::Tensor seed;
    std::int64_t count = 0; ///< T'
    CotangentLayout layout;
};

inline TorchCotangents torch_cotangents(const GradientResult<TorchBackend>& result, const GradientRequest& request,
                                        at::Device device) {
    TorchCotangents c;
    const int S = result.logits.samples(), C = result.logits.classes();
    c.layout = CotangentLayout::of(request, result.targets.slots());
    c.count = c.layout.width();
    std::vector<float> seed(static_cast<std::size_t>(S * c.count * C));
    c.layout.write(result.logits, result.targets, request, seed);
    c.seed = at::from_blob(seed.data(), {S, c.count, C}, at::TensorOptions().dtype(at::kFloat))
                 .to(device, /*non_blocking=*/false, /*copy=*/true);
    return c;
}

/// grads[k][s]: the VJP of cotangent s at wrt[k] (one `autograd::grad` call per cotangent, the
/// graph retained until the last). `out` is the model output the cotangents apply to (its shape
/// is N x C or N x C x 1 x 1). An input that does not depend on `out` gets an undefined tensor.
[[nodiscard]] inline std::vector<std::vector<at::Tensor>> torch_vjps_separate(const at::Tensor& out,
                                                                            const std::vector<at::Tensor>& wrt,
                                                                            const TorchCotangents& c) {
    std::vector<std::vector<at::Tensor>> grads(wrt.size(), std::vector<at::Tensor>(static_cast<std::size_t>(c.count)));
    for (std::int64_t s = 0; s < c.count; ++s) {
        const auto cot = c.seed.select(1, s).reshape(out.sizes());
        const auto g = torch::autograd::grad({out}, wrt, {cot}, /*retain_graph=*/s + 1 < c.count,
                                             /*create_graph=*/false, /*allow_unused=*/true);
        for (std::size_t k = 0; k < wrt.size(); ++k) grads[k][static_cast<std::size_t>(s)] = g[k];
    }
    return grads;
}

/// The `LayerGradients` of one layer from its activations and its T' VJPs (undefined: zeros).
[[nodiscard]] inline LayerGradients<TorchBackend> torch_layer_gradients(const at::Tensor& activations,
                                                                        const std::vector<at::Tensor>& grads,
                                                                        const TorchCotangents& c) {
    return c.layout.gradients<TorchBackend>(activations, [&](int s) {
        const auto& g = grads[static_cast<std::size_t>(s)];
        return g.defined() ? g : at::zeros_like(activations);
    });
}

} // namespace dualgrad::models::detail

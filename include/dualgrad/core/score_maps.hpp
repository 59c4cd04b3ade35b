#pragma once
/// \file
/// From backend map tensors (N x 1 x H x W) to host `ScoreMap`s, one per sample, for the box
/// protocols and the metrics.
///
///     auto maps = dualgrad::to_score_maps<B>(dgl_maps[0]);   // maps[n] is sample n's H x W map

#include <span>
#include <vector>

#include "dualgrad/backend/concepts.hpp"
#include "dualgrad/error.hpp"
#include "dualgrad/map2d.hpp"

namespace dualgrad {

template <TensorBackend B>
[[nodiscard]] std::vector<ScoreMap> to_score_maps(const typename B::tensor& maps) {
    const Shape4 s = B::shape(maps);
    if (s.c != 1) detail::raise<shape_error>("to_score_maps: maps must be N x 1 x H x W, got ", s);
    const std::vector<float> v = B::to_host(maps);
    std::vector<ScoreMap> out;
    out.reserve(static_cast<std::size_t>(s.n));
    for (std::int64_t n = 0; n < s.n; ++n)
        out.emplace_back(static_cast<int>(s.h), static_cast<int>(s.w),
                         std::span<const float>(v).subspan(static_cast<std::size_t>(n * s.plane()),
                                                           static_cast<std::size_t>(s.plane())));
    return out;
}

} // namespace dualgrad

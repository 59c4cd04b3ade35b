#pragma once
/// \file
/// Work splitting shared by the cheap layers: chunks of a tensor's elements or planes, and the
/// loop over cotangent samples b with their forward sample n = b / T.

#include <algorithm>
#include <cstdint>

#include "dualgrad/nn/parallel.hpp"

namespace dualgrad::nn::detail {

/// Elements per task for memory-bound loops (a few hundred KB).
inline constexpr std::int64_t element_grain = std::int64_t{1} << 15;

/// Planes (H x W slices) per task, so that each task touches about `element_grain` elements.
[[nodiscard]] inline std::int64_t plane_grain(std::int64_t plane) {
    return std::max<std::int64_t>(1, element_grain / std::max<std::int64_t>(1, plane));
}

/// Calls `fn(b, lo, hi)` for element ranges [lo, hi) of each cotangent sample b in [0, NT), where
/// a sample holds `per` elements; ranges of one sample never span two samples.
template <class Fn>
void for_sample_chunks(std::int64_t NT, std::int64_t per, const ExecContext& ctx, Fn&& fn) {
    const std::int64_t chunks = std::max<std::int64_t>(1, (per + element_grain - 1) / element_grain);
    const std::int64_t len = (per + chunks - 1) / chunks;
    parallel_for(0, NT * chunks, ctx, [&](std::int64_t task) {
        const std::int64_t b = task / chunks, lo = (task % chunks) * len;
        fn(b, lo, std::min(per, lo + len));
    });
}

/// `dst[i] = src[i]` for `count` elements, in parallel chunks.
inline void parallel_copy(const float* src, float* dst, std::int64_t count, const ExecContext& ctx) {
    parallel_for_chunks(0, count, element_grain, ctx,
                        [&](std::int64_t lo, std::int64_t hi) { std::copy(src + lo, src + hi, dst + lo); });
}

} // namespace dualgrad::nn::detail

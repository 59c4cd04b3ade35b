#pragma once
/// \file
/// Counter-based random numbers: a value is a pure function of (seed, index), so a result does
/// not depend on the order, the threads or the batches that drew it, and a script in another
/// language can draw the same numbers (tools/fixtures/make_sscam_fixture.py does, with NumPy).

#include <cmath>
#include <cstdint>
#include <numbers>

namespace dualgrad {
namespace detail {

/// SplitMix64 (Steele, Lea and Flood 2014): a well-mixed 64-bit value from a 64-bit counter.
/// splitmix64(seed + m * 0x9E3779B97F4A7C15) is output m of the SplitMix64 stream seeded `seed`.
[[nodiscard]] constexpr std::uint64_t splitmix64(std::uint64_t x) noexcept {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

} // namespace detail

/// Standard normal deviate number `index` of the stream seeded `seed`, by Box and Muller from
/// outputs 2 index and 2 index + 1 of the SplitMix64 stream (top 53 bits each):
/// u1 = (a + 1) 2^-53 in (0, 1], u2 = b 2^-53 in [0, 1), z = sqrt(-2 ln u1) cos(2 pi u2).
[[nodiscard]] inline double standard_normal(std::uint64_t seed, std::uint64_t index) noexcept {
    constexpr std::uint64_t gamma = 0x9E3779B97F4A7C15ull;
    const std::uint64_t a = detail::splitmix64(seed + 2 * index * gamma) >> 11;
    const std::uint64_t b = detail::splitmix64(seed + (2 * index + 1) * gamma) >> 11;
    const double u1 = static_cast<double>(a + 1) * 0x1.0p-53, u2 = static_cast<double>(b) * 0x1.0p-53;
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

} // namespace dualgrad

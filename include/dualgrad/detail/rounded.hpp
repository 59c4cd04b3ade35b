#pragma once
/// \file
/// `detail::rounded(x)`: the value of a floating-point expression rounded to its type, so that the
/// compiler cannot fuse it into a following addition (a*b + c into one FMA). The bit-exact code
/// (the OpenCV-exact resize, the cubic weights) wraps every product in it, so that its results
/// do not depend on -march (FMA available or not) or -ffp-contract (GCC contracts across
/// statements by default in its GNU modes; Clang within an expression).
///
///     out = rounded(s0 * b0) + rounded(s1 * b1);   // two roundings, then the sum, never an FMA
///
/// An empty asm statement that claims to modify the value in a register forces it to be
/// materialized (so rounded) there; it emits no instruction. Elsewhere a volatile round trip
/// does the same, slower.
#include <concepts>

namespace dualgrad::detail {

template <std::floating_point T>
[[nodiscard]] inline T rounded(T v) noexcept {
#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__)) && defined(__SSE2__)
    if constexpr (sizeof(T) <= 8) {
        asm("" : "+x"(v)); // an SSE register: float and double
        return v;
    }
#elif (defined(__GNUC__) || defined(__clang__)) && defined(__aarch64__)
    if constexpr (sizeof(T) <= 8) {
        asm("" : "+w"(v)); // a SIMD & FP register
        return v;
    }
#endif
    volatile T t = v;
    return t;
}

} // namespace dualgrad::detail

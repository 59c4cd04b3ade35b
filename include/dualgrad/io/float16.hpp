#pragma once
/// \file
/// IEEE 754 binary16 ("F16", `torch.float16`) and bfloat16 ("BF16", `torch.bfloat16`) to and from
/// float, on their bit patterns. Widening is exact (subnormals, signed zeros, infinities, NaN);
/// narrowing rounds to nearest, ties to even, as PyTorch's `.to(torch.float16 / torch.bfloat16)`.
///
///     float x = dualgrad::io::f16_to_float(0x3C00);          // 1.0f
///     std::uint16_t h = dualgrad::io::float_to_bf16(0.1f);   // 0x3DCD

#include <bit>
#include <cstdint>

namespace dualgrad::io {

/// The float equal to the binary16 value with bits `h`. Exact; a NaN comes back quiet with its
/// payload and sign kept (as PyTorch's and the F16C instructions' conversion).
[[nodiscard]] constexpr float f16_to_float(std::uint16_t h) noexcept {
    const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
    const std::uint32_t exponent = (h >> 10) & 0x1Fu;
    std::uint32_t mantissa = h & 0x3FFu;
    if (exponent == 0x1F) // infinity, or NaN: quiet bit set, payload shifted into place
        return std::bit_cast<float>(sign | 0x7F800000u | (mantissa << 13) | (mantissa != 0 ? 0x00400000u : 0u));
    if (exponent != 0) // normal: rebias 15 -> 127
        return std::bit_cast<float>(sign | ((exponent + 112u) << 23) | (mantissa << 13));
    if (mantissa == 0) return std::bit_cast<float>(sign); // +-0
    // Subnormal, mantissa * 2^-24: shift the leading one up to the implicit bit (bit 10), every
    // shift lowering the float exponent by one from that of 2^-14.
    std::uint32_t float_exponent = 113; // biased exponent of 2^-14
    while ((mantissa & 0x400u) == 0) {
        mantissa <<= 1;
        --float_exponent;
    }
    return std::bit_cast<float>(sign | (float_exponent << 23) | ((mantissa & 0x3FFu) << 13));
}

/// The float equal to the bfloat16 value with bits `b` (the upper half of a float). Exact; NaN
/// payloads pass through unchanged, as in PyTorch.
[[nodiscard]] constexpr float bf16_to_float(std::uint16_t b) noexcept {
    return std::bit_cast<float>(static_cast<std::uint32_t>(b) << 16);
}

/// `x` rounded to binary16, to nearest with ties to even. Values from 65520 up become infinity,
/// values at or below 2^-25 in magnitude become a signed zero; NaN becomes the quiet NaN 0x7E00
/// with the sign of `x`.
[[nodiscard]] constexpr std::uint16_t float_to_f16(float x) noexcept {
    const std::uint32_t bits = std::bit_cast<std::uint32_t>(x);
    const auto sign = static_cast<std::uint16_t>((bits >> 16) & 0x8000u);
    const std::uint32_t magnitude = bits & 0x7FFFFFFFu;
    if (magnitude > 0x7F800000u) return static_cast<std::uint16_t>(sign | 0x7E00u); // NaN
    if (magnitude >= 0x477FF000u) return static_cast<std::uint16_t>(sign | 0x7C00u); // >= 65520: inf
    if (magnitude >= 0x38800000u) {
        // Normal in binary16 (>= 2^-14): rebias and drop 13 mantissa bits with round-half-even.
        // A carry out of the mantissa correctly bumps the exponent.
        const std::uint32_t rounded = magnitude + 0xFFFu + ((magnitude >> 13) & 1u);
        return static_cast<std::uint16_t>(sign | ((rounded - (112u << 23)) >> 13));
    }
    // Subnormal in binary16: the result is round(|x| * 2^24) units of 2^-24. With the implicit
    // bit, |x| = significand * 2^(e - 150), so the unit count is significand >> (126 - e).
    const std::uint32_t e = magnitude >> 23;
    const std::uint32_t shift = 126u - e;
    if (shift > 24) return sign; // below 2^-25 (including float subnormals): rounds to zero
    const std::uint32_t significand = (magnitude & 0x7FFFFFu) | 0x800000u;
    std::uint32_t units = significand >> shift;
    const std::uint32_t rest = significand & ((1u << shift) - 1u);
    const std::uint32_t half = 1u << (shift - 1);
    if (rest > half || (rest == half && (units & 1u) != 0)) ++units; // may reach 0x400 = 2^-14, fine
    return static_cast<std::uint16_t>(sign | units);
}

/// `x` rounded to bfloat16, to nearest with ties to even (overflow to infinity as in IEEE); NaN
/// becomes the quiet NaN 0x7FC0 with the sign of `x`.
[[nodiscard]] constexpr std::uint16_t float_to_bf16(float x) noexcept {
    const std::uint32_t bits = std::bit_cast<std::uint32_t>(x);
    if ((bits & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<std::uint16_t>(((bits >> 16) & 0x8000u) | 0x7FC0u);
    const std::uint32_t rounded = bits + 0x7FFFu + ((bits >> 16) & 1u);
    return static_cast<std::uint16_t>(rounded >> 16);
}

} // namespace dualgrad::io

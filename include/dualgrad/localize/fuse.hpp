#pragma once
/// \file
/// Multi-layer fusion: one map from the maps of one method at several layers, at a common
/// resolution, as the two Python libraries do it.
///
/// - `Fusion::mean` (pytorch-grad-cam 1.5, `BaseCAM.aggregate_multi_layers`): each layer's map is
///   clipped at 0, shifted to minimum 0 and divided by `1e-7 + max`, resized bilinearly; the
///   mean over the layers is clipped at 0 and scaled the same way again.
/// - `Fusion::max` (torch-cam 0.4, `_CAM.fuse_cams` on its normalized maps): each map is shifted
///   to minimum 0 and divided by `max + 1e-8`, resized bilinearly; the elementwise maximum.
///
/// The common resolution is the largest height and the largest width among the maps, as torch-cam
/// chooses it (pytorch-grad-cam resizes every layer to the input image instead; the box protocols
/// resize the fused map to the image afterwards). Bilinear is OpenCV's INTER_LINEAR
/// (`resize`), which for upsampling is PyTorch's `interpolate(mode="bilinear",
/// align_corners=False)` too.
///
///     auto fused = dualgrad::fuse_maps(std::vector{m3, m4}, dualgrad::Fusion::mean);

#include <algorithm>
#include <cmath>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "dualgrad/error.hpp"
#include "dualgrad/localize/resize.hpp"
#include "dualgrad/map2d.hpp"

namespace dualgrad {

enum class Fusion { mean, max };

[[nodiscard]] constexpr std::string_view name(Fusion f) noexcept { return f == Fusion::mean ? "mean" : "max"; }

/// "mean" or "max"; the error names the option.
[[nodiscard]] inline Fusion parse_fusion(std::string_view text) {
    if (text == "mean") return Fusion::mean;
    if (text == "max") return Fusion::max;
    detail::raise<value_error>("--fuse: '", text, "' is not a fusion rule; valid: mean (pytorch-grad-cam), max (torch-cam)");
}

namespace detail {
/// (x - min) / (max(x - min) + eps), in place; with `clip`, x is clipped at 0 first.
inline void shift_scale(ScoreMap& m, float eps, bool clip) {
    auto v = m.values();
    if (clip)
        for (float& x : v) x = std::max(x, 0.0f);
    const float lo = *std::min_element(v.begin(), v.end());
    for (float& x : v) x -= lo;
    const float hi = *std::max_element(v.begin(), v.end());
    for (float& x : v) x /= eps + hi;
}
} // namespace detail

/// The fused map of `maps` (one method, one image, several layers; see the file comment).
/// Throws `value_error` for no map, an empty map, or a non-finite value.
[[nodiscard]] inline ScoreMap fuse_maps(std::span<const ScoreMap> maps, Fusion rule) {
    if (maps.empty()) detail::raise<value_error>("fuse_maps: no map to fuse");
    int height = 0, width = 0;
    for (std::size_t i = 0; i < maps.size(); ++i) {
        if (maps[i].height() <= 0 || maps[i].width() <= 0)
            detail::raise<value_error>("fuse_maps: map ", i, " is empty (", maps[i].height(), " x ", maps[i].width(), ")");
        for (float x : maps[i].values())
            if (!std::isfinite(x)) detail::raise<value_error>("fuse_maps: map ", i, " holds a non-finite value");
        height = std::max(height, maps[i].height());
        width = std::max(width, maps[i].width());
    }
    ScoreMap out(height, width, rule == Fusion::mean ? 0.0f : -std::numeric_limits<float>::infinity());
    auto o = out.values();
    for (const ScoreMap& m : maps) {
        ScoreMap s = m;
        detail::shift_scale(s, rule == Fusion::mean ? 1e-7f : 1e-8f, rule == Fusion::mean);
        const ScoreMap r = resize(s, height, width, Interpolation::linear);
        const auto rv = r.values();
        for (std::size_t i = 0; i < o.size(); ++i) o[i] = rule == Fusion::mean ? o[i] + rv[i] : std::max(o[i], rv[i]);
    }
    if (rule == Fusion::mean) {
        for (float& x : o) x /= static_cast<float>(maps.size());
        detail::shift_scale(out, 1e-7f, true);
    }
    return out;
}

/// The name of a fused run's layer: "mean(layer3.5+layer4.2)".
[[nodiscard]] inline std::string fused_layer_name(Fusion rule, std::span<const std::string> layers) {
    std::string s(name(rule));
    s += '(';
    for (std::size_t i = 0; i < layers.size(); ++i) s += (i ? "+" : "") + layers[i];
    return s + ')';
}

} // namespace dualgrad

#pragma once
/// \file
/// pytorch-grad-cam's `aug_smooth` (test-time augmentation) for any method on any `MapModel`:
/// the maps of six versions of the batch, x times 0.9, 1 and 1.1, each as is and mirrored
/// left-right (ttach's `HorizontalFlip` and `Multiply([0.9, 1, 1.1])`, as pytorch-grad-cam 1.5
/// composes them), mirrored back, each scaled to [0, 1] by (m - min) / (max - min + 1e-7)
/// (`scale_cam_image`), and averaged.
///
///     auto bm = dualgrad::eval::aug_smooth_maps(*model, batch, {"layer4.2"}, {"gradcam"}, dualgrad::TargetRule::top1());
///
/// Differences from pytorch-grad-cam, on purpose:
/// - The targets are resolved once, on the unaugmented batch, and every version is explained for
///   them; pytorch-grad-cam without explicit targets takes each version's own top class, so one
///   image's six maps can explain different classes.
/// - The maps stay at the layer's resolution (dualgrad's maps are resized by the protocols);
///   pytorch-grad-cam scales them after resizing to the input, which moves min and max slightly.
/// - pytorch-grad-cam clips every map at 0 before scaling. That changes nothing for the methods
///   that end in a ReLU; the signed maps (cam, pcs, dgl) are scaled whole.
///
/// Costs six passes of the model. The logits and targets returned are the unaugmented pass's.

#include <algorithm>
#include <array>
#include <string>
#include <utility>
#include <vector>

#include "dualgrad/eval/maps.hpp"

namespace dualgrad::eval {

/// One test-time augmentation: mirror left-right or not, then multiply every input value.
struct Augmentation {
    bool mirror = false;
    float factor = 1.0f;
};

/// pytorch-grad-cam's six, the unaugmented one first.
inline constexpr std::array<Augmentation, 6> aug_smooth_augmentations{
    {{false, 1.0f}, {false, 0.9f}, {false, 1.1f}, {true, 0.9f}, {true, 1.0f}, {true, 1.1f}}};

/// `x` (N x C x H x W, preprocessed) under `a`.
[[nodiscard]] inline io::NchwTensor augment(const io::NchwTensor& x, Augmentation a) {
    io::NchwTensor out = x;
    const std::int64_t rows = x.shape[0] * x.shape[1] * x.shape[2], W = x.shape[3];
    if (static_cast<std::int64_t>(x.values.size()) != rows * W)
        dualgrad::detail::raise<shape_error>("augment: ", x.values.size(), " values for a ", x.shape[0], "x", x.shape[1],
                                             "x", x.shape[2], "x", W, " batch");
    for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t c = 0; c < W; ++c)
            out.values[static_cast<std::size_t>(r * W + c)] =
                x.values[static_cast<std::size_t>(r * W + (a.mirror ? W - 1 - c : c))] * a.factor;
    return out;
}

namespace detail {
inline void mirror_map(ScoreMap& m) {
    for (int y = 0; y < m.height(); ++y)
        for (int x = 0; x < m.width() / 2; ++x) std::swap(m(y, x), m(y, m.width() - 1 - x));
}

/// pytorch-grad-cam's `scale_cam_image` without the resize: (m - min) / (max - min + 1e-7).
inline void scale_unit(ScoreMap& m) {
    auto v = m.values();
    if (v.empty()) return;
    const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
    const float min = *lo, range = (*hi - *lo) + 1e-7f;
    for (float& x : v) x = (x - min) / range;
}
} // namespace detail

/// The `aug_smooth` maps of `methods` at `layers` (see the file comment): maps[method][layer][slot][sample].
[[nodiscard]] inline BatchMaps aug_smooth_maps(MapModel& model, const io::NchwTensor& x,
                                               const std::vector<std::string>& layers,
                                               const std::vector<std::string>& methods, const TargetRule& targets,
                                               const AnyCost& cost = ReferenceCost{}, bool skip_cam_elsewhere = false) {
    BatchMaps out = model.maps(x, layers, methods, targets, cost, skip_cam_elsewhere);
    std::vector<std::vector<int>> lists(static_cast<std::size_t>(out.targets.samples()));
    for (int n = 0; n < out.targets.samples(); ++n)
        for (int t = 0; t < out.targets.slots(); ++t) lists[static_cast<std::size_t>(n)].push_back(out.targets(n, t));
    const TargetRule fixed = TargetRule::given(lists);
    for (auto& per_layer : out.maps)
        for (auto& per_slot : per_layer)
            for (auto& per_sample : per_slot)
                for (auto& m : per_sample) detail::scale_unit(m);
    for (std::size_t a = 1; a < aug_smooth_augmentations.size(); ++a) {
        const Augmentation aug = aug_smooth_augmentations[a];
        const BatchMaps bm = model.maps(augment(x, aug), layers, methods, fixed, cost, skip_cam_elsewhere);
        for (std::size_t i = 0; i < out.maps.size(); ++i)
            for (std::size_t l = 0; l < out.maps[i].size(); ++l)
                for (std::size_t t = 0; t < out.maps[i][l].size(); ++t)
                    for (std::size_t n = 0; n < out.maps[i][l][t].size(); ++n) {
                        ScoreMap m = bm.maps.at(i).at(l).at(t).at(n);
                        if (aug.mirror) detail::mirror_map(m);
                        detail::scale_unit(m);
                        auto dst = out.maps[i][l][t][n].values();
                        const auto src = std::as_const(m).values();
                        if (src.size() != dst.size())
                            dualgrad::detail::raise<shape_error>("aug_smooth: an augmented map has ", src.size(),
                                                                 " values, the unaugmented one ", dst.size());
                        for (std::size_t p = 0; p < dst.size(); ++p) dst[p] += src[p];
                    }
    }
    const float share = 1.0f / static_cast<float>(aug_smooth_augmentations.size());
    for (auto& per_layer : out.maps)
        for (auto& per_slot : per_layer)
            for (auto& per_sample : per_slot)
                for (auto& m : per_sample)
                    for (float& v : m.values()) v *= share;
    return out;
}

} // namespace dualgrad::eval

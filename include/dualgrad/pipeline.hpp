#pragma once
/// \file
/// The whole job for a batch: image tensor -> one forward and one batched backward (any
/// `GradientSource`) -> class maps of one method at one layer -> a box per sample and target,
/// by wsolevaluation's protocol (bicubic resize to the image, min-max, largest contour) at one
/// CAM threshold.
///
///     auto found = dualgrad::localize(model.graph, image, {.layer = "layer3.5", .image = {224, 224}});
///     // found[n].box, found[n].class_id, found[n].probability, found[n].map

#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "dualgrad/core/gradient_source.hpp"
#include "dualgrad/core/method_registry.hpp"
#include "dualgrad/core/score_maps.hpp"
#include "dualgrad/localize/box_extractor.hpp"

namespace dualgrad {

template <CostPolicy Cost = ReferenceCost>
struct LocalizeOptions {
    std::string layer;                          ///< module path or paper alias
    std::string method = "dgl";                 ///< a built-in or registered method (`core/method_registry.hpp`)
    TargetRule targets = TargetRule::top1();
    ImageSize image{};                          ///< the size the boxes are given in
    double threshold = 0.2;                     ///< CAM threshold of the largest-contour box
    Cost cost{};                                ///< DGL's cost policy
    std::optional<FcHead> fc;                   ///< the CAM head, for methods defined at the CAM layer
};

/// One localized object.
struct Localization {
    int sample = 0;
    int slot = 0;          ///< index in the sample's target list
    int class_id = 0;
    float probability = 0; ///< softmax of the logits
    Box box;               ///< in image coordinates, pixel-inclusive
    ScoreMap map;          ///< the raw map at feature resolution
};

/// The boxes of raw maps by wsolevaluation's largest-contour protocol at one CAM `threshold`:
/// `maps[slot][sample]`, the box of sample n in a frame of `sizes[n]` (one size: every sample).
/// Sample-major: entry n * slots + t. The maps are moved into the result.
[[nodiscard]] inline std::vector<Localization> localizations(const Logits& logits, const Targets& targets,
                                                             std::vector<std::vector<ScoreMap>> maps,
                                                             std::span<const ImageSize> sizes, double threshold) {
    const int N = targets.samples(), T = targets.slots();
    if (sizes.size() != 1 && sizes.size() != static_cast<std::size_t>(N))
        detail::raise<value_error>("localize: ", sizes.size(), " image sizes for ", N, " samples");
    if (maps.size() != static_cast<std::size_t>(T))
        detail::raise<value_error>("localize: maps of ", maps.size(), " target slots for ", T);
    BoxExtractor<WsolLargestContour> boxes(WsolLargestContour{0.01, {threshold}});
    std::vector<Localization> out(static_cast<std::size_t>(N) * static_cast<std::size_t>(T));
    std::vector<std::vector<Box>> per_threshold;
    std::vector<float> probs(static_cast<std::size_t>(logits.classes()));
    for (int t = 0; t < T; ++t) {
        auto& scores = maps[static_cast<std::size_t>(t)];
        if (scores.size() != static_cast<std::size_t>(N))
            detail::raise<value_error>("localize: ", scores.size(), " maps in slot ", t, " for ", N, " samples");
        for (int n = 0; n < N; ++n) {
            softmax(logits.row(n), probs);
            const ImageSize size = sizes[sizes.size() == 1 ? 0 : static_cast<std::size_t>(n)];
            boxes.boxes_per_threshold(scores[static_cast<std::size_t>(n)], size, per_threshold);
            const int c = targets(n, t);
            out[static_cast<std::size_t>(n) * static_cast<std::size_t>(T) + static_cast<std::size_t>(t)] =
                {n, t, c, probs[static_cast<std::size_t>(c)], per_threshold.at(0).at(0), std::move(scores[static_cast<std::size_t>(n)])};
        }
    }
    return out;
}

/// One forward and one batched backward pass of `source`, the maps of `options.method` at
/// `options.layer`, and their boxes (`localizations`), all samples in the frame `options.image`.
template <GradientSource G, CostPolicy Cost = ReferenceCost>
[[nodiscard]] std::vector<Localization> localize(G& source, const typename G::input_type& input,
                                                 const LocalizeOptions<Cost>& options) {
    using B = typename G::backend;
    if (options.layer.empty()) detail::raise<value_error>("localize: no layer given");
    const MethodSpec<B> spec = MethodRegistry<B>::global().at(options.method);
    GradientRequest request = request_for(std::vector<std::string>{options.layer}, options.targets, options.cost);
    request.class_vjps = spec.needs_backward();
    if (spec.cotangent) request.method_cotangents.push_back(spec.cotangent);
    const auto result = source.gradients(input, request);
    const FcHead* fc = options.fc ? &*options.fc : nullptr;
    std::vector<typename B::tensor> maps;
    if constexpr (std::is_constructible_v<AnyCost, Cost>) {
        MethodInputs in{&result.targets, fc, options.cost};
        if (spec.cotangent) in.cotangent = 0;
        std::shared_ptr<const InputForward> input_pass;
        add_pass_inputs(spec, in, source, input, options.layer, result.logits, input_pass);
        maps = class_maps<B>(options.method, result.layers.at(0), in);
    } else { // a cost policy of the user's own: the built-in methods take it directly
        MapOptions<Cost> o{options.cost, options.fc};
        maps = class_maps<B, Cost>(parse_method(options.method), result.layers.at(0), &result.targets, o);
    }
    std::vector<std::vector<ScoreMap>> scores;
    for (const auto& m : maps) scores.push_back(to_score_maps<B>(m));
    const ImageSize size = options.image;
    return localizations(result.logits, result.targets, std::move(scores), std::span<const ImageSize>(&size, 1),
                         options.threshold);
}

} // namespace dualgrad

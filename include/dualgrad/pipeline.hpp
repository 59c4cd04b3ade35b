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
#include <string>
#include <vector>

#include "dualgrad/core/gradient_source.hpp"
#include "dualgrad/core/methods.hpp"
#include "dualgrad/core/score_maps.hpp"
#include "dualgrad/localize/box_extractor.hpp"

namespace dualgrad {

template <CostPolicy Cost = ReferenceCost>
struct LocalizeOptions {
    std::string layer;                          ///< module path or paper alias
    Method method = Method::dgl;
    TargetRule targets = TargetRule::top1();
    ImageSize image{};                          ///< the size the boxes are given in
    double threshold = 0.2;                     ///< CAM threshold of the largest-contour box
    Cost cost{};                                ///< DGL's cost policy
    std::optional<FcHead> fc;                   ///< the CAM head, for Method::cam
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

template <GradientSource G, CostPolicy Cost = ReferenceCost>
[[nodiscard]] std::vector<Localization> localize(G& source, const typename G::input_type& input,
                                                 const LocalizeOptions<Cost>& options) {
    using B = typename G::backend;
    if (options.layer.empty()) detail::raise<value_error>("localize: no layer given");
    GradientRequest request = request_for(std::vector<std::string>{options.layer}, options.targets, options.cost);
    request.class_vjps = needs_gradients(options.method);
    const auto result = source.gradients(input, request);
    const auto maps =
        class_maps<B, Cost>(options.method, result.layers.at(0), &result.targets, {options.cost, options.fc});
    BoxExtractor<WsolLargestContour> boxes(WsolLargestContour{0.01, {options.threshold}});
    const int N = result.targets.samples(), T = result.targets.slots();
    std::vector<Localization> out(static_cast<std::size_t>(N) * static_cast<std::size_t>(T));
    std::vector<std::vector<Box>> per_threshold;
    std::vector<float> probs(static_cast<std::size_t>(result.logits.classes()));
    for (int t = 0; t < T; ++t) {
        auto scores = to_score_maps<B>(maps[static_cast<std::size_t>(t)]);
        for (int n = 0; n < N; ++n) {
            softmax(result.logits.row(n), probs);
            boxes.boxes_per_threshold(scores[static_cast<std::size_t>(n)], options.image, per_threshold);
            const int c = result.targets(n, t);
            out[static_cast<std::size_t>(n) * T + t] = {n, t, c, probs[static_cast<std::size_t>(c)],
                                                        per_threshold.at(0).at(0),
                                                        std::move(scores[static_cast<std::size_t>(n)])};
        }
    }
    return out;
}

} // namespace dualgrad

// The whole pipeline on the CPU engine, with no LibTorch: safetensors weights (PyTorch state_dict
// keys) -> backbone -> one forward + one batched backward -> DGL maps at a layer -> boxes.
//
//   example_localize_pipeline [ARCH WEIGHTS.safetensors LAYER]
//
// Without arguments it runs the width-1/16 ResNet50-CAM test fixture (random weights: the boxes
// show the mechanics, not a trained localizer) on a synthetic 64x64 image.
#include <cstdio>
#include <string>

#include <dualgrad/models/cpu_model.hpp>
#include <dualgrad/pipeline.hpp>

int main(int argc, char** argv) try {
    const std::string arch = argc > 3 ? argv[1] : "resnet50";
    const std::string weights =
        argc > 3 ? argv[2] : std::string(DUALGRAD_SOURCE_DIR) + "/tests/fixtures/models/resnet50.safetensors";
    const std::string layer = argc > 3 ? argv[3] : "layer3.5";

    auto model = dualgrad::models::load_model(arch, weights);
    std::printf("%s: %d classes, layer %s\n", arch.c_str(), model.description.num_classes, layer.c_str());

    // A synthetic image: a bright square on a dim, slightly noisy background, two samples.
    const int H = 64, W = 64;
    dualgrad::nn::Tensor image(2, 3, H, W);
    for (int n = 0; n < 2; ++n)
        for (int c = 0; c < 3; ++c)
            for (int y = 0; y < H; ++y)
                for (int x = 0; x < W; ++x) {
                    const bool inside = n == 0 ? (y >= 10 && y < 40 && x >= 20 && x < 50) : (y >= 30 && x < 30);
                    image(n, c, y, x) = (inside ? 1.5f : -0.5f) + 0.05f * static_cast<float>((x * 7 + y * 13 + c) % 11);
                }

    for (std::string method : {"dgl", "pcs", "layercam"}) {
        const auto found = dualgrad::localize(model.graph, image,
                                              dualgrad::LocalizeOptions<>{.layer = layer,
                                                                          .method = method,
                                                                          .targets = dualgrad::TargetRule::top_k(2),
                                                                          .image = {H, W}});
        for (const auto& f : found)
            std::printf("%-9s sample %d class %d (p = %.3f): box (%d, %d, %d, %d), map %dx%d\n",
                        method.c_str(), f.sample, f.class_id, f.probability, f.box.x0,
                        f.box.y0, f.box.x1, f.box.y1, f.map.height(), f.map.width());
    }
    return 0;
} catch (const dualgrad::error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
}

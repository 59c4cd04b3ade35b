#pragma once
// The end-to-end program the four fashionloc_<arch>.cpp examples share: load a backbone's weights
// (the bundled FashionLoc model by default, or any safetensors file in the same format), read an
// image, run DGL at a layer on the CPU engine, print the box and write the heatmap overlay.
//
//   example_fashionloc_<arch> [IMAGE [WEIGHTS [LAYER [OUT.png]]]]
#include <cstdio>
#include <string>

#include <dualgrad/io/image.hpp>
#include <dualgrad/models/cpu_model.hpp>
#include <dualgrad/pipeline.hpp>

inline int run_fashionloc_example(const std::string& arch, const std::string& default_layer, int argc, char** argv) try {
    const std::string models = std::string(DUALGRAD_SOURCE_DIR) + "/models/fashionloc/";
    const std::string image_path = argc > 1 ? argv[1] : models + "samples/2_pullover.png";
    const std::string weights = argc > 2 ? argv[2] : models + arch + ".safetensors";
    const std::string layer = argc > 3 ? argv[3] : default_layer;
    const std::string out = argc > 4 ? argv[4] : arch + "_overlay.png";

    // Classes and width are read from the weights; the FashionLoc models take 128 x 128 input.
    auto model = dualgrad::models::load_model(arch, weights);
    const dualgrad::io::Image image = dualgrad::io::read_image(image_path);
    dualgrad::io::PreprocessOptions pre;
    pre.height = pre.width = 128;
    const dualgrad::io::NchwTensor x = dualgrad::io::preprocess(image, pre);
    const auto input = dualgrad::EigenBackend::from_host({x.shape[0], x.shape[1], x.shape[2], x.shape[3]}, x.values);

    // One forward and one backward pass; DGL's map at `layer` for the top-1 class; the
    // wsolevaluation box (bicubic resize to the image, min-max, largest contour at 0.2).
    const auto found = dualgrad::localize(model.graph, input,
                                          dualgrad::LocalizeOptions<>{.layer = layer,
                                                                      .method = "dgl",
                                                                      .image = {image.height, image.width},
                                                                      .threshold = 0.2});
    const auto& f = found.at(0);
    std::printf("%s @ %s: %s -> class %d (p = %.3f), box (%d, %d, %d, %d), map %dx%d\n", arch.c_str(), layer.c_str(),
                image_path.c_str(), f.class_id, f.probability, f.box.x0, f.box.y0, f.box.x1, f.box.y1, f.map.height(),
                f.map.width());
    dualgrad::io::write_png(out, dualgrad::io::heatmap_overlay(image, f.map, f.box));
    std::printf("wrote %s\n", out.c_str());
    return 0;
} catch (const dualgrad::error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
}

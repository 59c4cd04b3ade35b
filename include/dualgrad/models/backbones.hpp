#pragma once
/// \file
/// The four WSOL backbones of docs/design.md §5 as `ModelDescription`s, with the module
/// paths and parameter names of clovaai/wsolevaluation's 'cam' models (timm's names for
/// SE-ResNet50), so that their PyTorch `state_dict`s load. A width multiplier builds small
/// versions of the same graphs.
///
///     auto d = dualgrad::models::describe("resnet50", {.num_classes = 200});

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dualgrad/models/description.hpp"

namespace dualgrad::models {

struct ModelConfig {
    int num_classes = 1000;
    double width = 1.0; ///< channel multiplier (1/4 builds a quarter-width network)
    /// wsolevaluation's `large_feature_map`. The defaults follow the DGL paper's Table 1 shapes at
    /// 224 x 224: on for the ResNets (28x28 at layer3 and layer4) and InceptionV3 (28x28 at
    /// Mixed_6e), off for VGG16 (pool4 kept: 14x14 at conv5). Loading weights detects VGG16's
    /// variant from its tensor names (`config_from_weights`).
    std::optional<bool> large_feature_map;
};

/// The default `large_feature_map` of an architecture (see `ModelConfig`): off for VGG16, on for
/// the others.
[[nodiscard]] inline bool default_large_feature_map(std::string_view arch) noexcept { return arch != "vgg16"; }

namespace detail {

inline void check_config(const ModelConfig& c, std::string_view arch) {
    if (c.num_classes <= 0) dualgrad::detail::raise<value_error>(arch, ": num_classes must be positive, got ", c.num_classes);
    if (!(c.width > 0) || c.width > 4)
        dualgrad::detail::raise<value_error>(arch, ": width multiplier must be in (0, 4], got ", c.width);
}

} // namespace detail

/// VGG16-GAP: VGG16 convs to conv5_3 (no pool5), conv6 3x3 512->1024 + ReLU, GAP, fc.
[[nodiscard]] inline ModelDescription vgg16_cam(const ModelConfig& cfg) {
    detail::check_config(cfg, "vgg16");
    const bool large = cfg.large_feature_map.value_or(default_large_feature_map("vgg16"));
    ModelDescription d;
    d.arch = "vgg16";
    d.num_classes = cfg.num_classes;
    DescriptionBuilder b(d);
    // 0 = max-pool
    std::vector<int> plan{64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512};
    if (!large) plan.push_back(0);
    for (int c : {512, 512, 512}) plan.push_back(c);
    int idx = 0, in = 3, block = 1, conv_in_block = 0, pool_count = 0;
    for (int c : plan) {
        if (c == 0) {
            const auto& p = b.maxpool("features." + std::to_string(idx++), {2, 2, 2, 2, 0, 0, false, true});
            d.aliases.emplace_back("pool" + std::to_string(++pool_count), p);
            ++block;
            conv_in_block = 0;
            continue;
        }
        if (large && block == 4 && conv_in_block == 3) { // no pool4: the fifth block starts here
            ++block;
            conv_in_block = 0;
        }
        const int out = scaled(c, cfg.width);
        b.conv("features." + std::to_string(idx++), {in, out, 3, 3, 1, 1, 1, 1, 1, 1, true});
        const auto& r = b.relu("features." + std::to_string(idx++));
        d.aliases.emplace_back("conv" + std::to_string(block) + "_" + std::to_string(++conv_in_block), r);
        in = out;
    }
    const int c6 = scaled(1024, cfg.width);
    b.conv("conv6", {in, c6, 3, 3, 1, 1, 1, 1, 1, 1, true});
    b.relu("relu");
    b.add("avgpool", OpKind::global_avgpool, std::monostate{});
    b.add("fc", OpKind::linear, Linear{c6, cfg.num_classes}, {}, "fc");
    d.output = "fc";
    d.cam_layer = "relu";
    d.cam_weight = "fc.weight";
    d.cam_bias = "fc.bias";
    d.default_layers = {"conv4_3", "conv5_1", "conv5_2", "conv5_3", "relu"};
    return d;
}

namespace detail {

/// Conv (no bias) + BatchNorm(eps 1e-3) + ReLU, wsolevaluation's BasicConv2d; output named `name`.
inline std::string basic_conv(DescriptionBuilder& b, const std::string& name, int in, int out, int kh, int kw,
                              int stride, int ph, int pw, const std::string& from) {
    b.conv(name + ".conv", {in, out, kh, kw, stride, stride, ph, pw, 1, 1, false}, {from});
    b.bn(name + ".bn", out, 1e-3);
    return b.relu(name);
}

inline int inception_a(DescriptionBuilder& b, const std::string& p, int in, int pool_features, double w,
                       const std::string& x) {
    const int c64 = scaled(64, w), c48 = scaled(48, w), c96 = scaled(96, w), cp = scaled(pool_features, w);
    const auto b1 = basic_conv(b, p + ".branch1x1", in, c64, 1, 1, 1, 0, 0, x);
    basic_conv(b, p + ".branch5x5_1", in, c48, 1, 1, 1, 0, 0, x);
    const auto b5 = basic_conv(b, p + ".branch5x5_2", c48, c64, 5, 5, 1, 2, 2, p + ".branch5x5_1");
    basic_conv(b, p + ".branch3x3dbl_1", in, c64, 1, 1, 1, 0, 0, x);
    basic_conv(b, p + ".branch3x3dbl_2", c64, c96, 3, 3, 1, 1, 1, p + ".branch3x3dbl_1");
    const auto b3 = basic_conv(b, p + ".branch3x3dbl_3", c96, c96, 3, 3, 1, 1, 1, p + ".branch3x3dbl_2");
    b.avgpool(p + ".branch_pool_avg", {3, 3, 1, 1, 1, 1, false, true}, {x});
    const auto bp = basic_conv(b, p + ".branch_pool", in, cp, 1, 1, 1, 0, 0, p + ".branch_pool_avg");
    b.add(p, OpKind::concat, std::monostate{}, {b1, b5, b3, bp});
    return c64 + c64 + c96 + cp;
}

inline int inception_b(DescriptionBuilder& b, const std::string& p, int in, int k, int stride, int pad, double w,
                       const std::string& x) {
    const int c384 = scaled(384, w), c64 = scaled(64, w), c96 = scaled(96, w);
    const auto b3 = basic_conv(b, p + ".branch3x3", in, c384, k, k, stride, pad, pad, x);
    basic_conv(b, p + ".branch3x3dbl_1", in, c64, 1, 1, 1, 0, 0, x);
    basic_conv(b, p + ".branch3x3dbl_2", c64, c96, 3, 3, 1, 1, 1, p + ".branch3x3dbl_1");
    const auto bd = basic_conv(b, p + ".branch3x3dbl_3", c96, c96, k, k, stride, pad, pad, p + ".branch3x3dbl_2");
    const auto bp = b.maxpool(p + ".branch_pool_max", {3, 3, stride, stride, 1, 1, false, true}, {x});
    b.add(p, OpKind::concat, std::monostate{}, {b3, bd, bp});
    return c384 + c96 + in;
}

inline int inception_c(DescriptionBuilder& b, const std::string& p, int in, int c7_full, double w,
                       const std::string& x) {
    const int c192 = scaled(192, w), c7 = scaled(c7_full, w);
    const auto b1 = basic_conv(b, p + ".branch1x1", in, c192, 1, 1, 1, 0, 0, x);
    basic_conv(b, p + ".branch7x7_1", in, c7, 1, 1, 1, 0, 0, x);
    basic_conv(b, p + ".branch7x7_2", c7, c7, 1, 7, 1, 0, 3, p + ".branch7x7_1");
    const auto b7 = basic_conv(b, p + ".branch7x7_3", c7, c192, 7, 1, 1, 3, 0, p + ".branch7x7_2");
    basic_conv(b, p + ".branch7x7dbl_1", in, c7, 1, 1, 1, 0, 0, x);
    basic_conv(b, p + ".branch7x7dbl_2", c7, c7, 7, 1, 1, 3, 0, p + ".branch7x7dbl_1");
    basic_conv(b, p + ".branch7x7dbl_3", c7, c7, 1, 7, 1, 0, 3, p + ".branch7x7dbl_2");
    basic_conv(b, p + ".branch7x7dbl_4", c7, c7, 7, 1, 1, 3, 0, p + ".branch7x7dbl_3");
    const auto bd = basic_conv(b, p + ".branch7x7dbl_5", c7, c192, 1, 7, 1, 0, 3, p + ".branch7x7dbl_4");
    b.avgpool(p + ".branch_pool_avg", {3, 3, 1, 1, 1, 1, false, true}, {x});
    const auto bp = basic_conv(b, p + ".branch_pool", in, c192, 1, 1, 1, 0, 0, p + ".branch_pool_avg");
    b.add(p, OpKind::concat, std::monostate{}, {b1, b7, bd, bp});
    return 4 * c192;
}

} // namespace detail

/// InceptionV3-CAM: wsolevaluation's `InceptionCam` (Mixed_6a stride 1, SPG_A3_1b, SPG_A3_2b,
/// SPG_A4 1x1 conv to classes, GAP).
[[nodiscard]] inline ModelDescription inception_v3_cam(const ModelConfig& cfg) {
    detail::check_config(cfg, "inception_v3");
    const bool large = cfg.large_feature_map.value_or(true); // default_large_feature_map: on
    const double w = cfg.width;
    ModelDescription d;
    d.arch = "inception_v3";
    d.num_classes = cfg.num_classes;
    DescriptionBuilder b(d);
    const int c32 = scaled(32, w), c64 = scaled(64, w), c80 = scaled(80, w), c192 = scaled(192, w);
    detail::basic_conv(b, "Conv2d_1a_3x3", 3, c32, 3, 3, 2, 1, 1, "input");
    detail::basic_conv(b, "Conv2d_2a_3x3", c32, c32, 3, 3, 1, 0, 0, "Conv2d_1a_3x3");
    detail::basic_conv(b, "Conv2d_2b_3x3", c32, c64, 3, 3, 1, 1, 1, "Conv2d_2a_3x3");
    b.maxpool("pool_2b", {3, 3, 2, 2, 1, 1, true, true});
    detail::basic_conv(b, "Conv2d_3b_1x1", c64, c80, 1, 1, 1, 0, 0, "pool_2b");
    detail::basic_conv(b, "Conv2d_4a_3x3", c80, c192, 3, 3, 1, 0, 0, "Conv2d_3b_1x1");
    b.maxpool("pool_4a", {3, 3, 2, 2, 1, 1, true, true});
    int c = detail::inception_a(b, "Mixed_5b", c192, 32, w, "pool_4a");
    c = detail::inception_a(b, "Mixed_5c", c, 64, w, "Mixed_5b");
    c = detail::inception_a(b, "Mixed_5d", c, 64, w, "Mixed_5c");
    std::string x = "Mixed_5d";
    if (!large) x = b.maxpool("pool_5d", {3, 3, 2, 2, 0, 0, true, true}, {x});
    c = detail::inception_b(b, "Mixed_6a", c, 3, 1, 1, w, x);
    c = detail::inception_c(b, "Mixed_6b", c, 128, w, "Mixed_6a");
    c = detail::inception_c(b, "Mixed_6c", c, 160, w, "Mixed_6b");
    c = detail::inception_c(b, "Mixed_6d", c, 160, w, "Mixed_6c");
    c = detail::inception_c(b, "Mixed_6e", c, 192, w, "Mixed_6d");
    const int c1024 = scaled(1024, w);
    b.add("dropout_6e", OpKind::dropout, std::monostate{});
    b.conv("SPG_A3_1b.0", {c, c1024, 3, 3, 1, 1, 1, 1, 1, 1, true});
    b.relu("SPG_A3_1b.1");
    b.add("dropout_1b", OpKind::dropout, std::monostate{});
    b.conv("SPG_A3_2b.0", {c1024, c1024, 3, 3, 1, 1, 1, 1, 1, 1, true});
    b.relu("SPG_A3_2b.1");
    b.add("dropout_2b", OpKind::dropout, std::monostate{});
    b.conv("SPG_A4", {c1024, cfg.num_classes, 1, 1, 1, 1, 0, 0, 1, 1, true});
    b.add("avgpool", OpKind::global_avgpool, std::monostate{});
    d.aliases = {{"SPG_A3_1b", "SPG_A3_1b.1"}, {"SPG_A3_2b", "SPG_A3_2b.1"}};
    d.output = "avgpool";
    d.cam_layer = "SPG_A3_2b.1";
    d.cam_weight = "SPG_A4.weight";
    d.cam_bias = "SPG_A4.bias";
    d.default_layers = {"Mixed_5d", "Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e", "SPG_A3_2b"};
    return d;
}

namespace detail {

/// timm's make_divisible(v, 8, round_limit=0): SE reduced width of seresnet50.
[[nodiscard]] inline int se_reduced(int channels) {
    const double v = channels / 16.0;
    const int r = static_cast<int>(v + 4) / 8 * 8;
    return r < 8 ? 8 : r;
}

inline ModelDescription resnet50_like(const ModelConfig& cfg, bool se, const char* arch) {
    check_config(cfg, arch);
    const bool large = cfg.large_feature_map.value_or(true); // default_large_feature_map: on
    const double w = cfg.width;
    ModelDescription d;
    d.arch = arch;
    d.num_classes = cfg.num_classes;
    DescriptionBuilder b(d);
    // torchvision/wsolevaluation name the activations relu, relu:1, relu:2; timm act1, act2, act3.
    const std::string a1 = se ? "act1" : "relu", a2 = se ? "act2" : "relu:1";
    int in = scaled(64, w);
    b.conv("conv1", {3, in, 7, 7, 2, 2, 3, 3, 1, 1, false});
    b.bn("bn1", in);
    b.relu(se ? "act1" : "relu");
    b.maxpool("maxpool", {3, 3, 2, 2, 1, 1, false, true});
    const int planes[4] = {64, 128, 256, 512}, blocks[4] = {3, 4, 6, 3};
    const int strides[4] = {1, 2, large ? 1 : 2, 1};
    for (int li = 0; li < 4; ++li) {
        const int width = scaled(planes[li], w), out = scaled(planes[li] * 4, w);
        for (int j = 0; j < blocks[li]; ++j) {
            const std::string p = "layer" + std::to_string(li + 1) + "." + std::to_string(j);
            const std::string x = b.last();
            const int stride = j == 0 ? strides[li] : 1;
            b.conv(p + ".conv1", {in, width, 1, 1, 1, 1, 0, 0, 1, 1, false}, {x});
            b.bn(p + ".bn1", width);
            b.relu(p + "." + a1);
            b.conv(p + ".conv2", {width, width, 3, 3, stride, stride, 1, 1, 1, 1, false});
            b.bn(p + ".bn2", width);
            b.relu(p + "." + a2);
            b.conv(p + ".conv3", {width, out, 1, 1, 1, 1, 0, 0, 1, 1, false});
            std::string main = b.bn(p + ".bn3", out);
            if (se) main = b.add(p + ".se", OpKind::squeeze_excite, SqueezeExcite{out, se_reduced(out)}, {}, p + ".se");
            std::string identity = x;
            if (j == 0 && (stride != 1 || in != out)) {
                b.conv(p + ".downsample.0", {in, out, 1, 1, stride, stride, 0, 0, 1, 1, false}, {x});
                identity = b.bn(p + ".downsample.1", out);
            }
            b.add(p + ".add", OpKind::add, std::monostate{}, {main, identity});
            b.relu(p);
            d.aliases.emplace_back("group" + std::to_string(li) + "/block" + std::to_string(j), p);
            d.aliases.emplace_back("group" + std::to_string(li) + "/block" + std::to_string(j) + "_shortcut", p);
            in = out;
        }
    }
    b.add(se ? "global_pool" : "avgpool", OpKind::global_avgpool, std::monostate{});
    b.add("fc", OpKind::linear, Linear{in, cfg.num_classes}, {}, "fc");
    d.output = "fc";
    d.cam_layer = "layer4.2";
    d.cam_weight = "fc.weight";
    d.cam_bias = "fc.bias";
    d.default_layers = {"layer2.3", "layer3.1", "layer3.3", "layer3.5", "layer4.2"};
    return d;
}

} // namespace detail

/// ResNet50-CAM: wsolevaluation's `ResNetCam` with `large_feature_map` (layer3 stride 1).
[[nodiscard]] inline ModelDescription resnet50_cam(const ModelConfig& cfg) {
    return detail::resnet50_like(cfg, false, "resnet50");
}

/// SE-ResNet50-CAM: the same with timm's squeeze-excitation blocks (`se.fc1`, `se.fc2`).
[[nodiscard]] inline ModelDescription se_resnet50_cam(const ModelConfig& cfg) {
    return detail::resnet50_like(cfg, true, "se_resnet50");
}

inline constexpr std::string_view architectures[] = {"vgg16", "inception_v3", "resnet50", "se_resnet50"};

/// The description of `arch` (wsolevaluation's names, plus se_resnet50); the error lists them.
[[nodiscard]] inline ModelDescription describe(std::string_view arch, const ModelConfig& cfg) {
    if (arch == "vgg16") return vgg16_cam(cfg);
    if (arch == "inception_v3") return inception_v3_cam(cfg);
    if (arch == "resnet50") return resnet50_cam(cfg);
    if (arch == "se_resnet50") return se_resnet50_cam(cfg);
    dualgrad::detail::raise<value_error>("unknown architecture '", arch,
                                         "'; valid: vgg16, inception_v3, resnet50, se_resnet50");
}

} // namespace dualgrad::models

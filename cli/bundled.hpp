#pragma once
// The bundled default model of `dualgrad localize`: models/fashionloc/default.json names the
// weights, the input size, the layer, the method, the CAM threshold and the class names; the
// sample images are in models/fashionloc/samples/. Looked up in the source tree the CLI was built
// from, then in the installed data folder (share/dualgrad), then in $DUALGRAD_DATA_DIR.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <dualgrad/error.hpp>

namespace dualgrad::cli {

struct BundledModel {
    std::filesystem::path dir;   ///< models/fashionloc
    std::string arch;
    std::filesystem::path weights;
    std::string layer;
    std::string method = "dgl";
    int size = 224;
    double threshold = 0.2;
    std::vector<std::string> class_names;
    std::vector<std::filesystem::path> samples;
};

inline std::vector<std::filesystem::path> bundled_search_path() {
    std::vector<std::filesystem::path> dirs;
    if (const char* env = std::getenv("DUALGRAD_DATA_DIR")) dirs.emplace_back(env);
#ifdef DUALGRAD_SOURCE_MODELS_DIR
    dirs.emplace_back(DUALGRAD_SOURCE_MODELS_DIR);
#endif
#ifdef DUALGRAD_INSTALL_MODELS_DIR
    dirs.emplace_back(DUALGRAD_INSTALL_MODELS_DIR);
#endif
    return dirs;
}

/// The bundled model's manifest, or an `io_error` listing where it was looked for.
inline BundledModel bundled_model() {
    std::string looked;
    for (const auto& base : bundled_search_path()) {
        const auto manifest = base / "fashionloc" / "default.json";
        looked += "\n  " + manifest.string();
        std::ifstream in(manifest);
        if (!in) continue;
        nlohmann::json j;
        try {
            j = nlohmann::json::parse(in);
            BundledModel m;
            m.dir = manifest.parent_path();
            m.arch = j.at("arch").get<std::string>();
            m.weights = m.dir / j.at("weights").get<std::string>();
            m.layer = j.at("layer").get<std::string>();
            m.method = j.value("method", m.method);
            m.size = j.value("size", m.size);
            m.threshold = j.value("threshold", m.threshold);
            m.class_names = j.value("class_names", std::vector<std::string>{});
            for (const auto& s : j.value("samples", std::vector<std::string>{})) m.samples.push_back(m.dir / s);
            return m;
        } catch (const nlohmann::json::exception& e) {
            detail::raise<io_error>("'", manifest.string(), "' is not a valid bundled-model manifest: ", e.what());
        }
    }
    detail::raise<io_error>("no bundled model found (set DUALGRAD_DATA_DIR to the folder that holds "
                            "fashionloc/default.json); looked for:",
                            looked);
}

} // namespace dualgrad::cli

#pragma once
// A JSON fixture under tests/fixtures, parsed once per path, and its arrays as float or double vectors.
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

namespace dgtest {

inline const nlohmann::json& json_fixture(const std::string& relative) {
    static std::map<std::string, nlohmann::json> cache;
    if (auto it = cache.find(relative); it != cache.end()) return it->second;
    std::ifstream in(std::string(DUALGRAD_FIXTURES_DIR) + "/" + relative);
    REQUIRE(in.good());
    return cache.emplace(relative, nlohmann::json::parse(in)).first->second;
}
inline std::vector<float> floats(const nlohmann::json& j) { return j.get<std::vector<float>>(); }
inline std::vector<double> doubles(const nlohmann::json& j) { return j.get<std::vector<double>>(); }

} // namespace dgtest

#pragma once
/// JSON text in with nlohmann-json, bounded: `parse_json` refuses nesting deeper than
/// `max_json_depth`. No file dualgrad reads (safetensors headers, metrics.json, weights metadata)
/// nests deeper than a few levels, and a deeply nested value is an attack on the stack: copying,
/// comparing or dumping a nlohmann::json recurses once per level, so a 40 KB file of 20000 '['
/// overflowed it (found by tests/fuzz).
#include <algorithm>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

namespace dualgrad::io::detail {

/// The deepest nesting `parse_json` accepts.
inline constexpr int max_json_depth = 64;

/// Thrown by `parse_json` for too deep a nesting; callers name the file.
struct json_too_deep : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// `nlohmann::json::parse(first, last)`, refusing an object or array nested deeper than
/// `max_depth` while parsing (before the value is built). Malformed text throws nlohmann's
/// `json::exception`s, too deep a nesting `json_too_deep`.
template <class It>
[[nodiscard]] nlohmann::json parse_json(It first, It last, int max_depth = max_json_depth) {
    return nlohmann::json::parse(first, last, [max_depth](int depth, nlohmann::json::parse_event_t event, nlohmann::json&) {
        if ((event == nlohmann::json::parse_event_t::object_start || event == nlohmann::json::parse_event_t::array_start) &&
            depth >= max_depth)
            throw json_too_deep("JSON nested more than " + std::to_string(max_depth) + " levels deep");
        return true;
    });
}

/// A short description of a JSON value for an error message: scalars, and arrays of at most 8
/// scalars, as JSON text (cut at 80 characters); other arrays and objects by their type and size
/// (never dumped whole: they may be large or deep).
[[nodiscard]] inline std::string describe_json(const nlohmann::json& v) {
    if (v.is_array()) {
        const bool flat = v.size() <= 8 && std::all_of(v.begin(), v.end(), [](const nlohmann::json& e) { return e.is_primitive(); });
        if (!flat) return "an array of " + std::to_string(v.size()) + " elements";
    }
    if (v.is_object()) return "an object of " + std::to_string(v.size()) + " members";
    std::string s = v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    if (s.size() > 80) s = s.substr(0, 77) + "...";
    return s;
}

} // namespace dualgrad::io::detail

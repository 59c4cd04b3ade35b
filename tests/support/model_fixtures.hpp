#pragma once
// Shared by the model fixture tests (CPU engine and LibTorch): the fixture path, and the
// comparison used against PyTorch: max |got - want| <= tol * max |want| (relative to the
// tensor's scale), reporting the worst element.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

namespace dgtest {

inline std::string model_fixture(const std::string& name) {
    return std::string(DUALGRAD_FIXTURES_DIR) + "/models/" + name;
}

inline void require_close(const std::vector<float>& got, const std::vector<float>& want, double tol,
                          const std::string& what) {
    INFO(what);
    REQUIRE(got.size() == want.size());
    double scale = 0, err = 0;
    std::size_t worst = 0, non_finite = 0;
    for (std::size_t i = 0; i < want.size(); ++i) {
        scale = std::max(scale, std::abs(double(want[i])));
        const double e = std::abs(double(got[i]) - want[i]);
        // A NaN or Inf on either side is the worst possible element: `e > err` alone is false for NaN.
        if (!std::isfinite(e)) {
            if (non_finite++ == 0) worst = i;
            err = std::numeric_limits<double>::infinity();
        } else if (e > err) {
            err = e, worst = i;
        }
    }
    INFO(non_finite << " non-finite elements");
    INFO("worst element " << worst << ": got " << got[worst] << " want " << want[worst] << ", scale " << scale);
    REQUIRE(scale > 0);
    REQUIRE(std::isfinite(scale));
    REQUIRE(non_finite == 0);
    REQUIRE(err <= tol * scale);
}

/// The largest |v|: a reference tensor's scale.
inline double max_abs(const std::vector<double>& v) {
    double m = 0;
    for (double x : v) m = std::max(m, std::abs(x));
    return m;
}

/// Checks `got` against a float64 reference element by element: within twice PyTorch's own
/// float32 error at that place (|want32 - want64|), or `floor`, whichever is larger. A non-finite
/// `got` fails.
inline void require_near_float64(const std::vector<float>& got, const std::vector<double>& want64,
                                 const std::vector<double>& want32, double floor) {
    REQUIRE(got.size() == want64.size());
    REQUIRE(want32.size() == want64.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
        const double allow = std::max(2 * std::abs(want32[i] - want64[i]), floor);
        INFO("element " << i << ": got " << got[i] << ", float64 " << want64[i] << ", float32 " << want32[i]);
        REQUIRE(std::isfinite(got[i]));
        REQUIRE(std::abs(got[i] - want64[i]) <= allow);
    }
}

} // namespace dgtest

#pragma once
// The backend tuple for TEMPLATE_LIST_TEST_CASE, assembled from what the build found, and helpers
// to move test data in and out of any backend.
#include <random>
#include <span>
#include <tuple>
#include <vector>

#include <dualgrad/backend/eigen.hpp>
#ifdef DUALGRAD_HAS_XTENSOR
#include <dualgrad/backend/xtensor.hpp>
#endif

namespace dgtest {

#ifdef DUALGRAD_HAS_XTENSOR
using Backends = std::tuple<dualgrad::EigenBackend, dualgrad::XtensorBackend>;
#else
using Backends = std::tuple<dualgrad::EigenBackend>;
#endif

template <class B>
typename B::tensor make(dualgrad::Shape4 s, const std::vector<float>& v) {
    return B::from_host(s, v);
}

inline std::vector<float> random_values(std::size_t n, unsigned seed, float lo = -1.0f, float hi = 1.0f) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> d(lo, hi);
    std::vector<float> v(n);
    for (auto& x : v) x = d(rng);
    return v;
}

template <class B>
typename B::tensor random_tensor(dualgrad::Shape4 s, unsigned seed, float lo = -1.0f, float hi = 1.0f) {
    return B::from_host(s, random_values(static_cast<std::size_t>(s.count()), seed, lo, hi));
}

} // namespace dgtest

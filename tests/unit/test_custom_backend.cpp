// The worked example of docs/howto-backend.md (examples/my_tensor_backend.hpp) gives the same maps
// as the Eigen backend, and the concept rejects types that miss a requirement.
#include <catch2/catch.hpp>

#include <dualgrad/core/methods.hpp>
#include <my_tensor_backend.hpp>

#include "backends.hpp"
#include "tensor_matchers.hpp"

using namespace dualgrad;

namespace {
struct NoShape {
    using tensor = std::vector<float>;
};
struct NoStorageNoKernels {
    using tensor = std::vector<float>;
    static Shape4 shape(const tensor&) { return {}; }
    static tensor from_host(Shape4, std::span<const float> v) { return {v.begin(), v.end()}; }
    static std::vector<float> to_host(const tensor& t) { return t; }
};
} // namespace

static_assert(!TensorBackend<NoShape>);
static_assert(!TensorBackend<NoStorageNoKernels>);
static_assert(TensorBackend<my::Backend>);

TEST_CASE("A user-defined backend gives the Eigen backend's maps for every method", "[backend][custom]") {
    const Shape4 s{2, 6, 5, 7};
    const auto vs = dgtest::random_values(static_cast<std::size_t>(s.count()), 11, 0.0f, 1.0f);
    const auto vg = dgtest::random_values(static_cast<std::size_t>(s.count()), 12);
    const auto vp = dgtest::random_values(static_cast<std::size_t>(s.count()), 13);

    LayerGradients<my::Backend> mine{my::Backend::from_host(s, vs), {my::Backend::from_host(s, vg)},
                                     my::Backend::from_host(s, vp), {}, {}};
    LayerGradients<EigenBackend> eigen{EigenBackend::from_host(s, vs), {EigenBackend::from_host(s, vg)},
                                       EigenBackend::from_host(s, vp), {}, {}};
    for (const auto& [m, text] : method_names) {
        if (m == Method::cam) continue;
        INFO("method " << text);
        const auto a = class_maps<my::Backend>(m, mine);
        const auto b = class_maps<EigenBackend>(m, eigen);
        REQUIRE_THAT(my::Backend::to_host(a[0]), dgtest::all_close(EigenBackend::to_host(b[0]), 1e-6, 1e-5));
    }
}

#pragma once
/// \file
/// `XtensorBackend`: tensors are `xt::xtensor<float, 4>` (row-major N x C x H x W). The portable
/// kernels run on its storage; the reductions and the ReLU are xtensor expressions.
/// This is the only core header that includes xtensor.

#include <algorithm>
#include <span>
#include <vector>

#include <xtensor/xadapt.hpp>
#include <xtensor/xmath.hpp>
#include <xtensor/xtensor.hpp>

#include "dualgrad/backend/concepts.hpp"
#include "dualgrad/error.hpp"

namespace dualgrad {

struct XtensorBackend {
    using tensor = xt::xtensor<float, 4, xt::layout_type::row_major>;

    [[nodiscard]] static Shape4 shape(const tensor& t) {
        const auto& s = t.shape();
        return {static_cast<std::int64_t>(s[0]), static_cast<std::int64_t>(s[1]), static_cast<std::int64_t>(s[2]),
                static_cast<std::int64_t>(s[3])};
    }
    [[nodiscard]] static tensor from_host(Shape4 s, std::span<const float> values) {
        if (static_cast<std::int64_t>(values.size()) != s.count())
            detail::raise<shape_error>("XtensorBackend::from_host: ", values.size(), " values for shape ", s);
        tensor t = tensor::from_shape({static_cast<std::size_t>(s.n), static_cast<std::size_t>(s.c),
                                       static_cast<std::size_t>(s.h), static_cast<std::size_t>(s.w)});
        std::copy(values.begin(), values.end(), t.data());
        return t;
    }
    [[nodiscard]] static std::vector<float> to_host(const tensor& t) { return {t.data(), t.data() + t.size()}; }
    [[nodiscard]] static std::span<const float> host_data(const tensor& t) { return {t.data(), t.size()}; }
    [[nodiscard]] static std::span<float> host_data(tensor& t) { return {t.data(), t.size()}; }

    /// N*K sums over H and W (xtensor reduction in double).
    [[nodiscard]] static std::vector<double> spatial_sum(const tensor& t) {
        const xt::xtensor<double, 2> sums = xt::sum(xt::cast<double>(t), {2, 3});
        return {sums.begin(), sums.end()};
    }
    /// Per-sample sum of squares (xtensor reduction in double).
    [[nodiscard]] static std::vector<double> sum_squares(const tensor& t) {
        const xt::xtensor<double, 1> sums = xt::sum(xt::square(xt::cast<double>(t)), {1, 2, 3});
        return {sums.begin(), sums.end()};
    }
    [[nodiscard]] static tensor relu(const tensor& t) { return xt::maximum(t, 0.0f); }
};

static_assert(TensorBackend<XtensorBackend>);

} // namespace dualgrad

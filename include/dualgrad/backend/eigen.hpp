#pragma once
/// \file
/// `EigenBackend`, the default backend: tensors are `Eigen::Tensor<float, 4, Eigen::RowMajor>`
/// (N x C x H x W), and the hot DGL kernels (the moments pass and the selection pass) are written
/// with Eigen's vectorized array expressions. This is the only core header that includes Eigen.
///
///     dualgrad::EigenBackend::tensor S(1, 512, 14, 14);
///     S.setRandom();

#include <algorithm>
#include <span>
#include <vector>

#include <Eigen/Core>
#include <unsupported/Eigen/CXX11/Tensor>

#include "dualgrad/backend/concepts.hpp"
#include "dualgrad/error.hpp"

namespace dualgrad {

struct EigenBackend {
    using tensor = Eigen::Tensor<float, 4, Eigen::RowMajor>;

    [[nodiscard]] static Shape4 shape(const tensor& t) {
        return {t.dimension(0), t.dimension(1), t.dimension(2), t.dimension(3)};
    }
    [[nodiscard]] static tensor from_host(Shape4 s, std::span<const float> values) {
        if (static_cast<std::int64_t>(values.size()) != s.count())
            detail::raise<shape_error>("EigenBackend::from_host: ", values.size(), " values for shape ", s);
        tensor t(s.n, s.c, s.h, s.w);
        std::copy(values.begin(), values.end(), t.data());
        return t;
    }
    [[nodiscard]] static std::vector<float> to_host(const tensor& t) {
        return {t.data(), t.data() + t.size()};
    }
    [[nodiscard]] static std::span<const float> host_data(const tensor& t) {
        return {t.data(), static_cast<std::size_t>(t.size())};
    }
    [[nodiscard]] static std::span<float> host_data(tensor& t) { return {t.data(), static_cast<std::size_t>(t.size())}; }

    /// One pass over S, G and X per sample; each H x W plane is reduced with Eigen's packet code.
    [[nodiscard]] static std::vector<SampleMoments> moments(const tensor& S, const tensor& G, const tensor& X) {
        const Shape4 s = shape(S);
        std::vector<SampleMoments> out(static_cast<std::size_t>(s.n));
        for (std::int64_t n = 0; n < s.n; ++n) {
            auto& m = out[static_cast<std::size_t>(n)];
            for (std::int64_t k = 0; k < s.c; ++k) {
                const auto off = (n * s.c + k) * s.plane();
                const Plane ps(S.data() + off, s.plane()), pg(G.data() + off, s.plane()), px(X.data() + off, s.plane());
                m.ss += static_cast<double>(ps.square().sum());
                m.gg += static_cast<double>(pg.square().sum());
                m.xx += static_cast<double>(px.square().sum());
                m.gx += static_cast<double>((pg * px).sum());
            }
        }
        return out;
    }

    /// sum_k G*(a S + b X + c G), accumulated into one H x W plane that stays in cache.
    [[nodiscard]] static tensor select(const tensor& G, const tensor& S, const tensor& X,
                                       std::span<const SelectCoefficients> coef) {
        const Shape4 s = shape(S);
        tensor out(s.n, 1, s.h, s.w);
        for (std::int64_t n = 0; n < s.n; ++n) {
            MutablePlane o(out.data() + n * s.plane(), s.plane());
            o.setZero();
            const auto [a, b, c] = coef[static_cast<std::size_t>(n)];
            for (std::int64_t k = 0; k < s.c; ++k) {
                const auto off = (n * s.c + k) * s.plane();
                const Plane ps(S.data() + off, s.plane()), pg(G.data() + off, s.plane()), px(X.data() + off, s.plane());
                if (b == 0.0f && c == 0.0f) o += a * (pg * ps);
                else o += pg * (a * ps + b * px + c * pg);
            }
        }
        return out;
    }

private:
    using Plane = Eigen::Map<const Eigen::ArrayXf>;
    using MutablePlane = Eigen::Map<Eigen::ArrayXf>;
};

static_assert(TensorBackend<EigenBackend>);

} // namespace dualgrad

#pragma once
// A worked example of a user-defined backend (docs/howto-backend.md): the user's own tensor type,
// `my::Tensor`, a shape plus a std::vector<float>, becomes a dualgrad backend through a small
// struct of static functions. With host storage exposed, every map kernel of the core runs on it;
// a backend may still provide any kernel itself (here: sum_squares, to show how).
#include <numeric>
#include <span>
#include <vector>

#include <dualgrad/backend/concepts.hpp>
#include <dualgrad/error.hpp>

namespace my {

struct Tensor {
    dualgrad::Shape4 shape;
    std::vector<float> values; // row-major N x C x H x W
};

struct Backend {
    using tensor = Tensor;

    static dualgrad::Shape4 shape(const Tensor& t) { return t.shape; }
    static Tensor from_host(dualgrad::Shape4 s, std::span<const float> v) {
        if (static_cast<std::int64_t>(v.size()) != s.count())
            throw dualgrad::shape_error("my::Backend: wrong number of values for the shape");
        return {s, {v.begin(), v.end()}};
    }
    static std::vector<float> to_host(const Tensor& t) { return t.values; }
    static std::span<const float> host_data(const Tensor& t) { return t.values; }
    static std::span<float> host_data(Tensor& t) { return t.values; }

    // Optional: replace one of the core's portable kernels with our own.
    static std::vector<double> sum_squares(const Tensor& t) {
        std::vector<double> out(static_cast<std::size_t>(t.shape.n));
        const auto per = static_cast<std::size_t>(t.shape.per_sample());
        for (std::size_t n = 0; n < out.size(); ++n)
            out[n] = std::inner_product(t.values.begin() + n * per, t.values.begin() + (n + 1) * per,
                                        t.values.begin() + n * per, 0.0);
        return out;
    }
};

static_assert(dualgrad::TensorBackend<Backend>);

} // namespace my

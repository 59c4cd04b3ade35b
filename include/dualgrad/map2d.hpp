#pragma once
/// \file
/// `Map2D<T>`: an owning, row-major, height x width plane of values. Score maps
/// (`ScoreMap`), binary masks (`Mask`) and ignore regions are all `Map2D`s.
///
///     dualgrad::ScoreMap m(28, 28);      // zeros
///     m(3, 4) = 0.5f;                    // row 3, column 4

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "dualgrad/error.hpp"

namespace dualgrad {

template <class T>
class Map2D {
public:
    using value_type = T;

    Map2D() = default;
    Map2D(int height, int width, T fill = T{}) : height_(height), width_(width) {
        if (height < 0 || width < 0)
            detail::raise<shape_error>("Map2D: negative size ", height, "x", width);
        data_.assign(static_cast<std::size_t>(height) * static_cast<std::size_t>(width), fill);
    }
    /// Copies `values` (row-major, height*width of them).
    Map2D(int height, int width, std::span<const T> values) : Map2D(height, width) {
        if (values.size() != data_.size())
            detail::raise<shape_error>("Map2D: ", values.size(), " values given for a ", height, "x",
                                       width, " map (", data_.size(), " expected)");
        std::copy(values.begin(), values.end(), data_.begin());
    }

    [[nodiscard]] int height() const noexcept { return height_; }
    [[nodiscard]] int width() const noexcept { return width_; }
    [[nodiscard]] std::size_t size() const noexcept { return data_.size(); }
    [[nodiscard]] bool empty() const noexcept { return data_.empty(); }

    [[nodiscard]] T& operator()(int y, int x) noexcept { return data_[index(y, x)]; }
    [[nodiscard]] const T& operator()(int y, int x) const noexcept { return data_[index(y, x)]; }

    [[nodiscard]] T* data() noexcept { return data_.data(); }
    [[nodiscard]] const T* data() const noexcept { return data_.data(); }
    [[nodiscard]] std::span<T> values() noexcept { return data_; }
    [[nodiscard]] std::span<const T> values() const noexcept { return data_; }
    [[nodiscard]] T* row(int y) noexcept { return data_.data() + index(y, 0); }
    [[nodiscard]] const T* row(int y) const noexcept { return data_.data() + index(y, 0); }

    friend bool operator==(const Map2D&, const Map2D&) = default;

private:
    [[nodiscard]] std::size_t index(int y, int x) const noexcept {
        return static_cast<std::size_t>(y) * static_cast<std::size_t>(width_) + static_cast<std::size_t>(x);
    }
    int height_ = 0;
    int width_ = 0;
    std::vector<T> data_;
};

/// A class activation / localization score map.
using ScoreMap = Map2D<float>;
/// A binary (0/1) or 8-bit mask.
using Mask = Map2D<std::uint8_t>;

} // namespace dualgrad

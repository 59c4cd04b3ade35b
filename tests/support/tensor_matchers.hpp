#pragma once
// A Catch2 matcher for whole tensors (as flat float vectors): passes when every element is within
// abs_tol + rel_tol * |want|, and on failure reports the worst element.
#include <cmath>
#include <sstream>
#include <vector>

#include <catch2/catch.hpp>

namespace dgtest {

class AllClose : public Catch::MatcherBase<std::vector<float>> {
public:
    AllClose(std::vector<double> want, double abs_tol, double rel_tol)
        : want_(std::move(want)), abs_(abs_tol), rel_(rel_tol) {}

    bool match(const std::vector<float>& got) const override {
        worst_ = -1;
        worst_excess_ = 0;
        if (got.size() != want_.size()) return false;
        for (std::size_t i = 0; i < got.size(); ++i) {
            const double err = std::abs(static_cast<double>(got[i]) - want_[i]);
            const double excess = err - (abs_ + rel_ * std::abs(want_[i]));
            if (!(excess <= 0) && (worst_ < 0 || excess > worst_excess_ || std::isnan(err))) {
                worst_ = static_cast<long>(i);
                worst_excess_ = excess;
                worst_got_ = got[i];
            }
        }
        return worst_ < 0;
    }
    std::string describe() const override {
        std::ostringstream os;
        os << "is within " << abs_ << " + " << rel_ << "*|want| of " << want_.size() << " expected values";
        if (worst_ >= 0)
            os << "; worst element " << worst_ << ": got " << worst_got_ << ", want " << want_[worst_];
        return os.str();
    }

private:
    std::vector<double> want_;
    double abs_, rel_;
    mutable long worst_ = -1;
    mutable double worst_excess_ = 0;
    mutable double worst_got_ = 0;
};

template <class T>
inline AllClose all_close(const std::vector<T>& want, double abs_tol = 1e-6, double rel_tol = 1e-5) {
    return AllClose(std::vector<double>(want.begin(), want.end()), abs_tol, rel_tol);
}

} // namespace dgtest

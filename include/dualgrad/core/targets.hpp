#pragma once
/// \file
/// `Logits` (N x C, host) and `Targets`: for each sample, the list of classes whose maps are
/// wanted (T slots per sample). Targets are given (ground truth, user classes) or derived from the
/// logits (top-1, top-k), as the WSOL protocols need: GT-known uses the ground-truth class,
/// top-k localization the k best predictions.
///
///     auto t = dualgrad::Targets::top_k(logits, 5);   // t(n, 0) is sample n's top-1 class

#include <algorithm>
#include <cmath>
#include <numeric>
#include <span>
#include <vector>

#include "dualgrad/error.hpp"

namespace dualgrad {

/// Class scores of N samples, C classes, row-major.
class Logits {
public:
    Logits() = default;
    Logits(int samples, int classes, std::vector<float> values)
        : samples_(samples), classes_(classes), values_(std::move(values)) {
        if (samples <= 0 || classes <= 0)
            detail::raise<shape_error>("Logits: need at least one sample and one class, got ", samples, "x", classes);
        if (values_.size() != static_cast<std::size_t>(samples) * static_cast<std::size_t>(classes))
            detail::raise<shape_error>("Logits: ", values_.size(), " values for ", samples, " samples x ", classes,
                                       " classes");
        for (std::size_t i = 0; i < values_.size(); ++i)
            if (!std::isfinite(values_[i]))
                detail::raise<value_error>("Logits: non-finite value ", values_[i], " for sample ",
                                           i / static_cast<std::size_t>(classes), ", class ",
                                           i % static_cast<std::size_t>(classes));
    }
    [[nodiscard]] int samples() const noexcept { return samples_; }
    [[nodiscard]] int classes() const noexcept { return classes_; }
    [[nodiscard]] std::span<const float> row(int n) const {
        return std::span<const float>(values_).subspan(static_cast<std::size_t>(n) * classes_, classes_);
    }
    [[nodiscard]] std::span<const float> values() const noexcept { return values_; }

private:
    int samples_ = 0;
    int classes_ = 0;
    std::vector<float> values_;
};

/// T target classes for each of N samples.
class Targets {
public:
    Targets() = default;
    /// Explicit targets: one list of classes per sample, all lists of the same length.
    explicit Targets(const std::vector<std::vector<int>>& per_sample) {
        if (per_sample.empty()) detail::raise<shape_error>("Targets: no samples");
        samples_ = static_cast<int>(per_sample.size());
        slots_ = static_cast<int>(per_sample.front().size());
        if (slots_ == 0) detail::raise<shape_error>("Targets: sample 0 has no target class");
        for (std::size_t n = 0; n < per_sample.size(); ++n) {
            if (static_cast<int>(per_sample[n].size()) != slots_)
                detail::raise<shape_error>("Targets: sample ", n, " has ", per_sample[n].size(),
                                           " target classes, sample 0 has ", slots_);
            for (int c : per_sample[n]) {
                if (c < 0) detail::raise<value_error>("Targets: sample ", n, " has negative class ", c);
                classes_.push_back(c);
            }
        }
    }
    /// One given class per sample (e.g. the ground truth, for GT-known localization).
    [[nodiscard]] static Targets given(std::span<const int> classes) {
        std::vector<std::vector<int>> v;
        for (int c : classes) v.push_back({c});
        return Targets(v);
    }
    /// The k highest-scoring classes of each sample, best first (ties: lower class index first).
    [[nodiscard]] static Targets top_k(const Logits& logits, int k) {
        if (k <= 0 || k > logits.classes())
            detail::raise<value_error>("Targets::top_k: k = ", k, " must be in [1, ", logits.classes(), "]");
        std::vector<std::vector<int>> v(static_cast<std::size_t>(logits.samples()));
        std::vector<int> idx(static_cast<std::size_t>(logits.classes()));
        for (int n = 0; n < logits.samples(); ++n) {
            const auto row = logits.row(n);
            std::iota(idx.begin(), idx.end(), 0);
            std::stable_sort(idx.begin(), idx.end(), [&](int a, int b) { return row[a] > row[b]; });
            v[static_cast<std::size_t>(n)].assign(idx.begin(), idx.begin() + k);
        }
        return Targets(v);
    }
    [[nodiscard]] static Targets top1(const Logits& logits) { return top_k(logits, 1); }

    [[nodiscard]] int samples() const noexcept { return samples_; }
    [[nodiscard]] int slots() const noexcept { return slots_; }
    [[nodiscard]] int operator()(int n, int t) const {
        return classes_[static_cast<std::size_t>(n) * slots_ + static_cast<std::size_t>(t)];
    }
    /// Throws unless every target is a valid class index for `num_classes` classes.
    void check_classes(int num_classes) const {
        for (int n = 0; n < samples_; ++n)
            for (int t = 0; t < slots_; ++t)
                if ((*this)(n, t) >= num_classes)
                    detail::raise<value_error>("Targets: sample ", n, " slot ", t, " names class ", (*this)(n, t),
                                               " but the model has ", num_classes, " classes");
    }

private:
    int samples_ = 0;
    int slots_ = 0;
    std::vector<int> classes_;
};

} // namespace dualgrad

#pragma once
/// \file
/// Methods that perturb the tapped layer or the input and read the classifier's answer:
/// Ablation-CAM (Desai and Ramaswamy 2020, as pytorch-grad-cam 1.5 `AblationCAM` computes it) and
/// Score-CAM (Wang et al. 2020, pytorch-grad-cam `ScoreCAM`; `score_weights` below). They need a source that can
/// run the part of the network above a layer on new values of it (`HeadSource`: the CPU engine),
/// which costs a fraction of a full forward pass at late layers: no pass repeats the layers below.
///
/// Ablation-CAM, for sample n, target class c and channel k:
/// - the layer's value with channel k replaced by the ablation value: 0 if the sample's smallest
///   activation is 0 (after a ReLU), else that minimum minus 1e7 (pytorch-grad-cam's `AblationLayer`);
/// - y_c^k, the logit of c for that value; w_k = (y_c - y_c^k) / y_c with y_c the unperturbed logit;
/// - the map relu(sum_k w_k S_k).
/// One ablated pass gives every class's logit, so all target slots share the N K head rows, run in
/// batches of `MethodInputs::head_batch` rows (pytorch-grad-cam runs K full forwards per target).
///
///     auto head = dualgrad::make_head_forward(model, x, "layer4.2");
///     auto maps = dualgrad::ablation_cam<EigenBackend>(S, targets, logits, head);

#include <algorithm>
#include <cmath>
#include <limits>
#include <concepts>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <unistd.h>

#include "dualgrad/backend/ops.hpp"
#include "dualgrad/core/random.hpp"
#include "dualgrad/core/targets.hpp"
#include "dualgrad/error.hpp"

namespace dualgrad {

/// Writes M x K x H x W new values of a layer (row-major floats) into the span it is given.
using HeadFill = std::function<void(std::span<float>)>;

/// Runs the part of a network above one layer on M new values of it, which `fill` writes straight
/// into the source's input buffer (no intermediate copy); row m replaces the layer's value of
/// sample `samples[m]`. Returns M x classes logits.
using HeadForward = std::function<Logits(Shape4 shape, std::span<const int> samples, const HeadFill& fill)>;

/// A gradient source that can also run the part above a layer (`nn::Graph`, `models::CpuModel`):
/// `head_state(x, layer)` runs one forward pass of x and keeps what `head_forward(state, s,
/// samples)` needs.
template <class Source>
concept HeadSource = requires(const Source& src, const typename Source::input_type& x, const std::string& layer) {
    src.head_state(x, layer);
};

namespace detail {
/// Fills `buffer` (a backend tensor kept between calls, remade only when the shape changes, so
/// no fresh pages per pass) through `fill` and returns `run(buffer)`; a backend without host
/// pointers gets a host vector instead.
template <TensorBackend B, class Run>
[[nodiscard]] Logits run_filled(typename B::tensor& buffer, Shape4 shape, const HeadFill& fill, Run&& run) {
    using T = typename B::tensor;
    const auto count = static_cast<std::size_t>(shape.count());
    if constexpr (requires(T& t) { { t.data() } -> std::convertible_to<float*>; }) {
        if (B::shape(buffer) != shape) buffer = B::from_host(shape, std::vector<float>(count));
        fill(std::span<float>(buffer.data(), count));
        return run(buffer);
    } else {
        std::vector<float> v(count);
        fill(v);
        return run(B::from_host(shape, v));
    }
}
} // namespace detail

/// The `HeadForward` of `source` at `layer` for the batch `x` (one forward pass now; `source`
/// must outlive the result).
template <HeadSource Source>
[[nodiscard]] HeadForward make_head_forward(const Source& source, const typename Source::input_type& x,
                                            const std::string& layer) {
    using B = typename Source::backend;
    struct State {
        decltype(source.head_state(x, layer)) head;
        typename B::tensor buffer;
    };
    auto state = std::make_shared<State>(State{source.head_state(x, layer), {}});
    return [&source, state](Shape4 shape, std::span<const int> samples, const HeadFill& fill) {
        return detail::run_filled<B>(state->buffer, shape, fill, [&](const typename B::tensor& t) {
            return source.head_forward(state->head, t, samples);
        });
    };
}

/// A batch's input and the network's forward pass on new inputs (Score-CAM): `forward(shape,
/// fill)` runs M inputs that `fill` writes (M x C x H x W, row-major, straight into the source's
/// buffer) and returns M x classes logits.
struct InputForward {
    Shape4 shape;              ///< the batch's input shape, N x C x H x W
    std::vector<float> values; ///< the batch's input (preprocessed), row-major
    std::function<Logits(Shape4 shape, const HeadFill& fill)> forward;
};

/// A gradient source that can also run plain forward passes of its input type (`models::CpuModel`).
template <class Source>
concept InputSource = std::same_as<typename Source::input_type, typename Source::backend::tensor> &&
                      requires(const Source& src, const typename Source::input_type& x) {
                          { src.forward(x) } -> std::same_as<Logits>;
                      };

/// The `InputForward` of `source` for the batch `x` (`source` must outlive the result).
template <InputSource Source>
[[nodiscard]] std::shared_ptr<const InputForward> make_input_forward(const Source& source,
                                                                    const typename Source::input_type& x) {
    using B = typename Source::backend;
    auto buffer = std::make_shared<typename B::tensor>();
    auto out = std::make_shared<InputForward>();
    out->shape = B::shape(x);
    out->values = B::to_host(x);
    out->forward = [&source, buffer](Shape4 shape, const HeadFill& fill) {
        return detail::run_filled<B>(*buffer, shape, fill, [&](const typename B::tensor& t) { return source.forward(t); });
    };
    return out;
}

namespace detail {
/// The machine's physical memory in bytes, or 0 if it cannot be read.
[[nodiscard]] inline std::uint64_t physical_memory_bytes() noexcept {
#if defined(_SC_PHYS_PAGES) && defined(_SC_PAGESIZE)
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages > 0 && page > 0) return static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(page);
#endif
    return 0;
}

/// Refuses a batch of perturbed inputs whose buffer alone would not fit in the machine's memory,
/// saying how much it needs (`what` names the method).
inline void check_batch_memory(const char* what, std::int64_t rows, Shape4 one) {
    const double bytes = static_cast<double>(rows) * static_cast<double>(one.c) * static_cast<double>(one.h) *
                         static_cast<double>(one.w) * sizeof(float);
    const auto have = physical_memory_bytes();
    if (have > 0 && bytes > static_cast<double>(have))
        raise<value_error>(what, ": a batch of ", rows, " inputs of ", one.c, "x", one.h, "x", one.w, " needs ",
                           bytes / 1073741824.0, " GiB for its input buffer alone, and this machine has ",
                           static_cast<double>(have) / 1073741824.0, " GiB; lower the batch (MethodInputs::input_batch)");
}

/// Bilinear resize with aligned corners (PyTorch's `UpsamplingBilinear2d`, `interpolate(...,
/// align_corners=True)`): output (y, x) samples the source at (y (h-1)/(H-1), x (w-1)/(W-1)).
inline void resize_aligned(const float* src, std::int64_t h, std::int64_t w, float* dst, std::int64_t H, std::int64_t W) {
    const double sy = H > 1 ? static_cast<double>(h - 1) / static_cast<double>(H - 1) : 0.0;
    const double sx = W > 1 ? static_cast<double>(w - 1) / static_cast<double>(W - 1) : 0.0;
    for (std::int64_t y = 0; y < H; ++y) {
        const double fy = static_cast<double>(y) * sy;
        const auto y0 = std::min(static_cast<std::int64_t>(fy), h - 1), y1 = std::min(y0 + 1, h - 1);
        const float ly = static_cast<float>(fy - static_cast<double>(y0));
        for (std::int64_t x = 0; x < W; ++x) {
            const double fx = static_cast<double>(x) * sx;
            const auto x0 = std::min(static_cast<std::int64_t>(fx), w - 1), x1 = std::min(x0 + 1, w - 1);
            const float lx = static_cast<float>(fx - static_cast<double>(x0));
            const float top = src[y0 * w + x0] * (1 - lx) + src[y0 * w + x1] * lx;
            const float bottom = src[y1 * w + x0] * (1 - lx) + src[y1 * w + x1] * lx;
            dst[y * W + x] = top * (1 - ly) + bottom * ly;
        }
    }
}

/// Bilinear resize with half-pixel centres (PyTorch's `interpolate(..., align_corners=False)`,
/// enlarging): output (y, x) samples the source at max(0, (y + 0.5) h / H - 0.5), likewise in x.
inline void resize_half_pixel(const float* src, std::int64_t h, std::int64_t w, float* dst, std::int64_t H, std::int64_t W) {
    const double sy = static_cast<double>(h) / static_cast<double>(H), sx = static_cast<double>(w) / static_cast<double>(W);
    for (std::int64_t y = 0; y < H; ++y) {
        const double fy = std::max(0.0, (static_cast<double>(y) + 0.5) * sy - 0.5);
        const auto y0 = std::min(static_cast<std::int64_t>(fy), h - 1), y1 = std::min(y0 + 1, h - 1);
        const float ly = static_cast<float>(fy - static_cast<double>(y0));
        for (std::int64_t x = 0; x < W; ++x) {
            const double fx = std::max(0.0, (static_cast<double>(x) + 0.5) * sx - 0.5);
            const auto x0 = std::min(static_cast<std::int64_t>(fx), w - 1), x1 = std::min(x0 + 1, w - 1);
            const float lx = static_cast<float>(fx - static_cast<double>(x0));
            const float top = src[y0 * w + x0] * (1 - lx) + src[y0 * w + x1] * lx;
            const float bottom = src[y1 * w + x0] * (1 - lx) + src[y1 * w + x1] * lx;
            dst[y * W + x] = top * (1 - ly) + bottom * ly;
        }
    }
}
} // namespace detail

namespace detail {
/// Checks what every masked-input method needs (`what` names it) and returns the input's shape.
inline Shape4 check_masked_inputs(const char* what, Shape4 s, const Targets& targets, const InputForward* input,
                                  int batch) {
    if (!input || !input->forward)
        raise<value_error>(what, " needs a source that can run forward passes of masked inputs (the CPU "
                                 "engine); this one cannot");
    if (batch < 1) raise<value_error>(what, ": batch ", batch, " must be at least 1");
    const Shape4 xs = input->shape;
    if (targets.samples() != s.n || xs.n != s.n)
        raise<shape_error>(what, ": ", targets.samples(), " target lists and an input of ", xs.n, " samples for ",
                           s.n, " samples of S");
    return xs;
}

/// Runs `rows` generated inputs through `input.forward`, `batch` at a time: `fill(r, dst)` writes
/// input r (C x H x W values of the batch's input shape) into `dst`; `take(r, n_classes_row)`
/// reads its logits. Inputs go straight into the source's buffer.
template <class Fill, class Take>
void forward_generated(const char* what, const InputForward& input, std::int64_t rows, int batch, Fill&& fill,
                       Take&& take) {
    const Shape4 xs = input.shape;
    const std::int64_t per_x = xs.c * xs.plane();
    check_batch_memory(what, std::min<std::int64_t>(batch, rows), xs);
    for (std::int64_t first = 0; first < rows; first += batch) {
        const std::int64_t m = std::min<std::int64_t>(batch, rows - first);
        const Logits out = input.forward(Shape4{m, xs.c, xs.h, xs.w}, [&](std::span<float> dst) {
            for (std::int64_t r = 0; r < m; ++r) fill(first + r, dst.subspan(static_cast<std::size_t>(r * per_x), static_cast<std::size_t>(per_x)));
        });
        if (out.samples() != m)
            raise<shape_error>(what, ": the forward gave ", out.samples(), " logit rows for ", m, " inputs");
        for (std::int64_t r = 0; r < m; ++r) take(first + r, out.row(static_cast<int>(r)));
    }
}

/// Softmax over the K channels of `scores` ((n K + k) T + t, divided by `divisor` first): `slots`
/// vectors of N*K weights.
[[nodiscard]] inline std::vector<std::vector<float>> channel_softmax(const std::vector<double>& scores, std::int64_t N,
                                                                     std::int64_t K, int T, double divisor = 1) {
    std::vector<std::vector<float>> w(static_cast<std::size_t>(T), std::vector<float>(static_cast<std::size_t>(N * K)));
    for (int t = 0; t < T; ++t)
        for (std::int64_t n = 0; n < N; ++n) {
            const auto at = [&](std::int64_t k) { return scores[static_cast<std::size_t>((n * K + k) * T + t)] / divisor; };
            double top = -std::numeric_limits<double>::infinity(), sum = 0;
            for (std::int64_t k = 0; k < K; ++k) top = std::max(top, at(k));
            for (std::int64_t k = 0; k < K; ++k) sum += std::exp(at(k) - top);
            for (std::int64_t k = 0; k < K; ++k)
                w[static_cast<std::size_t>(t)][static_cast<std::size_t>(n * K + k)] = static_cast<float>(std::exp(at(k) - top) / sum);
        }
    return w;
}

/// Adds the target logits of row `nk` = n K + k to `scores` ((n K + k) T + t): every target slot
/// of sample n reads the same forward.
inline void add_target_logits(std::vector<double>& scores, const Targets& targets, std::int64_t nk, std::int64_t K,
                              std::span<const float> logits) {
    targets.check_classes(static_cast<int>(logits.size()));
    const int T = targets.slots(), n = static_cast<int>(nk / K);
    for (int t = 0; t < T; ++t)
        scores[static_cast<std::size_t>(nk * T + t)] += logits[static_cast<std::size_t>(targets(n, t))];
}

/// Channel (n, k) of S min-max normalized over its pixels, (a - min) / (max - min + 1e-8), then
/// enlarged to H x W (bilinear, half-pixel centres): torch-cam's mask. `norm` holds h*w floats.
inline void torchcam_mask(std::span<const float> S, Shape4 s, std::int64_t nk, std::vector<float>& norm, float* mask,
                          std::int64_t H, std::int64_t W) {
    const std::int64_t P = s.plane();
    const float* a = S.data() + nk * P;
    const auto [lo, hi] = std::minmax_element(a, a + P);
    const float min = *lo, range = (*hi - *lo) + 1e-8f;
    norm.resize(static_cast<std::size_t>(P));
    for (std::int64_t p = 0; p < P; ++p) norm[static_cast<std::size_t>(p)] = (a[p] - min) / range;
    resize_half_pixel(norm.data(), s.h, s.w, mask, H, W);
}
} // namespace detail

/// Score-CAM's channel weights (Wang et al. 2020, as pytorch-grad-cam 1.5 `ScoreCAM`): for sample n
/// and channel k, S_k is resized to the input (bilinear, aligned corners), scaled to [0, 1] by
/// (u - min) / (max - min + 1e-8), multiplies the (preprocessed) input, and the masked input's
/// logit of each target class is its score; w = softmax of the scores over the channels.
/// `slots` vectors of N*K weights. One masked forward gives every class's logit, so the target
/// slots share the N K passes, `batch` rows at a time.
[[nodiscard]] inline std::vector<std::vector<float>> score_weights(std::span<const float> S, Shape4 s,
                                                                   const Targets& targets, const InputForward* input,
                                                                   int batch = 16) {
    const Shape4 xs = detail::check_masked_inputs("scorecam", s, targets, input, batch);
    const std::int64_t K = s.c, P = s.plane(), HW = xs.plane();
    const int T = targets.slots();
    std::vector<double> scores(static_cast<std::size_t>(s.n * K * T), 0.0);
    std::vector<float> mask(static_cast<std::size_t>(HW));
    detail::forward_generated(
        "scorecam", *input, s.n * K, batch,
        [&](std::int64_t r, std::span<float> row) {
            const std::int64_t n = r / K;
            detail::resize_aligned(S.data() + r * P, s.h, s.w, mask.data(), xs.h, xs.w);
            const auto [lo, hi] = std::minmax_element(mask.begin(), mask.end());
            const float min = *lo, range = *hi - *lo + 1e-8f;
            for (float& m : mask) m = (m - min) / range;
            const float* x = input->values.data() + n * xs.c * HW;
            for (std::int64_t c = 0; c < xs.c; ++c)
                for (std::int64_t p = 0; p < HW; ++p)
                    row[static_cast<std::size_t>(c * HW + p)] = x[c * HW + p] * mask[static_cast<std::size_t>(p)];
        },
        [&](std::int64_t r, std::span<const float> logits) { detail::add_target_logits(scores, targets, r, K, logits); });
    return detail::channel_softmax(scores, s.n, K, T);
}

/// Score-CAM: one map per target slot, relu(sum_k w_k S_k) (see `score_weights`).
template <TensorBackend B>
[[nodiscard]] std::vector<typename B::tensor> score_cam(const typename B::tensor& S, const Targets& targets,
                                                        const InputForward* input, int batch = 16) {
    ops::require_nonempty<B>(S, "activations S");
    const auto w = score_weights(B::to_host(S), B::shape(S), targets, input, batch);
    std::vector<typename B::tensor> maps;
    for (const auto& wt : w) maps.push_back(ops::relu<B>(ops::channel_sum<B>(S, wt)));
    return maps;
}

/// Ablation-CAM's channel weights, `slots` vectors of N*K values (see the file comment).
[[nodiscard]] inline std::vector<std::vector<float>> ablation_weights(std::span<const float> S, Shape4 s,
                                                                      const Targets& targets, const Logits& logits,
                                                                      const HeadForward& head, int batch = 32) {
    if (!head)
        detail::raise<value_error>("ablationcam needs a source that can run the network above the layer (the CPU "
                                   "engine); this one cannot");
    if (batch < 1) detail::raise<value_error>("ablationcam: head batch ", batch, " must be at least 1");
    if (targets.samples() != s.n || logits.samples() != s.n)
        detail::raise<shape_error>("ablationcam: ", targets.samples(), " target lists and ", logits.samples(),
                                   " logit rows for ", s.n, " samples");
    targets.check_classes(logits.classes());
    const std::int64_t K = s.c, per = s.c * s.plane(), plane = s.plane();
    const int T = targets.slots();
    // ablated[(n K + k) T + t]: the logit of target t of sample n with channel k ablated.
    std::vector<float> ablated(static_cast<std::size_t>(s.n * K * T));
    std::vector<int> samples;
    std::vector<std::int64_t> rows; // n K + k of each chunk row
    std::vector<float> ablation_value(static_cast<std::size_t>(s.n));
    for (std::int64_t n = 0; n < s.n; ++n) {
        const auto first = S.begin() + n * per;
        const float lo = *std::min_element(first, first + per);
        ablation_value[static_cast<std::size_t>(n)] = lo == 0.0f ? 0.0f : lo - 1e7f;
    }
    auto flush = [&] {
        if (rows.empty()) return;
        const Shape4 cs{static_cast<std::int64_t>(rows.size()), s.c, s.h, s.w};
        const Logits out = head(cs, samples, [&](std::span<float> dst) {
            // Row r: sample n's values, with channel k set to the ablation value.
            for (std::size_t r = 0; r < rows.size(); ++r) {
                const std::int64_t n = rows[r] / K, k = rows[r] % K;
                float* row = dst.data() + static_cast<std::ptrdiff_t>(r) * per;
                std::copy_n(S.begin() + n * per, per, row);
                std::fill_n(row + k * plane, plane, ablation_value[static_cast<std::size_t>(n)]);
            }
        });
        if (out.samples() != cs.n || out.classes() != logits.classes())
            detail::raise<shape_error>("ablationcam: the head gave ", out.samples(), " x ", out.classes(),
                                       " logits for ", cs.n, " rows of ", logits.classes(), " classes");
        for (std::size_t r = 0; r < rows.size(); ++r) {
            const int n = samples[r];
            for (int t = 0; t < T; ++t)
                ablated[static_cast<std::size_t>(rows[r] * T + t)] = out.row(static_cast<int>(r))[static_cast<std::size_t>(targets(n, t))];
        }
        samples.clear(), rows.clear();
    };
    for (std::int64_t n = 0; n < s.n; ++n)
        for (std::int64_t k = 0; k < K; ++k) {
            samples.push_back(static_cast<int>(n));
            rows.push_back(n * K + k);
            if (static_cast<int>(rows.size()) == batch) flush();
        }
    flush();
    std::vector<std::vector<float>> w(static_cast<std::size_t>(T), std::vector<float>(static_cast<std::size_t>(s.n * K)));
    for (int t = 0; t < T; ++t)
        for (std::int64_t n = 0; n < s.n; ++n) {
            const float y = logits.row(static_cast<int>(n))[static_cast<std::size_t>(targets(static_cast<int>(n), t))];
            for (std::int64_t k = 0; k < K; ++k)
                w[static_cast<std::size_t>(t)][static_cast<std::size_t>(n * K + k)] =
                    (y - ablated[static_cast<std::size_t>((n * K + k) * T + t)]) / y;
        }
    return w;
}

/// Ablation-CAM: one map per target slot, N x 1 x H x W (see the file comment).
template <TensorBackend B>
[[nodiscard]] std::vector<typename B::tensor> ablation_cam(const typename B::tensor& S, const Targets& targets,
                                                           const Logits& logits, const HeadForward& head, int batch = 32) {
    ops::require_nonempty<B>(S, "activations S");
    const auto host = B::to_host(S);
    const auto w = ablation_weights(host, B::shape(S), targets, logits, head, batch);
    std::vector<typename B::tensor> maps;
    for (const auto& wt : w) maps.push_back(ops::relu<B>(ops::channel_sum<B>(S, wt)));
    return maps;
}

/// IS-CAM's channel weights (Naidu et al. 2020, as torch-cam's `ISCAM` computes them, N = `steps`):
/// each channel of S min-max normalized over its pixels, (a - min) / (max - min + 1e-8), enlarged
/// to the input (bilinear, half-pixel centres): the mask M_k; for i = 1..N the coefficient
/// c_i = sum_{p <= i} p / N (torch-cam's running sum: it reaches (N + 1) / 2), the score
/// y_c(c_i M_k x); w = softmax over k of the mean score (torch-cam subtracts y_c(x) from each
/// score first, which the softmax does not see). `slots` vectors of N*K weights, from N K steps
/// masked forwards shared by the target slots, `batch` at a time.
[[nodiscard]] inline std::vector<std::vector<float>> integrated_score_weights(std::span<const float> S, Shape4 s,
                                                                              const Targets& targets,
                                                                              const InputForward* input, int steps = 10,
                                                                              int batch = 16) {
    const Shape4 xs = detail::check_masked_inputs("iscam", s, targets, input, batch);
    if (steps < 1 || steps > 1000) detail::raise<value_error>("iscam: steps ", steps, " must be in [1, 1000]");
    const std::int64_t K = s.c, HW = xs.plane();
    const int T = targets.slots();
    std::vector<double> coeff;
    for (int i = 0; i < steps; ++i) coeff.push_back((coeff.empty() ? 0.0 : coeff.back()) + static_cast<double>(i + 1) / steps);
    std::vector<double> scores(static_cast<std::size_t>(s.n * K * T), 0.0);
    std::vector<float> norm, mask(static_cast<std::size_t>(HW));
    std::int64_t made = -1; // the (n, k) whose mask `mask` holds
    detail::forward_generated(
        "iscam", *input, s.n * K * steps, batch, // row r = (n K + k) steps + i
        [&](std::int64_t r, std::span<float> row) {
            const std::int64_t nk = r / steps, i = r % steps, n = nk / K;
            if (nk != made) detail::torchcam_mask(S, s, made = nk, norm, mask.data(), xs.h, xs.w);
            const auto c = static_cast<float>(coeff[static_cast<std::size_t>(i)]);
            const float* x = input->values.data() + n * xs.c * HW;
            for (std::int64_t ch = 0; ch < xs.c; ++ch)
                for (std::int64_t p = 0; p < HW; ++p)
                    row[static_cast<std::size_t>(ch * HW + p)] = c * (mask[static_cast<std::size_t>(p)] * x[ch * HW + p]);
        },
        [&](std::int64_t r, std::span<const float> logits) { detail::add_target_logits(scores, targets, r / steps, K, logits); });
    return detail::channel_softmax(scores, s.n, K, T, steps);
}

/// IS-CAM: one map per target slot, relu(sum_k w_k S_k) (see `integrated_score_weights`).
template <TensorBackend B>
[[nodiscard]] std::vector<typename B::tensor> is_cam(const typename B::tensor& S, const Targets& targets,
                                                     const InputForward* input, int steps = 10, int batch = 16) {
    ops::require_nonempty<B>(S, "activations S");
    const auto w = integrated_score_weights(B::to_host(S), B::shape(S), targets, input, steps, batch);
    std::vector<typename B::tensor> maps;
    for (const auto& wt : w) maps.push_back(ops::relu<B>(ops::channel_sum<B>(S, wt)));
    return maps;
}

/// SS-CAM's channel weights (Wang et al. 2020, "SS-CAM: Smoothed Score-CAM", as torch-cam 0.4's
/// `SSCAM` computes them): torch-cam's mask M_k (see `integrated_score_weights`); for i = 1..N
/// (`samples`) the score y_c((M_k + delta_ik) x), delta_ik a field of normal noise of standard
/// deviation `std` at the input's resolution; w = softmax over k of the mean score (torch-cam
/// subtracts y_c(x) first, which the softmax does not see). N K samples masked forwards shared by
/// the target slots, `batch` at a time.
///
/// The noise is dualgrad's own, so that it can be reproduced: delta_ik(p) = std *
/// `standard_normal(seed, (i K + k) H W + p)`. Every image of a batch sees the same fields, so an
/// image's map does not depend on its batch or its place in it (torch-cam draws from PyTorch's
/// global generator, so its maps change from run to run).
[[nodiscard]] inline std::vector<std::vector<float>> smoothed_score_weights(std::span<const float> S, Shape4 s,
                                                                            const Targets& targets,
                                                                            const InputForward* input, int samples = 35,
                                                                            float std = 2.0f, std::uint64_t seed = 0,
                                                                            int batch = 16) {
    const Shape4 xs = detail::check_masked_inputs("sscam", s, targets, input, batch);
    if (samples < 1 || samples > 1000) detail::raise<value_error>("sscam: samples ", samples, " must be in [1, 1000]");
    if (!std::isfinite(std) || std < 0) detail::raise<value_error>("sscam: noise std ", std, " must be finite and at least 0");
    const std::int64_t K = s.c, HW = xs.plane();
    const int T = targets.slots();
    std::vector<double> scores(static_cast<std::size_t>(s.n * K * T), 0.0);
    std::vector<float> norm, mask(static_cast<std::size_t>(HW)), noisy(static_cast<std::size_t>(HW));
    std::int64_t made = -1;
    detail::forward_generated(
        "sscam", *input, s.n * K * samples, batch, // row r = (n K + k) samples + i
        [&](std::int64_t r, std::span<float> row) {
            const std::int64_t nk = r / samples, i = r % samples, n = nk / K, k = nk % K;
            if (nk != made) detail::torchcam_mask(S, s, made = nk, norm, mask.data(), xs.h, xs.w);
            const auto first = static_cast<std::uint64_t>((i * K + k) * HW);
            for (std::int64_t p = 0; p < HW; ++p)
                noisy[static_cast<std::size_t>(p)] =
                    mask[static_cast<std::size_t>(p)] +
                    static_cast<float>(std * standard_normal(seed, first + static_cast<std::uint64_t>(p)));
            const float* x = input->values.data() + n * xs.c * HW;
            for (std::int64_t ch = 0; ch < xs.c; ++ch)
                for (std::int64_t p = 0; p < HW; ++p)
                    row[static_cast<std::size_t>(ch * HW + p)] = noisy[static_cast<std::size_t>(p)] * x[ch * HW + p];
        },
        [&](std::int64_t r, std::span<const float> logits) { detail::add_target_logits(scores, targets, r / samples, K, logits); });
    return detail::channel_softmax(scores, s.n, K, T, samples);
}

/// SS-CAM: one map per target slot, relu(sum_k w_k S_k) (see `smoothed_score_weights`).
template <TensorBackend B>
[[nodiscard]] std::vector<typename B::tensor> ss_cam(const typename B::tensor& S, const Targets& targets,
                                                     const InputForward* input, int samples = 35, float std = 2.0f,
                                                     std::uint64_t seed = 0, int batch = 16) {
    ops::require_nonempty<B>(S, "activations S");
    const auto w = smoothed_score_weights(B::to_host(S), B::shape(S), targets, input, samples, std, seed, batch);
    std::vector<typename B::tensor> maps;
    for (const auto& wt : w) maps.push_back(ops::relu<B>(ops::channel_sum<B>(S, wt)));
    return maps;
}

} // namespace dualgrad

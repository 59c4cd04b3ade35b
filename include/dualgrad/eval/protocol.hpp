#pragma once
/// \file
/// Box protocols as types: how a score map becomes boxes, per CAM threshold, for the metrics.
/// A protocol meets the `BoxProtocol` concept; the three of the literature are built in
/// (`WsolevaluationProtocol`, `LayerCamProtocol`, `CamProtocol`), and a user's own type plugs
/// into `eval::evaluate`, `eval::score_maps` and the command line (`register_protocol`) without
/// any change to the library.
///
/// A `BoxProtocol` P provides:
/// - `std::string name() const`: its name in outputs ("wsolevaluation");
/// - `std::vector<double> thresholds() const`: the CAM thresholds, strictly increasing in [0, 1)
///   (the metrics keep one count per threshold; a one-box protocol has one);
/// - `void boxes(const ScoreMap& raw, ImageSize frame, ProtocolBoxes& out)`: the boxes of a raw
///   map (any resolution, unnormalized) in a frame of `frame` pixels: per threshold, the box
///   used for MaxBoxAcc and top-k / GT-known localization (`out.largest[t]`, one box) and the
///   boxes used for MaxBoxAccV2 (`out.multi[t]`, any number);
/// and optionally:
/// - `static constexpr EvalFrame frame`: where it evaluates (default `EvalFrame::original`, the
///   image as stored; wsolevaluation evaluates in the network input's frame);
/// - `ScoreMap pxap_map(const ScoreMap& raw, ImageSize frame)`: the map PxAP thresholds
///   (only protocols that define it compute PxAP);
/// - `void boxes_as_given(const Map2D<double>& normalized, ProtocolBoxes& out)`: boxes of a map
///   already in the protocol's saved form (for `score --as-given`).
///
///     struct Percentile {          // a box around the top q % of the map's pixels
///         double q = 0.2;
///         std::string name() const { return "percentile"; }
///         std::vector<double> thresholds() const { return {0.0}; }
///         void boxes(const dualgrad::ScoreMap& m, dualgrad::ImageSize f, dualgrad::eval::ProtocolBoxes& out) const;
///     };
///     static_assert(dualgrad::eval::BoxProtocol<Percentile>);

#include <concepts>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dualgrad/box.hpp"
#include "dualgrad/error.hpp"
#include "dualgrad/localize/box_extractor.hpp"
#include "dualgrad/localize/normalize.hpp"
#include "dualgrad/localize/resize.hpp"
#include "dualgrad/map2d.hpp"
#include "dualgrad/thresholds.hpp"

namespace dualgrad::eval {

/// The frame boxes are evaluated in.
enum class EvalFrame {
    original, ///< the image as stored (image_sizes.txt): layercam_loc, CAM
    input,    ///< the network input (the resized image, or the 10-crop's resized image): wsolevaluation
};

/// The boxes of one map: per CAM threshold, the one box of the "largest" mode (MaxBoxAcc,
/// top-k and GT-known localization) and the boxes of the multi-box mode (MaxBoxAccV2).
struct ProtocolBoxes {
    std::vector<std::vector<Box>> largest;
    std::vector<std::vector<Box>> multi;
};

namespace detail {
template <class P>
concept HasFrame = requires { { P::frame } -> std::convertible_to<EvalFrame>; };
template <class P>
concept HasPxap = requires(P& p, const ScoreMap& m, ImageSize f) {
    { p.pxap_map(m, f) } -> std::convertible_to<ScoreMap>;
};
template <class P>
concept HasAsGiven = requires(P& p, const Map2D<double>& m, ProtocolBoxes& out) { p.boxes_as_given(m, out); };
} // namespace detail

/// A box protocol (see the file comment).
template <class P>
concept BoxProtocol = requires(P& p, const P& cp, const ScoreMap& m, ImageSize f, ProtocolBoxes& out) {
    { cp.name() } -> std::convertible_to<std::string>;
    { cp.thresholds() } -> std::convertible_to<std::vector<double>>;
    p.boxes(m, f, out);
};

/// wsolevaluation (Choe et al. 2020): bicubic resize to the frame, min-max, per threshold the
/// largest contour's box (MaxBoxAcc) and every contour's box (MaxBoxAccV2); PxAP on the same
/// normalized map. Evaluates in the network input's frame.
class WsolevaluationProtocol {
public:
    static constexpr EvalFrame frame = EvalFrame::input;
    explicit WsolevaluationProtocol(double interval = 0.01)
        : interval_(interval), largest_(WsolLargestContour{interval, {}}), multi_(WsolMultiContour{interval, {}}) {}
    [[nodiscard]] std::string name() const { return "wsolevaluation"; }
    [[nodiscard]] std::vector<double> thresholds() const { return cam_thresholds(interval_, "wsolevaluation protocol"); }
    void boxes(const ScoreMap& raw, ImageSize f, ProtocolBoxes& out) {
        // One resize and normalization for both contour modes.
        const auto& normalized = largest_.normalized(raw, f);
        largest_.boxes_from_normalized(normalized, out.largest);
        multi_.boxes_from_normalized(normalized, out.multi);
    }
    void boxes_as_given(const Map2D<double>& normalized, ProtocolBoxes& out) {
        largest_.boxes_from_normalized(normalized, out.largest);
        multi_.boxes_from_normalized(normalized, out.multi);
    }
    [[nodiscard]] ScoreMap pxap_map(const ScoreMap& raw, ImageSize f) const {
        return normalize_minmax(dualgrad::resize(raw, f.height, f.width, Interpolation::cubic));
    }
    [[nodiscard]] double interval() const noexcept { return interval_; }

private:
    double interval_;
    BoxExtractor<WsolLargestContour> largest_;
    BoxExtractor<WsolMultiContour> multi_;
};

/// layercam_loc (the DGL authors' numbers): ReLU, divide by max, resize to the image, one
/// threshold (0.15), the largest contour rectangle. One box per map, in the image's own frame.
class LayerCamProtocol {
public:
    explicit LayerCamProtocol(double threshold = 0.15) : extractor_(LayerCamLargestRect{threshold}) {}
    [[nodiscard]] std::string name() const { return "layercam"; }
    [[nodiscard]] std::vector<double> thresholds() const { return {extractor_.policy().threshold}; }
    void boxes(const ScoreMap& raw, ImageSize f, ProtocolBoxes& out) {
        out.largest.assign(1, {extractor_.box(raw, f)});
        out.multi = out.largest;
    }

private:
    BoxExtractor<LayerCamLargestRect> extractor_;
};

/// The original CAM recipe (Zhou et al. 2016): min-max, above `fraction` of the range, the largest
/// 8-connected component's box. One box per map, in the image's own frame.
class CamProtocol {
public:
    explicit CamProtocol(double fraction = 0.2) : extractor_(CamLargestComponent{fraction}) {}
    [[nodiscard]] std::string name() const { return "cam"; }
    [[nodiscard]] std::vector<double> thresholds() const { return {extractor_.policy().fraction}; }
    void boxes(const ScoreMap& raw, ImageSize f, ProtocolBoxes& out) {
        out.largest.assign(1, {extractor_.box(raw, f)});
        out.multi = out.largest;
    }

private:
    BoxExtractor<CamLargestComponent> extractor_;
};

static_assert(BoxProtocol<WsolevaluationProtocol>);
static_assert(BoxProtocol<LayerCamProtocol>);
static_assert(BoxProtocol<CamProtocol>);

/// Any `BoxProtocol`, held by value behind one indirect call per map (never per pixel), so that
/// protocols chosen at run time can sit in one list. Copies share the protocol's state: use one
/// `AnyProtocol` per thread.
class AnyProtocol {
public:
    template <BoxProtocol P>
        requires(!std::same_as<std::decay_t<P>, AnyProtocol>)
    AnyProtocol(P protocol) : impl_(std::make_shared<Model<P>>(std::move(protocol))) {}

    [[nodiscard]] std::string name() const { return impl_->name(); }
    [[nodiscard]] std::vector<double> thresholds() const { return impl_->thresholds(); }
    [[nodiscard]] EvalFrame frame() const { return impl_->frame(); }
    void boxes(const ScoreMap& raw, ImageSize f, ProtocolBoxes& out) const { impl_->boxes(raw, f, out); }
    [[nodiscard]] bool has_pxap() const { return impl_->has_pxap(); }
    /// The PxAP map; throws `value_error` for a protocol without one.
    [[nodiscard]] ScoreMap pxap_map(const ScoreMap& raw, ImageSize f) const { return impl_->pxap_map(raw, f); }
    [[nodiscard]] bool has_as_given() const { return impl_->has_as_given(); }
    /// Boxes of a map in the protocol's saved form; throws `value_error` if it has none.
    void boxes_as_given(const Map2D<double>& m, ProtocolBoxes& out) const { impl_->boxes_as_given(m, out); }

private:
    struct Concept {
        virtual ~Concept() = default;
        virtual std::string name() const = 0;
        virtual std::vector<double> thresholds() const = 0;
        virtual EvalFrame frame() const = 0;
        virtual void boxes(const ScoreMap&, ImageSize, ProtocolBoxes&) = 0;
        virtual bool has_pxap() const = 0;
        virtual ScoreMap pxap_map(const ScoreMap&, ImageSize) = 0;
        virtual bool has_as_given() const = 0;
        virtual void boxes_as_given(const Map2D<double>&, ProtocolBoxes&) = 0;
    };
    template <class P>
    struct Model final : Concept {
        explicit Model(P p) : p(std::move(p)) {}
        std::string name() const override { return p.name(); }
        std::vector<double> thresholds() const override { return p.thresholds(); }
        EvalFrame frame() const override {
            if constexpr (detail::HasFrame<P>) return P::frame;
            else return EvalFrame::original;
        }
        void boxes(const ScoreMap& m, ImageSize f, ProtocolBoxes& out) override { p.boxes(m, f, out); }
        bool has_pxap() const override { return detail::HasPxap<P>; }
        ScoreMap pxap_map(const ScoreMap& m, ImageSize f) override {
            if constexpr (detail::HasPxap<P>) return p.pxap_map(m, f);
            else dualgrad::detail::raise<value_error>("protocol '", p.name(), "' defines no PxAP map");
        }
        bool has_as_given() const override { return detail::HasAsGiven<P>; }
        void boxes_as_given(const Map2D<double>& m, ProtocolBoxes& out) override {
            if constexpr (detail::HasAsGiven<P>) p.boxes_as_given(m, out);
            else dualgrad::detail::raise<value_error>("protocol '", p.name(), "' takes raw maps only (no as-given form)");
        }
        P p;
    };
    std::shared_ptr<Concept> impl_;
};

/// Settings a protocol factory may read (from the command line).
struct ProtocolSettings {
    double interval = 0.01; ///< CAM threshold interval of threshold sweeps
};

/// Protocols by name, for the command line: the three built-ins and any registered factory.
class ProtocolRegistry {
public:
    using Factory = std::function<AnyProtocol(const ProtocolSettings&)>;

    static ProtocolRegistry& global() {
        static ProtocolRegistry r;
        return r;
    }

    ProtocolRegistry() {
        order_ = {"wsolevaluation", "layercam", "cam"};
        factories_.emplace("wsolevaluation", [](const ProtocolSettings& s) { return AnyProtocol(WsolevaluationProtocol(s.interval)); });
        factories_.emplace("layercam", [](const ProtocolSettings&) { return AnyProtocol(LayerCamProtocol()); });
        factories_.emplace("cam", [](const ProtocolSettings&) { return AnyProtocol(CamProtocol()); });
    }
    ProtocolRegistry(const ProtocolRegistry&) = delete;
    ProtocolRegistry& operator=(const ProtocolRegistry&) = delete;

    /// Adds a protocol; throws `value_error` for an empty or taken name.
    void add(std::string name, Factory factory) {
        if (name.empty() || name.find_first_of(", \t") != std::string::npos)
            dualgrad::detail::raise<value_error>("register_protocol: '", name, "' is not a valid protocol name");
        const std::lock_guard lock(mutex_);
        if (factories_.contains(name))
            dualgrad::detail::raise<value_error>("register_protocol: a protocol named '", name, "' is already registered");
        order_.push_back(name);
        factories_.emplace(std::move(name), std::move(factory));
    }

    /// A new protocol of that name; the error lists the valid names.
    [[nodiscard]] AnyProtocol make(std::string_view name, const ProtocolSettings& settings = {}) const {
        Factory f;
        {
            const std::lock_guard lock(mutex_);
            const auto it = factories_.find(std::string(name));
            if (it == factories_.end()) {
                std::string valid;
                for (const auto& n : order_) valid += (valid.empty() ? "" : ", ") + n;
                dualgrad::detail::raise<value_error>("unknown protocol '", name, "'; valid protocols: ", valid);
            }
            f = it->second;
        }
        return f(settings);
    }

    [[nodiscard]] std::vector<std::string> names() const {
        const std::lock_guard lock(mutex_);
        return order_;
    }

private:
    mutable std::mutex mutex_;
    std::map<std::string, Factory, std::less<>> factories_;
    std::vector<std::string> order_;
};

/// Registers a protocol by name (it then works in the CLI's `--protocol`).
inline void register_protocol(std::string name, ProtocolRegistry::Factory factory) {
    ProtocolRegistry::global().add(std::move(name), std::move(factory));
}

/// Registers `P` (default-constructed) under `P{}.name()`.
template <BoxProtocol P>
void register_protocol() {
    const std::string name = P{}.name();
    register_protocol(name, [](const ProtocolSettings&) { return AnyProtocol(P{}); });
}

/// The centred box whose sides are `fraction` of the frame's (rounded, at least one pixel),
/// pixel-inclusive: the centre-box baseline's box.
[[nodiscard]] inline Box centre_box(ImageSize frame, double fraction) {
    const auto side = [&](int n) { return std::clamp(static_cast<int>(std::lround(fraction * n)), 1, n); };
    const int w = side(frame.width), h = side(frame.height);
    const int x0 = (frame.width - w) / 2, y0 = (frame.height - h) / 2;
    return Box{x0, y0, x0 + w - 1, y0 + h - 1};
}

} // namespace dualgrad::eval

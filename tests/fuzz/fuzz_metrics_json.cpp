// libFuzzer harness: metrics.json (metrics/serialize.hpp, metrics_from_json / metrics_to_json).
//
// The input is parsed with nlohmann::json::parse (allow_exceptions = false; text that is not
// JSON is skipped) and given to metrics_from_json. An accepted value must round-trip:
// metrics_to_json of it must not throw, its text must parse back and be accepted again, and the
// counts written the second time must equal those written the first time and those of the input
// (num_correct compared flattened, as metrics_from_json reads it).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dualgrad/metrics/serialize.hpp"
#include "fuzz_common.hpp"

namespace {

using nlohmann::json;

[[noreturn]] void fail(const std::string& what) { dualgrad_fuzz::property_failure("metrics_json", what); }

std::vector<std::int64_t> flat_counts(const json& rows) {
    std::vector<std::int64_t> out;
    for (const auto& row : rows)
        for (const auto& v : row) out.push_back(v.get<std::int64_t>());
    return out;
}

// The counts of an accepted input against those metrics_to_json wrote.
void check_counts_equal(const json& in, const json& out) {
    const json& a = in.at("counts");
    const json& b = out.at("counts");
    auto d = [](const json& v) { return v.get<std::vector<double>>(); };
    auto c = [](const json& v) { return v.get<std::vector<std::int64_t>>(); };
    auto n = [](const json& v) { return v.get<std::int64_t>(); };
    if (d(a.at("cam_thresholds")) != d(b.at("cam_thresholds"))) fail("cam_thresholds changed");
    for (const char* k : {"max_box_acc", "max_box_acc_v2"}) {
        if (d(a.at(k).at("iou_thresholds")) != d(b.at(k).at("iou_thresholds")))
            fail(std::string(k) + ".iou_thresholds changed");
        if (n(a.at(k).at("num_images")) != n(b.at(k).at("num_images"))) fail(std::string(k) + ".num_images changed");
        if (flat_counts(a.at(k).at("num_correct")) != flat_counts(b.at(k).at("num_correct")))
            fail(std::string(k) + ".num_correct changed");
    }
    const json &la = a.at("loc"), &lb = b.at("loc");
    if (la.at("iou_threshold").get<double>() != lb.at("iou_threshold").get<double>()) fail("loc.iou_threshold changed");
    for (const char* k : {"num_images", "top1_cls", "top5_cls"})
        if (n(la.at(k)) != n(lb.at(k))) fail(std::string("loc.") + k + " changed");
    for (const char* k : {"top1_loc", "top5_loc", "gt_known_loc"})
        if (c(la.at(k)) != c(lb.at(k))) fail(std::string("loc.") + k + " changed");
    const json &pa = a.at("pxap"), &pb = b.at("pxap");
    if (n(pa.at("num_images")) != n(pb.at("num_images"))) fail("pxap.num_images changed");
    for (const char* k : {"positive", "negative"})
        if (c(pa.at(k)) != c(pb.at(k))) fail(std::string("pxap.") + k + " changed");
}

json to_json_or_fail(const dualgrad::LocMetrics& m, const char* which) {
    try {
        return dualgrad::metrics_to_json(m);
    } catch (const dualgrad::error& e) {
        fail(std::string("metrics_to_json threw on ") + which + " accepted value: " + e.what());
    }
}

void run(const std::uint8_t* data, std::size_t size) {
    const json j = json::parse(dualgrad_fuzz::as_text(data, size), nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return;
    const dualgrad::LocMetrics m = dualgrad::metrics_from_json(j, "<fuzz>");

    const json out = to_json_or_fail(m, "an");
    const std::string text = out.dump();
    const json again = json::parse(text, nullptr, false);
    if (again.is_discarded()) fail("the text metrics_to_json wrote is not JSON: " + text.substr(0, 200));
    std::optional<dualgrad::LocMetrics> m2;
    try {
        m2.emplace(dualgrad::metrics_from_json(again, "<rewritten>"));
    } catch (const dualgrad::error& e) {
        fail(std::string("metrics_from_json refused what metrics_to_json wrote: ") + e.what());
    }
    const json out2 = to_json_or_fail(*m2, "the re-read");
    if (out2.at("counts") != out.at("counts")) fail("the counts changed in the second round trip");
    check_counts_equal(j, out);
}

} // namespace

DUALGRAD_FUZZ_TARGET(run)

#pragma once
// report.html of `dualgrad eval` and `dualgrad merge`: one self-contained file (no scripts, no
// external resources) with the methods-by-layers table, the per-layer GT-known error chart (inline
// SVG) and overlay examples (PNG as data: URIs).
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "eval_output.hpp"

namespace dualgrad::cli {

/// An overlay picture for the report: a PNG and its caption.
struct ReportExample {
    std::string caption;
    std::vector<std::byte> png;
};

inline std::string base64(const std::vector<std::byte>& bytes) {
    static constexpr char table[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    for (std::size_t i = 0; i < bytes.size(); i += 3) {
        const unsigned b0 = std::to_integer<unsigned>(bytes[i]);
        const unsigned b1 = i + 1 < bytes.size() ? std::to_integer<unsigned>(bytes[i + 1]) : 0u;
        const unsigned b2 = i + 2 < bytes.size() ? std::to_integer<unsigned>(bytes[i + 2]) : 0u;
        const unsigned v = (b0 << 16) | (b1 << 8) | b2;
        out += table[(v >> 18) & 63];
        out += table[(v >> 12) & 63];
        out += i + 1 < bytes.size() ? table[(v >> 6) & 63] : '=';
        out += i + 2 < bytes.size() ? table[v & 63] : '=';
    }
    return out;
}

inline std::string html_escape(const std::string& s) {
    std::string out;
    for (char c : s) {
        switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&quot;"; break;
        default: out += c;
        }
    }
    return out;
}

/// The GT-known localization error at the best threshold, or NaN when not computed.
inline double gt_known_error(const LocMetrics& m) {
    if (m.loc_accuracy().num_images() == 0) return std::nan("");
    return m.loc_accuracy().result().best_by_gt_known().gt_known_loc_error();
}

/// The line colours of the charts, in order.
inline constexpr const char* chart_colors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                               "#8c564b", "#e377c2", "#7f7f7f", "#17becf"};

/// The per-layer chart: x = layers in `layers` order, one polyline per method.
inline std::string error_chart_svg(const EvalRuns& r) {
    const auto& layers = r.layers;
    const auto& methods = r.methods;
    const double W = 720, H = 360, left = 60, right = 170, top = 20, bottom = 90;
    double lo = 100, hi = 0;
    for (const auto& [key, m] : r.runs) {
        const double e = gt_known_error(m);
        if (std::isfinite(e)) {
            lo = std::min(lo, e);
            hi = std::max(hi, e);
        }
    }
    if (lo > hi) return "<p>No localization counts to chart (the dataset has no class labels).</p>\n";
    lo = std::max(0.0, std::floor(lo / 10) * 10);
    hi = std::min(100.0, std::ceil(hi / 10) * 10);
    if (hi <= lo) hi = lo + 10;
    const auto x_of = [&](std::size_t i) {
        return left + (layers.size() <= 1 ? (W - left - right) / 2
                                          : (W - left - right) * static_cast<double>(i) / static_cast<double>(layers.size() - 1));
    };
    const auto y_of = [&](double e) { return top + (H - top - bottom) * (hi - e) / (hi - lo); };
    std::ostringstream os;
    os.setf(std::ios::fixed);
    os.precision(1);
    os << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << W << "\" height=\"" << H << "\" role=\"img\" "
       << "aria-label=\"GT-known localization error per layer\">\n";
    for (int k = 0; k <= 5; ++k) {
        const double e = lo + (hi - lo) * k / 5.0, y = y_of(e);
        os << "<line x1=\"" << left << "\" x2=\"" << W - right << "\" y1=\"" << y << "\" y2=\"" << y
           << "\" stroke=\"#ddd\"/><text x=\"" << left - 6 << "\" y=\"" << y + 4
           << "\" font-size=\"11\" text-anchor=\"end\">" << e << "</text>\n";
    }
    os << "<text x=\"14\" y=\"" << (top + H - bottom) / 2 << "\" font-size=\"12\" transform=\"rotate(-90 14 "
       << (top + H - bottom) / 2 << ")\" text-anchor=\"middle\">GT-known loc error (%)</text>\n";
    for (std::size_t i = 0; i < layers.size(); ++i)
        os << "<text x=\"" << x_of(i) << "\" y=\"" << H - bottom + 14 << "\" font-size=\"11\" text-anchor=\"end\" "
           << "transform=\"rotate(-35 " << x_of(i) << " " << H - bottom + 14 << ")\">" << html_escape(layers[i])
           << "</text>\n";
    for (std::size_t mi = 0; mi < methods.size(); ++mi) {
        const char* color = chart_colors[mi % std::size(chart_colors)];
        std::string points;
        std::ostringstream marks;
        marks.setf(std::ios::fixed);
        marks.precision(1);
        for (std::size_t li = 0; li < layers.size(); ++li) {
            const auto it = r.runs.find(methods[mi] + "@" + layers[li]);
            if (it == r.runs.end()) continue;
            const double e = gt_known_error(it->second);
            if (!std::isfinite(e)) continue;
            std::ostringstream p;
            p.setf(std::ios::fixed);
            p.precision(1);
            p << x_of(li) << "," << y_of(e) << " ";
            points += p.str();
            marks << "<circle cx=\"" << x_of(li) << "\" cy=\"" << y_of(e) << "\" r=\"3.5\" fill=\"" << color
                  << "\"><title>" << html_escape(methods[mi]) << " @ " << html_escape(layers[li]) << ": " << e
                  << "</title></circle>\n";
        }
        if (!points.empty())
            os << "<polyline fill=\"none\" stroke=\"" << color << "\" stroke-width=\"2\" points=\"" << points << "\"/>\n";
        os << marks.str();
        const double ly = top + 18.0 * static_cast<double>(mi);
        os << "<rect x=\"" << W - right + 16 << "\" y=\"" << ly << "\" width=\"12\" height=\"12\" fill=\"" << color
           << "\"/><text x=\"" << W - right + 34 << "\" y=\"" << ly + 10 << "\" font-size=\"12\">"
           << html_escape(methods[mi]) << "</text>\n";
    }
    os << "</svg>\n";
    return os.str();
}

/// Mean deletion or insertion curves, one polyline per run (x: fraction of pixels moved, y: the
/// probability of the target class).
inline std::string curves_svg(const EvalRuns& r, bool deletion) {
    const double W = 720, H = 320, left = 60, right = 230, top = 20, bottom = 40;
    const char* what = deletion ? "deletion" : "insertion";
    std::ostringstream os;
    os.setf(std::ios::fixed);
    os.precision(1);
    os << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << W << "\" height=\"" << H << "\" role=\"img\" "
       << "aria-label=\"mean " << what << " curves\">\n";
    const auto x_of = [&](double f) { return left + (W - left - right) * f; };
    const auto y_of = [&](double p) { return top + (H - top - bottom) * (1.0 - p); };
    for (int k = 0; k <= 4; ++k) {
        const double p = k / 4.0;
        os << "<line x1=\"" << left << "\" x2=\"" << W - right << "\" y1=\"" << y_of(p) << "\" y2=\"" << y_of(p)
           << "\" stroke=\"#ddd\"/><text x=\"" << left - 6 << "\" y=\"" << y_of(p) + 4
           << "\" font-size=\"11\" text-anchor=\"end\">" << p << "</text>\n"
           << "<text x=\"" << x_of(p) << "\" y=\"" << H - bottom + 16 << "\" font-size=\"11\" text-anchor=\"middle\">"
           << p << "</text>\n";
    }
    os << "<text x=\"14\" y=\"" << (top + H - bottom) / 2 << "\" font-size=\"12\" transform=\"rotate(-90 14 "
       << (top + H - bottom) / 2 << ")\" text-anchor=\"middle\">p(class)</text>\n"
       << "<text x=\"" << x_of(0.5) << "\" y=\"" << H - 6 << "\" font-size=\"12\" text-anchor=\"middle\">fraction of pixels "
       << (deletion ? "deleted" : "inserted") << "</text>\n";
    std::size_t i = 0;
    for (const auto& method : r.methods)
        for (const auto& layer : r.layers) {
            const auto it = r.faithfulness.find(method + "@" + layer);
            if (it == r.faithfulness.end()) continue;
            const auto res = it->second.result();
            const auto& c = deletion ? res.deletion_curve : res.insertion_curve;
            if (c.size() < 2) continue;
            const char* color = chart_colors[i % std::size(chart_colors)];
            os << "<polyline fill=\"none\" stroke=\"" << color << "\" stroke-width=\"1.5\" points=\"";
            for (std::size_t k = 0; k < c.size(); ++k)
                os << x_of(static_cast<double>(k) / static_cast<double>(c.size() - 1)) << "," << y_of(c[k]) << " ";
            os << "\"><title>" << html_escape(method + "@" + layer) << "</title></polyline>\n";
            const double ly = top + 16.0 * static_cast<double>(i);
            os << "<rect x=\"" << W - right + 12 << "\" y=\"" << ly << "\" width=\"10\" height=\"10\" fill=\"" << color
               << "\"/><text x=\"" << W - right + 28 << "\" y=\"" << ly + 9 << "\" font-size=\"11\">"
               << html_escape(method + "@" + layer) << "</text>\n";
            ++i;
        }
    os << "</svg>\n";
    return os.str();
}

/// The whole report.
inline std::string report_html(const EvalRuns& r, const std::string& subtitle, const std::vector<ReportExample>& examples) {
    std::ostringstream os;
    os << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>dualgrad eval: "
       << html_escape(r.arch) << "</title>\n<style>\n"
       << "body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse}"
       << "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f4f4f4}"
       << "td:first-child,td:nth-child(2){text-align:left}.ex{display:inline-block;margin:4px;text-align:center;"
       << "font-size:12px}.ex img{display:block;image-rendering:pixelated;width:192px}\n</style>\n</head>\n<body>\n";
    os << "<h1>dualgrad eval: " << html_escape(r.arch) << "</h1>\n<p>" << html_escape(subtitle) << "</p>\n";
    os << "<h2>Methods by layers</h2>\n<p>Errors in percent at the CAM threshold of best GT-known accuracy; "
       << "MaxBoxAccV2 is the mean over its IoU thresholds.</p>\n<table>\n<tr><th>method</th><th>layer</th>"
       << "<th>top-1 loc err</th><th>top-5 loc err</th><th>GT-known loc err</th><th>MaxBoxAccV2</th><th>PxAP</th>"
       << "<th>images</th></tr>\n";
    for (const auto& method : r.methods)
        for (const auto& layer : r.layers) {
            const auto it = r.runs.find(method + "@" + layer);
            if (it == r.runs.end()) continue;
            const auto& m = it->second;
            os << "<tr><td>" << html_escape(method) << "</td><td>" << html_escape(layer) << "</td>";
            if (m.loc_accuracy().num_images() > 0) {
                const auto best = m.loc_accuracy().result().best_by_gt_known();
                os << "<td>" << fmt(best.top1_loc_error()) << "</td><td>" << fmt(best.top5_loc_error()) << "</td><td>"
                   << fmt(best.gt_known_loc_error()) << "</td>";
            } else {
                os << "<td>-</td><td>-</td><td>-</td>";
            }
            os << "<td>" << (m.max_box_acc_v2().num_images() > 0 ? fmt(m.max_box_acc_v2().result().mean) : "-")
               << "</td><td>" << (m.pxap().num_images() > 0 ? fmt(m.pxap().result().pxap) : "-") << "</td><td>"
               << m.max_box_acc_v2().num_images() << "</td></tr>\n";
        }
    os << "</table>\n<h2>GT-known localization error per layer</h2>\n" << error_chart_svg(r);
    if (!r.faithfulness.empty()) {
        const auto& o = r.faithfulness.begin()->second.options();
        os << "<h2>Faithfulness</h2>\n<p>Average drop and increase in confidence (torch-cam), pointing game (tolerance "
           << fmt(o.tolerance) << " px) in percent; deletion and insertion AUC (RISE) over " << o.steps
           << " steps. Lower drop and deletion, higher increase, insertion and pointing are better.</p>\n<table>\n"
           << "<tr><th>method</th><th>layer</th><th>avg drop</th><th>increase</th><th>deletion AUC</th>"
           << "<th>insertion AUC</th><th>pointing</th><th>images</th></tr>\n";
        for (const auto& method : r.methods)
            for (const auto& layer : r.layers) {
                const auto it = r.faithfulness.find(method + "@" + layer);
                if (it == r.faithfulness.end()) continue;
                const auto f = it->second.result();
                os << "<tr><td>" << html_escape(method) << "</td><td>" << html_escape(layer) << "</td><td>"
                   << pct_or_dash(f.avg_drop) << "</td><td>" << pct_or_dash(f.increase) << "</td><td>"
                   << auc_or_dash(f.deletion_auc) << "</td><td>" << auc_or_dash(f.insertion_auc) << "</td><td>"
                   << pct_or_dash(f.pointing) << "</td><td>" << it->second.images() << "</td></tr>\n";
            }
        os << "</table>\n";
        if (o.deletion) os << "<h3>Deletion curves (" << name(o.deletion_baseline) << " baseline)</h3>\n" << curves_svg(r, true);
        if (o.insertion) os << "<h3>Insertion curves (" << name(o.insertion_baseline) << " baseline)</h3>\n" << curves_svg(r, false);
    }
    if (!examples.empty()) {
        os << "<h2>Examples</h2>\n<p>Heatmaps over the image, with the box at the best threshold (green) and the "
           << "ground truth (red).</p>\n<div>\n";
        for (const auto& e : examples)
            os << "<div class=\"ex\"><img alt=\"" << html_escape(e.caption) << "\" src=\"data:image/png;base64,"
               << base64(e.png) << "\">" << html_escape(e.caption) << "</div>\n";
        os << "</div>\n";
    }
    os << "</body>\n</html>\n";
    return os.str();
}

/// Stages report.html in `out` (moved into place by its `commit`).
inline void write_report(OutputFolder& out, const EvalRuns& r, const std::string& subtitle,
                         const std::vector<ReportExample>& examples) {
    io::detail::write_file_text(out.staged("report.html"), report_html(r, subtitle, examples));
}

} // namespace dualgrad::cli

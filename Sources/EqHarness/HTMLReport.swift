import EqPasses
import Foundation

/// `report.html`: one self-contained page (inline CSS and SVG, no script, no
/// network) for the person who opens the nightly run in the morning.
///
/// First the recommendations (one line per model and int8 precision, with the
/// margin over `baseline`), then warnings and errors, then per model: a
/// heat-map of top-1 (variants × precisions, cells coloured by the change
/// against `baseline` at the same precision), the per-layer cumulative SQNR
/// (one line per variant), the weight range ratio per layer (max/min channel
/// range, log scale) for `baseline` and each variant, and the pass timings.
struct HTMLReport {
    let folder: ReportFolder
    let recommendations: [Recommendation]
    /// Each table's rows by model, grouped once: a section per model must
    /// not scan every row (a merged report can hold 10⁵ models).
    let layersByModel: [String: [[String: String]]]
    let passesByModel: [String: [[String: String]]]
    let searchByModel: [String: [[String: String]]]

    init(folder: ReportFolder, recommendations: [Recommendation]) {
        self.folder = folder
        self.recommendations = recommendations
        layersByModel = Dictionary(grouping: folder.layers.records) { $0["model"]! }
        passesByModel = Dictionary(grouping: folder.passes.records) { $0["model"]! }
        searchByModel = Dictionary(grouping: folder.search.records) { $0["model"]! }
    }

    func render() -> String {
        let accuracy = folder.accuracy.records
        let models = unique(accuracy.map { $0["model"]! })
        let accuracyByModel = Dictionary(grouping: accuracy) { $0["model"]! }
        var body = "<h1>eqbench report</h1>\n<p class=\"meta\">\(html(settingsLine()))</p>\n"
        if folder.status == .interrupted {
            body += "<p><b>Interrupted run:</b> only the rows finished before it stopped are here; merge and compare refuse it.</p>\n"
        }
        body += recommendationSection()
        body += problemSection(accuracy)
        for model in models { body += modelSection(model, accuracyByModel[model] ?? []) }
        return """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>eqbench report</title>
            <style>
            body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;max-width:1100px;color:#222;padding:0 16px}
            h1{font-size:22px;margin:0 0 4px} h2{font-size:18px;margin:32px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
            h3{font-size:15px;margin:18px 0 6px} .meta{color:#666;margin:0 0 16px}
            table{border-collapse:collapse;margin:6px 0 12px} th,td{border:1px solid #ddd;padding:4px 8px;text-align:right}
            th{background:#f5f5f5} td.l,th.l{text-align:left} td.cell{min-width:84px} .d{font-size:11px;color:#333}
            .good{color:#11702b;font-weight:600} .bad{color:#b01c1c;font-weight:600} .warn{background:#fff4e0;padding:8px 12px;border-left:4px solid #f0a020}
            .ct{font-weight:600;font-size:13px} .tick{font-size:11px;fill:#555} .grid{stroke:#eee} .frame{fill:none;stroke:#bbb}
            </style></head><body>
            \(body)
            </body></html>

            """
    }

    func settingsLine() -> String {
        let s = folder.settings
        var parts = [String]()
        if let dataset = s["dataset"]?.string { parts.append("dataset \(dataset)") }
        if case let .number(n)? = s["eval_images"] { parts.append("\(Int(n)) evaluation images") }
        if case let .number(n)? = s["calib_images"] { parts.append("calibration on up to \(Int(n)) images") }
        if let precisions = s["precisions"]?.array?.compactMap(\.string) { parts.append("precisions " + precisions.joined(separator: ", ")) }
        parts.append("eqbench \(EQBenchVersion.current)")
        return parts.joined(separator: " · ")
    }

    func recommendationSection() -> String {
        guard !recommendations.isEmpty else { return "" }
        var out = "<h2>Recommendations</h2>\n<p>The cheapest variant that the evaluation images cannot tell apart from the best at that precision: each is compared with the best image by image (exact McNemar test, p ≥ 0.05).</p>\n"
        out += "<table><tr><th class=l>model</th><th class=l>precision</th><th class=l>recommended</th><th>top-1 %</th><th>vs baseline</th><th class=l>best</th><th class=l>why</th></tr>\n"
        for r in recommendations {
            let margin = r.marginVsBaseline.map { signed($0) } ?? ""
            let cls = (r.marginVsBaseline ?? 0) >= 1 ? "good" : ((r.marginVsBaseline ?? 0) <= -1 ? "bad" : "")
            out += "<tr><td class=l>\(html(r.model))</td><td class=l>\(html(r.precision))</td><td class=l><b>\(html(r.variant))</b></td>"
            out += "<td>\(fixed(r.top1, 2)) <span class=d>[\(fixed(r.interval.low, 1))–\(fixed(r.interval.high, 1))]</span></td>"
            out += "<td class=\"\(cls)\">\(margin)</td><td class=l>\(html(r.best)) (\(fixed(r.bestTop1, 2)))</td><td class=l>\(html(r.reason))</td></tr>\n"
        }
        return out + "</table>\n"
    }

    func problemSection(_ accuracy: [[String: String]]) -> String {
        let errors = accuracy.filter { $0["status"] != RowStatus.ok.rawValue }
        guard !errors.isEmpty || !folder.warnings.isEmpty else { return "" }
        var out = "<h2>Problems</h2>\n<div class=warn><ul>\n"
        for e in errors { out += "<li>\(html(e["model"]!)) \(html(e["variant"]!)) \(html(e["precision"]!)): \(html(e["message"]!))</li>\n" }
        for w in folder.warnings { out += "<li>\(html(w))</li>\n" }
        return out + "</ul></div>\n"
    }

    func modelSection(_ model: String, _ rows: [[String: String]]) -> String {
        let variants = unique(rows.map { $0["variant"]! })
        let precisions = unique(rows.map { $0["precision"]! })
        var out = "<h2>\(html(model))</h2>\n<h3>Top-1 % (colour: change against baseline at the same precision)</h3>\n"
        out += "<table><tr><th class=l>variant</th>" + precisions.map { "<th>\(html($0))</th>" }.joined() + "</tr>\n"
        let byKey = Dictionary(rows.map { ($0["variant"]! + "|" + $0["precision"]!, $0) }, uniquingKeysWith: { a, _ in a })
        for variant in variants {
            out += "<tr><td class=l>\(html(variant))</td>"
            for precision in precisions {
                guard let row = byKey[variant + "|" + precision] else { out += "<td></td>"; continue }
                guard row["status"] == RowStatus.ok.rawValue, let top1 = Double(row["top1"]!) else { out += "<td class=bad>error</td>"; continue }
                let base = byKey["baseline|" + precision].flatMap { Double($0["top1"]!) }
                let delta = base.map { top1 - $0 }
                let tip = "95% interval \(row["top1_ci_low"]!)–\(row["top1_ci_high"]!); logits SQNR \(row["logits_sqnr_db"]!) dB"
                out += "<td class=cell style=\"background:\(color(delta))\" title=\"\(html(tip))\"><b>\(html(row["top1"]!))</b>"
                if let delta, variant != Variant.baselineName { out += "<br><span class=d>\(signed(delta))</span>" }
                out += "</td>"
            }
            out += "</tr>\n"
        }
        out += "</table>\n"
        out += layerCharts(model)
        out += passTable(model)
        out += searchTable(model)
        return out
    }

    func searchTable(_ model: String) -> String {
        let rows = searchByModel[model] ?? []
        guard !rows.isEmpty else { return "" }
        var out = "<h3>Pipeline search at \(html(rows[0]["precision"]!)) (kept steps in bold)</h3>\n"
        out += "<table><tr><th>round</th><th class=l>pipeline</th><th>top-1 %</th><th>logits SQNR dB</th><th>seconds</th></tr>\n"
        for r in rows {
            let kept = r["kept"] == "yes"
            let name = html(r["pipeline"]!)
            out += "<tr><td>\(html(r["round"]!))</td><td class=l>\(kept ? "<b>\(name)</b>" : name)</td>"
            out += "<td>\(html(r["status"] == RowStatus.ok.rawValue ? r["top1"]! : RowStatus.error.rawValue))</td>"
            out += "<td>\(html(r["logits_sqnr_db"]!))</td><td>\(html(r["seconds"]!))</td></tr>\n"
        }
        return out + "</table>\n"
    }

    func layerCharts(_ model: String) -> String {
        let layers = layersByModel[model] ?? []
        let precisions = unique(layers.map { $0["precision"]! })
        var out = ""
        for precision in precisions {
            let rows = layers.filter { $0["precision"] == precision }
            let variants = unique(rows.map { $0["variant"]! })
            /// One chart of `column` over the layers that have a value in it.
            func chart(_ column: String, title: String, yLabel: String, logScale: Bool = false) -> String {
                let present = rows.filter { !$0[column]!.isEmpty }
                let axis = nodeAxis(present, variants: variants)
                let series = variants.map { variant in
                    let values = Dictionary(present.filter { $0["variant"] == variant }.map { ($0["node"]!, Double($0[column]!)) },
                                            uniquingKeysWith: { a, _ in a })
                    return SVGLineChart.Series(name: variant, values: axis.map { values[$0] ?? nil })
                }
                return SVGLineChart(title: title, xLabels: axis, yLabel: yLabel, series: series, logScale: logScale).render() + "\n"
            }
            out += "<h3>Per-layer SQNR at \(html(precision))</h3>\n"
            out += chart("sqnr_cumulative_db", title: "cumulative SQNR (quantized vs float output of each quantized value)", yLabel: "dB")
            if precision == precisions.first {
                out += "<h3>Weight range ratio per Conv/Gemm (max/min output-channel range; 1 is flat)</h3>\n"
                out += chart("weight_range_ratio", title: "weight range ratio, log scale", yLabel: "ratio", logScale: true)
            }
        }
        return out
    }

    /// Layer names in graph order: the variant with the most layers gives the
    /// order, others' layers are placed by name (inserted nodes are appended).
    func nodeAxis(_ rows: [[String: String]], variants: [String]) -> [String] {
        let lists = variants.map { v in rows.filter { $0["variant"] == v }.map { $0["node"]! } }
        var axis = lists.max { $0.count < $1.count } ?? []
        for list in lists { for node in list where !axis.contains(node) { axis.append(node) } }
        return axis
    }

    func passTable(_ model: String) -> String {
        let passes = passesByModel[model] ?? []
        guard !passes.isEmpty else { return "" }
        var out = "<h3>Passes</h3>\n<table><tr><th class=l>variant</th><th class=l>pass</th><th>found</th><th>scaled</th><th>scales</th><th>seconds</th><th>peak RSS MB</th><th>float change</th><th class=l>details</th></tr>\n"
        for p in passes {
            let scales = p["scale_min"]!.isEmpty ? "" : "\(p["scale_min"]!)–\(p["scale_max"]!)"
            out += "<tr><td class=l>\(html(p["variant"]!))\(p["precision"]!.isEmpty ? "" : " @" + html(p["precision"]!))</td><td class=l>\(html(p["pass"]!))</td>"
            out += "<td>\(html(p["sets_found"]!))</td><td>\(html(p["sets_scaled"]!))</td><td>\(html(scales))</td><td>\(html(p["seconds"]!))</td>"
            out += "<td>\(html(p["peak_rss_mb"] ?? ""))</td><td>\(html(p["float_max_abs_diff"]!))</td><td class=l>\(html(p["details"]!))</td></tr>\n"
        }
        return out + "</table>\n"
    }

    /// Green for gains, red for losses, white near zero; saturates at 10 points.
    func color(_ delta: Double?) -> String {
        guard let delta, abs(delta) >= 0.05 else { return "#ffffff" }
        let t = min(abs(delta) / 10, 1) * 0.75 + 0.1
        let (r, g, b) = delta > 0 ? (46.0, 160.0, 67.0) : (214.0, 39.0, 40.0)
        let mix = { (c: Double) in Int(255 - (255 - c) * t) }
        return String(format: "#%02x%02x%02x", mix(r), mix(g), mix(b))
    }

    func signed(_ v: Double) -> String { (v >= 0 ? "+" : "−") + fixed(abs(v), 2) }

    func unique(_ values: [String]) -> [String] {
        var seen = Set<String>()
        return values.filter { seen.insert($0).inserted }
    }
}

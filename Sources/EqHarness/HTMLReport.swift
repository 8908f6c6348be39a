import EqPasses
import Foundation

/// `report.html`: one self-contained page (inline CSS and SVG, no script, no
/// network) for the person who opens the nightly run in the morning.
///
/// First the recommendations (one line per model and int8 precision, with the
/// distance to float and the margin over `baseline`, and the reason in
/// words), then warnings and errors, then per model: a heat-map of top-1
/// (variants × precisions, coloured by the change against `baseline` where
/// the paired test finds one, with the interval printed), the per-layer
/// cumulative SQNR and weight range ratio on one layer index (identical
/// variants merged into one line) beside a table naming the worst layers,
/// the sensitivity sweep, the passes and the search; last, what to do next
/// (the export command of each recommendation). Nothing needs a hover.
struct HTMLReport {
    let folder: ReportFolder
    let recommendations: [Recommendation]
    /// Each table's rows by model, grouped once: a section per model must
    /// not scan every row (a merged report can hold 10⁵ models).
    let layersByModel: [String: [LayerRecord]]
    let passesByModel: [String: [PassRecord]]
    let searchByModel: [String: [SearchRecord]]
    let sensitivityByModel: [String: [SensitivityRecord]]

    init(folder: ReportFolder, recommendations: [Recommendation]) {
        self.folder = folder
        self.recommendations = recommendations
        layersByModel = Dictionary(grouping: folder.layers, by: \.model)
        passesByModel = Dictionary(grouping: folder.passes, by: \.model)
        searchByModel = Dictionary(grouping: folder.search, by: \.model)
        sensitivityByModel = Dictionary(grouping: folder.sensitivity, by: \.model)
    }

    func render() -> String {
        let accuracy = folder.accuracy
        let models = unique(accuracy.map(\.model))
        let accuracyByModel = Dictionary(grouping: accuracy, by: \.model)
        var body = "<h1>eqbench report</h1>\n<p class=\"meta\">\(html(settingsLine(accuracy)))</p>\n"
        if folder.status == .interrupted {
            body += "<p><b>Interrupted run:</b> only the rows finished before it stopped are here; merge and compare refuse it.</p>\n"
        }
        body += recommendationSection()
        body += problemSection(accuracy)
        for model in models { body += modelSection(model, accuracyByModel[model] ?? []) }
        body += nextStepsSection()
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
            pre{white-space:pre-wrap;overflow-wrap:anywhere;background:#f7f7f7;padding:8px 12px}
            .ct{font-weight:600;font-size:13px} .tick{font-size:11px;fill:#555} .grid{stroke:#eee} .frame{fill:none;stroke:#bbb}
            </style></head><body>
            \(body)
            </body></html>

            """
    }

    func settingsLine(_ accuracy: [AccuracyRecord]) -> String {
        let s = folder.settings
        var parts = [String]()
        if let dataset = s["dataset"]?.string { parts.append("dataset \(dataset)") }
        // The counts the rows were measured on (the flags are limits, not counts).
        let evaluated = Set(accuracy.map(\.evalImages).filter { $0 > 0 }).sorted()
        let calibrated = Set(accuracy.map(\.calibImages).filter { $0 > 0 }).sorted()
        if !evaluated.isEmpty { parts.append("\(evaluated.map(String.init).joined(separator: "/")) evaluation images") }
        if !calibrated.isEmpty { parts.append("\(calibrated.map(String.init).joined(separator: "/")) calibration images") }
        if case let .number(n)? = s["analysis_images"] { parts.append("per-layer analysis on \(Int(n))") }
        if let precisions = s["precisions"]?.array?.compactMap(\.string) { parts.append("precisions " + precisions.joined(separator: ", ")) }
        parts.append("eqbench \(EQBenchVersion.current)")
        return parts.joined(separator: " · ")
    }

    func recommendationSection() -> String {
        guard !recommendations.isEmpty else { return "" }
        var out = "<h2>Recommendations</h2>\n<p>The variant that costs least at inference (nodes it adds, then passes), among those the evaluation images cannot tell apart from the best at that precision (each compared with the best image by image: exact McNemar test, p ≥ 0.05) and within \(fixed(folder.maxDrop, 2)) points of float (<code>--max-drop</code>).</p>\n"
        out += "<table><tr><th class=l>model</th><th class=l>precision</th><th class=l>recommended</th><th>top-1 % [95%]</th><th>vs float</th><th>vs baseline</th><th>nodes added</th><th class=l>best</th><th class=l>why</th></tr>\n"
        for r in recommendations {
            let margin = r.marginVsBaseline.map { signed($0) } ?? ""
            let cls = (r.marginVsBaseline ?? 0) >= 1 ? "good" : ((r.marginVsBaseline ?? 0) <= -1 ? "bad" : "")
            let drop = r.floatTop1.map { r.top1 - $0 }
            out += "<tr><td class=l>\(html(r.model))</td><td class=l>\(html(r.precision))</td><td class=l><b>\(html(r.variant))</b></td>"
            out += "<td>\(fixed(r.top1, 2)) <span class=d>[\(fixed(r.interval.low, 1))–\(fixed(r.interval.high, 1))]</span></td>"
            out += "<td class=\"\(r.floatTop1 != nil && !r.withinMaxDrop ? "bad" : "")\">\(drop.map(signed) ?? "")</td>"
            out += "<td class=\"\(cls)\">\(margin)</td><td>\(r.addedNodes)</td><td class=l>\(html(r.best)) (\(fixed(r.bestTop1, 2)))</td><td class=l>\(html(r.reason))</td></tr>\n"
        }
        out += "</table>\n"
        for r in recommendations where r.floatTop1 != nil && !r.withinMaxDrop {
            out += "<p class=warn><b>\(html(r.model)) at \(html(r.precision)): no variant is within \(fixed(r.maxDrop, 2)) points of float (\(fixed(r.floatTop1, 2))).</b> The sensitivity sweep (<code>--sensitivity VARIANT</code>) shows which layers to keep in float (<code>--float-layers</code>), or try a wider precision.</p>\n"
        }
        return out
    }

    func problemSection(_ accuracy: [AccuracyRecord]) -> String {
        let errors = accuracy.filter { $0.status != .ok }
        guard !errors.isEmpty || !folder.warnings.isEmpty else { return "" }
        var out = "<h2>Problems</h2>\n<div class=warn><ul>\n"
        for e in errors { out += "<li>\(html(e.model)) \(html(e.variant)) \(html(e.precision)): \(html(e.message))</li>\n" }
        for w in folder.warnings { out += "<li>\(html(w))</li>\n" }
        return out + "</ul></div>\n"
    }

    func modelSection(_ model: String, _ rows: [AccuracyRecord]) -> String {
        let variants = unique(rows.map(\.variant))
        let precisions = unique(rows.map(\.precision))
        var out = "<h2>\(html(model))</h2>\n<h3>Top-1 % (change against baseline at the same precision, coloured only where the same images show it: McNemar p &lt; 0.05; 95% interval below)</h3>\n"
        out += "<table><tr><th class=l>variant</th>" + precisions.map { "<th>\(html($0))</th>" }.joined() + "</tr>\n"
        let byKey = Dictionary(rows.map { ($0.variant + "|" + $0.precision, $0) }, uniquingKeysWith: { a, _ in a })
        for variant in variants {
            out += "<tr><td class=l>\(html(variant))</td>"
            for precision in precisions {
                guard let row = byKey[variant + "|" + precision] else { out += "<td></td>"; continue }
                guard row.status == .ok, let top1 = row.top1 else { out += "<td class=bad>error</td>"; continue }
                let baseRow = byKey[Variant.baselineName + "|" + precision]
                let delta = baseRow.flatMap(\.top1).map { top1 - $0 }
                let shown = variant != Variant.baselineName && baseRow.map { significant(row, against: $0) } != false ? delta : nil
                out += "<td class=cell style=\"background:\(color(shown))\"><b>\(fixed(top1, 2))</b>"
                if let delta, variant != Variant.baselineName { out += " <span class=d>\(signed(delta))</span>" }
                let sqnr = row.logitsSQNR.map { " · \(fixed($0, 2)) dB" } ?? ""
                out += "<br><span class=d>[\(fixed(row.top1CILow, 2))–\(fixed(row.top1CIHigh, 2))]\(sqnr)</span></td>"
            }
            out += "</tr>\n"
        }
        out += "</table>\n"
        out += layerCharts(model)
        out += sensitivitySection(model)
        out += passTable(model)
        out += searchTable(model)
        return out
    }

    func searchTable(_ model: String) -> String {
        let rows = searchByModel[model] ?? []
        guard !rows.isEmpty else { return "" }
        var out = "<h3>Pipeline search at \(html(rows[0].precision)) (kept steps in bold)</h3>\n"
        out += "<table><tr><th>round</th><th class=l>pipeline</th><th>top-1 %</th><th>logits SQNR dB</th><th>seconds</th></tr>\n"
        for r in rows {
            let name = html(r.pipelineName)
            out += "<tr><td>\(r.round)</td><td class=l>\(r.kept ? "<b>\(name)</b>" : name)</td>"
            out += "<td>\(r.status == .ok ? fixed(r.top1, 2) : RowStatus.error.rawValue)</td>"
            out += "<td>\(fixed(r.logitsSQNR, 2))</td><td>\(fixed(r.seconds, 3))</td></tr>\n"
        }
        return out + "</table>\n"
    }

    /// Per precision: cumulative SQNR per layer, then (once) the weight range
    /// ratio, on one layer index shared by every chart of the model; variants
    /// with identical values are one line ("cls = dfq"); a table names the
    /// layers with the lowest local SQNR.
    func layerCharts(_ model: String) -> String {
        let layers = layersByModel[model] ?? []
        let precisions = unique(layers.map(\.precision))
        let axis = nodeAxis(layers, variants: unique(layers.map(\.variant)))
        let index = Dictionary(axis.enumerated().map { ($1, $0 + 1) }, uniquingKeysWith: { a, _ in a })
        var out = ""
        for precision in precisions {
            let rows = layers.filter { $0.precision == precision }
            let groups = mergedVariants(rows)
            func chart(_ value: (LayerRecord) -> Double?, title: String, yLabel: String, logScale: Bool = false) -> String {
                let series = groups.map { group in
                    let byNode = Dictionary(rows.filter { $0.variant == group[0] }.compactMap { row in value(row).map { (row.node, $0) } },
                                            uniquingKeysWith: { a, _ in a })
                    return SVGLineChart.Series(name: group.joined(separator: " = "), values: axis.map { byNode[$0] })
                }
                return SVGLineChart(title: title, xLabels: axis, yLabel: yLabel, series: series, logScale: logScale).render() + "\n"
            }
            out += "<h3>Per-layer SQNR at \(html(precision))</h3>\n"
            out += chart({ $0.sqnrCumulative }, title: "cumulative SQNR (quantized vs float output of each quantized value)", yLabel: "dB")
            if precision == precisions.first {
                out += "<h3>Weight range ratio per Conv/Gemm (max/min output-channel range; 1 is flat)</h3>\n"
                out += chart(\.weightRangeRatio, title: "weight range ratio, log scale", yLabel: "ratio", logScale: true)
            }
            out += worstLayers(rows, groups: groups, index: index, precision: precision)
        }
        return out
    }

    /// Variants of `rows` in order, those with identical per-layer values grouped together.
    func mergedVariants(_ rows: [LayerRecord]) -> [[String]] {
        var groups = [(key: [String], members: [String])]()
        for variant in unique(rows.map(\.variant)) {
            let key = rows.filter { $0.variant == variant }.map { "\($0.node)|\($0.sqnrCumulative)|\($0.sqnrLocal)|\($0.weightRangeRatio ?? 0)" }
            if let k = groups.firstIndex(where: { $0.key == key }) { groups[k].members.append(variant) } else { groups.append((key, [variant])) }
        }
        return groups.map(\.members)
    }

    /// The layers with the lowest local SQNR (the error each adds by itself) under the first variant, by name, with every variant's value.
    func worstLayers(_ rows: [LayerRecord], groups: [[String]], index: [String: Int], precision: String, count: Int = 8) -> String {
        let first = rows.filter { $0.variant == groups.first?.first && $0.op != "Input" }
        let worst = first.sorted { $0.sqnrLocal < $1.sqnrLocal }.prefix(count)
        guard !worst.isEmpty else { return "" }
        let local = Dictionary(rows.map { ($0.variant + "|" + $0.node, decibels($0.sqnrLocal)) }, uniquingKeysWith: { a, _ in a })
        var out = "<table><tr><th>#</th><th class=l>layer with the lowest local SQNR at \(html(precision))</th><th class=l>op</th>"
        out += groups.map { "<th>\(html($0.joined(separator: " = "))) dB</th>" }.joined() + "</tr>\n"
        for row in worst {
            out += "<tr><td>\(index[row.node].map(String.init) ?? "")</td><td class=l>\(html(row.node))</td><td class=l>\(html(row.op))</td>"
            out += groups.map { "<td>\(html(local[$0[0] + "|" + row.node] ?? ""))</td>" }.joined() + "</tr>\n"
        }
        return out + "</table>\n"
    }

    /// Layer names in graph order: the variant with the most layers gives the
    /// order, others' layers are placed by name (inserted nodes are appended).
    func nodeAxis(_ rows: [LayerRecord], variants: [String]) -> [String] {
        let lists = variants.map { v in unique(rows.filter { $0.variant == v }.map(\.node)) }
        var axis = lists.max { $0.count < $1.count } ?? []
        var known = Set(axis)
        for list in lists { for node in list where known.insert(node).inserted { axis.append(node) } }
        return axis
    }

    /// Each pass once per variant (a pipeline that depends on the precision
    /// reports per precision only where the rows differ); passes that found
    /// nothing to do are one line under the table.
    func passTable(_ model: String) -> String {
        let passes = passesByModel[model] ?? []
        guard !passes.isEmpty else { return "" }
        var seen = Set<String>()
        var idle = [String: [String]]()
        func key(_ p: PassRecord) -> String { [p.variant, p.pass, String(p.setsFound), String(p.setsScaled), p.details].joined(separator: "|") }
        // A row every precision repeats is shown once, without "@precision".
        let repeats = Dictionary(passes.map { (key($0), 1) }, uniquingKeysWith: +)
        var out = "<h3>Passes</h3>\n<table><tr><th class=l>variant</th><th class=l>pass</th><th>found</th><th>scaled</th><th>scales</th><th>seconds</th><th>peak RSS MB</th><th>float change</th><th class=l>details</th></tr>\n"
        for p in passes {
            guard seen.insert(key(p)).inserted else { continue }
            let precision = repeats[key(p)]! > 1 ? "" : p.precision
            if p.setsFound == 0 && p.setsScaled == 0 {
                if !(idle[p.pass] ?? []).contains(p.variant) { idle[p.pass, default: []].append(p.variant) }
                continue
            }
            let scales = p.scaleMin.flatMap { low in p.scaleMax.map { String(format: "%.6g–%.6g", low, $0) } } ?? ""
            out += "<tr><td class=l>\(html(p.variant))\(precision.isEmpty ? "" : " @" + html(precision))</td><td class=l>\(html(p.pass))</td>"
            out += "<td>\(p.setsFound)</td><td>\(p.setsScaled)</td><td>\(scales)</td><td>\(fixed(p.seconds, 6))</td>"
            out += "<td>\(fixed(p.peakRSSMB, 1))</td><td>\(scientific(p.floatMaxAbsDiff))</td><td class=l>\(html(p.details))</td></tr>\n"
        }
        out += "</table>\n"
        if !idle.isEmpty {
            let names = unique(passes.map(\.pass)).filter { idle[$0] != nil }
            out += "<p class=d>Found nothing to do: " + names.map { "\(html($0)) (\(html(idle[$0]!.joined(separator: ", "))))" }.joined(separator: "; ") + ".</p>\n"
        }
        return out
    }

    /// True when `row` and `base` differ on the same images (exact McNemar
    /// p < 0.05); without per-image outcomes, when the top-1 values differ by 0.05 or more.
    func significant(_ row: AccuracyRecord, against base: AccuracyRecord) -> Bool {
        let (mine, theirs) = (row.correct, base.correct)
        guard !mine.isEmpty, mine.count == theirs.count else { return true }
        let onlyMine = zip(mine, theirs).filter { $0 && !$1 }.count, onlyTheirs = zip(mine, theirs).filter { !$0 && $1 }.count
        return PairedComparison.mcNemarExact(onlyMine, onlyTheirs) < Recommendation.significance
    }

    /// Green for gains, red for losses, white near zero; saturates at 10 points.
    func color(_ delta: Double?) -> String {
        guard let delta, abs(delta) >= 0.05 else { return "#ffffff" }
        let t = min(abs(delta) / 10, 1) * 0.75 + 0.1
        let (r, g, b) = delta > 0 ? (46.0, 160.0, 67.0) : (214.0, 39.0, 40.0)
        let mix = { (c: Double) in Int(255 - (255 - c) * t) }
        return String(format: "#%02x%02x%02x", mix(r), mix(g), mix(b))
    }

    /// A difference with its sign ("−" for losses, "±0.00" for none).
    func signed(_ v: Double) -> String {
        let magnitude = fixed(abs(v), 2)
        return (magnitude == "0.00" ? "±" : v > 0 ? "+" : "−") + magnitude
    }

    func unique(_ values: [String]) -> [String] {
        var seen = Set<String>()
        return values.filter { seen.insert($0).inserted }
    }
}

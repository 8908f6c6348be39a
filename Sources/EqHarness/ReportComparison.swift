import Foundation

/// `eqbench compare`: two report folders side by side, for nightly gates.
///
/// Accuracy rows are matched by (model, variant, precision) and layer rows by
/// (model, variant, precision, node). A regression is a top-1 drop of more
/// than `maxTop1Drop` points, a row whose status turned to `error`, or a
/// layer whose cumulative or local SQNR dropped by more than `maxSQNRDrop` dB.
/// Rows only in the new report are listed; rows that vanished from it (a
/// model or variant that silently dropped out) fail the gate unless
/// `allowPartial` is set.
public struct ReportComparison {
    public struct Change: Equatable, Sendable {
        public var key: String
        public var what: String
        public var old: String
        public var new: String
        public var delta: Double?
        public var regression: Bool
    }

    public var changes: [Change] = []
    public var onlyInOld: [String] = []
    public var onlyInNew: [String] = []
    public var comparedRows = 0
    public var comparedLayers = 0

    public var regressions: [Change] { changes.filter(\.regression) }
    /// Accepts rows of the old report that the new one lacks, and a new report
    /// of an interrupted run (a partial run compared on purpose).
    public var allowPartial = false
    /// The new report's summary.json status.
    public var newStatus = ReportFolder.Status.complete

    /// True when the gate fails: a regression, or rows that vanished or a run
    /// that was interrupted, without `allowPartial`.
    public var failed: Bool {
        !regressions.isEmpty || (!allowPartial && (!onlyInOld.isEmpty || newStatus != .complete))
    }

    /// Reads both folders' accuracy.csv (required) and layers.csv (when both
    /// have it); any unreadable or malformed file is an error naming it.
    public static func compare(old: URL, new: URL, maxTop1Drop: Double, maxSQNRDrop: Double) throws -> ReportComparison {
        var result = ReportComparison()
        let accuracyKey = { (r: AccuracyRecord) in [r.model, r.variant, r.precision].joined(separator: " / ") }
        let needs = ["model", "variant", "precision", "top1", "status"]
        let oldAccuracy = try keyed(old.appendingPathComponent("accuracy.csv"), needs: needs, by: accuracyKey)
        let newAccuracy = try keyed(new.appendingPathComponent("accuracy.csv"), needs: needs, by: accuracyKey)
        _ = try ReportFolder.writtenStatus(old)
        result.newStatus = try ReportFolder.writtenStatus(new)
        for (key, oldRow) in oldAccuracy {
            guard let newRow = newAccuracy[key] else { result.onlyInOld.append(key); continue }
            result.comparedRows += 1
            if oldRow.status != newRow.status {
                result.changes.append(Change(key: key, what: "status", old: oldRow.status.rawValue, new: newRow.status.rawValue,
                                             delta: nil, regression: newRow.status == .error))
            }
            if let a = oldRow.top1, let b = newRow.top1, abs(b - a) >= 0.005 {
                result.changes.append(Change(key: key, what: "top1", old: fixed(a, 2), new: fixed(b, 2), delta: b - a, regression: a - b > maxTop1Drop))
            }
        }
        result.onlyInNew = newAccuracy.keys.filter { oldAccuracy[$0] == nil }
        let oldLayersURL = old.appendingPathComponent("layers.csv"), newLayersURL = new.appendingPathComponent("layers.csv")
        if FileManager.default.fileExists(atPath: oldLayersURL.path), FileManager.default.fileExists(atPath: newLayersURL.path) {
            let layerKey = { (r: LayerRecord) in [r.model, r.variant, r.precision, r.node].joined(separator: " / ") }
            let needs = ["model", "variant", "precision", "node", "sqnr_cumulative_db", "sqnr_local_db"]
            let oldLayers = try keyed(oldLayersURL, needs: needs, by: layerKey), newLayers = try keyed(newLayersURL, needs: needs, by: layerKey)
            let metrics: [(name: String, value: (LayerRecord) -> Double)] = [("sqnr_cumulative_db", \.sqnrCumulative), ("sqnr_local_db", \.sqnrLocal)]
            for (key, oldRow) in oldLayers {
                guard let newRow = newLayers[key] else { continue }
                result.comparedLayers += 1
                for metric in metrics {
                    let (a, b) = (metric.value(oldRow), metric.value(newRow))
                    guard a.isFinite, b.isFinite, abs(b - a) >= 0.005 else { continue }
                    let regression = a - b > maxSQNRDrop
                    if regression || abs(b - a) > maxSQNRDrop / 2 {
                        result.changes.append(Change(key: key, what: metric.name, old: decibels(a), new: decibels(b),
                                                     delta: b - a, regression: regression))
                    }
                }
            }
        }
        result.changes.sort { ($0.regression ? 0 : 1, $0.key, $0.what) < ($1.regression ? 0 : 1, $1.key, $1.what) }
        result.onlyInOld.sort()
        result.onlyInNew.sort()
        return result
    }

    /// A report table's records by key, from any eqbench version's table
    /// that has the `needs` columns; the last row wins for a repeated key.
    static func keyed<R: ReadableReportRecord>(_ url: URL, needs: [String], by key: (R) -> String) throws -> [String: R] {
        guard let text = try? String(contentsOf: url, encoding: .utf8) else {
            throw HarnessError("\(url.path): cannot read (is it an eqbench report folder?)")
        }
        let table: CSVTable
        do { table = try CSVTable.parse(text) } catch let error as HarnessError { throw HarnessError("\(url.path): \(error.message)") }
        return Dictionary(try R.records(table, file: url.path, required: needs).map { (key($0), $0) }, uniquingKeysWith: { _, last in last })
    }

    /// The changes as text or as a Markdown table, with a closing verdict.
    public func render(markdown: Bool) -> String {
        let headers = ["", "row", "metric", "old", "new", "Δ"]
        let rows = changes.map { c in
            [c.regression ? "REGRESSION" : "", c.key, c.what, c.old, c.new, c.delta.map { String(format: "%+.2f", $0) } ?? ""]
        }
        var lines = [String]()
        if rows.isEmpty {
            lines.append("no changes in \(comparedRows) accuracy rows and \(comparedLayers) layer rows")
        } else if markdown {
            lines.append("| " + headers.map { $0.isEmpty ? "status" : $0 }.joined(separator: " | ") + " |")
            lines.append("|" + String(repeating: "---|", count: headers.count))
            lines += rows.map { "| " + $0.map { $0.isEmpty ? "" : $0.replacingOccurrences(of: "|", with: "\\|") }.joined(separator: " | ") + " |" }
        } else {
            lines.append(TextTable.render(headers, rows))
        }
        if !onlyInOld.isEmpty { lines.append("only in the old report: " + onlyInOld.joined(separator: "; ")) }
        if !onlyInNew.isEmpty { lines.append("only in the new report: " + onlyInNew.joined(separator: "; ")) }
        var failures = [String]()
        if !regressions.isEmpty { failures.append("\(regressions.count) regression\(regressions.count == 1 ? "" : "s")") }
        if !allowPartial && !onlyInOld.isEmpty {
            failures.append("\(onlyInOld.count) row\(onlyInOld.count == 1 ? "" : "s") of the old report missing from the new one (--allow-partial accepts that)")
        }
        if !allowPartial && newStatus != .complete {
            failures.append("the new report is of an \(newStatus.rawValue) run (--allow-partial accepts that)")
        }
        let verdict = failures.isEmpty
            ? "OK: no regressions (\(comparedRows) accuracy rows, \(comparedLayers) layer rows compared)"
            : "FAIL: " + failures.joined(separator: "; ")
        lines.append(markdown ? "\n**\(verdict)**" : verdict)
        return lines.joined(separator: "\n")
    }
}

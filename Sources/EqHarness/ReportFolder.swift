import EqPasses
import Foundation

/// The tables of one report folder: what `eqbench run` writes and what
/// `eqbench merge` reads back and joins, as typed records. Records of a run
/// are passed through their CSV text once (`init(report:)`), so the report
/// a run writes is computed from exactly what a later `merge` reads: the
/// derived column `top1_delta_vs_baseline_int8` and the recommendations come
/// from the written values, whichever process measured them.
public struct ReportFolder: Sendable {
    /// Columns that hold timings or memory and differ from run to run.
    public static let measurementColumns: Set<String> = ["seconds", "images_per_s", "calib_seconds", "peak_rss_mb"]

    public var accuracy: [AccuracyRecord]
    public var layers: [LayerRecord]
    public var passes: [PassRecord]
    public var coverage: [CoverageRecord]
    public var throughput: [ThroughputRecord]
    /// Pipelines `--search` tried (empty without it).
    public var search: [SearchRecord]
    /// The `--sensitivity` sweep (empty without it).
    public var sensitivity: [SensitivityRecord]
    /// `complete`, or `interrupted` when the run stopped early (Ctrl-C):
    /// summary.json's `status`, which `merge` and `compare` check. Written
    /// last, so a folder without summary.json is one whose writing never finished.
    public var status = Status.complete
    public enum Status: String, Codable, Sendable { case complete, interrupted }
    /// The run's settings, as summary.json holds them.
    public var settings: JSONValue
    public var warnings: [String]

    public init(report: RunReport, settings: JSONValue) {
        func written<R: ReadableReportRecord>(_ records: [R]) -> [R] {
            // Formatting and parsing our own columns cannot fail.
            (try? R.records(R.table(records), file: "")) ?? records
        }
        accuracy = written(report.accuracy)
        layers = written(report.layers)
        passes = written(report.passes)
        coverage = written(report.coverage)
        throughput = written(report.throughput)
        search = written(report.search)
        sensitivity = written(report.sensitivity)
        self.settings = settings
        warnings = report.warnings
        status = report.interrupted ? .interrupted : .complete
        fillBaselineDeltas()
    }

    /// Each table by file name, as written.
    public var tables: [(name: String, table: CSVTable)] {
        [("accuracy", AccuracyRecord.table(accuracy)), ("layers", LayerRecord.table(layers)),
         ("passes", PassRecord.table(passes)), ("coverage", CoverageRecord.table(coverage)),
         ("throughput", ThroughputRecord.table(throughput)), ("search", SearchRecord.table(search)),
         ("sensitivity", SensitivityRecord.table(sensitivity))]
    }

    /// The status a report folder's summary.json records; an error when the
    /// folder has none (its writing never finished) or it is not JSON.
    public static func writtenStatus(_ folder: URL) throws -> Status {
        let summaryURL = folder.appendingPathComponent("summary.json")
        guard FileManager.default.fileExists(atPath: summaryURL.path) else {
            throw unfinished(folder)
        }
        guard let data = try? Data(contentsOf: summaryURL), let field = try? JSONDecoder().decode(SummaryHeader.self, from: data) else {
            throw HarnessError("\(summaryURL.path): cannot read it as JSON")
        }
        return status(field.status)
    }

    /// The error for a folder whose summary.json, written last, is missing.
    static func unfinished(_ folder: URL) -> HarnessError {
        HarnessError("\(folder.path): no summary.json, so its writing never finished (a killed run or a full disk); run it again")
    }

    /// A summary.json `status`; reports of eqbench before 0.3 have none, and were written whole.
    static func status(_ text: String?) -> Status { text.flatMap(Status.init) ?? .complete }

    /// Reads a folder written by `eqbench run` (its CSVs and summary.json).
    public static func read(_ folder: URL) throws -> ReportFolder {
        func load<R: ReadableReportRecord>(_ name: String, optional: Bool = false) throws -> [R] {
            let url = folder.appendingPathComponent("\(name).csv")
            // A table newer than the report's eqbench: no rows.
            if optional, !FileManager.default.fileExists(atPath: url.path) { return [] }
            guard let text = try? String(contentsOf: url, encoding: .utf8) else { throw HarnessError("\(url.path): cannot read") }
            let table: CSVTable
            do { table = try CSVTable.parse(text) } catch let error as HarnessError { throw HarnessError("\(url.path): \(error.message)") }
            return try R.records(table, file: url.path)
        }
        let summaryURL = folder.appendingPathComponent("summary.json")
        guard FileManager.default.fileExists(atPath: summaryURL.path) else {
            throw unfinished(folder)
        }
        let header: SummaryHeader
        do { header = try JSONDecoder().decode(SummaryHeader.self, from: try Data(contentsOf: summaryURL)) } catch {
            throw HarnessError("\(summaryURL.path): cannot read it as a summary (\(error.localizedDescription))")
        }
        var folder = ReportFolder(accuracy: try load("accuracy"), layers: try load("layers"), passes: try load("passes"),
                                  coverage: try load("coverage"), throughput: try load("throughput"), search: try load("search"),
                                  sensitivity: try load("sensitivity", optional: true),
                                  settings: header.settings ?? .null, warnings: header.warnings ?? [])
        folder.status = status(header.status)
        folder.fillBaselineDeltas()
        return folder
    }

    init(accuracy: [AccuracyRecord], layers: [LayerRecord], passes: [PassRecord], coverage: [CoverageRecord],
         throughput: [ThroughputRecord], search: [SearchRecord], sensitivity: [SensitivityRecord], settings: JSONValue, warnings: [String]) {
        self.accuracy = accuracy; self.layers = layers; self.passes = passes
        self.coverage = coverage; self.throughput = throughput; self.search = search; self.sensitivity = sensitivity
        self.settings = settings; self.warnings = warnings
    }

    /// `top1_delta_vs_baseline_int8`: top-1 minus the `baseline` variant's at the
    /// same model and int8 precision (nil for fp32 or without a baseline row).
    mutating func fillBaselineDeltas() {
        var baseline = [String: Double]()
        for row in accuracy where row.variant == Variant.baselineName && row.status == .ok {
            baseline[row.model + "|" + row.precision] = row.top1
        }
        for i in accuracy.indices {
            let row = accuracy[i]
            var delta: Double?
            if row.precision != "fp32", let top1 = row.top1, let base = baseline[row.model + "|" + row.precision] {
                delta = top1 - base
            }
            accuracy[i].top1DeltaVsBaselineInt8 = delta
        }
    }

    /// One recommendation per model and int8 precision (recommendations.csv).
    public var recommendations: [Recommendation] { Recommendation.all(in: accuracy, maxDrop: maxDrop) }

    /// The run's `--max-drop` (the default for reports written before it existed).
    public var maxDrop: Double {
        if case let .number(points)? = settings["max_drop"] { return points }
        return Recommendation.defaultMaxDrop
    }

    /// Writes the CSVs, recommendations.csv, report.html and, last,
    /// summary.json: an earlier run's summary.json is removed first, so that
    /// CSVs of this run never sit beside it if writing stops half way.
    public func write(to folder: URL) throws {
        let recommendations = self.recommendations
        let summary = folder.appendingPathComponent("summary.json")
        if FileManager.default.fileExists(atPath: summary.path) {
            do { try FileManager.default.removeItem(at: summary) } catch {
                throw HarnessError("\(summary.path): cannot replace: \(error.localizedDescription)")
            }
        }
        for (name, table) in tables { try table.write(to: folder.appendingPathComponent("\(name).csv")) }
        try Recommendation.table(recommendations).write(to: folder.appendingPathComponent("recommendations.csv"))
        try AtomicFile.write(Data(HTMLReport(folder: self, recommendations: recommendations).render().utf8),
                             to: folder.appendingPathComponent("report.html"))
        try AtomicFile.write(RunSummary(self, recommendations: recommendations).data(), to: summary)
    }
}

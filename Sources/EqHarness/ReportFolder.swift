import EqPasses
import Foundation

/// The tables of one report folder: what `eqbench run` writes and what
/// `eqbench merge` reads back and joins. Works on the CSV rows themselves, so
/// a merged report is computed exactly as an unsharded one: the derived
/// column `top1_delta_vs_baseline_int8` and the recommendations come from the
/// written top-1 values, whichever process measured them.
public struct ReportFolder: Sendable {
    /// Columns that hold timings or memory and differ from run to run.
    public static let measurementColumns: Set<String> = ["seconds", "images_per_s", "calib_seconds", "peak_rss_mb"]

    public var accuracy: CSVTable
    public var layers: CSVTable
    public var passes: CSVTable
    public var coverage: CSVTable
    public var throughput: CSVTable
    /// Pipelines `--search` tried (header only without it).
    public var search: CSVTable
    /// The `--sensitivity` sweep (header only without it).
    public var sensitivity: CSVTable
    /// `complete`, or `interrupted` when the run stopped early (Ctrl-C):
    /// summary.json's `status`, which `merge` and `compare` check. Written
    /// last, so a folder without summary.json is one whose writing never finished.
    public var status = Status.complete
    public enum Status: String, Sendable { case complete, interrupted }
    /// The run's settings, as summary.json holds them.
    public var settings: JSONValue
    public var warnings: [String]

    public init(report: RunReport, settings: JSONValue) {
        func table(_ columns: [String], _ rows: [[String]]) -> CSVTable { CSVTable(columns: columns, rows: rows) }
        accuracy = table(AccuracyRecord.columns, report.accuracy.map(\.fields))
        layers = table(LayerRecord.columns, report.layers.map(\.fields))
        passes = table(PassRecord.columns, report.passes.map(\.fields))
        coverage = table(CoverageRecord.columns, report.coverage.map(\.fields))
        throughput = table(ThroughputRecord.columns, report.throughput.map(\.fields))
        search = table(SearchRecord.columns, report.search.map(\.fields))
        sensitivity = table(SensitivityRecord.columns, report.sensitivity.map(\.fields))
        self.settings = settings
        warnings = report.warnings
        status = report.interrupted ? .interrupted : .complete
        fillBaselineDeltas()
    }

    /// Each table by file name, with the columns that hold numbers.
    public var tables: [(name: String, table: CSVTable, numbers: Set<String>)] {
        [("accuracy", accuracy, AccuracyRecord.numberColumns), ("layers", layers, LayerRecord.numberColumns),
         ("passes", passes, PassRecord.numberColumns), ("coverage", coverage, CoverageRecord.numberColumns),
         ("throughput", throughput, ThroughputRecord.numberColumns), ("search", search, SearchRecord.numberColumns),
         ("sensitivity", sensitivity, SensitivityRecord.numberColumns)]
    }

    /// The status a report folder's summary.json records; an error when the
    /// folder has none (its writing never finished) or it is not JSON.
    public static func writtenStatus(_ folder: URL) throws -> Status {
        let summaryURL = folder.appendingPathComponent("summary.json")
        guard FileManager.default.fileExists(atPath: summaryURL.path) else {
            throw unfinished(folder)
        }
        // Only the status is decoded: summary.json also holds every table.
        struct StatusField: Decodable { var status: String? }
        guard let data = try? Data(contentsOf: summaryURL), let field = try? JSONDecoder().decode(StatusField.self, from: data) else {
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
        func load(_ name: String, _ columns: [String], optional: Bool = false) throws -> CSVTable {
            let url = folder.appendingPathComponent("\(name).csv")
            // A table newer than the report's eqbench: no rows.
            if optional, !FileManager.default.fileExists(atPath: url.path) { return CSVTable(columns: columns) }
            guard let text = try? String(contentsOf: url, encoding: .utf8) else { throw HarnessError("\(url.path): cannot read") }
            let table: CSVTable
            do { table = try CSVTable.parse(text) } catch let error as HarnessError { throw HarnessError("\(url.path): \(error.message)") }
            // Columns are only ever appended: a report of an earlier eqbench has a
            // prefix of them, and its rows get empty fields for the newer columns.
            guard table.columns.count <= columns.count, Array(columns.prefix(table.columns.count)) == table.columns else {
                throw HarnessError("\(url.path): columns differ from this eqbench's (\(columns.joined(separator: ",")))")
            }
            let missing = [String](repeating: "", count: columns.count - table.columns.count)
            return CSVTable(columns: columns, rows: table.rows.map { $0 + missing })
        }
        let summaryURL = folder.appendingPathComponent("summary.json")
        guard FileManager.default.fileExists(atPath: summaryURL.path) else {
            throw unfinished(folder)
        }
        guard let data = try? Data(contentsOf: summaryURL),
              case let .object(summary)? = try? JSONDecoder().decode(JSONValue.self, from: data) else {
            throw HarnessError("\(summaryURL.path): cannot read it as JSON")
        }
        var warnings = [String]()
        if case let .array(items)? = summary["warnings"] { warnings = items.compactMap { if case let .string(s) = $0 { s } else { nil } } }
        var folder = ReportFolder(accuracy: try load("accuracy", AccuracyRecord.columns), layers: try load("layers", LayerRecord.columns),
                                  passes: try load("passes", PassRecord.columns), coverage: try load("coverage", CoverageRecord.columns),
                                  throughput: try load("throughput", ThroughputRecord.columns),
                                  search: try load("search", SearchRecord.columns),
                                  sensitivity: try load("sensitivity", SensitivityRecord.columns, optional: true),
                                  settings: summary["settings"] ?? .null, warnings: warnings)
        folder.status = status(summary["status"]?.string)
        folder.fillBaselineDeltas()
        return folder
    }

    init(accuracy: CSVTable, layers: CSVTable, passes: CSVTable, coverage: CSVTable, throughput: CSVTable,
         search: CSVTable, sensitivity: CSVTable, settings: JSONValue, warnings: [String]) {
        self.accuracy = accuracy; self.layers = layers; self.passes = passes
        self.coverage = coverage; self.throughput = throughput; self.search = search; self.sensitivity = sensitivity
        self.settings = settings; self.warnings = warnings
    }

    /// `top1_delta_vs_baseline_int8`: top-1 minus the `baseline` variant's at the
    /// same model and int8 precision (empty for fp32 or without a baseline row).
    mutating func fillBaselineDeltas() {
        let c = accuracy.index
        var baseline = [String: Double]()
        for row in accuracy.rows where row[c("variant")] == Variant.baselineName && row[c("status")] == RowStatus.ok.rawValue {
            baseline[row[c("model")] + "|" + row[c("precision")]] = Double(row[c("top1")])
        }
        for i in accuracy.rows.indices {
            let row = accuracy.rows[i]
            var delta = ""
            if row[c("precision")] != "fp32", let top1 = Double(row[c("top1")]),
               let base = baseline[row[c("model")] + "|" + row[c("precision")]] {
                delta = String(format: "%.2f", top1 - base)
            }
            accuracy.rows[i][c("top1_delta_vs_baseline_int8")] = delta
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
    public func write(to folder: URL, extra: [String: JSONValue] = [:]) throws {
        let recommendations = self.recommendations
        let summary = folder.appendingPathComponent("summary.json")
        if FileManager.default.fileExists(atPath: summary.path) {
            do { try FileManager.default.removeItem(at: summary) } catch {
                throw HarnessError("\(summary.path): cannot replace: \(error.localizedDescription)")
            }
        }
        for (name, table, _) in tables { try table.write(to: folder.appendingPathComponent("\(name).csv")) }
        try Recommendation.table(recommendations).write(to: folder.appendingPathComponent("recommendations.csv"))
        try AtomicFile.write(Data(HTMLReport(folder: self, recommendations: recommendations).render().utf8),
                             to: folder.appendingPathComponent("report.html"))
        try AtomicFile.write(RunSummary.json(self, recommendations: recommendations, extra: extra), to: summary)
    }
}

extension CSVTable {
    /// The index of a column; the column must exist.
    func index(_ column: String) -> Int {
        guard let i = columns.firstIndex(of: column) else { preconditionFailure("no column \(column)") }
        return i
    }

    /// Rows as column → field dictionaries.
    var records: [[String: String]] { rows.map { Dictionary(uniqueKeysWithValues: zip(columns, $0)) } }
}

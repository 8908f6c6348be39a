@testable import EqHarness
import Foundation
import XCTest

final class CSVTableTests: XCTestCase {
    func testFieldsAreQuotedPerRFC4180AndParseBack() throws {
        var table = CSVTable(columns: ["a", "b"])
        table.append(["plain", "has, comma"])
        table.append(["has \"quotes\"", "line\nbreak"])
        XCTAssertEqual(table.text, "a,b\nplain,\"has, comma\"\n\"has \"\"quotes\"\"\",\"line\nbreak\"\n")
        XCTAssertEqual(try CSVTable.parse(table.text), table)
        // Tables written with CRLF line ends (eqbench before 0.4) read the same.
        XCTAssertEqual(try CSVTable.parse("a,b\r\nplain,\"has, comma\"\r\n\"has \"\"quotes\"\"\",\"line\nbreak\"\r\n"), table)
    }

    /// A model named `=1+2.onnx` must not put a formula in a spreadsheet;
    /// negative numbers stay numbers, and every field reads back as it was.
    func testFormulaLikeTextIsWrittenAsTextAndReadsBack() throws {
        let fields = ["=1+2", "+cmd", "-x", "@SUM(A1)", "'quoted", "-0.50", "-inf", "1e-3", "plain"]
        let table = CSVTable(columns: fields.indices.map { "c\($0)" }, rows: [fields])
        let line = table.text.split(separator: "\n")[1]
        XCTAssertEqual(line, "'=1+2,'+cmd,'-x,'@SUM(A1),''quoted,-0.50,-inf,1e-3,plain")
        XCTAssertEqual(try CSVTable.parse(table.text), table)
    }

    /// After `merge` of a tampered shard any column may hold markup: every
    /// field that reaches report.html is escaped.
    func testTamperedTablesCannotInjectMarkupIntoTheReport() {
        var report = RunReport()
        report.accuracy = [AccuracyRecord(model: "m", variant: "baseline", precision: "w8a8-pt", weights: "int8", activations: "uint8",
                                          evalImages: 10)]
        var folder = ReportFolder(report: report, settings: .object([:]))
        let evil = "<script>alert(1)</script>"
        folder.passes = [PassRecord(model: "m", variant: evil, pass: evil, setsFound: 1, setsScaled: 1, scaleRange: (0.5, 2),
                                    seconds: 0, floatMaxAbsDiff: 0, precision: evil, details: evil)]
        folder.search = [SearchRecord(model: "m", precision: evil, pipeline: [evil], message: evil, scoredOn: evil)]
        folder.accuracy[0].passes = [evil]
        folder.accuracy[0].message = evil
        folder.accuracy[0].status = .error
        folder.layers = [LayerRecord(model: "m", variant: evil, precision: evil, node: evil, op: evil, outChannels: 1,
                                     sqnrCumulative: 10, sqnrLocal: 10, weightRangeRatio: 1, activationRange: nil)]
        folder.warnings = [evil]
        let page = HTMLReport(folder: folder, recommendations: Recommendation.all(in: folder.accuracy)).render()
        XCTAssertFalse(page.contains("<script>"))
        XCTAssertTrue(page.contains("&lt;script&gt;"))
    }

    /// Columns that hold numbers are parsed when a report is read back, so a
    /// tampered number is an error naming the file, row and column.
    func testTamperedNumberColumnIsAnErrorNamingIt() throws {
        var row = AccuracyRecord(model: "m", variant: "baseline", precision: "fp32", weights: "", activations: "")
        row.top1 = 90
        var table = AccuracyRecord.table([row])
        table.rows[0][AccuracyRecord.columns.firstIndex(of: "top1")!] = "<script>"
        XCTAssertThrowsError(try AccuracyRecord.records(table, file: "r/accuracy.csv")) { error in
            XCTAssertEqual((error as? HarnessError)?.message, "r/accuracy.csv: row 2, column top1: '<script>' is not a number")
        }
        XCTAssertEqual(try AccuracyRecord.records(AccuracyRecord.table([row]), file: ""), [row])
    }

    func testWriteIsAtomicAndLeavesNoTemporaryFile() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("eqbench-csv-\(UUID())")
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("t.csv")
        try CSVTable(columns: ["x"], rows: [["1"]]).write(to: url)
        try CSVTable(columns: ["x"], rows: [["2"]]).write(to: url)
        XCTAssertEqual(try String(contentsOf: url, encoding: .utf8), "x\n2\n")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder.path), ["t.csv"])
    }

    /// The report columns are a public contract (DESIGN.md): add, never rename.
    func testReportColumnsAreTheDocumentedOnes() {
        XCTAssertEqual(AccuracyRecord.columns, [
            "model", "variant", "passes", "precision", "weights", "activations", "calib_images", "eval_images",
            "top1", "top1_ci_low", "top1_ci_high", "top5", "top1_delta_vs_float", "top1_delta_vs_baseline_int8",
            "logits_sqnr_db", "float_max_abs_diff", "status", "message",
            "calib_seconds", "calib_resamples", "top1_calib_min", "top1_calib_max", "correct_images",
            "float_change_of_logit_range", "inference_nodes_added", "int8_path"])
        XCTAssertEqual(Recommendation.columns, ["model", "precision", "variant", "passes", "top1", "top1_ci_low", "top1_ci_high",
                                                "margin_vs_baseline", "best_variant", "best_top1", "reason",
                                                "paired_diff_vs_best", "paired_diff_ci_low", "paired_diff_ci_high", "p_value",
                                                "float_top1", "max_drop", "within_max_drop", "inference_nodes_added",
                                                "top1_calib_min", "top1_calib_max"])
        XCTAssertEqual(ThroughputRecord.columns, ["model", "variant", "precision", "batch", "threads", "images", "seconds", "images_per_s", "engine", "int8_path"])
        XCTAssertEqual(LayerRecord.columns, ["model", "variant", "precision", "node", "op", "out_channels", "sqnr_cumulative_db",
                                             "sqnr_local_db", "weight_range_ratio", "act_min", "act_max"])
        XCTAssertEqual(PassRecord.columns, ["model", "variant", "pass", "sets_found", "sets_scaled", "scale_min", "scale_max",
                                            "seconds", "float_max_abs_diff", "precision", "details", "peak_rss_mb",
                                            "float_change_of_logit_range"])
        XCTAssertEqual(CoverageRecord.columns, ["model", "variant", "node", "op", "set", "status", "reason", "pass", "float_change"])
    }

    /// summary.json follows the column lists: numbers as numbers, empty numbers
    /// as null, text as text even when it is all digits.
    func testSummaryKeepsTextColumnsAsText() {
        var row = AccuracyRecord(model: "12", variant: "baseline", precision: "fp32", weights: "", activations: "", evalImages: 16)
        row.top1 = 93.5
        row.correct = Array(repeating: true, count: 16)
        guard case let .object(fields) = row.json else { return XCTFail("not an object") }
        XCTAssertEqual(fields["top1"], .number(93.5))
        XCTAssertEqual(fields["top5"], .null)
        XCTAssertEqual(fields["correct_images"], .string("ffff"))
        XCTAssertEqual(fields["model"], .string("12"))
        XCTAssertEqual(fields["eval_images"], .number(16))
        XCTAssertEqual(AccuracyRecord.numberColumns.intersection(["model", "status", "message", "correct_images"]), [])
        XCTAssertTrue(AccuracyRecord.numberColumns.isSuperset(of: ["top1", "top1_ci_low", "calib_images", "float_max_abs_diff"]))
    }

    func testUnknownVariantErrorListsTheValidNames() {
        XCTAssertThrowsError(try Catalog.validateVariants(["baseline", "dfq9"])) { error in
            XCTAssertTrue(String(describing: error).hasPrefix("--variants: unknown variant or pass 'dfq9'; variants: baseline, bnfold, cls, cls6, dfq"), "\(error)")
        }
    }
}

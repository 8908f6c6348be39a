@testable import EqHarness
import Foundation
import XCTest

/// `compare` on doctored reports: what counts as a regression, and errors.
final class ReportComparisonTests: XCTestCase {
    var scratch: URL!

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("eqbench-compare-\(UUID())")
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: scratch) }

    /// Writes a report folder with one accuracy row per (model, top1, status)
    /// and one layer row per (node, cumulative, local).
    func report(_ name: String, accuracy: [(String, String, String)], layers: [(String, String, String)] = []) throws -> URL {
        let folder = scratch.appendingPathComponent(name)
        var table = CSVTable(columns: AccuracyRecord.columns)
        for (model, top1, status) in accuracy {
            var record = AccuracyRecord(model: model, variant: "dfq", precision: "w8a8-pt", weights: "w", activations: "a")
            record.top1 = Double(top1)
            record.status = RowStatus(rawValue: status)!
            table.append(record.fields)
        }
        try table.write(to: folder.appendingPathComponent("accuracy.csv"))
        try AtomicFile.write(Data("{\"status\": \"complete\"}".utf8), to: folder.appendingPathComponent("summary.json"))
        if !layers.isEmpty {
            var layerTable = CSVTable(columns: LayerRecord.columns)
            for (node, cumulative, local) in layers {
                layerTable.append(["m", "dfq", "w8a8-pt", node, "Conv", "8", cumulative, local, "", "", ""])
            }
            try layerTable.write(to: folder.appendingPathComponent("layers.csv"))
        }
        return folder
    }

    func testTop1DropsBeyondTheThresholdAreRegressions() throws {
        let old = try report("old", accuracy: [("a", "90.00", "ok"), ("b", "80.00", "ok"), ("c", "70.00", "ok")])
        let new = try report("new", accuracy: [("a", "89.70", "ok"), ("b", "79.00", "ok"), ("d", "60.00", "ok")])
        let result = try ReportComparison.compare(old: old, new: new, maxTop1Drop: 0.5, maxSQNRDrop: 3)
        XCTAssertEqual(result.regressions.map(\.key), ["b / dfq / w8a8-pt"])
        XCTAssertEqual(result.changes.count, 2)                      // a changed within the tolerance
        XCTAssertEqual(result.onlyInOld, ["c / dfq / w8a8-pt"])
        XCTAssertEqual(result.onlyInNew, ["d / dfq / w8a8-pt"])
        XCTAssertTrue(result.render(markdown: false).hasSuffix(
            "FAIL: 1 regression; 1 row of the old report missing from the new one (--allow-partial accepts that)"))
        XCTAssertTrue(result.render(markdown: true).contains("| REGRESSION | b / dfq / w8a8-pt | top1 | 80.00 | 79.00 | -1.00 |"))
        var lenient = try ReportComparison.compare(old: old, new: new, maxTop1Drop: 2, maxSQNRDrop: 3)
        XCTAssertTrue(lenient.regressions.isEmpty)
        XCTAssertTrue(lenient.failed, "model c vanished from the new report")
        lenient.allowPartial = true
        XCTAssertFalse(lenient.failed)
        XCTAssertTrue(lenient.render(markdown: false).hasPrefix("only in the old report") || lenient.render(markdown: false).contains("OK: no regressions"))
    }

    func testErrorStatusAndLayerSQNRDropsAreRegressions() throws {
        let old = try report("old", accuracy: [("a", "90.00", "ok")], layers: [("conv1", "30.00", "40.00"), ("conv2", "25.00", "35.00")])
        let new = try report("new", accuracy: [("a", "", "error")], layers: [("conv1", "26.50", "40.00"), ("conv2", "24.00", "36.00")])
        let result = try ReportComparison.compare(old: old, new: new, maxTop1Drop: 0.5, maxSQNRDrop: 3)
        XCTAssertEqual(Set(result.regressions.map(\.what)), ["status", "sqnr_cumulative_db"])
        XCTAssertEqual(result.regressions.first { $0.what == "sqnr_cumulative_db" }?.key, "m / dfq / w8a8-pt / conv1")
        XCTAssertEqual(result.comparedLayers, 2)
    }

    func testUnreadableAndMalformedReportsAreErrorsNamingTheFile() throws {
        let good = try report("good", accuracy: [("a", "90.00", "ok")])
        XCTAssertThrowsError(try ReportComparison.compare(old: good, new: scratch.appendingPathComponent("missing"), maxTop1Drop: 0.5, maxSQNRDrop: 3)) { error in
            XCTAssertTrue(String(describing: error).contains("missing/accuracy.csv: cannot read"), "\(error)")
        }
        let bad = scratch.appendingPathComponent("bad")
        try FileManager.default.createDirectory(at: bad, withIntermediateDirectories: true)
        try "model,variant\r\nx,y\r\n".write(to: bad.appendingPathComponent("accuracy.csv"), atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try ReportComparison.compare(old: good, new: bad, maxTop1Drop: 0.5, maxSQNRDrop: 3)) { error in
            XCTAssertTrue(String(describing: error).contains("missing columns precision, top1, status"), "\(error)")
        }
    }
}

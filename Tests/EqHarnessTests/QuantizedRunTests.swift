@testable import EqHarness
import Foundation
import XCTest

/// Whole runs of the int8 simulation on the bundled data.
final class QuantizedRunTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    func run(threads: Int, output: URL) throws -> RunReport {
        let settings = RunSettings(models: ["mbv2", "mlp"].map { Self.root.appendingPathComponent("Datasets/models/\($0).onnx") },
                                   dataset: Self.root.appendingPathComponent("Datasets/fashion-mnist"),
                                   evalLimit: 20, calibLimit: 30, output: output, threads: threads, batchSize: 8,
                                   variants: ["baseline", "dfq+bc"], precisions: ["fp32", "w8a8-pt", "w4a8-pc-ema"])
        return try EvaluationRun(settings: settings, log: { _ in }).execute()
    }

    func testCSVsAreByteIdenticalForOneAndTwoThreads() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("eqbench-det-\(UUID())")
        defer { try? FileManager.default.removeItem(at: base) }
        let one = try run(threads: 1, output: base.appendingPathComponent("t1"))
        _ = try run(threads: 2, output: base.appendingPathComponent("t2"))
        XCTAssertEqual(try Data(contentsOf: base.appendingPathComponent("t1/layers.csv")),
                       try Data(contentsOf: base.appendingPathComponent("t2/layers.csv")))
        // accuracy.csv holds one timing column (calib_seconds): equal apart from it.
        func accuracy(_ folder: String) throws -> CSVTable {
            var table = try CSVTable.parse(String(contentsOf: base.appendingPathComponent("\(folder)/accuracy.csv"), encoding: .utf8))
            let timing = table.columns.indices.filter { ReportFolder.measurementColumns.contains(table.columns[$0]) }
            XCTAssertEqual(timing.map { table.columns[$0] }, ["calib_seconds"])
            for r in table.rows.indices { for c in timing { table.rows[r][c] = "" } }
            return table
        }
        XCTAssertEqual(try accuracy("t1"), try accuracy("t2"))
        XCTAssertFalse(one.hasErrors)
        // The simulation really quantizes: 4-bit weights lose signal that 8-bit keep.
        let sqnr = Dictionary(uniqueKeysWithValues: one.accuracy.filter { $0.model == "mbv2" && $0.variant == "baseline" }
            .map { ($0.precision, $0.logitsSQNR) })
        XCTAssertGreaterThan(sqnr["w8a8-pt"]!!, sqnr["w4a8-pc-ema"]!!)
        XCTAssertLessThan(sqnr["w8a8-pt"]!!, 60)
        XCTAssertEqual(one.accuracy.first { $0.precision == "w8a8-pt" }?.calibImages, 30)
        // dfq replaces ReLU6 in mbv2, so its float logits change; the mlp has none.
        let diffs = Dictionary(grouping: one.accuracy.filter { $0.variant == "dfq+bc" && $0.precision == "fp32" }, by: \.model)
        XCTAssertGreaterThan(diffs["mbv2"]![0].floatMaxAbsDiff!, 1e-4)
        XCTAssertLessThan(diffs["mlp"]![0].floatMaxAbsDiff!, 1e-5)
        // Bias correction depends on the precision: one pipeline per precision.
        XCTAssertEqual(one.passes.filter { $0.model == "mlp" && $0.pass == "bc" }.map(\.precision), ["fp32", "w8a8-pt", "w4a8-pc-ema"])
        XCTAssertFalse(one.coverage.filter { $0.model == "mbv2" }.isEmpty)
    }

    func testSQNRByHand() {
        var sqnr = SQNRAccumulator()
        sqnr.add(reference: [1, 2], quantized: [1, 1])
        XCTAssertEqual(sqnr.decibels, 10 * log10(5.0), accuracy: 1e-12)   // Σx² = 5, Σ(x − x̂)² = 1
        var exact = SQNRAccumulator()
        exact.add(reference: [1, 2], quantized: [1, 2])
        XCTAssertEqual(exact.decibels, .infinity)
    }
}

@testable import EqHarness
import XCTest

/// The recommendation rule on doctored accuracy rows.
final class RecommendationTests: XCTestCase {
    func table(_ rows: [(variant: String, passes: String, precision: String, top1: Double, low: Double, high: Double, sqnr: Double)]) -> CSVTable {
        var table = CSVTable(columns: AccuracyRecord.columns)
        for r in rows {
            var record = AccuracyRecord(model: "m", variant: r.variant, precision: r.precision, weights: "", activations: "")
            record.passes = r.passes.isEmpty ? [] : r.passes.split(separator: "+").map(String.init)
            record.top1 = r.top1
            record.top1CI = (r.low, r.high)
            record.logitsSQNR = r.sqnr
            table.append(record.fields)
        }
        return table
    }

    func testCheapestVariantWithinTheBestsIntervalIsRecommended() {
        let rows = table([
            ("baseline", "", "fp32", 94, 92.5, 95.4, 0),
            ("baseline", "", "w8a8-pt", 90, 88.2, 91.8, 20),
            ("cls", "bnfold+cls", "w8a8-pt", 91, 89.2, 92.6, 24),
            ("dfq", "relu6relu+bnfold+cls+hbf", "w8a8-pt", 93, 91.5, 94.5, 25),
            ("baseline", "", "w4a8-pc", 92.5, 90.8, 94.1, 15),
            ("dfq", "relu6relu+bnfold+cls+hbf", "w4a8-pc", 93, 91.5, 94.5, 17),
            ("cls", "bnfold+cls", "w4a8-pc", 93, 91.5, 94.5, 18),
        ])
        let recommendations = Recommendation.all(in: rows)
        XCTAssertEqual(recommendations.map(\.precision), ["w8a8-pt", "w4a8-pc"], "fp32 gets none")
        // w8a8-pt: neither baseline's (≤ 91.8) nor cls's (≤ 92.6) interval reaches dfq's 93.
        XCTAssertEqual(recommendations[0].variant, "dfq")
        XCTAssertEqual(recommendations[0].marginVsBaseline, 3)
        XCTAssertEqual(recommendations[0].reason, "best top-1; no cheaper variant's interval reaches it")
        // w4a8-pc: cls and dfq tie at 93, cls has the higher SQNR and is best;
        // baseline's interval reaches 93, so the cheaper baseline is recommended.
        XCTAssertEqual(recommendations[1].best, "cls")
        XCTAssertEqual(recommendations[1].variant, "baseline")
        XCTAssertEqual(recommendations[1].marginVsBaseline, 0)
        XCTAssertTrue(recommendations[1].reason.hasPrefix("cls is best (93.00) but within baseline's 95% interval"), recommendations[1].reason)
    }

    func testBaselineDeltasAreFilledFromTheWrittenRows() {
        var report = RunReport()
        for (variant, top1) in [("baseline", 80.0), ("cls", 85.5)] {
            var record = AccuracyRecord(model: "m", variant: variant, precision: "w8a8-pt", weights: "", activations: "")
            record.top1 = top1
            report.accuracy.append(record)
        }
        let folder = ReportFolder(report: report, settings: .null)
        let column = folder.accuracy.index("top1_delta_vs_baseline_int8")
        XCTAssertEqual(folder.accuracy.rows.map { $0[column] }, ["0.00", "5.50"])
    }
}

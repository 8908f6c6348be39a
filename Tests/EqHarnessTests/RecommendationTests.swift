@testable import EqHarness
import XCTest

/// The recommendation rule on doctored accuracy rows.
final class RecommendationTests: XCTestCase {
    func table(_ rows: [(variant: String, passes: String, precision: String, top1: Double, low: Double, high: Double, sqnr: Double)],
               addedNodes: [String: Int] = [:], calibSpread: [String: [Double]] = [:]) -> [AccuracyRecord] {
        var table = [AccuracyRecord]()
        for r in rows {
            var record = AccuracyRecord(model: "m", variant: r.variant, precision: r.precision, weights: "", activations: "")
            record.passes = r.passes.isEmpty ? [] : r.passes.split(separator: "+").map(String.init)
            record.top1 = r.top1
            record.top1CI = (r.low, r.high)
            record.logitsSQNR = r.sqnr
            record.inferenceNodesAdded = addedNodes[r.variant] ?? 0
            record.recordCalibrationResamples(calibSpread[r.variant] ?? [])
            table.append(record)
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
        let recommendations = Recommendation.all(in: rows, maxDrop: 2)
        XCTAssertEqual(recommendations.map(\.precision), ["w8a8-pt", "w4a8-pc"], "fp32 gets none")
        // w8a8-pt: neither baseline's (≤ 91.8) nor cls's (≤ 92.6) interval reaches dfq's 93.
        XCTAssertEqual(recommendations[0].variant, "dfq")
        XCTAssertEqual(recommendations[0].marginVsBaseline, 3)
        XCTAssertEqual(recommendations[0].reason, "best top-1; no cheaper variant's interval reaches it; no nodes added at inference, 4 passes; 1.00 points below float (94.00), within --max-drop 2")
        // w4a8-pc: cls and dfq tie at 93, cls has the higher SQNR and is best;
        // baseline's interval reaches 93, so the cheaper baseline is recommended.
        XCTAssertEqual(recommendations[1].best, "cls")
        XCTAssertEqual(recommendations[1].variant, "baseline")
        XCTAssertEqual(recommendations[1].marginVsBaseline, 0)
        XCTAssertTrue(recommendations[1].reason.hasPrefix("cls is best (93.00) but within baseline's 95% interval"), recommendations[1].reason)
        XCTAssertTrue(recommendations[1].withinMaxDrop)

        // With the default --max-drop of 1 point, baseline's 92.5 is 1.5 below float: cls, the cheapest within it.
        let strict = Recommendation.all(in: rows)[1]
        XCTAssertEqual(strict.variant, "cls")
        XCTAssertEqual(strict.reason, "best top-1 within --max-drop 1; the cheaper baseline cannot be told from it but loses more than that against float; no nodes added at inference, 2 passes; 1.00 points below float (94.00), within --max-drop 1")
    }

    /// Cost is what inference pays: a pipeline that inserts Mul nodes loses to
    /// a free one the images cannot tell apart, although it has fewer passes.
    func testInferenceCostComesBeforePassCount() {
        let rows = table([
            ("baseline", "", "fp32", 94, 92.5, 95.4, 0),
            ("baseline", "", "w8a8-pc", 85, 83, 87, 15),
            ("smoothquant", "smoothquant", "w8a8-pc", 93.4, 91.9, 94.9, 22),
            ("cls", "bnfold+relu6relu+cls", "w8a8-pc", 93.2, 91.7, 94.7, 21),
        ], addedNodes: ["smoothquant": 8])
        let r = Recommendation.all(in: rows)[0]
        XCTAssertEqual(r.best, "smoothquant")
        XCTAssertEqual(r.variant, "cls")
        XCTAssertEqual(r.addedNodes, 0)
        XCTAssertTrue(r.reason.hasPrefix("smoothquant is best (93.40) but within cls's 95% interval (91.70–94.70), which costs less; no nodes added at inference, 3 passes"), r.reason)
        XCTAssertEqual(r.fields[r.fields.count - 3], "0")
    }

    /// Far from float, the verdict says so; a lucky calibration does not count as within the budget.
    func testMaxDropVerdictAndCalibrationSpread() {
        let far = Recommendation.all(in: table([
            ("baseline", "", "fp32", 94, 92.5, 95.4, 0),
            ("baseline", "", "w4a8-pt", 60, 57, 63, 5),
            ("cls", "bnfold+cls", "w4a8-pt", 80, 77.5, 82.5, 9),
        ]))[0]
        XCTAssertEqual(far.variant, "cls")
        XCTAssertFalse(far.withinMaxDrop)
        XCTAssertTrue(far.reason.contains("no variant is within 1 points of float (94.00); the closest, cls, is 14.00 below"), far.reason)
        XCTAssertEqual(far.fields[Recommendation.columns.firstIndex(of: "within_max_drop")!], "no")

        // cls ties dfq on the same images, but one calibration subset of cls lost 3 points.
        let spread = Recommendation.all(in: table([
            ("baseline", "", "fp32", 94, 92.5, 95.4, 0),
            ("cls", "bnfold+cls", "w8a8-pt", 93.5, 92, 95, 20),
            ("dfq", "relu6relu+bnfold+cls+hbf", "w8a8-pt", 93.6, 92.1, 95.1, 21),
        ], calibSpread: ["cls": [90.9, 93.5], "dfq": [93.2, 93.8]]))[0]
        XCTAssertEqual(spread.variant, "dfq")
        XCTAssertTrue(spread.reason.contains("top-1 93.20–93.80 over the calibration subsets"), spread.reason)
    }

    /// Rows with per-image outcomes: `wrongCheap` images only the best gets
    /// right, `wrongBest` only the cheaper one, out of 1,000.
    func pairedTable(wrongCheap: Int, wrongBest: Int) -> [AccuracyRecord] {
        var table = [AccuracyRecord]()
        let n = 1000
        var best = [Bool](repeating: true, count: n), cheap = best
        for i in 0..<70 { best[i] = false; cheap[i] = false }                  // both wrong
        for i in 70..<(70 + wrongCheap) { cheap[i] = false }
        for i in (70 + wrongCheap)..<(70 + wrongCheap + wrongBest) { best[i] = false }
        for (variant, passes, correct) in [("baseline", "", cheap), ("dfq", "relu6relu+bnfold+cls+hbf", best)] {
            var record = AccuracyRecord(model: "m", variant: variant, precision: "w8a8-pt", weights: "", activations: "")
            record.passes = passes.isEmpty ? [] : passes.split(separator: "+").map(String.init)
            record.evalImages = n
            record.correct = correct
            record.top1 = 100 * Double(correct.filter { $0 }.count) / Double(n)
            record.top1CI = Metrics.bootstrapInterval(correct: correct)
            record.logitsSQNR = 20
            table.append(record)
        }
        return table
    }

    func testPairedTestDecidesWhereSeparateIntervalsCannot() throws {
        // 0.6 points apart, the best right on 6 images where the cheaper one is
        // wrong and never the other way: McNemar p = 2·0.5⁶ = 0.031, so the
        // cheaper one is worse although its interval reaches the best top-1.
        let six = Recommendation.all(in: pairedTable(wrongCheap: 6, wrongBest: 0))[0]
        XCTAssertEqual(six.variant, "dfq")
        XCTAssertTrue(six.reason.hasPrefix("best top-1; every cheaper variant is worse on the same images"), six.reason)
        // 5 such images: p = 2·0.5⁵ = 0.0625, no significant difference.
        let five = Recommendation.all(in: pairedTable(wrongCheap: 5, wrongBest: 0))[0]
        XCTAssertEqual(five.variant, "baseline")
        let paired = try XCTUnwrap(five.paired)
        XCTAssertEqual(paired.difference, -0.5, accuracy: 1e-12)
        XCTAssertEqual(paired.pValue, 0.0625, accuracy: 1e-12)
        XCTAssertLessThanOrEqual(paired.interval.low, -0.5)
        XCTAssertGreaterThanOrEqual(paired.interval.high, -0.5)
        XCTAssertEqual(five.fields[Recommendation.columns.firstIndex(of: "p_value")!], "0.0625")
        // 2 points apart but 100 images disagree both ways (40 vs 60): p = 0.057.
        let noisy = Recommendation.all(in: pairedTable(wrongCheap: 60, wrongBest: 40))[0]
        XCTAssertEqual(noisy.variant, "baseline")
        XCTAssertEqual(noisy.paired!.pValue, 0.0569, accuracy: 5e-4)
    }

    func testExactMcNemarAgainstHandComputedBinomialTails() {
        // n = 12, k = 2: 2·(1 + 12 + 66)/4096.
        XCTAssertEqual(PairedComparison.mcNemarExact(10, 2), 2 * 79 / 4096, accuracy: 1e-15)
        XCTAssertEqual(PairedComparison.mcNemarExact(2, 10), 2 * 79 / 4096, accuracy: 1e-15)
        XCTAssertEqual(PairedComparison.mcNemarExact(5, 5), 1)
        XCTAssertEqual(PairedComparison.mcNemarExact(0, 0), 1)
        XCTAssertEqual(PairedComparison.mcNemarExact(0, 1), 1)
        // Large counts stay finite: 1,000 vs 1,100 discordant images.
        let p = PairedComparison.mcNemarExact(1000, 1100)
        XCTAssertTrue(p > 0.02 && p < 0.04, "\(p)")
    }

    func testPerImageOutcomesRoundTripThroughTheirColumn() {
        let outcomes = (0..<13).map { $0 % 3 == 0 }
        let text = CorrectnessBits.encode(outcomes)
        XCTAssertEqual(text, "9248")                                 // 1001 0010 0100 1(000)
        XCTAssertEqual(CorrectnessBits.decode(text, count: 13), outcomes)
        XCTAssertNil(CorrectnessBits.decode(text, count: 20))
        XCTAssertNil(CorrectnessBits.decode("9z40", count: 13))
    }

    func testBaselineDeltasAreFilledFromTheWrittenRows() {
        var report = RunReport()
        for (variant, top1) in [("baseline", 80.0), ("cls", 85.5)] {
            var record = AccuracyRecord(model: "m", variant: variant, precision: "w8a8-pt", weights: "", activations: "")
            record.top1 = top1
            report.accuracy.append(record)
        }
        let folder = ReportFolder(report: report, settings: .null)
        let column = AccuracyRecord.columns.firstIndex(of: "top1_delta_vs_baseline_int8")!
        XCTAssertEqual(folder.accuracy.map { $0.fields[column] }, ["0.00", "5.50"])
    }
}

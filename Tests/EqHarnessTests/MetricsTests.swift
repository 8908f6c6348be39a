@testable import EqHarness
import XCTest

final class MetricsTests: XCTestCase {
    func testTiesGoToTheFirstIndex() {
        // Image 0: classes 1 and 2 tie for the maximum; label 2 loses the tie.
        let logits: [Float] = [0, 5, 5, 1,
                               9, 1, 2, 3]
        let ranks = Metrics.ranks(logits: logits, classes: 4, labels: [2, 0])
        XCTAssertEqual(ranks, [1, 0])
        XCTAssertEqual(Metrics.topK(ranks, k: 1), 50)
        XCTAssertEqual(Metrics.topK(ranks, k: 2), 100)
        XCTAssertEqual(Metrics.rank(of: 1, in: logits[0..<4]), 0)
    }

    func testBootstrapIntervalIsDeterministicAndBracketsTheMean() {
        let correct = (0..<1000).map { $0 % 10 != 0 }   // 90%
        let a = Metrics.bootstrapInterval(correct: correct)
        let b = Metrics.bootstrapInterval(correct: correct)
        XCTAssertEqual(a.low, b.low)
        XCTAssertEqual(a.high, b.high)
        XCTAssertLessThan(a.low, 90)
        XCTAssertGreaterThan(a.high, 90)
        // Binomial standard error at p = 0.9, n = 1000 is 0.95 points: ±1.96 σ ≈ ±1.9.
        XCTAssertEqual(a.high - a.low, 3.7, accuracy: 0.8)
        XCTAssertEqual(Metrics.bootstrapInterval(correct: [true, true]).low, 100)
    }
}

@testable import EqHarness
import XCTest

final class MetricsTests: XCTestCase {
    /// Σ x² and Σ (x − x̂)² by hand, for lengths that end in each part of the
    /// loop: whole blocks of 32, a block of 8, a scalar tail.
    func testSQNRSumsByHand() {
        for count in [1, 7, 8, 32, 45, 77] {
            let x = (0..<count).map { Float($0 % 5) - 1.5 }          // −1.5, −0.5, 0.5, 1.5, 2.5, …
            let y = x.enumerated().map { $0.element + ($0.offset % 3 == 0 ? 0.25 : 0) }
            var expectedSignal = 0.0, expectedNoise = 0.0
            for i in 0..<count {
                expectedSignal += [2.25, 0.25, 0.25, 2.25, 6.25][i % 5]
                expectedNoise += i % 3 == 0 ? 0.0625 : 0
            }
            var sqnr = SQNRAccumulator()
            sqnr.add(reference: x[...], quantized: y[...])
            sqnr.add(reference: x[...], quantized: x[...])            // no noise: only the signal grows
            XCTAssertEqual(sqnr.signal, 2 * expectedSignal, "\(count) values")
            XCTAssertEqual(sqnr.noise, expectedNoise, "\(count) values")
            XCTAssertEqual(sqnr.decibels, 10 * log10(2 * expectedSignal / expectedNoise), accuracy: 1e-12)
        }
        var silent = SQNRAccumulator()
        silent.add(reference: [1, 2][...], quantized: [1, 2][...])
        XCTAssertEqual(silent.decibels, .infinity)
    }

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

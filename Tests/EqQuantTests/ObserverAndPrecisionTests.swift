import EqQuant
import EqTensor
import XCTest

final class ObserverTests: XCTestCase {
    func feed(_ observer: inout RangeObserver, _ batches: [[Float]]) throws {
        for batch in batches { try batch.withUnsafeBufferPointer { try observer.observe($0) } }
    }

    let scheme = try! QuantScheme(bits: 8, signed: false, symmetric: false)

    func testMinMaxEMAAndLastValue() throws {
        let batches: [[Float]] = [[0, 2, 1], [-2, 4]]
        var minMax = RangeObserver(.minMax)
        try feed(&minMax, batches)
        XCTAssertEqual(try minMax.range(for: scheme).min, -2)
        XCTAssertEqual(try minMax.range(for: scheme).max, 4)
        var ema = RangeObserver(.movingAverage(decay: 0.5))
        try feed(&ema, batches)
        XCTAssertEqual(try ema.range(for: scheme).min, -1)             // 0.5·0 + 0.5·(−2)
        XCTAssertEqual(try ema.range(for: scheme).max, 3)              // 0.5·2 + 0.5·4
        var last = RangeObserver(.lastValue)
        try feed(&last, batches)
        XCTAssertEqual(try last.range(for: scheme).max, 4)
        XCTAssertEqual(try last.range(for: scheme).min, -2)
        XCTAssertThrowsError(try RangeObserver(.minMax).range(for: scheme))
    }

    func testBatchesFedInPartsGiveTheBatchRangesToTheMovingAverage() throws {
        // Batch 1 = [0, 2] + [1], batch 2 = [-2] + [4]: the same as whole batches above.
        var ema = RangeObserver(.movingAverage(decay: 0.5)), last = RangeObserver(.lastValue)
        for batch in [[[0, 2], [1]], [[-2], [4]]] as [[[Float]]] {
            for part in batch {
                try part.withUnsafeBufferPointer { try ema.observePart($0); try last.observePart($0) }
            }
            ema.endBatch(); last.endBatch()
        }
        XCTAssertEqual(try ema.range(for: scheme).min, -1)
        XCTAssertEqual(try ema.range(for: scheme).max, 3)
        XCTAssertEqual(try last.range(for: scheme).min, -2)
        XCTAssertEqual(try last.range(for: scheme).max, 4)
    }

    func testPercentileFromTheHistogram() throws {
        var observer = RangeObserver(.percentile(99))
        // 0…999 in two batches; the second widens the histogram (re-binning).
        try feed(&observer, [(0..<500).map(Float.init), (500..<1000).map(Float.init)])
        let range = try observer.range(for: scheme)
        XCTAssertEqual(range.max, 990, accuracy: 2)
        XCTAssertEqual(range.min, 10, accuracy: 2)
    }

    func testMSEClipsAnOutlier() throws {
        // 10,000 values spread over [0, 10) and one at 100, 4 bits (15 steps):
        // clipping at c costs (100 − c)² for the outlier and about
        // 10,000·(c/15)²/12 for the rest, least near c ≈ 22 (7,900 against
        // 37,000 for no clipping).
        let four = try QuantScheme(bits: 4, signed: false, symmetric: false)
        var observer = RangeObserver(.mse)
        try feed(&observer, [(0..<10000).map { Float($0) / 1000 } + [100]])
        let range = try observer.range(for: four)
        XCTAssertGreaterThan(range.max, 15)
        XCTAssertLessThan(range.max, 35)
    }
}

final class PrecisionTests: XCTestCase {
    func testNamesFollowTheGrammar() throws {
        let pt = try Precision.parse("w8a8-pt")
        XCTAssertEqual(pt.weights?.description, "int8 sym per-tensor")
        XCTAssertEqual(pt.activations?.description, "uint8 asym per-tensor")
        XCTAssertEqual(pt.estimator, .minMax)
        let exotic = try Precision.parse("w4a6-pc-pow2-mse-b32")
        XCTAssertEqual(exotic.weights?.bits, 4)
        XCTAssertEqual(exotic.activations?.bits, 6)
        XCTAssertEqual(exotic.weights?.granularity, .perChannel)
        XCTAssertEqual(exotic.weights?.powerOfTwo, .ceil)
        XCTAssertEqual(exotic.estimator, .mse)
        XCTAssertTrue(exotic.quantizeBias)
        XCTAssertEqual(try Precision.parse("w8a8-pt-ema").estimator, .movingAverage(decay: 0.999))
        XCTAssertEqual(try Precision.parse("w8a8-pt-pct").estimator, .percentile(99.99))
        XCTAssertTrue(try Precision.parse("fp32").isFloat)
        for bad in ["w8a8", "w1a8-pt", "w8a8-px", "w8a8-pt-foo", "int8", "w8a17-pc", "w8a8-pt-mse-pct", "w8a8-pt--", "w8a8-pt-b32-b32", "w8a8-pt-"] {
            XCTAssertThrowsError(try Precision.parse(bad), bad) { error in
                XCTAssertTrue(String(describing: error).contains("'\(bad)'"), "\(error)")
            }
        }
    }
}

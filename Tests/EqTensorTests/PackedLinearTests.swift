import EqBLAS
import EqTensor
import XCTest

/// `PackedLinear` by hand, against a double-precision loop and OpenBLAS's
/// sgemm (an independent GEMM) for every row count of its micro-kernel and
/// outputs that fill whole panels, part of one, or several plus a part, and
/// against itself: a row's outputs are the same bits wherever it falls.
final class PackedLinearTests: XCTestCase {
    func run(_ layer: PackedLinear, _ x: [Float], rows: Int, clamp: (lower: Float, upper: Float)? = nil) -> [Float] {
        var y = [Float](repeating: .nan, count: rows * layer.outFeatures)
        x.withUnsafeBufferPointer { xp in
            y.withUnsafeMutableBufferPointer { layer.run(xp.baseAddress!, rows: rows, clamp: clamp, into: $0.baseAddress!) }
        }
        return y
    }

    func testByHand() {
        // W = [1 2; 3 4; 5 6] (3 outputs × 2 inputs), bias [10, 20, 30], x = [1, -1] and [2, 3].
        let layer = PackedLinear(weight: [1, 2, 3, 4, 5, 6], bias: [10, 20, 30], inFeatures: 2, outFeatures: 3)
        XCTAssertEqual(run(layer, [1, -1, 2, 3], rows: 2), [9, 19, 29, 18, 38, 58])
        // ReLU6 as a clip: 9 → 6; a negative bias gives a negative sum clamped to 0.
        let shifted = PackedLinear(weight: [1, 2, 3, 4, 5, 6], bias: [-10, 2, 0], inFeatures: 2, outFeatures: 3)
        XCTAssertEqual(run(shifted, [1, 1, 2, 3], rows: 2, clamp: (0, 6)), [0, 6, 6, 0, 6, 6])
    }

    func testMatchesTheDefinitionAndOpenBLAS() {
        var rng = SeededRandom(seed: 7)
        let width = linearPanelWidth
        for (rows, k, n) in [(1, 5, 3), (25, 33, width), (13, 130, 10), (12, 784, 2 * width + 7), (30, 64, 3 * width),
                             (7, 1, 1), (37, 200, width - 1)] {
            for withBias in [false, true] {
                let w = rng.signedArray(n * k), x = rng.signedArray(rows * k), bias = withBias ? rng.signedArray(n) : nil
                let y = run(PackedLinear(weight: w, bias: bias, inFeatures: k, outFeatures: n), x, rows: rows)
                var blas = [Float](repeating: 0, count: rows * n)
                BLAS.sgemm(m: rows, n: n, k: k, a: x, b: w, transposeB: true, c: &blas)
                for i in 0..<rows {
                    for o in 0..<n {
                        var sum = Double(bias?[o] ?? 0)
                        for r in 0..<k { sum += Double(x[i * k + r]) * Double(w[o * k + r]) }
                        let tolerance = 1e-5 * Double(k).squareRoot() * 4
                        let at = "rows \(rows) k \(k) n \(n) bias \(withBias) at \(i),\(o)"
                        XCTAssertEqual(Double(y[i * n + o]), sum, accuracy: tolerance, at)
                        XCTAssertEqual(Double(y[i * n + o]), Double(blas[i * n + o] + (bias?[o] ?? 0)), accuracy: tolerance, at)
                    }
                }
            }
        }
    }

    /// A row computed alone, in a full block, or in any tail block gives the
    /// same bits: results never depend on the batch size or tiling.
    func testARowsOutputsDoNotDependOnItsBlock() {
        var rng = SeededRandom(seed: 11)
        let (k, n, rows) = (50, linearPanelWidth + 5, 29)
        let layer = PackedLinear(weight: rng.signedArray(n * k), bias: rng.signedArray(n), inFeatures: k, outFeatures: n)
        let x = rng.signedArray(rows * k)
        let together = run(layer, x, rows: rows, clamp: (-0.5, 0.5))
        for i in 0..<rows {
            let alone = run(layer, Array(x[(i * k)..<((i + 1) * k)]), rows: 1, clamp: (-0.5, 0.5))
            XCTAssertEqual(alone, Array(together[(i * n)..<((i + 1) * n)]), "row \(i)")
        }
        // Every block size from 1 to 29 rows (so every micro-kernel) over the same inputs.
        for count in 1...rows {
            XCTAssertEqual(run(layer, Array(x[0..<(count * k)]), rows: count, clamp: (-0.5, 0.5)),
                           Array(together[0..<(count * n)]), "\(count) rows")
        }
    }

    func testClampPassesNaNAndBoundsTheRest() {
        let layer = PackedLinear(weight: [1, -1], bias: nil, inFeatures: 1, outFeatures: 2)
        let y = run(layer, [.nan, 10, -10], rows: 3, clamp: (0, 6))
        XCTAssertTrue(y[0].isNaN && y[1].isNaN)
        XCTAssertEqual(Array(y[2...]), [6, 0, 0, 6])
    }
}

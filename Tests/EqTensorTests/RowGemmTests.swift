import EqTensor
import XCTest

/// `rowGemm` against a double-precision triple loop, by hand, and against
/// itself: every tile shape (4×48 on AVX-512, 4×24, 8×16 on AVX-512, 8×8,
/// 4×16, 4×8, 32×1, 16×1, 4×1, single rows) and reductions longer than one pass
/// over C.
final class RowGemmTests: XCTestCase {
    /// C = A·B + bias with B's rows `stride` apart (so not contiguous as a matrix).
    func rowGemm(_ a: [Float], m: Int, k: Int, b: [Float], stride: Int, n: Int, bias: [Float]?) -> [Float] {
        let weights = RowGemmWeights(a, m: m, k: k)
        let offsets = (0..<k).map { $0 * stride }
        var c = [Float](repeating: .nan, count: m * n)
        b.withUnsafeBufferPointer { bp in
            offsets.withUnsafeBufferPointer { op in
                c.withUnsafeMutableBufferPointer { cp in
                    if let bias {
                        bias.withUnsafeBufferPointer { EqTensor.rowGemm(weights, n: n, b: bp.baseAddress!, rowOffsets: op.baseAddress!, bias: $0.baseAddress, c: cp.baseAddress!, ldc: n) }
                    } else {
                        EqTensor.rowGemm(weights, n: n, b: bp.baseAddress!, rowOffsets: op.baseAddress!, bias: nil, c: cp.baseAddress!, ldc: n)
                    }
                }
            }
        }
        return c
    }

    func testByHand() {
        // [1 2; 3 4] · [5 6; 7 8] + [10, 20], B rows 3 apart.
        let c = rowGemm([1, 2, 3, 4], m: 2, k: 2, b: [5, 6, -1, 7, 8], stride: 3, n: 2, bias: [10, 20])
        let expected: [Float] = [29, 32, 63, 70]   // 10 + 1·5 + 2·7, 10 + 1·6 + 2·8, 20 + 3·5 + 4·7, 20 + 3·6 + 4·8
        XCTAssertEqual(c, expected)
    }

    func testMatchesTheDefinitionForEveryTileShape() {
        var rng = SeededRandom(seed: 21)
        for (m, k, n) in [(4, 9, 24), (8, 16, 49), (7, 27, 35), (13, 130, 61), (1, 3, 9), (5, 300, 7), (16, 257, 100), (36, 20, 63),
                          (12, 144, 136), (20, 33, 113), (16, 24, 196), (9, 100, 21)] {
            for withBias in [false, true] {
                let stride = n + 5
                let a = rng.signedArray(m * k), b = rng.signedArray(k * stride), bias = withBias ? rng.signedArray(m) : nil
                let c = rowGemm(a, m: m, k: k, b: b, stride: stride, n: n, bias: bias)
                for i in 0..<m {
                    for j in 0..<n {
                        var sum = Double(bias?[i] ?? 0)
                        for r in 0..<k { sum += Double(a[i * k + r]) * Double(b[r * stride + j]) }
                        XCTAssertEqual(Double(c[i * n + j]), sum, accuracy: 1e-5 * Double(k).squareRoot() * 4,
                                       "m \(m) k \(k) n \(n) bias \(withBias) at \(i),\(j)")
                    }
                }
            }
        }
    }

    /// A column gives the same bits whether a 48-wide (AVX-512), 24-wide,
    /// 16-wide, 8-wide, overlapping last 8-wide or single-column tile
    /// computes it, and a row whether it is in a block of four or on its
    /// own, in one pass over k (100) or two (140): results never depend on
    /// the batch layout.
    func testEveryTilePathGivesTheSameBits() {
        var rng = SeededRandom(seed: 22)
        for k in [140, 100] {
            // 53 rows: single columns over 32, 16 and 4 rows, tiles over 8 and 4, and a single row.
            let (m, stride) = (53, 56)
            let a = rng.signedArray(m * k), b = rng.signedArray(k * stride), bias = rng.signedArray(m)
            let wide = rowGemm(a, m: m, k: k, b: b, stride: stride, n: 48, bias: bias)
            for n in [7, 8, 11, 15, 16, 24, 31, 40] {
                let narrow = rowGemm(a, m: m, k: k, b: b, stride: stride, n: n, bias: bias)
                for i in 0..<m {
                    for j in 0..<n { XCTAssertEqual(narrow[i * n + j], wide[i * 48 + j], "k \(k) n \(n) at \(i),\(j)") }
                }
            }
            let lastRow = rowGemm(Array(a[(52 * k)...]), m: 1, k: k, b: b, stride: stride, n: 48, bias: [bias[52]])
            XCTAssertEqual(lastRow, Array(wide[(52 * 48)...]))
            let firstBlock = rowGemm(Array(a[..<(4 * k)]), m: 4, k: k, b: b, stride: stride, n: 48, bias: Array(bias[..<4]))
            XCTAssertEqual(firstBlock, Array(wide[..<(4 * 48)]))
        }
    }
}

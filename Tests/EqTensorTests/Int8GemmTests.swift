import EqTensor
import XCTest

/// The integer GEMM is exact: equal to plain int32 sums for every shape,
/// tail and weight pattern, including the ones that saturate a bare
/// vpmaddubsw (all activations 255, weights ±127/−128 of one sign).
final class Int8GemmTests: XCTestCase {
    func reference(_ a: [UInt8], lda: Int, rows: Int, _ w: [Int8], outputs m: Int, inputs k: Int) -> [Int32] {
        var c = [Int32](repeating: 0, count: rows * m)
        for n in 0..<rows {
            for j in 0..<m {
                var sum: Int32 = 0
                for i in 0..<k { sum += Int32(a[n * lda + i]) * Int32(w[j * k + i]) }
                c[n * m + j] = sum
            }
        }
        return c
    }

    func testSumsAreExactForEveryShapeAndWeightPattern() {
        var random = SeededRandom(seed: 11)
        func byte() -> Int { Int(random.next() % 256) }
        let shapes = [(1, 1, 1), (5, 17, 3), (16, 4, 4), (17, 130, 33), (64, 576, 9), (24, 8, 1), (33, 2051, 6)]
        for (m, k, rows) in shapes {
            for pattern in ["uniform", "saturating", "small"] {
                let weights: [Int8] = (0..<(m * k)).map { _ in
                    switch pattern {
                    case "uniform": return Int8(truncatingIfNeeded: byte() - 128)
                    case "saturating": return random.next() % 2 == 0 ? 127 : -128
                    default: return Int8(byte() % 41 - 20)
                    }
                }
                let gemm = Int8Gemm(weights: weights, outputs: m, inputs: k)
                let lda = gemm.paddedK
                var a = [UInt8](repeating: 0, count: rows * lda)
                for n in 0..<rows { for i in 0..<k { a[n * lda + i] = pattern == "saturating" ? 255 : UInt8(byte()) } }
                var c = [Int32](repeating: -1, count: rows * m)
                a.withUnsafeBufferPointer { a in c.withUnsafeMutableBufferPointer { gemm.multiply(a.baseAddress!, lda: lda, rows: rows, into: $0.baseAddress!, ldc: m) } }
                let exact = reference(a, lda: lda, rows: rows, weights, outputs: m, inputs: k)
                XCTAssertEqual(c, exact, "\(m)×\(k)×\(rows) \(pattern) on \(Int8Gemm.kernelName)")
                checkDequantized(gemm, a, lda: lda, rows: rows, exact: exact, random: &random)
                XCTAssertEqual(Array(gemm.rowSums), (0..<m).map { j in weights[(j * k)..<((j + 1) * k)].reduce(Int32(0)) { $0 + Int32($1) } })
                if pattern == "small" { XCTAssertEqual(gemm.residualCount, 0, "|w| ≤ 20 never needs the residual") }
                if pattern == "saturating", k > 1 { XCTAssertGreaterThan(gemm.residualCount, 0) }
            }
        }
    }

    /// The fused path: out[m·ld + n] = clamp((C[n][m] − correction[m]) · scale[m] + shift[m] + residual), the same
    /// float operations in the same order as here, so equal bit for bit; entries past `rows` in each plane untouched.
    func checkDequantized(_ gemm: Int8Gemm, _ a: [UInt8], lda: Int, rows: Int, exact: [Int32], random: inout SeededRandom) {
        let m = gemm.outputs, ld = rows + 3
        let correction = (0..<m).map { _ in Int32(random.next() % 2001) - 1000 }
        let scale = (0..<m).map { _ in Float(random.next() % 1000 + 1) * 1e-4 }
        let shift = (0..<m).map { _ in Float(Int(random.next() % 200) - 100) * 0.01 }
        let residual = (0..<(m * ld)).map { _ in Float(Int(random.next() % 200) - 100) * 0.003 }
        let (lower, upper): (Float, Float) = (-5, 6)
        var out = [Float](repeating: .nan, count: m * ld)
        a.withUnsafeBufferPointer { a in
            out.withUnsafeMutableBufferPointer { out in
                gemm.multiplyDequantized(a.baseAddress!, lda: lda, rows: rows, correction: correction, scale: scale, shift: shift,
                                         residual: residual, lower: lower, upper: upper, into: out.baseAddress!, ld: ld)
            }
        }
        for j in 0..<m {
            for n in 0..<ld {
                if n >= rows {
                    XCTAssertTrue(out[j * ld + n].isNaN, "plane \(j) written past its \(rows) rows")
                    continue
                }
                let scaled = Float(exact[n * m + j] - correction[j]) * scale[j]
                let v = scaled + shift[j] + residual[j * ld + n]
                XCTAssertEqual(out[j * ld + n], min(max(v, lower), upper), "\(m) outputs × \(rows) rows: output \(j), row \(n)")
            }
        }
    }

    /// A wider output stride leaves the columns past the outputs alone.
    func testOutputStrideIsRespected() {
        let gemm = Int8Gemm(weights: [1, 2, 3, -4, -5, -6], outputs: 2, inputs: 3)
        let a: [UInt8] = [10, 20, 30, 0, 1, 1, 1, 0]
        var c = [Int32](repeating: 99, count: 2 * 3)
        a.withUnsafeBufferPointer { a in c.withUnsafeMutableBufferPointer { gemm.multiply(a.baseAddress!, lda: 4, rows: 2, into: $0.baseAddress!, ldc: 3) } }
        XCTAssertEqual(c, [140, -320, 99, 6, -15, 99])
    }
}

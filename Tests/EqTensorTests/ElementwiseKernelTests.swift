import EqTensor
import Foundation
import XCTest

/// Pooling, activations, broadcasting and softmax against hand-computed values.
final class ElementwiseKernelTests: XCTestCase {
    /// The vector sigmoid against the exact logistic in Double, over the whole
    /// float range that matters and beyond (tails saturate), with a ragged tail.
    func testVectorSigmoidIsWithinAFewUlpsOfTheExactLogistic() {
        var x = stride(from: -100.0, through: 100.0, by: 0.0137).map { Float($0) } + [0, -0, 1e-8, -1e-8, .infinity, -.infinity]
        x.append(contentsOf: [88.5, -88.5, 17])
        let exact = x.map { 1 / (1 + Foundation.exp(-Double($0))) }
        x.withUnsafeMutableBufferPointer { Activation.sigmoid.apply($0.baseAddress!, count: $0.count) }
        for (y, e) in zip(x, exact) {
            XCTAssertEqual(Double(y), e, accuracy: max(3e-7 * e, 1e-38), "sigmoid")
        }
    }

    /// Broadcasting with an inner run per outer index against element-by-element indexing.
    func testBroadcastRunsMatchIndexByIndex() {
        var rng = SeededRandom(seed: 3)
        let pairs: [([Int], [Int])] = [([2, 3, 4, 5], [3, 1, 1]), ([2, 3, 4, 5], [1, 4, 1]), ([3, 1, 1], [2, 3, 4, 5]),
                                       ([2, 3, 4, 5], [5]), ([2, 1, 4, 1], [3, 1, 5]), ([4, 5], [1]), ([1], [4, 5])]
        for (sa, sb) in pairs {
            let outShape = broadcastShape(sa, sb)!
            let a = rng.signedArray(sa.reduce(1, *)), b = rng.signedArray(sb.reduce(1, *))
            let (ast, bst) = (broadcastStrides(sa, to: outShape), broadcastStrides(sb, to: outShape))
            for op in [BinaryOperator.add, .sub, .mul, .div] {
                var out = [Float](repeating: .nan, count: outShape.reduce(1, *))
                broadcastBinary(op, a, aStrides: ast, b, bStrides: bst, &out, outShape: outShape)
                for i in out.indices {
                    var rest = i, ai = 0, bi = 0
                    for axis in stride(from: outShape.count - 1, through: 0, by: -1) {
                        let k = rest % outShape[axis]; rest /= outShape[axis]
                        ai += k * ast[axis]; bi += k * bst[axis]
                    }
                    XCTAssertEqual(out[i], op(a[ai], b[bi]), "\(sa) \(op) \(sb) at \(i)")
                }
            }
        }
    }

    func testMaxAndAveragePoolingByHand() {
        // One 3×3 plane, 2×2 windows, stride 1, pads bottom/right 1.
        let x: [Float] = [1, 2, 3,
                          4, 5, 6,
                          7, 8, 9]
        let g = WindowGeometry(kernelH: 2, kernelW: 2, padBottom: 1, padRight: 1)
        var out = [Float](repeating: 0, count: 9)
        maxPool2D(input: x, channels: 1, height: 3, width: 3, geometry: g, outHeight: 3, outWidth: 3, output: &out)
        XCTAssertEqual(out, [5, 6, 6, 8, 9, 9, 8, 9, 9])
        averagePool2D(input: x, channels: 1, height: 3, width: 3, geometry: g, countIncludePad: false,
                      outHeight: 3, outWidth: 3, output: &out)
        XCTAssertEqual(out, [3, 4, 4.5, 6, 7, 7.5, 7.5, 8.5, 9])
        averagePool2D(input: x, channels: 1, height: 3, width: 3, geometry: g, countIncludePad: true,
                      outHeight: 3, outWidth: 3, output: &out)
        XCTAssertEqual(out, [3, 4, 2.25, 6, 7, 3.75, 3.75, 4.25, 2.25])
        var mean = [Float](repeating: 0, count: 1)
        globalAveragePool(input: x, channels: 1, plane: 9, output: &mean)
        XCTAssertEqual(mean, [5])
    }

    /// The separable max pool (with scratch) equals the direct one on random
    /// planes for strides 1 and 2, paddings, ceil mode and a NaN.
    func testSeparableMaxPoolMatchesTheDirectOne() throws {
        var rng = SeededRandom(seed: 4)
        let geometries = [
            WindowGeometry(kernelH: 3, kernelW: 3, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1),
            WindowGeometry(kernelH: 3, kernelW: 3, strideH: 2, strideW: 2, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1),
            WindowGeometry(kernelH: 2, kernelW: 2, strideH: 2, strideW: 2),
            WindowGeometry(kernelH: 3, kernelW: 2, strideH: 2, strideW: 1, padBottom: 1, padRight: 1, ceilMode: true),
            // Stride 1 on rows of at least eight: the vector path (same, valid, lopsided pads).
            WindowGeometry(kernelH: 3, kernelW: 3, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1),
            WindowGeometry(kernelH: 2, kernelW: 3),
            WindowGeometry(kernelH: 3, kernelW: 2, padTop: 2, padLeft: 0, padBottom: 0, padRight: 1),
        ]
        for (n, g) in geometries.enumerated() {
            // The last three on 11 × 13 planes (the vector path), the others on 9 × 7.
            let (c, h, w) = n >= 4 ? (3, 11, 13) : (3, 9, 7)
            var x = rng.signedArray(c * h * w)
            x[17] = .nan
            x[2 * h * w + 5 * w + 12] = .nan   // on a row's last vector
            let oh = try XCTUnwrap(g.outputSize(height: h, width: w))
            var direct = [Float](repeating: 0, count: c * oh.height * oh.width), separable = direct
            var scratch = [Float](repeating: 0, count: h * oh.width)
            maxPool2D(input: x, channels: c, height: h, width: w, geometry: g, outHeight: oh.height, outWidth: oh.width, output: &direct)
            maxPool2D(input: x, channels: c, height: h, width: w, geometry: g, outHeight: oh.height, outWidth: oh.width,
                      output: &separable, scratch: &scratch)
            XCTAssertEqual(direct.map { $0.isNaN ? 999 : $0 }, separable.map { $0.isNaN ? 999 : $0 }, "\(g)")
            XCTAssertTrue(separable.contains { $0.isNaN }, "NaN propagates")
        }
    }

    /// The vectorized min/max/NaN scan against the scalar loop it replaced,
    /// over every length from 0 to 150 (vector body and scalar tail) with a
    /// NaN, an infinity or neither at each place.
    func testValueRangeMatchesTheScalarScan() {
        var random = SeededRandom(seed: 11)
        for count in 0...150 {
            let base = random.signedArray(count).map { $0 * 100 }
            for special in [nil, Float.nan, .infinity, -.infinity] {
                for place in Set([0, count / 2, count - 1, count - 5]) where place >= 0 && place < count || special == nil {
                    var values = base
                    if let special { values[place] = special }
                    var lo = Float.infinity, hi = -Float.infinity
                    for v in values { lo = Swift.min(lo, v); hi = Swift.max(hi, v) }
                    let range = values.withUnsafeBufferPointer { valueRange($0.baseAddress!, count: count) }
                    XCTAssertEqual(range.min, lo, "\(count) values, \(String(describing: special)) at \(place)")
                    XCTAssertEqual(range.max, hi, "\(count) values, \(String(describing: special)) at \(place)")
                    XCTAssertEqual(range.hasNaN, values.contains { $0.isNaN }, "\(count) values, NaN at \(place)")
                    if special == nil { break }
                }
            }
        }
        let byHand: [Float] = [3, -2, 7.5, 0] + [Float](repeating: 1, count: 64) + [-9]
        let range = byHand.withUnsafeBufferPointer { valueRange($0.baseAddress!, count: $0.count) }
        XCTAssertEqual(range.min, -9)
        XCTAssertEqual(range.max, 7.5)
        XCTAssertFalse(range.hasNaN)
    }

    func testActivationsByHand() {
        var x: [Float] = [-2, -0.5, 0, 3, 7]
        Activation.relu.apply(&x, count: 5)
        XCTAssertEqual(x, [0, 0, 0, 3, 7])
        x = [-2, -0.5, 0, 3, 7]
        Activation.clip(lower: 0, upper: 6).apply(&x, count: 5)
        XCTAssertEqual(x, [0, 0, 0, 3, 6])
        x = [-2, -0.5, 0, 3, 7]
        Activation.leakyRelu(alpha: 0.1).apply(&x, count: 5)
        XCTAssertEqual(x, [-0.2, -0.05, 0, 3, 7])
        x = [-4, -1.5, 0, 1.5, 4]
        Activation.hardSwish.apply(&x, count: 5)
        XCTAssertEqual(x, [0, -0.375, 0, 1.125, 4])
        x = [0]
        Activation.sigmoid.apply(&x, count: 1)
        XCTAssertEqual(x, [0.5])
        x = [Float.nan]
        Activation.relu.apply(&x, count: 1)
        XCTAssertTrue(x[0].isNaN, "NaN stays NaN through ReLU")
    }

    func testBroadcastingAddMatchesNumpyRules() {
        XCTAssertEqual(broadcastShape([3, 1, 4], [2, 1]), [3, 2, 4])
        XCTAssertNil(broadcastShape([3], [4]))
        let a: [Float] = [1, 2, 3]           // [3, 1]
        let b: [Float] = [10, 20]            // [2]
        var out = [Float](repeating: 0, count: 6)
        broadcastBinary(.add, a, aStrides: broadcastStrides([3, 1], to: [3, 2]),
                        b, bStrides: broadcastStrides([2], to: [3, 2]), &out, outShape: [3, 2])
        XCTAssertEqual(out, [11, 21, 12, 22, 13, 23])
        broadcastBinary(.div, b, aStrides: broadcastStrides([2], to: [3, 2]),
                        a, bStrides: broadcastStrides([3, 1], to: [3, 2]), &out, outShape: [3, 2])
        XCTAssertEqual(out, [10, 20, 5, 10, 10.0 / 3, 20.0 / 3])
    }

    func testSoftmaxSumsToOneAndIsShiftInvariant() {
        let x: [Float] = [1, 2, 3, 1001, 1002, 1003]
        var y = [Float](repeating: 0, count: 6)
        softmax(x, &y, outer: 2, axis: 3, inner: 1)
        XCTAssertEqual(y[0] + y[1] + y[2], 1, accuracy: 1e-6)
        for i in 0..<3 { XCTAssertEqual(y[i], y[i + 3], accuracy: 1e-6) }
        XCTAssertEqual(y[2], 1 / (1 + exp(-1) + exp(-2)), accuracy: 1e-6)
    }

    func testChannelAffineAndPRelu() {
        let x: [Float] = [1, -1, 2, -2]
        var y = [Float](repeating: 0, count: 4)
        channelAffine(x, &y, channels: 2, plane: 2, scale: [2, 3], shift: [1, -1])
        XCTAssertEqual(y, [3, -1, 5, -7])
        var z: [Float] = [1, -1, 2, -2]
        preluPerChannel(&z, channels: 2, plane: 2, slopes: [0.5, 0.25], slopeCount: 2)
        XCTAssertEqual(z, [1, -0.5, 2, -0.5])
    }
}

import EqQuant
import EqTensor
import XCTest

/// The quantization maths pinned by hand-computed values.
final class QuantSchemeTests: XCTestCase {
    func int8(_ symmetric: Bool = true, narrow: Bool = false, rounding: Rounding = .halfToEven,
              pow2: QuantScheme.PowerOfTwo? = nil, granularity: QuantScheme.Granularity = .perTensor) throws -> QuantScheme {
        try QuantScheme(bits: 8, signed: true, symmetric: symmetric, granularity: granularity,
                        narrowRange: narrow, rounding: rounding, powerOfTwo: pow2)
    }

    func testTiesUnderBothRoundingModes() {
        let even = FakeQuantizer(scale: 1, zeroPoint: 0, qmin: -128, qmax: 127, rounding: .halfToEven)
        let away = FakeQuantizer(scale: 1, zeroPoint: 0, qmin: -128, qmax: 127, rounding: .halfAwayFromZero)
        let ties: [Float] = [0.5, 1.5, 2.5, -0.5, -1.5, -2.5]
        XCTAssertEqual(ties.map { even($0) }, [0, 2, 2, 0, -2, -2])
        XCTAssertEqual(ties.map { away($0) }, [1, 2, 3, -1, -2, -3])
        var buffer = ties
        away.apply(&buffer, count: buffer.count)
        XCTAssertEqual(buffer, [1, 2, 3, -1, -2, -3], "the SIMD path agrees with the scalar one")
        // The vectorized half-to-even path: ties, clamping at both ends, a zero point, NaN.
        buffer = ties + [300, -300, 126.5, .nan]
        even.apply(&buffer, count: buffer.count)
        XCTAssertEqual(buffer.dropLast(), [0, 2, 2, 0, -2, -2, 127, -128, 126])
        XCTAssertTrue(buffer.last!.isNaN)
        let shifted = FakeQuantizer(scale: 0.5, zeroPoint: 3, qmin: 0, qmax: 255)
        buffer = [-1.5, -1.25, 0.25, 0.75, 200]
        shifted.apply(&buffer, count: buffer.count)
        XCTAssertEqual(buffer, [-1.5, -1, 0, 1, 126], "codes 0, 1 (−2.5 → even −2, +3), 3, 5, 255")
        XCTAssertEqual(buffer, [-1.25, 0.25, 0.75].reduce(into: [Float(-1.5)]) { $0.append(shifted($1)) } + [shifted(200)])
    }

    /// The in-place and out-of-place loops compute x/s without a divide
    /// (`ExactQuotient`); their codes must be the divide's (`callAsFunction`)
    /// everywhere, and above all next to the ties k + 0.5, where a quotient
    /// one ulp off rounds the other way. Without Markstein's correction step
    /// it fails: at scale 1/255, 0.005882353 gave code 1 where the divide gives 2.
    func testDivideFreeQuantizerMatchesTheDivideNearEveryTie() {
        var random = SeededRandom(seed: 7)
        var scales: [Float] = [1, 0.5, 1.0 / 255, 6.0 / 255, 0.1, 0.0235294, 1.99999988, 0.99999994, 3e-7, 0x1p-60, 0x1p60,
                               0x1p-61, 1e-30]  // the last two are outside the divide-free range
        scales += (0..<40).map { _ in Float(exp2(Double.random(in: -20...8, using: &random))) }
        for scale in scales {
            for (qmin, qmax, zero) in [(-128, 127, 0), (0, 255, 37), (-32768, 32767, 0), (0, 65535, 1000)] {
                let quantizer = FakeQuantizer(scale: scale, zeroPoint: zero, qmin: qmin, qmax: qmax)
                var values: [Float] = [0, -0, .infinity, -.infinity, .greatestFiniteMagnitude, -.greatestFiniteMagnitude,
                                       .leastNonzeroMagnitude, 1e-38, -1e-38]
                for _ in 0..<400 {
                    let k = Float(Int.random(in: (qmin - zero - 3)...(qmax - zero + 3), using: &random))
                    var x = (k + 0.5) * scale
                    for _ in 0..<3 { x = x.nextDown }
                    for _ in 0..<7 { values.append(x); x = x.nextUp }
                }
                let expected = values.map { quantizer($0) }
                var inPlace = values
                quantizer.apply(&inPlace, count: values.count)
                var copied = [Float](repeating: .nan, count: values.count)
                quantizer.apply(from: values, to: &copied, count: values.count)
                for (i, value) in values.enumerated() where inPlace[i] != expected[i] || copied[i] != expected[i] {
                    XCTFail("scale \(scale), codes \(qmin)...\(qmax), zero point \(zero): \(value) → \(inPlace[i]) in place, "
                            + "\(copied[i]) copied, \(expected[i]) by division")
                    return
                }
            }
        }
        var nan: [Float] = [.nan]
        FakeQuantizer(scale: 0.1, zeroPoint: 0, qmin: -128, qmax: 127).apply(&nan, count: 1)
        XCTAssertTrue(nan[0].isNaN)
    }

    func testNarrowRangeDropsTheLowestCode() throws {
        XCTAssertEqual(try int8(narrow: true).qmin, -127)
        XCTAssertEqual(try int8().qmin, -128)
        let narrow = try int8(narrow: true).quantizer(min: -1, max: 1)
        XCTAssertEqual(narrow.scale, 1.0 / 127)
        XCTAssertEqual(narrow(-2), -1, accuracy: 1e-7)                 // clamps at −127·s
        let wide = try int8().quantizer(min: -1, max: 1)
        XCTAssertEqual(wide(-2), -128.0 / 127, accuracy: 1e-7)         // clamps at −128·s
    }

    func testAsymmetricZeroPoint() throws {
        let scheme = try QuantScheme(bits: 8, signed: false, symmetric: false)
        let q = try scheme.quantizer(min: -1, max: 3)
        XCTAssertEqual(q.scale, 4.0 / 255, accuracy: 1e-9)
        XCTAssertEqual(q.zeroPoint, 64)                               // round(63.75)
        XCTAssertEqual(q(0), 0, "zero is exact")
        XCTAssertEqual(q(3), 191 * 4.0 / 255, accuracy: 1e-6)         // code 255
        XCTAssertEqual(q(-5), -64 * 4.0 / 255, accuracy: 1e-6)        // clamps at code 0
        // A range that excludes zero is widened to contain it.
        let positive = try scheme.quantizer(min: 2, max: 4)
        XCTAssertEqual(positive.zeroPoint, 0)
        XCTAssertEqual(positive.scale, 4.0 / 255, accuracy: 1e-9)
    }

    func testUnsignedSymmetricCentresTheZeroPoint() throws {
        let q = try QuantScheme(bits: 8, signed: false, symmetric: true).quantizer(min: -2, max: 1)
        XCTAssertEqual(q.zeroPoint, 128)
        XCTAssertEqual(q.scale, 2.0 / 127, accuracy: 1e-9)
    }

    func testPerChannelUsesOneScalePerOutputChannel() throws {
        let weight = Tensor(shape: [2, 2], data: [1, -0.5, 0.01, 0.02])
        let perChannel = try int8(granularity: .perChannel).weightQuantizers(weight, tensor: "w")
        XCTAssertEqual(perChannel.map(\.scale), [1.0 / 127, 0.02 / 127])
        let pc = weight.fakeQuantized(perChannel)
        XCTAssertEqual(pc.data[2], 0.01, accuracy: 1e-4)
        XCTAssertEqual(pc.data[3], 0.02, accuracy: 1e-7)
        let pt = weight.fakeQuantized(try int8().weightQuantizers(weight, tensor: "w"))
        XCTAssertEqual(pt.data[2], 1.0 / 127, accuracy: 1e-7)          // 0.01·127 = 1.27 → code 1
        XCTAssertEqual(pt.data[3], 3.0 / 127, accuracy: 1e-7)          // 2.54 → code 3
    }

    func testPowerOfTwoStepsWithCeilAndFloor() throws {
        // max |w| = 1, signed 8 bits: step 1/127 ≈ 2^−6.99 → ceil 2^−6, floor 2^−7.
        let ceil = try int8(pow2: .ceil).quantizer(min: -1, max: 1)
        let floor = try int8(pow2: .floor).quantizer(min: -1, max: 1)
        XCTAssertEqual(ceil.scale, 1.0 / 64)
        XCTAssertEqual(floor.scale, 1.0 / 128)
        XCTAssertEqual(ceil(1), 1)                                      // code 64
        XCTAssertEqual(floor(1), 127.0 / 128)                           // code 128 clamps to 127
        // nnabla's rule for 4 signed bits, max |w| = 0.3: 2^ceil(log2(0.3/7)) = 2^−4.
        let nnabla = try QuantScheme(bits: 4, signed: true, symmetric: true, powerOfTwo: .ceil).quantizer(min: -0.3, max: 0.2)
        XCTAssertEqual(nnabla.scale, 1.0 / 16)
        // Asymmetric: the zero point is recomputed for the rounded step.
        let asym = try QuantScheme(bits: 8, signed: false, symmetric: false, powerOfTwo: .ceil).quantizer(min: -1, max: 3)
        XCTAssertEqual(asym.scale, 1.0 / 32)                            // 4/255 → 2^−5
        XCTAssertEqual(asym.zeroPoint, 32)
    }

    func testFourAndSixteenBits() throws {
        let four = try QuantScheme(bits: 4, signed: true, symmetric: true).quantizer(min: -7, max: 7)
        XCTAssertEqual([four.qmin, four.qmax], [-8, 7])
        XCTAssertEqual(four.scale, 1)
        XCTAssertEqual([3.5, 10, -9].map { four($0) }, [4, 7, -8])
        let sixteen = try QuantScheme(bits: 16, signed: false, symmetric: false).quantizer(min: 0, max: 65535)
        XCTAssertEqual(sixteen.qmax, 65535)
        XCTAssertEqual(sixteen.scale, 1)
        XCTAssertEqual(sixteen(1234.5), 1234)
        XCTAssertEqual(sixteen(1235.5), 1236)
        XCTAssertThrowsError(try QuantScheme(bits: 17, signed: true, symmetric: true))
        XCTAssertThrowsError(try QuantScheme(bits: 1, signed: true, symmetric: true))
    }

    func testAllZeroAndConstantTensorsGiveNoNaN() throws {
        for scheme in [try int8(), try QuantScheme(bits: 8, signed: false, symmetric: false)] {
            for constant: Float in [0, 5, -3] {
                let t = Tensor(shape: [2, 3], repeating: constant)
                let q = try scheme.weightQuantizers(t, tensor: "w")
                XCTAssertTrue(q.allSatisfy { $0.scale > 0 && $0.scale.isFinite })
                let out = t.fakeQuantized(q)
                XCTAssertFalse(out.hasNonFinite)
                for v in out.data { XCTAssertEqual(v, constant, accuracy: abs(constant) * 1e-6 + 1e-7) }
            }
        }
        XCTAssertEqual(try int8().quantizer(min: 0, max: 0).scale, 1)
    }

    func testNaNIsRejected() throws {
        XCTAssertThrowsError(try int8().quantizer(min: .nan, max: 1))
        XCTAssertThrowsError(try int8().quantizer(min: -1, max: .infinity))
        XCTAssertThrowsError(try int8().weightQuantizers(Tensor(shape: [2], data: [1, .nan]), tensor: "conv3 weight")) { error in
            XCTAssertEqual(String(describing: error), "conv3 weight: weight contains NaN")
        }
        var observer = RangeObserver(.minMax)
        XCTAssertThrowsError(try [Float(1), .nan].withUnsafeBufferPointer { try observer.observe($0) })
    }
}

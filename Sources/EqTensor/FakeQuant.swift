/// How x/s is rounded to an integer code.
public enum Rounding: String, Equatable, Sendable {
    /// Ties to the even code, as ONNX QuantizeLinear and IEEE 754 do.
    case halfToEven
    /// Ties away from zero, as TensorFlow's fake-quant ops do.
    case halfAwayFromZero
}

/// Quantize-dequantize with one scale and zero point (one tensor, or one
/// channel of a per-channel weight):
///
///   q = clamp(round(x / s) + z, qmin, qmax),   x̂ = (q − z) · s
///
/// Codes are kept in Float (exact for |q| < 2^24, so up to 16-bit schemes). A
/// value that is NaN stays NaN.
public struct FakeQuantizer: Equatable, Sendable, CustomStringConvertible {
    public var scale: Float
    public var zeroPoint: Float
    public var qmin: Float
    public var qmax: Float
    public var rounding: Rounding

    public init(scale: Float, zeroPoint: Int, qmin: Int, qmax: Int, rounding: Rounding = .halfToEven) {
        precondition(scale > 0 && scale.isFinite, "scale must be positive and finite, got \(scale)")
        precondition(qmin < qmax && zeroPoint >= qmin && zeroPoint <= qmax)
        self.scale = scale
        self.zeroPoint = Float(zeroPoint)
        self.qmin = Float(qmin)
        self.qmax = Float(qmax)
        self.rounding = rounding
    }

    /// The smallest and largest values the codes represent.
    public var representableRange: (min: Float, max: Float) {
        ((qmin - zeroPoint) * scale, (qmax - zeroPoint) * scale)
    }

    /// The integer code of one value.
    @inlinable
    public func code(_ x: Float) -> Float {
        let scaled = x / scale
        let r = rounding == .halfToEven ? scaled.rounded(.toNearestOrEven) : scaled.rounded(.toNearestOrAwayFromZero)
        return Swift.min(Swift.max(r + zeroPoint, qmin), qmax)
    }

    /// Quantize-dequantize of one value.
    @inlinable
    public func callAsFunction(_ x: Float) -> Float { (code(x) - zeroPoint) * scale }

    /// Quantize-dequantize of `count` values in place.
    ///
    /// Half-to-even clamps x/s to the code range first (the bounds are
    /// integers, so clamping and rounding commute) and then rounds with the
    /// 1.5·2^23 trick: adding and subtracting it leaves the nearest integer,
    /// ties to even, for |v| < 2^22 (codes are at most 16 bits). Select-only
    /// arithmetic, so the loop vectorizes (`rounded(.toNearestOrEven)` is a
    /// libm call per element). NaN stays NaN.
    /// x/s itself comes from `ExactQuotient` (no divide instruction) for
    /// every scale it covers, and there x is clamped instead of x/s (same
    /// codes; see the two-argument `roundTripHalfToEven`).
    /// (In place and out of place are separate loops: one loop called with
    /// equal pointers fails the vectorizer's overlap check and runs scalar.)
    @inlinable
    public func apply(_ x: UnsafeMutablePointer<Float>, count: Int) {
        if rounding == .halfToEven {
            if let quotient = ExactQuotient(divisor: scale) {
                for i in 0..<count { x[i] = roundTripHalfToEven(x[i], quotient) }
            } else {
                for i in 0..<count { x[i] = roundTripHalfToEven(x[i]) }
            }
        } else {
            for i in 0..<count { x[i] = callAsFunction(x[i]) }
        }
    }

    /// Quantize-dequantize of `count` values from `source` into a separate
    /// `destination`.
    @inlinable
    public func apply(from source: UnsafePointer<Float>, to destination: UnsafeMutablePointer<Float>, count: Int) {
        if rounding == .halfToEven {
            if let quotient = ExactQuotient(divisor: scale) {
                for i in 0..<count { destination[i] = roundTripHalfToEven(source[i], quotient) }
            } else {
                for i in 0..<count { destination[i] = roundTripHalfToEven(source[i]) }
            }
        } else {
            for i in 0..<count { destination[i] = callAsFunction(source[i]) }
        }
    }

    /// x[i] = clamp(q(x[i]) + residual[i], lower, upper), q this quantizer:
    /// in int8 simulation, the fake quant of a conv's output, the residual Add
    /// that reads it and a ReLU or clip after the Add (±∞ for none), in one
    /// pass (`ExecutionPlan` fuses them). The arithmetic of the three separate
    /// passes, so the same floats; it saves the separate Add's reads and
    /// writes of three tensors.
    @inlinable
    public func applyThenAdd(_ x: UnsafeMutablePointer<Float>, residual: UnsafePointer<Float>,
                             lower: Float, upper: Float, count: Int) {
        @inline(__always) func clamp(_ v: Float) -> Float { v < lower ? lower : (v > upper ? upper : v) }
        if rounding == .halfToEven {
            if let quotient = ExactQuotient(divisor: scale) {
                for i in 0..<count { x[i] = clamp(roundTripHalfToEven(x[i], quotient) + residual[i]) }
            } else {
                for i in 0..<count { x[i] = clamp(roundTripHalfToEven(x[i]) + residual[i]) }
            }
        } else {
            for i in 0..<count { x[i] = clamp(callAsFunction(x[i]) + residual[i]) }
        }
    }

    /// Half-to-even quantize-dequantize of one value, select-only (see `apply`).
    @inlinable @inline(__always)
    func roundTripHalfToEven(_ x: Float) -> Float {
        let magic: Float = 12_582_912
        let low = qmin - zeroPoint, high = qmax - zeroPoint
        var v = x / scale
        v = v < low ? low : v
        v = v > high ? high : v
        return ((v + magic) - magic) * scale
    }

    /// `roundTripHalfToEven` with x/s from `quotient`, which gives the same
    /// float wherever it can change a code (see `ExactQuotient`). Here x is
    /// clamped to [low·s, high·s] (low = qmin − z, high = qmax − z) before
    /// the quotient, rather than x/s to [low, high] after it: each end is one
    /// rounding from its exact product, so its quotient lies within
    /// 2·|code|·2^-24 < 0.5 of its code (codes under 2^20) and rounds to it,
    /// and any x inside has the quotient it had. This clamp, held within the
    /// quotient's ±2^20·s, replaces both earlier ones: 8 operations per
    /// value, not 10, in a loop bound by them.
    @inlinable @inline(__always)
    func roundTripHalfToEven(_ x: Float, _ quotient: ExactQuotient) -> Float {
        let magic: Float = 12_582_912
        let lower = Swift.max((qmin - zeroPoint) * scale, -quotient.cap)
        let upper = Swift.min((qmax - zeroPoint) * scale, quotient.cap)
        let v = quotient.of(x, within: lower, upper)
        return ((v + magic) - magic) * scale
    }

    public var description: String {
        "scale \(scale), zero point \(Int(zeroPoint)), codes \(Int(qmin))...\(Int(qmax))"
    }
}

/// x / d without a divide instruction, for the fake quant's x / scale: the
/// packed divide was most of the int8 simulation's extra time (commit 7802556).
///
/// With y = RN(1/d), q = RN(x·y) is within one ulp of x/d, the remainder
/// r = x − q·d is exact as one fused multiply-add, and RN(q + r·y) is the
/// correctly rounded quotient RN(x/d) (Markstein's correction; Muller et al.,
/// Handbook of Floating-Point Arithmetic, §4.7 and §9.4), so the result is the
/// divide's. The proof needs r not to underflow and x·y not to overflow:
/// x is first clamped to ±2^20·d, past which every code is clamped anyway
/// (codes are at most 16 bits; NaN passes the clamp), and only divisors in
/// [2^-60, 2^60] are taken (`init` fails outside), so every x whose quotient
/// could round to a non-zero code is at least 2^-62 in magnitude and its
/// remainder is representable. Quotients under about 2^-100 can still differ
/// from the divide's in their last bits; they round to code 0 either way.
/// Checked exhaustively, in C with the same operations, over every float x
/// with |x/d| < 70 000 for d = 0.0235294, 0.1, 0.013, 1.99999988,
/// 0.99999994 (mantissas of all ones, where a plain x·y is most often off)
/// and 7.3e-5: no int8 code differed from the divide's.
public struct ExactQuotient: Sendable {
    public let divisor: Float
    public let reciprocal: Float
    /// 2^20 · divisor: |x| beyond it gives |x/d| > 2^20 and a clamped code.
    public let cap: Float

    @inlinable
    public init?(divisor: Float) {
        guard divisor >= 0x1p-60, divisor <= 0x1p60 else { return nil }
        self.divisor = divisor
        reciprocal = 1 / divisor
        cap = 0x1p20 * divisor
    }

    /// x / divisor, correctly rounded for |x / divisor| in [2^-100, 2^20],
    /// ±(about 2^20) beyond, NaN for NaN.
    @inlinable @inline(__always)
    public func of(_ x: Float) -> Float { of(x, within: -cap, cap) }

    /// x / divisor with x first clamped to [lower, upper], which must lie
    /// within ±`cap` (the range where the quotient is exact); NaN for NaN.
    @inlinable @inline(__always)
    public func of(_ x: Float, within lower: Float, _ upper: Float) -> Float {
        var c = x < lower ? lower : x
        c = c > upper ? upper : c
        let q = c * reciprocal
        let r = c.addingProduct(-q, divisor)
        return q.addingProduct(r, reciprocal)
    }
}

extension Tensor {
    /// Quantize-dequantize of a weight: one quantizer for the whole tensor, or
    /// one per slice along axis 0 (the output channel of conv and linear weights).
    /// The result is new storage, whose first touch (page faults) dominates on
    /// large weights; `apply` in place avoids it.
    public func fakeQuantized(_ quantizers: [FakeQuantizer]) -> Tensor {
        precondition(quantizers.count == 1 || quantizers.count == shape[0],
                     "\(quantizers.count) quantizers for \(shape[0]) channels")
        guard count > 0 else { return self }
        // One pass from this tensor's storage into the new one: no copy of
        // the weight before quantizing it.
        let row = count / Swift.max(shape.first ?? 1, 1)
        let quantized = data.withUnsafeBufferPointer { source in
            [Float](unsafeUninitializedCapacity: count) { destination, initialized in
                let from = source.baseAddress!, to = destination.baseAddress!
                if quantizers.count == 1 {
                    quantizers[0].apply(from: from, to: to, count: count)
                } else {
                    for (c, q) in quantizers.enumerated() { q.apply(from: from + c * row, to: to + c * row, count: row) }
                }
                initialized = count
            }
        }
        return Tensor(shape: shape, data: quantized)
    }

    /// Minimum and maximum along axis 0 slices (or of everything when `perChannel`
    /// is false). NaN is reported through the returned flag.
    public func channelRanges(perChannel: Bool) -> (ranges: [(min: Float, max: Float)], hasNaN: Bool) {
        let channels = perChannel ? Swift.max(shape.first ?? 1, 1) : 1
        let row = count / channels
        var ranges = [(min: Float, max: Float)]()
        var nan = false
        data.withUnsafeBufferPointer { p in
            for c in 0..<channels {
                let range = row == 0 ? (min: Float.infinity, max: -Float.infinity, hasNaN: false)
                    : valueRange(p.baseAddress! + c * row, count: row)
                if range.hasNaN { nan = true }
                ranges.append((range.min, range.max))
            }
        }
        return (ranges, nan)
    }
}

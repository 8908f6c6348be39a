import EqTensor
import Foundation

/// How a tensor is quantized: bit width, sign, symmetry, granularity, narrow
/// range, rounding and power-of-two steps. `quantizer(min:max:)` turns an
/// observed range into the scale and zero point of a `FakeQuantizer`.
///
/// Codes: signed n bits → [−2^(n−1), 2^(n−1) − 1], unsigned → [0, 2^n − 1];
/// narrow range drops the lowest code (TF's `narrow_range`).
///
/// Encodings, with the range first widened to contain 0 (so zero is exact):
/// - symmetric, signed: z = 0, s = max(|min|, |max|) / qmax;
/// - symmetric, unsigned: z = ⌈(qmin + qmax) / 2⌉, s = max(|min|, |max|) / (qmax − z);
/// - asymmetric: s = (max − min) / (qmax − qmin), z = clamp(qmin − round(min / s));
/// - power of two: s = 2^⌈log2 s⌉ (or ⌊·⌋), as nnabla's fixed-point converter:
///   step = 2^ceil(log2(max|w| / (2^(n−1) − 1))); the zero point is recomputed.
/// An all-zero range gives s = 1 (every value maps to the zero point, exactly).
public struct QuantScheme: Equatable, Sendable, CustomStringConvertible {
    public enum Granularity: String, Equatable, Sendable {
        case perTensor = "per-tensor"
        /// One encoding per slice along axis 0: the output channel of conv and linear weights.
        case perChannel = "per-channel"
    }

    public enum PowerOfTwo: String, Equatable, Sendable { case ceil, floor }

    public var bits: Int
    public var signed: Bool
    public var symmetric: Bool
    public var granularity: Granularity
    public var narrowRange: Bool
    public var rounding: Rounding
    public var powerOfTwo: PowerOfTwo?

    public init(bits: Int, signed: Bool, symmetric: Bool, granularity: Granularity = .perTensor,
                narrowRange: Bool = false, rounding: Rounding = .halfToEven, powerOfTwo: PowerOfTwo? = nil) throws {
        guard (2...16).contains(bits) else { throw QuantError("bit width \(bits) is outside 2...16") }
        self.bits = bits; self.signed = signed; self.symmetric = symmetric
        self.granularity = granularity; self.narrowRange = narrowRange
        self.rounding = rounding; self.powerOfTwo = powerOfTwo
    }

    public var qmin: Int { (signed ? -(1 << (bits - 1)) : 0) + (narrowRange ? 1 : 0) }
    public var qmax: Int { signed ? (1 << (bits - 1)) - 1 : (1 << bits) - 1 }

    /// The encoding for values observed in [min, max].
    public func quantizer(min: Float, max: Float) throws -> FakeQuantizer {
        guard !min.isNaN, !max.isNaN else { throw QuantError("range contains NaN") }
        guard min.isFinite, max.isFinite else { throw QuantError("range [\(min), \(max)] is not finite") }
        let lo = Swift.min(min, 0), hi = Swift.max(max, 0)
        var zero: Int
        var scale: Float
        if symmetric {
            let magnitude = Swift.max(-lo, hi)
            zero = signed ? 0 : (qmin + qmax + 1) / 2
            scale = magnitude / Float(qmax - zero)
        } else {
            scale = (hi - lo) / Float(qmax - qmin)
            zero = 0
        }
        if !(scale > 0) || !scale.isFinite { scale = 1 }   // all-zero range
        if let powerOfTwo {
            let exponent = log2(scale)
            scale = exp2(powerOfTwo == .ceil ? exponent.rounded(.up) : exponent.rounded(.down))
        }
        if !symmetric {
            let ideal = (Float(qmin) - lo / scale).rounded(.toNearestOrEven)
            zero = Int(Swift.min(Swift.max(ideal, Float(qmin)), Float(qmax)))
        }
        return FakeQuantizer(scale: scale, zeroPoint: zero, qmin: qmin, qmax: qmax, rounding: rounding)
    }

    /// Quantizers for a weight tensor (one, or one per output channel) from its
    /// own min and max; a NaN weight is an error naming `tensor`.
    public func weightQuantizers(_ weight: Tensor, tensor: String) throws -> [FakeQuantizer] {
        let (ranges, hasNaN) = weight.channelRanges(perChannel: granularity == .perChannel)
        if hasNaN { throw QuantError("\(tensor): weight contains NaN") }
        return try ranges.map { try quantizer(min: $0.min, max: $0.max) }
    }

    /// E.g. "int8 sym per-channel", "uint8 asym per-tensor pow2-ceil narrow".
    public var description: String {
        var parts = ["\(signed ? "int" : "uint")\(bits)", symmetric ? "sym" : "asym", granularity.rawValue]
        if let powerOfTwo { parts.append("pow2-\(powerOfTwo.rawValue)") }
        if narrowRange { parts.append("narrow") }
        if rounding == .halfAwayFromZero { parts.append("round-away") }
        return parts.joined(separator: " ")
    }
}

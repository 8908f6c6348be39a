import Foundation

/// An elementwise activation that a layer can apply in its epilogue.
///
/// relu: max(x, 0). clip: min(max(x, lower), upper) (ReLU6 is clip(0, 6)).
/// leakyRelu: x ≥ 0 ? x : α·x. sigmoid: 1 / (1 + e^−x).
/// hardSigmoid: max(0, min(1, α·x + β)). hardSwish: x · max(0, min(1, x/6 + 1/2)).
/// silu (swish): x · sigmoid(x); ONNX has no such op before opset 24, so the
/// runtime forms it from Mul(x, Sigmoid(x)) when nothing else reads the sigmoid.
/// NaN stays NaN through relu and clip, as in ONNX Runtime.
public enum Activation: Equatable, Sendable {
    case relu
    case clip(lower: Float, upper: Float)
    case leakyRelu(alpha: Float)
    case sigmoid
    case hardSigmoid(alpha: Float, beta: Float)
    case hardSwish
    case silu

    /// Applies the activation in place to `count` elements.
    @inlinable
    public func apply(_ x: UnsafeMutablePointer<Float>, count: Int) {
        switch self {
        case .relu:
            // A select, not a conditional store, so the loop vectorizes; NaN stays NaN.
            for i in 0..<count { let v = x[i]; x[i] = v < 0 ? 0 : v }
        case let .clip(lower, upper):
            for i in 0..<count {
                let v = x[i]
                x[i] = v < lower ? lower : (v > upper ? upper : v)
            }
        case let .leakyRelu(alpha):
            for i in 0..<count { let v = x[i]; x[i] = v < 0 ? v * alpha : v }
        case .sigmoid:
            logisticInPlace(x, count: count, timesInput: false)
        case .silu:
            logisticInPlace(x, count: count, timesInput: true)
        case let .hardSigmoid(alpha, beta):
            for i in 0..<count { x[i] = Swift.max(0, Swift.min(1, alpha * x[i] + beta)) }
        case .hardSwish:
            for i in 0..<count {
                let v = x[i]
                x[i] = v * Swift.max(0, Swift.min(1, v / 6 + 0.5))
            }
        }
    }

    /// y = f(x) for `count` elements (an activation step whose input and
    /// output are different buffers): copied and activated in L1-sized chunks,
    /// so memory sees one pass and each formula is written once, in place (a
    /// two-pointer loop would need the vectorizer's overlap check, which fails
    /// and runs scalar whenever the caller passes the same buffer twice).
    @inlinable
    public func apply(_ x: UnsafePointer<Float>, to y: UnsafeMutablePointer<Float>, count: Int) {
        let chunk = 2048
        for start in stride(from: 0, to: count, by: chunk) {
            let n = Swift.min(chunk, count - start)
            (y + start).update(from: x + start, count: n)
            apply(y + start, count: n)
        }
    }
}

/// PRelu with a slope per channel (or one shared slope when `slopes` has one
/// element): x ≥ 0 ? x : slope[c]·x, over `channels` planes of `plane` elements.
@inlinable
public func preluPerChannel(_ x: UnsafeMutablePointer<Float>, channels: Int, plane: Int,
                            slopes: UnsafePointer<Float>, slopeCount: Int) {
    for c in 0..<channels {
        let s = slopes[slopeCount == 1 ? 0 : c]
        let row = x + c * plane
        for i in 0..<plane where row[i] < 0 { row[i] *= s }
    }
}

/// y = x · scale[c] + shift[c] over `channels` planes: an inference-mode batch
/// norm (scale = γ/√(σ²+ε), shift = β − μ·scale) or any per-channel affine op.
@inlinable
public func channelAffine(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                          channels: Int, plane: Int,
                          scale: UnsafePointer<Float>, shift: UnsafePointer<Float>) {
    for c in 0..<channels {
        let s = scale[c], t = shift[c]
        let src = x + c * plane, dst = y + c * plane
        for i in 0..<plane { dst[i] = src[i] * s + t }
    }
}

/// Softmax over the middle axis of a tensor viewed as [outer, axis, inner],
/// computed as e^(x − max) / Σ e^(x − max) for stability.
@inlinable
public func softmax(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                    outer: Int, axis: Int, inner: Int) {
    for o in 0..<outer {
        for i in 0..<inner {
            let base = o * axis * inner + i
            var top = -Float.infinity
            for a in 0..<axis { top = max(top, x[base + a * inner]) }
            var sum: Float = 0
            for a in 0..<axis {
                let e = Foundation.exp(x[base + a * inner] - top)
                y[base + a * inner] = e
                sum += e
            }
            for a in 0..<axis { y[base + a * inner] /= sum }
        }
    }
}

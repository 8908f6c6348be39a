import EqGraph
import EqRuntime
import EqTensor
import Foundation

/// SmoothQuant-style scaling (Xiao et al. 2023; the SMOOTHQ_MINVAL of
/// SiMa.ai's channel_scaling): for a Gemm or 1×1 conv with input channels j,
///
///   s_j = max|X_j|^α / max|W_j|^(1−α),   floored at SMOOTHQ_MINVAL = 0.01,
///
/// with max|X_j| observed on the calibration images and max|W_j| over the
/// weight's input column j. The input is divided by s and the weight columns
/// multiplied by it, which leaves the float function unchanged and moves
/// activation outliers into the weights. The division is absorbed by the
/// producer of X when it is a conv, linear layer or batch norm read by nothing
/// else; otherwise a per-channel Mul node (1/s) is inserted before the layer.
public struct SmoothQuant: GraphPass {
    public static let minimumScale: Float = 0.01
    public let name = "smoothquant"
    public let floatEffect = FloatEffect.preserves
    public let needsCalibrationData = true
    public var alpha: Float

    public init(alpha: Float = 0.5) { self.alpha = alpha }

    /// Layers SmoothQuant applies to: Gemm and unpadded 1×1 stride-1 group-1 convs.
    static func isCandidate(_ op: Op) -> Bool {
        switch op {
        case .linear: return true
        case let .conv(c): return c.group == 1 && c.geometry.isPointwise
        default: return false
        }
    }

    /// s_j from the two per-channel maxima; channels with no signal keep 1.
    public static func scales(activationMax: [Float], weightMax: [Float], alpha: Float) -> [Float] {
        zip(activationMax, weightMax).map { x, w in
            guard x > 0, w > 0 else { return 1 }
            return max(Float(pow(Double(x), Double(alpha)) / pow(Double(w), Double(1 - alpha))), minimumScale)
        }
    }

    public func apply(to graph: inout Graph, context: inout PassContext) throws -> PassReport {
        try InputChannelScaling.apply(name, to: &graph, context: &context, candidates: Self.isCandidate) { layer, stats in
            Self.scales(activationMax: zip(stats.min, stats.max).map { max(abs($0), abs($1)) },
                        weightMax: LayerScaling.inputRanges(layer), alpha: alpha)
        } details: { absorbed, inserted in
            "alpha \(alpha): \(absorbed) absorbed by the producer, \(inserted) Mul node\(inserted == 1 ? "" : "s") inserted"
        }
    }
}

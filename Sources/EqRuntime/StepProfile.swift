import Dispatch
import EqTensor

/// The time of one step of a compiled graph, per image: what `eqbench bench`
/// writes to kernels.csv so a user can see which layers of their model cost
/// what, and how close each conv and linear layer runs to the machine's
/// multiply-add peak (GFLOP/s = 2 · multiply-adds / seconds).
public struct StepProfile: Equatable, Sendable {
    /// The node that runs, then the nodes fused into it (batch norm, activation).
    public var nodes: [String]
    /// The kernel, e.g. "conv 3x3/2 tapColumns", "depthwise 3x3", "add".
    public var kernel: String
    /// Per-image output shape.
    public var outputShape: [Int]
    public var secondsPerImage: Double
    /// 2 × multiply-adds per image (convs and linear layers; 0 for the rest).
    public var flopsPerImage: Double

    public var gflops: Double? {
        flopsPerImage > 0 && secondsPerImage > 0 ? flopsPerImage / secondsPerImage / 1e9 : nil
    }
}

extension Executor {
    /// Runs `input` on one worker, `repeats` times, timing every step of the
    /// plan; each step's time is the best of the repeats, divided by the
    /// batch size. One thread, so the times add up to the batch's time and
    /// none of it is waiting for another worker. The first repeat also warms
    /// the arena's buffers.
    public func profile(_ input: Tensor, repeats: Int = 3) throws -> [StepProfile] {
        try validate(input)
        let plan = self.plan(keeping: [])
        let arena = checkoutArena(plan: plan, key: [])
        defer { returnArena(arena, key: []) }
        let batch = input.shape[0]
        let sinks = plan.exports.map { ExportBuffer([Float](repeating: 0, count: batch * $0.count)) }
        var best = [Double](repeating: .infinity, count: plan.steps.count)
        var seconds = [Double](repeating: 0, count: plan.steps.count)
        ExportBuffer.withPointers(sinks[...], []) { outputs in
            input.data.withUnsafeBufferPointer { source in
                let pointer = UnsafeMutablePointer(mutating: source.baseAddress!)
                for _ in 0..<max(1, repeats) {
                    seconds.withUnsafeMutableBufferPointer { times in
                        times.update(repeating: 0)
                        for start in stride(from: 0, to: batch, by: tileSize) {
                            arena.runTile(plan, input: pointer + start * plan.inputCount, images: min(tileSize, batch - start),
                                          firstImage: start, exports: outputs, stepSeconds: times.baseAddress!)
                        }
                    }
                    best = zip(best, seconds).map { min($0, $1) }
                }
            }
        }
        return zip(plan.steps, best).map { step, time in
            StepProfile(nodes: [step.node] + step.fused, kernel: step.kernel.profileName,
                        outputShape: step.outputShape,
                        secondsPerImage: time / Double(batch), flopsPerImage: step.kernel.flopsPerImage)
        }
    }
}

extension Kernel {
    /// How the step is computed, for profiles.
    var profileName: String {
        switch self {
        case let .conv(conv):
            let g = conv.geometry
            let window = "\(g.kernelH)x\(g.kernelW)" + (g.strideH == 1 && g.strideW == 1 ? "" : "/\(g.strideH)")
            guard conv.method == .depthwise else { return "conv \(window) \(conv.method)" }
            return "depthwise \(window)" + (conv.flatDepthwise != nil ? " flat" : "")
        case .linear: return "linear"
        case .blasLinear: return "linear sgemm"
        case let .integerConv(conv):
            let g = conv.geometry
            return "conv \(g.kernelH)x\(g.kernelW)" + (g.strideH == 1 && g.strideW == 1 ? "" : "/\(g.strideH)") + " int8"
        case .integerLinear: return "linear int8"
        case .affine: return "batchnorm"
        case let .activation(a): return "\(a)".components(separatedBy: "(").first ?? "activation"
        case .clipPerChannel: return "clip per channel"
        case .prelu: return "prelu"
        case let .binary(op, _, _, _), let .binaryConstant(op, _, _, _, _): return "\(op)"
        case .concat: return "concat"
        case .maxPool: return "max pool"
        case .averagePool: return "average pool"
        case .globalAveragePool: return "global average pool"
        case .copy: return "copy"
        case .softmax: return "softmax"
        case .pad: return "pad"
        }
    }

    /// 2 × multiply-adds per image.
    var flopsPerImage: Double {
        switch self {
        case let .conv(c):
            let window = c.geometry.kernelH * c.geometry.kernelW
            return 2 * Double(c.outChannels * c.outH * c.outW * (c.inChannels / c.group) * window)
        case let .linear(layer):
            return 2 * Double(layer.inFeatures * layer.outFeatures)
        case let .blasLinear(layer):
            return 2 * Double(layer.inFeatures * layer.outFeatures)
        case let .integerConv(c):
            return 2 * Double(c.outChannels * c.pixels * c.inChannels * c.geometry.kernelH * c.geometry.kernelW)
        case let .integerLinear(layer):
            return 2 * Double(layer.inFeatures * layer.outFeatures)
        default:
            return 0
        }
    }
}

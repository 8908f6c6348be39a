import EqGraph
import EqRuntime
import EqTensor
import Foundation

/// SmoothQuant-style scaling (Xiao et al. 2023; the SMOOTHQ_MINVAL of seed
/// 000): for a Gemm or 1×1 conv with input channels j,
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
    public let preservesFloatFunction = true
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
        var report = PassReport(pass: name)
        guard let batches = context.calibrationBatches else {
            throw PassError("smoothquant needs calibration images (run it through eqbench run)")
        }
        let layers = graph.nodes.indices.filter { Self.isCandidate(graph.nodes[$0].op) }
        report.setsFound = layers.count
        guard !layers.isEmpty else { return report }
        // max |X_j| per input channel of every candidate, over the calibration images.
        let executor = try Executor(graph: graph, threads: context.threads)
        let inputs = Array(Set(layers.map { graph.nodes[$0].inputs[0] })).sorted()
        var maxima = [String: [Float]]()
        try batches { batch in
            let taps = try executor.run(batch, taps: inputs).taps
            for value in inputs {
                let t = taps[value]!
                let channels = t.shape[1], plane = t.count / (t.shape[0] * channels)
                var m = maxima[value] ?? [Float](repeating: 0, count: channels)
                t.data.withUnsafeBufferPointer { p in
                    for n in 0..<t.shape[0] { for c in 0..<channels {
                        let base = (n * channels + c) * plane
                        for i in 0..<plane { m[c] = max(m[c], abs(p[base + i])) }
                    } }
                }
                maxima[value] = m
            }
        }
        var inserted = 0
        var absorbed = 0
        // Later layers first, so inserted nodes do not shift the indices still to visit.
        for i in layers.reversed() {
            let input = graph.nodes[i].inputs[0]
            let s = Self.scales(activationMax: maxima[input]!, weightMax: LayerScaling.inputRanges(graph.nodes[i].op), alpha: alpha)
            guard s.contains(where: { $0 != 1 }) else { continue }
            LayerScaling.multiplyInputs(&graph.nodes[i].op, by: s)
            let consumers = graph.consumers()
            if let p = graph.producers()[input], consumers[input]?.count == 1, !graph.outputs.contains(input),
               Self.absorbDivision(&graph.nodes[p].op, s) {
                absorbed += 1
            } else {
                let shape = try graph.inferShapes()[input]!
                let constant = Tensor(shape: [s.count] + [Int](repeating: 1, count: shape.count - 1), data: s.map { 1 / $0 })
                let name = graph.nodes[i].name + "::smooth"
                graph.nodes.insert(Node(name: name, op: .binaryConstant(.mul, constant: constant, constantFirst: false),
                                        inputs: [input], output: name), at: i)
                graph.nodes[i + 1].inputs[0] = name
                inserted += 1
            }
            report.noteScales(s)
            report.setsScaled += 1
        }
        report.details = "alpha \(alpha): \(absorbed) absorbed by the producer, \(inserted) Mul node\(inserted == 1 ? "" : "s") inserted"
        return report
    }

    /// Divides a producer's output channels by s: conv/linear rows and bias,
    /// or a batch norm's γ and β. False when the producer cannot absorb it.
    static func absorbDivision(_ op: inout Op, _ s: [Float]) -> Bool {
        switch op {
        case .conv, .linear:
            LayerScaling.divideOutputs(&op, by: s)
            return true
        case var .batchNorm(bn):
            for c in 0..<bn.channels { bn.gamma[c] /= s[c]; bn.beta[c] /= s[c] }
            op = .batchNorm(bn)
            return true
        default:
            return false
        }
    }
}

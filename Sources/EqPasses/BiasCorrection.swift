import EqGraph
import EqQuant
import EqRuntime
import EqTensor
import Foundation

/// Bias correction (Nagel et al. 2019, §4.2): quantizing weights W → W̃ shifts
/// each layer's expected output by E[(W̃ − W)·x]; adding E[(W − W̃)·x] to the
/// bias removes that shift. The weights quantized are the precision's, on the
/// deployment (BN-folded) graph, exactly as the int8 simulation quantizes them.
///
/// - `empirical`: E[(W − W̃)·x] measured per output channel over the
///   calibration images, with x the layer's float input (the layer's own
///   error, so layers are independent; zero padding included exactly).
/// - `analytic` (data-free): E[x_i] from the statistics of the BN folded into
///   the layer that produces x, N(β_i, γ_i²) through the activation between:
///   ReLU: E = β·Φ(β/γ) + γ·φ(β/γ); Clip(0, u): E[ReLU(x)] − E[ReLU(x − u)];
///   none: β. Layers whose input has no such statistics are left alone.
///
/// Precision-dependent: at fp32 (no weight quantization) it changes nothing.
public struct BiasCorrection: GraphPass {
    public enum Mode: String, Sendable { case empirical, analytic }

    public var mode: Mode
    public var name: String { mode == .empirical ? "bc" : "bca" }
    public var needsCalibrationData: Bool { mode == .empirical }
    public var floatEffect: FloatEffect { .changes("biases shifted by the expected output error of quantized weights") }
    public let dependsOnPrecision = true
    public let provides: Set<PipelineFact> = [.biasCorrected, .foldedBatchNormStatistics]

    public init(_ mode: Mode) { self.mode = mode }

    public func apply(to graph: inout Graph, context: inout PassContext) throws -> PassReport {
        var report = PassReport(pass: name)
        guard let scheme = context.precision?.weights else {
            report.details = "nothing to correct: weights are not quantized at this precision"
            return report
        }
        context.record(graph.foldBatchNormsIntoPrecedingLayers())
        let layers = graph.nodes.indices.filter { graph.nodes[$0].op.isWeightedLayer }
        report.setsFound = layers.count
        // ΔW = W − W̃ per layer.
        var deltas = [Int: Op]()
        for i in layers {
            var op = graph.nodes[i].op
            switch op {
            case var .conv(c):
                let q = c.weight.fakeQuantized(try scheme.weightQuantizers(c.weight, tensor: "\(graph.nodes[i].name) weight"))
                c.weight = Tensor(shape: c.weight.shape, data: zip(c.weight.data, q.data).map { $0 - $1 })
                c.bias = nil
                op = .conv(c)
            case var .linear(l):
                let q = l.weight.fakeQuantized(try scheme.weightQuantizers(l.weight, tensor: "\(graph.nodes[i].name) weight"))
                l.weight = Tensor(shape: l.weight.shape, data: zip(l.weight.data, q.data).map { $0 - $1 })
                l.bias = nil
                op = .linear(l)
            default:
                continue
            }
            deltas[i] = op
        }
        let corrections = mode == .empirical
            ? try empiricalCorrections(graph, deltas: deltas, context: context)
            : analyticCorrections(graph, deltas: deltas, context: context)
        var largest: Float = 0
        for (i, correction) in corrections.sorted(by: { $0.key < $1.key }) {
            LayerScaling.addToBias(&graph.nodes[i].op, correction)
            context.biasAdded(graph.nodes[i].id, correction)
            largest = max(largest, correction.map(abs).max() ?? 0)
            report.setsScaled += 1
        }
        report.details = "\(report.setsScaled) of \(layers.count) layers corrected"
            + String(format: ", largest correction %.4g", largest)
        return report
    }

    /// Mean of ΔW·x per output channel over the calibration images: the float
    /// graph's layer inputs from the statistics service, each run through its
    /// layer's ΔW alone (a one-node graph).
    func empiricalCorrections(_ graph: Graph, deltas: [Int: Op], context: PassContext) throws -> [Int: [Float]] {
        let service = try context.requireStatistics(for: name)
        let float = try service.executor(for: graph)
        let inputs = Array(Set(deltas.keys.map { graph.nodes[$0].inputs[0] })).sorted()
        var executors = [Int: Executor]()
        for (i, op) in deltas {
            let node = graph.nodes[i]
            let alone = Graph(name: node.name, input: GraphInput(name: node.inputs[0], shape: float.shapes[node.inputs[0]]!),
                              nodes: [Node(name: node.name, op: op, inputs: node.inputs, output: node.output)],
                              outputs: [node.output])
            executors[i] = try Executor(graph: alone, threads: context.threads)
        }
        var sums = [Int: [Double]]()
        var counts = [Int: Int]()
        try service.forEachBatch(of: graph, taps: inputs) { result in
            let taps = result.taps
            for (i, executor) in executors.sorted(by: { $0.key < $1.key }) {
                let y = try executor.run(taps[graph.nodes[i].inputs[0]]!).outputs[0]
                let channels = y.shape[1], plane = y.count / (y.shape[0] * channels)
                var sum = sums[i] ?? [Double](repeating: 0, count: channels)
                for n in 0..<y.shape[0] { for c in 0..<channels {
                    var s = 0.0
                    for p in 0..<plane { s += Double(y.data[(n * channels + c) * plane + p]) }
                    sum[c] += s
                } }
                sums[i] = sum
                counts[i, default: 0] += y.shape[0] * plane
            }
        }
        guard deltas.isEmpty || !sums.isEmpty else { throw PassError("bc: no calibration images were given") }
        var means = [Int: [Float]]()
        for (i, sum) in sums { means[i] = sum.map { Float($0 / Double(counts[i]!)) } }
        return means
    }

    /// ΔW·E[x] with E[x] from folded-BN statistics (data-free).
    func analyticCorrections(_ graph: Graph, deltas: [Int: Op], context: PassContext) -> [Int: [Float]] {
        let producers = graph.producers()
        var corrections = [Int: [Float]]()
        for (i, delta) in deltas {
            var value = graph.nodes[i].inputs[0]
            var activation: Op?
            if let p = producers[value], !graph.nodes[p].op.isWeightedLayer {
                activation = graph.nodes[p].op
                value = graph.nodes[p].inputs[0]
            }
            guard let p = producers[value], let stats = context.foldedStatistics[graph.nodes[p].id] else { continue }
            let mean = zip(stats.beta, stats.gamma).enumerated().compactMap { c, pair in
                Self.expectedOutput(mean: Double(pair.0), std: Double(abs(pair.1)), through: activation, channel: c)
            }
            guard mean.count == stats.beta.count else { continue }   // an activation without a closed form
            var op = delta
            LayerScaling.absorbInputShift(&op, shift: mean.map { Float($0) })
            switch op {
            case let .conv(c): corrections[i] = c.bias?.data
            case let .linear(l): corrections[i] = l.bias?.data
            default: break
            }
        }
        return corrections
    }

    /// E[f(x)] for x ~ N(mean, std²) and f the activation (nil: identity);
    /// nil when f is not a (clipped) ReLU.
    static func expectedOutput(mean: Double, std: Double, through activation: Op?, channel: Int) -> Double? {
        func relu(_ mu: Double) -> Double {
            guard std > 1e-12 else { return max(mu, 0) }
            let z = mu / std
            return mu * 0.5 * erfc(-z / 2.0.squareRoot()) + std * exp(-z * z / 2) / (2 * Double.pi).squareRoot()
        }
        switch activation {
        case nil: return mean
        case .activation(.relu)?: return relu(mean)
        case let .activation(.clip(0, upper))?: return relu(mean) - relu(mean - Double(upper))
        case let .clipPerChannel(lower, upper)? where lower[channel] == 0:
            return relu(mean) - relu(mean - Double(upper[channel]))
        default: return nil
        }
    }
}

import EqGraph
import EqRuntime
import EqTensor
import Foundation

/// The machinery SmoothQuant and input-weight equalization share: observe
/// each candidate layer's input per channel on the calibration images, pick a
/// positive scale s_j per input channel, divide the input by s (absorbed by
/// the conv, linear layer or batch norm it comes from, through ops that
/// commute with the scale, when each is read only on that path; otherwise a
/// per-channel Mul node is inserted) and multiply the weight columns by s. The
/// float function is unchanged.
enum InputChannelScaling {
    typealias Statistics = StatisticsService.ChannelRange

    static func apply(_ pass: String, to graph: inout Graph, context: inout PassContext, candidates: (Op) -> Bool,
                      scales: (Op, Statistics) -> [Float], details: (Int, Int) -> String) throws -> PassReport {
        var report = PassReport(pass: pass)
        let service = try context.requireStatistics(for: pass)
        let layers = graph.nodes.filter { candidates($0.op) }.map(\.id)
        report.setsFound = layers.count
        guard !layers.isEmpty else { return report }
        let statistics = try service.channelRanges(of: Array(Set(layers.map { graph[$0].inputs[0] })).sorted(), in: graph)
        var inserted = 0
        var absorbed = 0
        // Later layers first, as the rounding of weights scaled on both sides has always been.
        for layer in layers.reversed() {
            let input = graph[layer].inputs[0]
            let s = scales(graph[layer].op, statistics[input]!)
            guard s.contains(where: { $0 != 1 }) else { continue }
            LayerScaling.multiplyInputs(&graph[layer].op, by: s)
            if try absorbUpstream(&graph, from: input, s, context: &context) {
                absorbed += 1
            } else {
                let shape = try graph.inferShapes()[input]!
                let constant = Tensor(shape: [s.count] + [Int](repeating: 1, count: shape.count - 1), data: s.map { 1 / $0 })
                let name = graph.uniqueName(graph[layer].name + "::" + pass)
                graph.insert(Node(name: name, op: .binaryConstant(.mul, constant: constant, constantFirst: false),
                                  inputs: [input], output: name), before: layer)
                graph[layer].inputs[0] = name
                inserted += 1
            }
            report.noteScales(s)
            report.setsScaled += 1
        }
        report.details = details(absorbed, inserted)
        return report
    }

    /// Divides `value` by s at its source: walks back through ops a scale
    /// passes through (`ChannelScaleCrossing.passesThrough`), each read only on
    /// this path, to a producer that absorbs it (`Op.absorbsOutputScale`).
    /// False (and nothing changed) when there is none.
    static func absorbUpstream(_ graph: inout Graph, from value: String, _ s: [Float], context: inout PassContext) throws -> Bool {
        let producers = graph.producers(), consumers = graph.consumers()
        let shapes = try graph.inferShapes()
        var between = [Int]()
        var current = value
        while let p = producers[current], consumers[current]?.count == 1, !graph.outputs.contains(current),
              shapes[current]?.first == s.count {
            let node = graph.nodes[p]
            if node.op.absorbsOutputScale {
                guard absorbDivision(&graph.nodes[p].op, s) else { return false }
                context.outputsDivided(node.id, by: s)
                for b in between { LayerScaling.divideBetween(&graph.nodes[b].op, by: s) }
                return true
            }
            guard node.op.channelScaleCrossing(inputs: node.inputs.map { shapes[$0]! }, output: shapes[node.output]!).passesThrough
            else { return false }
            between.append(p)
            current = node.inputs[0]
        }
        return false
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

/// Input-weight equalization for linear layers (`_equalize.py` of
/// PyTorch's FX quantization): per input column j,
///
///   s_j = √(weight column range_j / input column range_j),
///
/// the input multiplied by s_j and the weight column divided by it, with
/// ranges max − min (the weight's over its column, the input's over the
/// calibration images). For two connected linear layers the scale goes into
/// the previous layer's rows and bias instead of a Mul node; the input's
/// quantization range is then calibrated on the scaled input. Applies to Gemms
/// and unpadded 1×1 convs. Preserves the float function.
public struct InputWeightEqualization: GraphPass {
    public let name = "iwe"
    public let floatEffect = FloatEffect.preserves
    public let needsCalibrationData = true

    public init() {}

    /// s_j; channels with a zero range keep 1.
    public static func scales(weightRange: [Float], inputRange: [Float]) -> [Float] {
        zip(weightRange, inputRange).map { w, x in w > 0 && x > 0 ? (w / x).squareRoot() : 1 }
    }

    static func weightColumnRanges(_ op: Op) -> [Float] {
        let weight: Tensor
        switch op {
        case let .conv(c): weight = c.weight
        case let .linear(l): weight = l.weight
        default: return []
        }
        let (outs, ins) = (weight.shape[0], weight.shape[1])
        var lo = [Float](repeating: .infinity, count: ins), hi = [Float](repeating: -.infinity, count: ins)
        for o in 0..<outs { for i in 0..<ins {
            let v = weight.data[o * ins + i]
            lo[i] = min(lo[i], v); hi[i] = max(hi[i], v)
        } }
        return zip(lo, hi).map { $1 - $0 }
    }

    public func apply(to graph: inout Graph, context: inout PassContext) throws -> PassReport {
        // The input is multiplied by s: the shared engine divides it by 1/s.
        try InputChannelScaling.apply(name, to: &graph, context: &context, candidates: SmoothQuant.isCandidate) { layer, stats in
            Self.scales(weightRange: Self.weightColumnRanges(layer), inputRange: zip(stats.min, stats.max).map { $1 - $0 })
                .map { 1 / $0 }
        } details: { absorbed, inserted in
            "\(absorbed) scale\(absorbed == 1 ? "" : "s") folded into the previous layer, \(inserted) Mul node\(inserted == 1 ? "" : "s") inserted"
        }
    }
}

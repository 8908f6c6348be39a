import EqGraph
import EqQuant
import EqRuntime
import EqTensor
import Foundation

/// One row of `layers.csv`: a weighted layer's output or a quantized
/// activation, under one model, variant and precision.
public struct LayerRecord: Equatable, Sendable {
    public static let columns = [
        "model", "variant", "precision", "node", "op", "out_channels",
        "sqnr_cumulative_db", "sqnr_local_db", "weight_range_ratio", "act_min", "act_max",
    ]

    public var model: String
    public var variant: String
    public var precision: String
    public var node: String
    public var op: String
    public var outChannels: Int
    public var sqnrCumulative: Double
    public var sqnrLocal: Double
    public var weightRangeRatio: Double?
    public var activationRange: (min: Float, max: Float)?

    public static func == (a: LayerRecord, b: LayerRecord) -> Bool { a.fields == b.fields }

    public var fields: [String] {
        [model, variant, precision, node, op, String(outChannels), decibels(sqnrCumulative), decibels(sqnrLocal),
         weightRangeRatio.map { $0.isFinite ? String(format: "%.2f", $0) : "inf" } ?? "",
         activationRange.map { String(format: "%.6g", $0.min) } ?? "",
         activationRange.map { String(format: "%.6g", $0.max) } ?? ""]
    }
}

/// Signal-to-quantization-noise ratio, SQNR = 10·log10(Σ x² / Σ (x − x̂)²) in dB,
/// with both sums in Double, accumulated in image order (so the result does
/// not depend on the thread count). No error at all is +∞ dB.
public struct SQNRAccumulator: Sendable {
    public private(set) var signal = 0.0
    public private(set) var noise = 0.0

    public init() {}

    public mutating func add(reference: ArraySlice<Float>, quantized: ArraySlice<Float>) {
        for (x, y) in zip(reference, quantized) {
            let xd = Double(x)
            let d = xd - Double(y)
            signal += xd * xd
            noise += d * d
        }
    }

    public var decibels: Double {
        if noise == 0 { return .infinity }
        if signal == 0 { return -.infinity }
        return 10 * log10(signal / noise)
    }
}

func decibels(_ value: Double) -> String {
    value.isFinite ? String(format: "%.2f", value) : (value > 0 ? "inf" : "-inf")
}

/// Per-layer SQNR of one quantized model: **cumulative** (float run vs the
/// whole model quantized, errors accumulated from earlier layers) and
/// **local** (only this layer quantized: its weights and its output quantizer,
/// fed with the float run's inputs), so the layer that hurts stands apart from
/// the layers that inherit the damage.
struct LayerAnalysis {
    struct Row {
        var node: String
        var op: String
        var value: String
        /// For weighted layers: an executor of the layer alone, quantized.
        var local: Executor?
        var input: String?
        var cumulative = SQNRAccumulator()
        var localSQNR = SQNRAccumulator()
        var channels: Int
        var weightRangeRatio: Double?
    }

    var rows: [Row]
    let float: Executor
    let quantized: Executor
    let quantizers: [String: FakeQuantizer]

    init(plan: QuantPlan, quantizedGraph: Graph, calibration: Calibration, threads: Int) throws {
        float = try Executor(graph: plan.graph, threads: threads)
        quantized = try Executor(graph: quantizedGraph, threads: threads, activationQuantizers: calibration.quantizers)
        quantizers = calibration.quantizers
        let shapes = float.shapes
        let quantizedValues = Set(plan.quantizedValues)
        var rows = [Row(node: plan.graph.input.name, op: "Input", value: plan.graph.input.name,
                        channels: plan.graph.input.shape.first ?? 1)]
        for (i, node) in plan.graph.nodes.enumerated() {
            let weighted = node.op.isWeightedLayer
            guard weighted || quantizedValues.contains(node.output) else { continue }
            var row = Row(node: node.name, op: node.op.typeName, value: node.output, channels: shapes[node.output]!.first ?? 1)
            if weighted {
                let alone = Graph(name: node.name, input: GraphInput(name: node.inputs[0], shape: shapes[node.inputs[0]]!),
                                  nodes: [quantizedGraph.nodes[i]], outputs: [node.output])
                row.local = try Executor(graph: alone, threads: threads,
                                         activationQuantizers: quantizers[node.output].map { [node.output: $0] } ?? [:])
                row.input = node.inputs[0]
                row.weightRangeRatio = Self.rangeRatio(node.op)
            }
            rows.append(row)
        }
        self.rows = rows
    }

    /// max over channels of (max − min) divided by the min over channels.
    static func rangeRatio(_ op: Op) -> Double? {
        let weight: Tensor
        switch op {
        case let .conv(layer): weight = layer.weight
        case let .linear(layer): weight = layer.weight
        default: return nil
        }
        let spans = weight.channelRanges(perChannel: true).ranges.map { Double($0.max - $0.min) }
        guard let widest = spans.max(), let narrowest = spans.min() else { return nil }
        return narrowest > 0 ? widest / narrowest : .infinity
    }

    /// Adds one batch of images to every row's sums.
    mutating func add(_ batch: Tensor) throws {
        let values = Array(Set(rows.map(\.value) + rows.compactMap(\.input)))
        let reference = try float.run(batch, taps: values).taps
        let simulated = try quantized.run(batch, taps: rows.map(\.value)).taps
        for i in rows.indices {
            let x = reference[rows[i].value]!.data
            rows[i].cumulative.add(reference: x[...], quantized: simulated[rows[i].value]!.data[...])
            if let local = rows[i].local, let input = rows[i].input {
                let y = try local.run(reference[input]!).outputs[0].data
                rows[i].localSQNR.add(reference: x[...], quantized: y[...])
            } else if let q = quantizers[rows[i].value] {
                rows[i].localSQNR.add(reference: x[...], quantized: x.map { q($0) }[...])
            }
        }
    }
}

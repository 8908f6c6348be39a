import EqGraph
import EqTensor
import Foundation

/// Which tensors of a model are quantized under a precision, and how: the
/// deployment view of the graph that the int8 simulation runs.
///
/// - Every BatchNormalization that directly follows a Conv or linear layer is
///   folded into it first, in every variant, as int8 runtimes do; a BN that
///   cannot fold runs as a per-channel affine op with its output quantized.
/// - Weights of every Conv/Gemm/MatMul use the precision's weight scheme
///   (min-max, per tensor or per output channel); biases stay float unless the
///   precision quantizes them to int32 with scale s_input · s_weight.
/// - Activations use the activation scheme at the graph input and at the
///   output of every node that feeds a Conv, linear layer, elementwise
///   binary op (residual Add), Concat or pooling, or is a graph output, or is
///   an unfolded batch norm. An activation after a conv is therefore quantized
///   after the activation, never between (as a fused conv+relu runs).
public struct QuantPlan: Sendable {
    public let precision: Precision
    /// The graph with batch norms folded; its float function equals the original's.
    public let graph: Graph
    public let folds: [FoldedBatchNorm]
    /// Node names of the layers whose weights are quantized, in graph order.
    public let weightLayers: [String]
    /// Values whose activations are quantized, the graph input first, then in graph order.
    public let quantizedValues: [String]

    public init(graph original: Graph, precision: Precision) {
        var graph = original
        folds = precision.isFloat ? [] : graph.foldBatchNormsIntoPrecedingLayers()
        self.graph = graph
        self.precision = precision
        guard !precision.isFloat else {
            weightLayers = []
            quantizedValues = []
            return
        }
        weightLayers = graph.nodes.filter { $0.op.isWeightedLayer }.map(\.name)
        let consumers = graph.consumers()
        var values = [graph.input.name]
        for node in graph.nodes {
            let readers = (consumers[node.output] ?? []).map { graph.nodes[$0].op }
            if case .reshape = node.op, values.contains(node.inputs[0]) { continue }
            let quantized = graph.outputs.contains(node.output)
                || { if case .batchNorm = node.op { return true } else { return false } }()
                || readers.contains(where: \.readsQuantizedInput)
            if quantized { values.append(node.output) }
        }
        quantizedValues = values
    }

    /// The node that produces a value, or nil for the graph input.
    public func producer(of value: String) -> Node? { graph.nodes.first { $0.output == value } }

    /// The plan as `eqbench inspect --precision` prints it.
    public func describe() -> String {
        guard !precision.isFloat else { return "precision fp32: nothing is quantized" }
        var lines = ["precision \(precision.name)",
                     "weights: \(precision.weightsDescription); biases: \(precision.quantizeBias ? "int32 (scale s_in·s_w)" : "float")",
                     "activations: \(precision.activationsDescription)", ""]
        lines.append("batch norms folded into the layer before them (\(folds.count)):")
        lines += folds.map { "  \($0.batchNorm) → \($0.layer)" }
        let unfolded = graph.nodes.filter { if case .batchNorm = $0.op { return true } else { return false } }
        if !unfolded.isEmpty {
            lines.append("batch norms that cannot fold, run as per-channel affine ops (\(unfolded.count)):")
            lines += unfolded.map { "  \($0.name)" }
        }
        lines.append("quantized weights (\(weightLayers.count) layers):")
        lines += weightLayers.map { "  \($0)" }
        lines.append("quantized activations (\(quantizedValues.count) values):")
        for value in quantizedValues {
            let source = producer(of: value).map { "\($0.name) (\($0.op.typeName))" } ?? "graph input"
            lines.append("  \(value) ← \(source)")
        }
        return lines.joined(separator: "\n")
    }
}

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
/// - Nodes named in `floatLayers` run in float, as ONNX Runtime's
///   `nodes_to_exclude` and NNCF's ignored scope leave them: their weights
///   keep float values, and a value is not quantized for their sake (a value
///   they read is quantized only when another reader needs it, their output
///   only when a quantized reader does).
public struct QuantPlan: Sendable {
    public let precision: Precision
    /// The graph with batch norms folded; its float function equals the original's.
    public let graph: Graph
    public let folds: [FoldedBatchNorm]
    /// Node names of the layers whose weights are quantized, in graph order.
    public let weightLayers: [String]
    /// Values whose activations are quantized, the graph input first, then in graph order.
    public let quantizedValues: [String]
    /// Nodes kept in float (`--float-layers`), as given.
    public let floatLayers: Set<String>

    public init(graph original: Graph, precision: Precision, floatLayers: Set<String> = []) {
        var graph = original
        folds = precision.isFloat ? [] : graph.foldBatchNormsIntoPrecedingLayers()
        self.graph = graph
        self.precision = precision
        self.floatLayers = floatLayers
        guard !precision.isFloat else {
            weightLayers = []
            quantizedValues = []
            return
        }
        let quantizedNodes = graph.nodes.map { !floatLayers.contains($0.name) }
        weightLayers = graph.nodes.enumerated().filter { quantizedNodes[$0.offset] && $0.element.op.isWeightedLayer }.map(\.element.name)
        let consumers = graph.consumers()
        func readQuantized(_ value: String) -> Bool {
            (consumers[value] ?? []).contains { quantizedNodes[$0] && graph.nodes[$0].op.readsQuantizedInput }
        }
        var values = [String]()
        if floatLayers.isEmpty || readQuantized(graph.input.name) { values.append(graph.input.name) }
        for (i, node) in graph.nodes.enumerated() {
            if case .reshape = node.op, values.contains(node.inputs[0]) { continue }
            let own = quantizedNodes[i] && (graph.outputs.contains(node.output)
                || { if case .batchNorm = node.op { return true } else { return false } }())
            if own || readQuantized(node.output) { values.append(node.output) }
        }
        quantizedValues = values
    }

    /// Checks that every name of `floatLayers` is a Conv or linear layer of
    /// `graph`; the error names the first that is not, and lists some that are.
    public static func checkFloatLayers(_ floatLayers: [String], in graph: Graph, source: String) throws {
        let layers = graph.nodes.filter(\.op.isWeightedLayer).map(\.name)
        for name in floatLayers where !layers.contains(name) {
            let kind = graph.nodes.first { $0.name == name }.map { "is a \($0.op.typeName), not a Conv or linear layer" } ?? "is not a node of the model"
            throw QuantError("\(source): float layer '\(name)' \(kind); its layers are \(layers.prefix(8).joined(separator: ", "))\(layers.count > 8 ? ", … (eqbench inspect lists them all)" : "")")
        }
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
        let kept = graph.nodes.filter { floatLayers.contains($0.name) }.map(\.name)
        if !kept.isEmpty {
            lines.append("layers kept in float (\(kept.count), --float-layers):")
            lines += kept.map { "  \($0)" }
        }
        lines.append("quantized weights (\(weightLayers.count) layers):")
        lines += weightLayers.map { "  \($0)" }
        let integer = Set(integerLayerNames)
        lines.append("with --int8 integer, \(integer.count) of these run on the integer kernels; on fake quant:"
                     + (integer.count == weightLayers.count ? " none" : ""))
        lines += weightLayers.filter { !integer.contains($0) }.map { "  \($0)" }
        lines.append("quantized activations (\(quantizedValues.count) values):")
        for value in quantizedValues {
            let source = producer(of: value).map { "\($0.name) (\($0.op.typeName))" } ?? "graph input"
            lines.append("  \(value) ← \(source)")
        }
        return lines.joined(separator: "\n")
    }
}

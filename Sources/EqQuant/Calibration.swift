import EqGraph
import EqRuntime
import EqTensor
import Foundation

/// Frozen activation encodings: for each quantized value, the estimated range
/// and the quantizer derived from it.
public struct Calibration: Sendable {
    public var ranges: [String: (min: Float, max: Float)]
    public var quantizers: [String: FakeQuantizer]
    public var images: Int

    public init(ranges: [String: (min: Float, max: Float)], quantizers: [String: FakeQuantizer], images: Int) {
        self.ranges = ranges; self.quantizers = quantizers; self.images = images
    }
}

extension QuantPlan {
    /// Runs the float deployment graph over the service's calibration
    /// batches, feeds every quantized value to its observer (in batch order,
    /// so the result does not depend on the thread count; a batch too large
    /// to tap at once in parts, closed by `endBatch`) and freezes the encodings.
    public func calibrate(using service: StatisticsService) throws -> Calibration {
        guard let scheme = precision.activations else { return Calibration(ranges: [:], quantizers: [:], images: 0) }
        var observers = [String: RangeObserver]()
        for value in quantizedValues { observers[value] = RangeObserver(precision.estimator) }
        try service.forEachPart(of: graph, taps: quantizedValues) { result, endsBatch in
            for value in quantizedValues {
                do {
                    try result.taps[value]!.data.withUnsafeBufferPointer { try observers[value]!.observePart($0) }
                    if endsBatch { observers[value]!.endBatch() }
                } catch let error as QuantError {
                    throw QuantError("\(value): \(error.message) during calibration")
                }
            }
        }
        let images = service.imageCount
        var ranges = [String: (min: Float, max: Float)]()
        var quantizers = [String: FakeQuantizer]()
        for value in quantizedValues {
            let range = try observers[value]!.range(for: scheme)
            ranges[value] = range
            quantizers[value] = try scheme.quantizer(min: range.min, max: range.max)
        }
        return Calibration(ranges: ranges, quantizers: quantizers, images: images)
    }

    /// The deployment graph with every planned weight (and, with int32 biases,
    /// every bias) replaced by its quantize-dequantize value.
    public func quantizedGraph(_ calibration: Calibration) throws -> Graph {
        guard let scheme = precision.weights else { return graph }
        var quantized = graph
        let planned = Set(weightLayers)
        for (i, node) in graph.nodes.enumerated() where planned.contains(node.name) {
            switch node.op {
            case var .conv(layer):
                let q = try scheme.weightQuantizers(layer.weight, tensor: "\(node.name) weight")
                layer.weight = layer.weight.fakeQuantized(q)
                layer.bias = try quantizedBias(layer.bias, weightQuantizers: q, input: node.inputs[0], calibration, node: node.name)
                quantized.nodes[i].op = .conv(layer)
            case var .linear(layer):
                let q = try scheme.weightQuantizers(layer.weight, tensor: "\(node.name) weight")
                layer.weight = layer.weight.fakeQuantized(q)
                layer.bias = try quantizedBias(layer.bias, weightQuantizers: q, input: node.inputs[0], calibration, node: node.name)
                quantized.nodes[i].op = .linear(layer)
            default:
                continue
            }
        }
        return quantized
    }

    /// int32 bias quantization with scale s_input · s_weight[c], rounding half
    /// to even (done in Double: int32 codes exceed Float's exact integers).
    func quantizedBias(_ bias: Tensor?, weightQuantizers: [FakeQuantizer], input: String,
                       _ calibration: Calibration, node: String) throws -> Tensor? {
        guard precision.quantizeBias, let bias else { return bias }
        guard let inputScale = quantizer(reaching: input, calibration)?.scale else {
            throw QuantError("\(node): its input '\(input)' is not quantized, so its bias has no int32 scale")
        }
        let limit = Double(Int32.max)
        return Tensor(shape: bias.shape, data: bias.data.enumerated().map { c, b in
            let scale = Double(inputScale) * Double(weightQuantizers[weightQuantizers.count == 1 ? 0 : c].scale)
            let q = min(max((Double(b) / scale).rounded(.toNearestOrEven), -limit - 1), limit)
            return Float(q * scale)
        })
    }

    /// The encoding of the codes a layer reading `value` receives: the value's
    /// own, or that of the quantized value a chain of reshapes (Flatten, …)
    /// passes on unchanged; nil when the input is not quantized.
    public func quantizer(reaching value: String, _ calibration: Calibration) -> FakeQuantizer? {
        var current = value
        while true {
            if let q = calibration.quantizers[current] { return q }
            guard let node = producer(of: current), case .reshape = node.op else { return nil }
            current = node.inputs[0]
        }
    }
}

extension QuantPlan {
    /// The quantized layers the integer kernels cover, known before
    /// calibration: group-1 convs that are not depthwise and linear layers,
    /// with symmetric signed weights of at most 8 bits and an input that is a
    /// quantized value (through reshapes) of at most 8 unsigned bits.
    public var integerLayerNames: [String] {
        guard let w = precision.weights, let a = precision.activations,
              w.symmetric, w.signed, w.bits <= 8, !a.signed, a.bits <= 8 else { return [] }
        let planned = Set(weightLayers), quantized = Set(quantizedValues)
        func isQuantized(_ value: String) -> Bool {
            if quantized.contains(value) { return true }
            guard let node = producer(of: value), case .reshape = node.op else { return false }
            return isQuantized(node.inputs[0])
        }
        return graph.nodes.filter { planned.contains($0.name) && $0.op.runsAsOneGemm && isQuantized($0.inputs[0]) }.map(\.name)
    }

    /// For `Int8Path.integer`: the input and weight encodings of each layer
    /// of `integerLayerNames`, by node. The others keep fake quant.
    public func integerEncodings(_ calibration: Calibration) throws -> [NodeID: IntegerEncodings] {
        guard let scheme = precision.weights else { return [:] }
        let covered = Set(integerLayerNames)
        var encodings = [NodeID: IntegerEncodings]()
        for node in graph.nodes where covered.contains(node.name) {
            guard let weight = node.op.layerWeight, let input = quantizer(reaching: node.inputs[0], calibration) else { continue }
            let layer = IntegerEncodings(input: input, weights: try scheme.weightQuantizers(weight, tensor: "\(node.name) weight"))
            if layer.fitsU8S8 { encodings[node.id] = layer }
        }
        return encodings
    }
}

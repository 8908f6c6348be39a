import EqGraph
import EqONNX
import EqPasses
import EqQuant
import EqTensor
import Foundation

/// The encodings of a calibrated plan as deployment tools take them: the QDQ
/// annotation the ONNX exporter writes, and AIMET's `.encodings` JSON
/// (activation_encodings / param_encodings keyed by the exported tensor names,
/// each entry {bitwidth, dtype, is_symmetric, scale, offset, min, max} with
/// AIMET's offset convention x = (code + offset) · scale, code ∈ [0, 2^bits − 1]).
public struct DeploymentEncodings: Sendable {
    public var annotation: QDQAnnotation
    /// Weight encodings by the exported weight's name (`<node>.weight`).
    public var parameters: [(name: String, encodings: [FakeQuantizer])]
    /// int32 bias scales by the exported bias's name (`<node>.bias`).
    public var biases: [(name: String, scales: [Double])]
    /// What the user should know about the files.
    public var notes: [String]

    /// One AIMET encoding entry.
    static func entry(_ q: FakeQuantizer, bits: Int, symmetric: Bool) -> JSONValue {
        let offset = Double(q.qmin - q.zeroPoint)
        let scale = Double(q.scale)
        return .object([
            "bitwidth": .number(Double(bits)), "dtype": .string("int"),
            "is_symmetric": .string(symmetric ? "True" : "False"),
            "scale": .number(shortest(q.scale)), "offset": .number(offset),
            "min": .number(shortest(Float(offset * scale))),
            "max": .number(shortest(Float((offset + Double(q.qmax - q.qmin)) * scale))),
        ])
    }

    /// A float's shortest decimal form, as a Double (so the JSON reads 0.0123, not 0.012299999594688416).
    static func shortest(_ value: Float) -> Double { Double("\(value)") ?? Double(value) }

    /// AIMET's `.encodings` layout, keys sorted, so the bytes depend only on the encodings.
    public func aimetJSON(precision: Precision) throws -> Data {
        guard let weights = precision.weights, let activations = precision.activations else {
            throw HarnessError("precision fp32 has no encodings")
        }
        var activationEntries = [String: JSONValue]()
        for (value, q) in annotation.activations {
            activationEntries[value] = .array([Self.entry(q, bits: activations.bits, symmetric: activations.symmetric)])
        }
        var parameterEntries = [String: JSONValue]()
        for (name, encodings) in parameters {
            parameterEntries[name] = .array(encodings.map { Self.entry($0, bits: weights.bits, symmetric: weights.symmetric) })
        }
        for (name, scales) in biases {
            parameterEntries[name] = .array(scales.map { scale in
                .object(["bitwidth": .number(32), "dtype": .string("int"), "is_symmetric": .string("True"),
                         "scale": .number(Self.shortest(Float(scale))), "offset": .number(-2147483648),
                         "min": .number(-2147483648 * Self.shortest(Float(scale))),
                         "max": .number(2147483647 * Self.shortest(Float(scale)))])
            })
        }
        let json: JSONValue = .object([
            "version": .string("0.6.1"),
            "activation_encodings": .object(activationEntries),
            "param_encodings": .object(parameterEntries),
            "excluded_layers": .array([]),
            "quantizer_args": .object([
                "activation_bitwidth": .number(Double(activations.bits)), "param_bitwidth": .number(Double(weights.bits)),
                "dtype": .string("int"), "is_symmetric": .bool(weights.symmetric),
                "per_channel_quantization": .bool(weights.granularity == .perChannel),
                "quant_scheme": .string(precision.estimator == .minMax ? "post_training_tf" : "\(precision.estimator)"),
            ]),
        ])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(json)
    }
}

extension QuantPlan {
    /// The calibrated plan's encodings for export: every quantized activation,
    /// every weighted layer's weight encodings (from the weights' own ranges,
    /// as `quantizedGraph` computes them), and int32 bias scales
    /// s_input · s_weight[c] for each layer whose input is quantized.
    ///
    /// int8 runtimes need int32 biases, so the QDQ model has them whatever the
    /// precision; a precision without `-b32` simulated float biases, and a note says so.
    public func deploymentEncodings(_ calibration: Calibration, unsignedWeightCodes: Bool = false) throws -> DeploymentEncodings {
        guard let scheme = precision.weights else { throw HarnessError("precision fp32 has no encodings") }
        var annotation = QDQAnnotation(activations: calibration.quantizers, weights: [:], biasScales: [:],
                                       unsignedWeightCodes: unsignedWeightCodes)
        var parameters = [(name: String, encodings: [FakeQuantizer])]()
        var biases = [(name: String, scales: [Double])]()
        var floatBiases = [String]()
        let quantizedLayers = Set(weightLayers)
        for node in graph.nodes where quantizedLayers.contains(node.name) {
            let weight: Tensor, bias: Tensor?
            switch node.op {
            case let .conv(layer): (weight, bias) = (layer.weight, layer.bias)
            case let .linear(layer): (weight, bias) = (layer.weight, layer.bias)
            default: continue
            }
            let encodings = try scheme.weightQuantizers(weight, tensor: "\(node.name) weight")
            annotation.weights[node.id] = encodings
            parameters.append((node.name + ".weight", encodings))
            guard let bias else { continue }
            guard let input = quantizer(reaching: node.inputs[0], calibration) else {
                floatBiases.append(node.name)
                continue
            }
            let scales = (0..<bias.data.count).map { c in
                Double(input.scale) * Double(encodings[encodings.count == 1 ? 0 : c].scale)
            }
            annotation.biasScales[node.id] = scales
            if precision.quantizeBias { biases.append((node.name + ".bias", scales)) }
        }
        var notes = [String]()
        if !precision.quantizeBias && !annotation.biasScales.isEmpty {
            notes.append("biases are int32 (scale s_input·s_weight) in the QDQ model, as int8 runtimes need; \(precision.name) simulated float biases, \(precision.name)-b32 simulates these")
        }
        if !floatBiases.isEmpty {
            notes.append("biases stay float where a layer's input is not quantized: \(floatBiases.joined(separator: ", "))")
        }
        return DeploymentEncodings(annotation: annotation, parameters: parameters, biases: biases, notes: notes)
    }
}

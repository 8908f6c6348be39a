import EqGraph
import EqTensor
import Foundation

/// Quantization to write into an exported model in ONNX's QDQ form: a
/// QuantizeLinear → DequantizeLinear pair after every quantized activation,
/// weights stored as int8 codes read through a DequantizeLinear (axis 0 when
/// per channel), biases as int32 codes with scale s_input · s_weight[c].
/// ONNX Runtime fuses these pairs into its integer kernels (QLinearConv, …).
///
/// Codes are 8-bit (QuantizeLinear before opset 21 has no narrower or wider
/// type), so every encoding must have a code range inside int8 or uint8.
public struct QDQAnnotation: Sendable {
    /// Encodings of activation values, by value name.
    public var activations: [String: FakeQuantizer]
    /// Weight encodings of weighted layers (one, or one per output channel), by node id.
    public var weights: [NodeID: [FakeQuantizer]]
    /// Per output channel, the scale s_input · s_weight[c] of a layer's int32
    /// bias, by node id; a layer without an entry keeps a float bias.
    public var biasScales: [NodeID: [Double]]

    /// Store signed weight codes as uint8 shifted by 128 (zero point 128):
    /// the same values, but ONNX Runtime then multiplies u8×u8 without the
    /// int16 pair saturation of its AVX2 u8×s8 kernel (VPMADDUBSW).
    public var unsignedWeightCodes: Bool

    public init(activations: [String: FakeQuantizer], weights: [NodeID: [FakeQuantizer]], biasScales: [NodeID: [Double]],
                unsignedWeightCodes: Bool = false) {
        self.activations = activations; self.weights = weights; self.biasScales = biasScales
        self.unsignedWeightCodes = unsignedWeightCodes
    }
}

/// Why a graph could not be written as ONNX.
public struct ONNXExportError: Error, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Writes eqbench's `Graph` as an ONNX model (ai.onnx opset 17) that any ONNX
/// runtime executes with the same float function, optionally with QDQ
/// quantization. Every op maps to standard ONNX ops: layers to Conv/Gemm
/// with their weights as initializers named `<node>.weight` and
/// `<node>.bias`, per-channel clips to Max/Min with [C, 1, …] bounds, SiLU to
/// Sigmoid·Mul. Activation values keep their names, so encodings keyed by
/// them apply to the exported file. The bytes depend only on the graph and
/// the annotation (no timestamps, fixed field order).
public enum ONNXExporter {
    public static let opset = 17

    /// The model file's bytes; `docString` becomes the model's doc_string
    /// (eqbench writes what the file is, as JSON, for scripts/check_export.py).
    public static func serialize(_ graph: Graph, quantization: QDQAnnotation? = nil, producerVersion: String = "",
                                 docString: String = "") throws -> Data {
        let shapes: [String: [Int]]
        do {
            shapes = try graph.inferShapes()
        } catch {
            throw ONNXExportError("graph \(graph.name): \(error)")
        }
        var writer = ExportWriter(graph: graph, shapes: shapes, quantization: quantization)
        try writer.writeAll()

        var proto = Onnx_GraphProto()
        proto.name = graph.name
        proto.node = writer.nodes
        proto.initializer = writer.initializers
        proto.input = [ProtoBuilding.valueInfo(graph.input.name, perSampleShape: graph.input.shape)]
        proto.output = graph.outputs.map { ProtoBuilding.valueInfo($0, perSampleShape: shapes[$0]!) }

        var model = Onnx_ModelProto()
        model.irVersion = 8
        var opsetID = Onnx_OperatorSetIdProto()
        opsetID.domain = ""
        opsetID.version = Int64(opset)
        model.opsetImport = [opsetID]
        model.producerName = "eqbench"
        model.producerVersion = producerVersion
        model.docString = docString
        model.graph = proto
        return try model.serializedData()
    }
}

/// The nodes and initializers of one export, in graph order.
struct ExportWriter {
    let graph: Graph
    let shapes: [String: [Int]]
    let quantization: QDQAnnotation?
    var nodes = [Onnx_NodeProto]()
    var initializers = [Onnx_TensorProto]()
    /// Names of values, nodes and initializers written so far.
    var taken = Set<String>()
    /// What each graph value is read as downstream (its dequantized copy once quantized).
    var readName = [String: String]()

    init(graph: Graph, shapes: [String: [Int]], quantization: QDQAnnotation?) {
        self.graph = graph; self.shapes = shapes; self.quantization = quantization
        taken = Set(graph.nodes.flatMap { [$0.name, $0.output] } + [graph.input.name])
    }

    mutating func writeAll() throws {
        try quantizeActivation(graph.input.name, producedAs: graph.input.name)
        for node in graph.nodes {
            // A quantized graph output keeps its name on the dequantized copy.
            let quantizedOutput = quantization?.activations[node.output] != nil && graph.outputs.contains(node.output)
            let written = quantizedOutput ? fresh(node.output + "_float") : node.output
            try write(node, output: written)
            try quantizeActivation(node.output, producedAs: written)
        }
    }

    /// `base`, or `base` with the first free suffix; reserved from then on.
    mutating func fresh(_ base: String) -> String {
        var name = base
        var k = 2
        while taken.contains(name) { name = "\(base)_\(k)"; k += 1 }
        taken.insert(name)
        return name
    }

    func input(_ value: String) -> String { readName[value] ?? value }

    mutating func constant(_ base: String, _ tensor: Onnx_TensorProto) -> String {
        var t = tensor
        t.name = fresh(base)
        initializers.append(t)
        return t.name
    }

    mutating func floatConstant(_ base: String, _ t: Tensor) -> String {
        constant(base, ProtoBuilding.floatTensor("", t))
    }

    mutating func emit(_ opType: String, _ name: String, _ inputs: [String], _ output: String,
                       _ attributes: [Onnx_AttributeProto] = []) {
        nodes.append(ProtoBuilding.node(opType, name: name, inputs: inputs, output: output, attributes: attributes))
    }

    /// A per-channel vector (axis 0 of the per-sample shape) shaped to broadcast: [C, 1, …, 1].
    func channelShape(_ count: Int, like value: String) -> [Int] {
        let rank = shapes[value]?.count ?? 1
        return [count] + [Int](repeating: 1, count: max(rank - 1, 0))
    }

    mutating func write(_ node: Node, output: String) throws {
        let x = node.inputs.map(input)
        let name = node.name
        switch node.op {
        case let .conv(layer):
            let g = layer.geometry
            let attributes = [
                ProtoBuilding.attribute("kernel_shape", ints: [g.kernelH, g.kernelW]),
                ProtoBuilding.attribute("strides", ints: [g.strideH, g.strideW]),
                ProtoBuilding.attribute("dilations", ints: [g.dilationH, g.dilationW]),
                ProtoBuilding.attribute("pads", ints: [g.padTop, g.padLeft, g.padBottom, g.padRight]),
                ProtoBuilding.attribute("group", int: layer.group),
            ]
            let (w, b) = try parameters(of: node, weight: layer.weight, bias: layer.bias, input: node.inputs[0])
            emit("Conv", name, [x[0], w] + b, output, attributes)
        case let .linear(layer):
            let (w, b) = try parameters(of: node, weight: layer.weight, bias: layer.bias, input: node.inputs[0])
            emit("Gemm", name, [x[0], w] + b, output, [ProtoBuilding.attribute("transB", int: 1)])
        case let .batchNorm(bn):
            let c = [bn.channels]
            let inputs = [x[0],
                          floatConstant(name + ".scale", Tensor(shape: c, data: bn.gamma)),
                          floatConstant(name + ".bias", Tensor(shape: c, data: bn.beta)),
                          floatConstant(name + ".mean", Tensor(shape: c, data: bn.mean)),
                          floatConstant(name + ".var", Tensor(shape: c, data: bn.variance))]
            emit("BatchNormalization", name, inputs, output, [ProtoBuilding.attribute("epsilon", float: bn.epsilon)])
        case let .activation(activation):
            writeActivation(activation, name: name, input: x[0], output: output)
        case let .clipPerChannel(lower, upper):
            let shape = channelShape(lower.count, like: node.inputs[0])
            let floor = fresh(name + "_lower")
            emit("Max", floor, [x[0], floatConstant(name + ".lower", Tensor(shape: shape, data: lower))], floor)
            emit("Min", name, [floor, floatConstant(name + ".upper", Tensor(shape: shape, data: upper))], output)
        case let .prelu(slopes):
            let shape = slopes.count == 1 ? [1] : channelShape(slopes.count, like: node.inputs[0])
            emit("PRelu", name, [x[0], floatConstant(name + ".slope", Tensor(shape: shape, data: slopes))], output)
        case let .binary(op):
            emit(Self.onnxName(op), name, x, output)
        case let .binaryConstant(op, constant, constantFirst):
            let c = floatConstant(name + ".constant", constant)
            emit(Self.onnxName(op), name, constantFirst ? [c, x[0]] : [x[0], c], output)
        case let .concat(axis):
            emit("Concat", name, x, output, [ProtoBuilding.attribute("axis", int: axis)])
        case let .maxPool(g):
            emit("MaxPool", name, [x[0]], output, poolAttributes(g) + [ProtoBuilding.attribute("dilations", ints: [g.dilationH, g.dilationW])])
        case let .averagePool(g, countIncludePad):
            guard g.dilationH == 1 && g.dilationW == 1 else {
                throw ONNXExportError("node \(name): AveragePool with dilations needs opset 19; eqbench writes opset \(ONNXExporter.opset)")
            }
            emit("AveragePool", name, [x[0]], output,
                 poolAttributes(g) + [ProtoBuilding.attribute("count_include_pad", int: countIncludePad ? 1 : 0)])
        case .globalAveragePool:
            emit("GlobalAveragePool", name, [x[0]], output)
        case let .reshape(to):
            // 0 copies the batch dimension from the input.
            let shape = constant(name + ".shape", ProtoBuilding.int64Tensor("", shape: [to.count + 1], values: [0] + to))
            emit("Reshape", name, [x[0], shape], output)
        case let .softmax(axis, coerced2D):
            writeSoftmax(axis: axis, coerced2D: coerced2D, name: name, input: node.inputs[0], output: output)
        case let .pad(pads, value):
            let half = pads.count / 2
            let all = [0] + pads[..<half] + [0] + pads[half...]
            let padsName = constant(name + ".pads", ProtoBuilding.int64Tensor("", shape: [all.count], values: Array(all)))
            let valueName = floatConstant(name + ".value", Tensor(shape: [], data: [value]))
            emit("Pad", name, [x[0], padsName, valueName], output)
        }
    }

    static func onnxName(_ op: BinaryOperator) -> String {
        switch op {
        case .add: return "Add"
        case .sub: return "Sub"
        case .mul: return "Mul"
        case .div: return "Div"
        }
    }

    func poolAttributes(_ g: WindowGeometry) -> [Onnx_AttributeProto] {
        [ProtoBuilding.attribute("kernel_shape", ints: [g.kernelH, g.kernelW]),
         ProtoBuilding.attribute("strides", ints: [g.strideH, g.strideW]),
         ProtoBuilding.attribute("pads", ints: [g.padTop, g.padLeft, g.padBottom, g.padRight]),
         ProtoBuilding.attribute("ceil_mode", int: g.ceilMode ? 1 : 0)]
    }

    mutating func writeActivation(_ activation: Activation, name: String, input x: String, output: String) {
        switch activation {
        case .relu:
            emit("Relu", name, [x], output)
        case let .clip(lower, upper):
            let lo = floatConstant(name + ".min", Tensor(shape: [], data: [lower]))
            let hi = floatConstant(name + ".max", Tensor(shape: [], data: [upper]))
            emit("Clip", name, [x, lo, hi], output)
        case let .leakyRelu(alpha):
            emit("LeakyRelu", name, [x], output, [ProtoBuilding.attribute("alpha", float: alpha)])
        case .sigmoid:
            emit("Sigmoid", name, [x], output)
        case let .hardSigmoid(alpha, beta):
            emit("HardSigmoid", name, [x], output,
                 [ProtoBuilding.attribute("alpha", float: alpha), ProtoBuilding.attribute("beta", float: beta)])
        case .hardSwish:
            emit("HardSwish", name, [x], output)
        case .silu:
            let gate = fresh(name + "_sigmoid")
            emit("Sigmoid", gate, [x], gate)
            emit("Mul", name, [x, gate], output)
        }
    }

    /// Opset 13's Softmax normalises one axis; the older flattening meaning is
    /// Flatten → Softmax(axis 1) → Reshape back, unless `axis` is already the last.
    mutating func writeSoftmax(axis: Int, coerced2D: Bool, name: String, input value: String, output: String) {
        let perSample = shapes[value]!
        let rank = perSample.count + 1
        let normalized = axis < 0 ? axis + rank : axis
        guard coerced2D, normalized != rank - 1 else {
            emit("Softmax", name, [input(value)], output, [ProtoBuilding.attribute("axis", int: axis)])
            return
        }
        let flat = fresh(name + "_flat"), soft = fresh(name + "_2d")
        emit("Flatten", flat, [input(value)], flat, [ProtoBuilding.attribute("axis", int: normalized)])
        emit("Softmax", soft, [flat], soft, [ProtoBuilding.attribute("axis", int: 1)])
        let shape = constant(name + ".shape", ProtoBuilding.int64Tensor("", shape: [rank], values: [0] + perSample))
        emit("Reshape", name, [soft, shape], output)
    }
}

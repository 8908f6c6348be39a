import EqGraph
@testable import EqONNX
import EqRuntime
import EqTensor
import Foundation
import XCTest

/// ONNXExporter: every op of the IR written as ONNX and read back by the
/// importer computes what it computed before; QDQ files hold the codes and
/// scales worked out by hand; the bytes depend only on the graph.
final class ExportRoundTripTests: XCTestCase {
    var rng = SeededRandom(seed: 7)

    func random(_ shape: [Int], scale: Float = 1) -> Tensor {
        Tensor(shape: shape, data: (0..<shape.reduce(1, *)).map { _ in Float.random(in: -scale...scale, using: &rng) })
    }

    /// A graph using every op type of the IR, on a [3, 8, 8] input.
    func everyOpGraph() -> Graph {
        let conv = ConvLayer(weight: random([4, 3, 3, 3], scale: 0.5), bias: random([4]),
                             geometry: WindowGeometry(kernelH: 3, kernelW: 3, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1), group: 1)
        let depthwise = ConvLayer(weight: random([4, 1, 3, 3]), bias: nil,
                                  geometry: WindowGeometry(kernelH: 3, kernelW: 3, strideH: 2, strideW: 2, dilationH: 1, dilationW: 1,
                                                           padTop: 1, padLeft: 1, padBottom: 0, padRight: 0), group: 4)
        let bn = BatchNorm(gamma: [1.2, 0.8, 1, 0.5], beta: [0.1, -0.1, 0, 0.2], mean: [0, 0.1, -0.1, 0.3],
                           variance: [1, 0.5, 2, 1.5], epsilon: 1e-5)
        let nodes: [Node] = [
            Node(name: "conv", op: .conv(conv), inputs: ["x"], output: "c"),
            Node(name: "bn", op: .batchNorm(bn), inputs: ["c"], output: "b"),
            Node(name: "relu6", op: .clipPerChannel(lower: [0, 0, 0, 0], upper: [6, 3, 5, 2]), inputs: ["b"], output: "r"),
            Node(name: "dw", op: .conv(depthwise), inputs: ["r"], output: "d"),
            Node(name: "hswish", op: .activation(.hardSwish), inputs: ["d"], output: "h"),
            Node(name: "silu", op: .activation(.silu), inputs: ["h"], output: "s"),
            Node(name: "prelu", op: .prelu(slopes: [0.1, 0.2, 0.3, 0.4]), inputs: ["s"], output: "p"),
            Node(name: "leaky", op: .activation(.leakyRelu(alpha: 0.05)), inputs: ["p"], output: "l"),
            Node(name: "hsig", op: .activation(.hardSigmoid(alpha: 0.2, beta: 0.5)), inputs: ["l"], output: "g"),
            Node(name: "gate", op: .binary(.mul), inputs: ["l", "g"], output: "m"),
            Node(name: "scale", op: .binaryConstant(.mul, constant: random([4, 1, 1]), constantFirst: true), inputs: ["m"], output: "k"),
            Node(name: "shift", op: .binaryConstant(.sub, constant: random([1]), constantFirst: false), inputs: ["k"], output: "k2"),
            Node(name: "pad", op: .pad(pads: [0, 1, 0, 0, 0, 1], value: 0.5), inputs: ["k2"], output: "pd"),
            Node(name: "maxpool", op: .maxPool(WindowGeometry(kernelH: 2, kernelW: 2, strideH: 2, strideW: 2, ceilMode: true)),
                 inputs: ["pd"], output: "mp"),
            Node(name: "avgpool", op: .averagePool(WindowGeometry(kernelH: 3, kernelW: 3, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1),
                                                   countIncludePad: false), inputs: ["mp"], output: "ap"),
            Node(name: "sig", op: .activation(.sigmoid), inputs: ["ap"], output: "sg"),
            Node(name: "concat", op: .concat(axis: 1), inputs: ["mp", "sg"], output: "cat"),
            Node(name: "clip", op: .activation(.clip(lower: -1, upper: 2)), inputs: ["cat"], output: "cl"),
            Node(name: "div", op: .binaryConstant(.div, constant: Tensor(shape: [], data: [2]), constantFirst: false), inputs: ["cl"], output: "dv"),
            Node(name: "add", op: .binary(.add), inputs: ["dv", "cl"], output: "ad"),
            Node(name: "gap", op: .globalAveragePool, inputs: ["ad"], output: "gp"),
            Node(name: "flatten", op: .reshape(to: [8]), inputs: ["gp"], output: "f"),
            Node(name: "fc", op: .linear(LinearLayer(weight: random([5, 8]), bias: random([5]))), inputs: ["f"], output: "fc"),
            Node(name: "relu", op: .activation(.relu), inputs: ["fc"], output: "y"),
            Node(name: "softmax", op: .softmax(axis: 1, coerced2D: true), inputs: ["y"], output: "prob"),
        ]
        return Graph(name: "every_op", input: GraphInput(name: "x", shape: [3, 8, 8]), nodes: nodes, outputs: ["fc", "prob"])
    }

    /// The OpenBLAS engine computes what the native kernels compute, op by op
    /// (grouped, strided, padded convs with fused batch norm and clamp, linear).
    func testOpenBLASEngineAgreesWithNativeOnEveryOp() throws {
        let graph = everyOpGraph()
        let input = random([3, 3, 8, 8], scale: 2)
        let native = try Executor(graph: graph, threads: 2).run(input, taps: graph.nodes.map(\.output))
        let blas = try Executor(graph: graph, threads: 2, engine: .openblas).run(input, taps: graph.nodes.map(\.output))
        for node in graph.nodes {
            let a = native.taps[node.output]!, b = blas.taps[node.output]!
            XCTAssertLessThanOrEqual(a.maxAbsDifference(b), 1e-4 * max(1, a.data.map(abs).max()!), node.name)
        }
        // Untapped, the batch norm and clamps fuse into the convs' epilogues.
        let fused = try Executor(graph: graph, threads: 2).run(input).outputs
        let fusedBLAS = try Executor(graph: graph, threads: 2, engine: .openblas).run(input).outputs
        for (a, b) in zip(fused, fusedBLAS) { XCTAssertLessThanOrEqual(a.maxAbsDifference(b), 1e-4 * max(1, a.data.map(abs).max()!)) }
    }

    func testEveryOpSurvivesExportAndImport() throws {
        let graph = everyOpGraph()
        let bytes = try ONNXExporter.serialize(graph)
        let reread = try ONNXImporter.importModel(serialized: bytes, source: "every_op.onnx")
        let input = random([5, 3, 8, 8], scale: 2)
        let before = try Executor(graph: graph, threads: 1).run(input).outputs
        let after = try Executor(graph: reread, threads: 1).run(input).outputs
        XCTAssertEqual(before.count, after.count)
        for (a, b) in zip(before, after) {
            XCTAssertEqual(a.shape, b.shape)
            XCTAssertLessThanOrEqual(a.maxAbsDifference(b), 1e-5)
        }
        XCTAssertEqual(try ONNXExporter.serialize(graph), bytes, "the same graph must give the same bytes")
        // Max then Min, as the per-channel ReLU6 is written, reads back as one per-channel clip.
        XCTAssertTrue(reread.nodes.contains { $0.op == .clipPerChannel(lower: [0, 0, 0, 0], upper: [6, 3, 5, 2]) })
    }

    /// conv (2 channels, per-channel int8 weights) → relu → flatten → linear, with uint8 activations.
    func testQDQHoldsHandComputedCodes() throws {
        let conv = ConvLayer(weight: Tensor(shape: [2, 1, 1, 1], data: [0.5, -1.0]), bias: Tensor(shape: [2], data: [0.25, -0.125]),
                             geometry: WindowGeometry(kernelH: 1, kernelW: 1), group: 1)
        let fc = LinearLayer(weight: Tensor(shape: [1, 8], data: [1, 2, 3, 4, -1, -2, -3, -4]), bias: nil)
        let graph = Graph(name: "tiny", input: GraphInput(name: "x", shape: [1, 2, 2]), nodes: [
            Node(name: "conv", op: .conv(conv), inputs: ["x"], output: "c"),
            Node(name: "relu", op: .activation(.relu), inputs: ["c"], output: "r"),
            Node(name: "flatten", op: .reshape(to: [8]), inputs: ["r"], output: "f"),
            Node(name: "fc", op: .linear(fc), inputs: ["f"], output: "y"),
        ], outputs: ["y"])
        let convID = graph.nodes[0].id, fcID = graph.nodes[3].id
        let input = FakeQuantizer(scale: 0.02, zeroPoint: 100, qmin: 0, qmax: 255)
        let relu = FakeQuantizer(scale: 0.01, zeroPoint: 0, qmin: 0, qmax: 255)
        let output = FakeQuantizer(scale: 0.1, zeroPoint: 128, qmin: 0, qmax: 255)
        let convWeights = [FakeQuantizer(scale: 0.5 / 127, zeroPoint: 0, qmin: -128, qmax: 127),
                           FakeQuantizer(scale: 1.0 / 127, zeroPoint: 0, qmin: -128, qmax: 127)]
        let fcWeight = [FakeQuantizer(scale: 4.0 / 127, zeroPoint: 0, qmin: -128, qmax: 127)]
        let annotation = QDQAnnotation(activations: ["x": input, "r": relu, "y": output],
                                       weights: [convID: convWeights, fcID: fcWeight],
                                       biasScales: [convID: [0.02 * 0.5 / 127, 0.02 * 1.0 / 127]])
        let model = try Onnx_ModelProto(serializedBytes: try ONNXExporter.serialize(graph, quantization: annotation))
        let nodes = model.graph.node
        XCTAssertEqual(nodes.map(\.opType), ["QuantizeLinear", "DequantizeLinear", "DequantizeLinear", "DequantizeLinear", "Conv", "Relu",
                                             "QuantizeLinear", "DequantizeLinear", "Reshape", "DequantizeLinear", "Gemm",
                                             "QuantizeLinear", "DequantizeLinear"])
        // The graph output keeps its name on the dequantized copy.
        XCTAssertEqual(nodes.last!.output, ["y"])
        XCTAssertEqual(model.graph.output.map(\.name), ["y"])
        // Every input is produced before it is read.
        var defined = Set(model.graph.initializer.map(\.name) + ["x"])
        for node in nodes {
            for input in node.input { XCTAssertTrue(defined.contains(input), "\(node.name) reads \(input) before it exists") }
            defined.formUnion(node.output)
        }
        let initializers = Dictionary(uniqueKeysWithValues: model.graph.initializer.map { ($0.name, $0) })
        // Weight codes: 0.5 / (0.5/127) = 127, −1 / (1/127) = −127; per-channel scales on axis 0.
        let codes = initializers["conv.weight_quantized"]!
        XCTAssertEqual(codes.dataType, Int32(Onnx_TensorProto.DataType.int8.rawValue))
        XCTAssertEqual(codes.rawData.map { Int8(bitPattern: $0) }, [127, -127])
        let weightDQ = nodes.first { $0.output == ["conv.weight"] }!
        XCTAssertEqual(weightDQ.attribute.first { $0.name == "axis" }?.i, 0)
        // Bias codes: 0.25 / (0.02·0.5/127) = 3175, −0.125 / (0.02/127) = −793.75 → −794.
        let bias = initializers["conv.bias_quantized"]!
        XCTAssertEqual(bias.dataType, Int32(Onnx_TensorProto.DataType.int32.rawValue))
        XCTAssertEqual(bias.rawData.withUnsafeBytes { raw in (0..<2).map { raw.loadUnaligned(fromByteOffset: $0 * 4, as: Int32.self) } },
                       [3175, -794])
        // The input's zero point is uint8 100.
        let zero = initializers["x_zero_point"]!
        XCTAssertEqual(zero.dataType, Int32(Onnx_TensorProto.DataType.uint8.rawValue))
        XCTAssertEqual(Array(zero.rawData), [100])
        // fc's input is the flatten of a quantized value: no Q/DQ of its own, and no int32 bias (it has none).
        XCTAssertNil(initializers["f_scale"])

        // uint8 weight codes: the same values shifted by 128, zero point 128.
        var unsigned = annotation
        unsigned.unsignedWeightCodes = true
        let shifted = try Onnx_ModelProto(serializedBytes: try ONNXExporter.serialize(graph, quantization: unsigned))
        let shiftedInitializers = Dictionary(uniqueKeysWithValues: shifted.graph.initializer.map { ($0.name, $0) })
        XCTAssertEqual(Array(shiftedInitializers["conv.weight_quantized"]!.rawData), [255, 1])
        XCTAssertEqual(Array(shiftedInitializers["conv.weight_zero_point"]!.rawData), [128, 128])
    }

    func testActivationsNarrowerThanEightBitsAreRefusedByName() throws {
        let graph = Graph(name: "tiny", input: GraphInput(name: "x", shape: [2]), nodes: [
            Node(name: "relu", op: .activation(.relu), inputs: ["x"], output: "y"),
        ], outputs: ["y"])
        let annotation = QDQAnnotation(activations: ["x": FakeQuantizer(scale: 0.1, zeroPoint: 0, qmin: 0, qmax: 15)],
                                       weights: [:], biasScales: [:])
        XCTAssertThrowsError(try ONNXExporter.serialize(graph, quantization: annotation)) { error in
            XCTAssertTrue("\(error)".contains("activation 'x'"), "\(error)")
            XCTAssertTrue("\(error)".contains("a8"), "\(error)")
        }
    }
}

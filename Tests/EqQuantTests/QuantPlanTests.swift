import EqGraph
import EqONNX
import EqQuant
import EqRuntime
import EqTensor
import Foundation
import XCTest

final class QuantPlanTests: XCTestCase {
    static let models = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Datasets/models")

    func testMobileNetPlanFoldsEveryBatchNormAndQuantizesAfterActivations() throws {
        let graph = try ONNXImporter.load(contentsOf: Self.models.appendingPathComponent("mbv2.onnx"))
        let plan = QuantPlan(graph: graph, precision: try Precision.parse("w8a8-pt"))
        XCTAssertEqual(plan.folds.count, 22)
        XCTAssertFalse(plan.graph.nodes.contains { if case .batchNorm = $0.op { return true } else { return false } })
        XCTAssertEqual(plan.weightLayers.count, 23)   // 15 conv + 7 depthwise + 1 linear
        let consumers = plan.graph.consumers()
        for node in plan.graph.nodes where node.op.isWeightedLayer {
            let readers = (consumers[node.output] ?? []).map { plan.graph.nodes[$0].op }
            let feedsActivation = readers.contains { if case .activation = $0 { return true } else { return false } }
            // Never between a conv and its activation; always before an Add or the next conv.
            XCTAssertEqual(plan.quantizedValues.contains(node.output), !feedsActivation, node.name)
        }
        XCTAssertEqual(plan.quantizedValues.first, graph.input.name)
        XCTAssertTrue(plan.quantizedValues.contains(graph.outputs[0]))
        // Folding keeps the float function.
        let input = Tensor(shape: [4, 1, 28, 28], data: { var r = SeededRandom(seed: 3); return r.signedArray(4 * 784) }())
        let before = try Executor(graph: graph).run(input).outputs[0]
        let after = try Executor(graph: plan.graph).run(input).outputs[0]
        let range = before.data.max()! - before.data.min()!
        XCTAssertLessThan(before.maxAbsDifference(after), 1e-5 * range)
    }

    func testUnfoldableBatchNormIsQuantizedAsAnAffineOp() throws {
        let bn = BatchNorm(gamma: [2], beta: [1], mean: [0], variance: [1], epsilon: 0)
        let conv = ConvLayer(weight: Tensor(shape: [1, 1, 1, 1], data: [3]), bias: nil,
                             geometry: WindowGeometry(kernelH: 1, kernelW: 1), group: 1)
        let graph = Graph(name: "g", input: GraphInput(name: "x", shape: [1, 2, 2]), nodes: [
            Node(name: "bn", op: .batchNorm(bn), inputs: ["x"], output: "b"),
            Node(name: "relu", op: .activation(.relu), inputs: ["b"], output: "r"),
            Node(name: "conv", op: .conv(conv), inputs: ["r"], output: "y"),
        ], outputs: ["y"])
        let plan = QuantPlan(graph: graph, precision: try Precision.parse("w8a8-pc"))
        XCTAssertTrue(plan.folds.isEmpty)
        XCTAssertEqual(plan.quantizedValues, ["x", "b", "r", "y"])
        XCTAssertTrue(plan.describe().contains("cannot fold"))
    }

    /// `floatLayers` keeps a layer's weights float and quantizes no value for
    /// its sake alone; an empty set is the full plan.
    func testFloatLayersKeepWeightsAndTheirOwnInputsFloat() throws {
        let graph = try ONNXImporter.load(contentsOf: Self.models.appendingPathComponent("mlp.onnx"))
        let precision = try Precision.parse("w8a8-pt")
        let full = QuantPlan(graph: graph, precision: precision)
        XCTAssertEqual(QuantPlan(graph: graph, precision: precision, floatLayers: []).quantizedValues, full.quantizedValues)
        let layers = full.weightLayers
        XCTAssertGreaterThanOrEqual(layers.count, 2)
        let first = try XCTUnwrap(full.graph.nodes.first { $0.name == layers[0] })

        let keepFirst = QuantPlan(graph: graph, precision: precision, floatLayers: [first.name])
        XCTAssertEqual(keepFirst.weightLayers, Array(layers.dropFirst()))
        // The first layer reads the (flattened) graph input, which nothing else reads: not quantized.
        XCTAssertFalse(keepFirst.quantizedValues.contains(graph.input.name))
        XCTAssertFalse(keepFirst.quantizedValues.contains(first.inputs[0]))
        XCTAssertTrue(keepFirst.describe().contains("layers kept in float (1, --float-layers):\n  \(first.name)"))
        let calibration = Calibration(ranges: [:], quantizers: Dictionary(uniqueKeysWithValues: keepFirst.quantizedValues.map {
            ($0, FakeQuantizer(scale: 0.1, zeroPoint: 0, qmin: 0, qmax: 255))
        }), images: 1)
        let quantized = try keepFirst.quantizedGraph(calibration)
        for (a, b) in zip(keepFirst.graph.nodes, quantized.nodes) {
            guard case let .linear(before) = a.op, case let .linear(after) = b.op else { continue }
            if a.name == first.name { XCTAssertEqual(before.weight, after.weight, "kept in float") } else { XCTAssertNotEqual(before.weight, after.weight) }
        }

        // Only the last layer quantized: its input and its output (the logits) are the only quantized values.
        let last = try XCTUnwrap(full.graph.nodes.last { $0.op.isWeightedLayer })
        let alone = QuantPlan(graph: graph, precision: precision, floatLayers: Set(graph.nodes.map(\.name)).subtracting([last.name]))
        XCTAssertEqual(alone.weightLayers, [last.name])
        XCTAssertEqual(Set(alone.quantizedValues), [last.inputs[0], last.output])

        XCTAssertThrowsError(try QuantPlan.checkFloatLayers(["nope"], in: graph, source: "mlp.onnx")) { error in
            XCTAssertTrue("\(error)".hasPrefix("mlp.onnx: float layer 'nope' is not a node of the model; its layers are "), "\(error)")
        }
        let relu = try XCTUnwrap(graph.nodes.first { if case .activation = $0.op { return true } else { return false } })
        XCTAssertThrowsError(try QuantPlan.checkFloatLayers([relu.name], in: graph, source: "mlp.onnx")) { error in
            XCTAssertTrue("\(error)".contains("is a \(relu.op.typeName), not a Conv or linear layer"), "\(error)")
        }
    }

    /// Calibration, weight quantization and int32 biases on a one-layer model, by hand.
    func testCalibratedLinearLayerByHand() throws {
        let fc = LinearLayer(weight: Tensor(shape: [1, 2], data: [0.5, -0.25]), bias: Tensor(shape: [1], data: [0.1]))
        let graph = Graph(name: "fc", input: GraphInput(name: "x", shape: [2]),
                          nodes: [Node(name: "fc", op: .linear(fc), inputs: ["x"], output: "y")], outputs: ["y"])
        let plan = QuantPlan(graph: graph, precision: try Precision.parse("w8a8-pt-b32"))
        let batch = Tensor(shape: [2, 2], data: [0, 1, 2, 0.5])
        let calibration = try plan.calibrate(using: StatisticsService(batches: [batch], threads: 2))
        XCTAssertEqual(calibration.images, 2)
        XCTAssertEqual(calibration.ranges["x"]?.min, 0)
        XCTAssertEqual(calibration.ranges["x"]?.max, 2)
        // y = 0.5·x0 − 0.25·x1 + 0.1: −0.15 and 0.975.
        XCTAssertEqual(calibration.ranges["y"]!.min, -0.15, accuracy: 1e-6)
        XCTAssertEqual(calibration.ranges["y"]!.max, 0.975, accuracy: 1e-6)
        let quantized = try plan.quantizedGraph(calibration)
        guard case let .linear(layer) = quantized.nodes[0].op else { return XCTFail() }
        // Step 0.5/127: 0.5 → code 127, −0.25 → −63.5 → −64 (ties to even).
        XCTAssertEqual(layer.weight.data, [0.5, -64 * Float(0.5 / 127)])
        // Bias: scale s_x · s_w = (2/255)·(0.5/127) ≈ 3.088e-5; 0.1 / scale ≈ 3238.2 → code 3238.
        let biasScale = Double(Float(2.0 / 255)) * Double(Float(0.5 / 127))
        XCTAssertEqual(Double(layer.bias!.data[0]), 3238 * biasScale, accuracy: 1e-8)
        XCTAssertEqual((Double(Float(0.1)) / biasScale).rounded(), 3238)
    }
}

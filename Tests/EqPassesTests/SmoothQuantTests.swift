@testable import EqPasses
import EqData
import EqGraph
import EqONNX
import EqRuntime
import EqTensor
import Foundation
import XCTest

final class SmoothQuantTests: XCTestCase {
    func testScaleFormulaByHand() {
        // s = √max|X| / √max|W| at α = 0.5; no signal → 1; floored at 0.01.
        XCTAssertEqual(SmoothQuant.scales(activationMax: [4, 1, 0, 1e-6], weightMax: [1, 4, 2, 100], alpha: 0.5),
                       [2, 0.5, 1, 0.01])
        // α = 1: all of the activation range moves into the weights.
        XCTAssertEqual(SmoothQuant.scales(activationMax: [8], weightMax: [3], alpha: 1), [8])
    }

    func testDivisionIsAbsorbedByALinearProducerOrGoesIntoAMulNode() throws {
        var rng = SeededRandom(seed: 21)
        let a = LinearLayer(weight: Tensor(shape: [3, 2], data: rng.signedArray(6)), bias: Tensor(shape: [3], data: rng.signedArray(3)))
        let b = LinearLayer(weight: Tensor(shape: [2, 3], data: rng.signedArray(6)), bias: nil)
        let direct = Graph(name: "direct", input: GraphInput(name: "x", shape: [2]), nodes: [
            Node(name: "a", op: .linear(a), inputs: ["x"], output: "h"),
            Node(name: "b", op: .linear(b), inputs: ["h"], output: "y"),
        ], outputs: ["y"])
        var viaRelu = direct
        viaRelu.nodes.insert(Node(name: "relu", op: .activation(.relu), inputs: ["h"], output: "r"), at: 1)
        viaRelu.nodes[2].inputs = ["r"]
        let data = Tensor(shape: [16, 2], data: rng.signedArray(32).map { $0 * 5 })
        // The first layer reads the graph input: nothing can absorb its division;
        // the second's goes into the first, through the ReLU too.
        for (graph, absorbedCount) in [(direct, 1), (viaRelu, 1)] {
            var smoothed = graph
            var context = PassContext(threads: 1, calibration: [data])
            let report = try SmoothQuant().apply(to: &smoothed, context: &context)
            XCTAssertEqual(report.setsScaled, 2)
            XCTAssertTrue(report.details.contains("\(absorbedCount) absorbed"), report.details)
            XCTAssertEqual(smoothed.nodes.count, graph.nodes.count + (2 - absorbedCount))
            if graph.nodes.count == 3 { XCTAssertEqual(smoothed.nodes.map(\.name), ["a::smoothquant", "a", "relu", "b"]) }
            let before = try Executor(graph: graph).run(data).outputs[0]
            let after = try Executor(graph: smoothed).run(data).outputs[0]
            XCTAssertLessThan(before.maxAbsDifference(after), 1e-5)
        }
        var noData = direct
        var context = PassContext()
        XCTAssertThrowsError(try SmoothQuant().apply(to: &noData, context: &context))
    }

    func testDemoModelsKeepTheirFloatFunction() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let folder = try ImageFolder(root: root.appendingPathComponent("Datasets/fashion-mnist/test"))
        let prep = try Preprocessing(channels: 1, height: 28, width: 28, mean: [0.286], std: [0.353])
        let images = try folder.batch(0..<32, preprocessing: prep).images
        for name in ["mbv2", "mlp_hard"] {
            let graph = try ONNXImporter.load(contentsOf: root.appendingPathComponent("Datasets/models/\(name).onnx"))
            var smoothed = graph
            var context = PassContext(threads: 2, calibration: [images])
            _ = try BatchNormFolding().apply(to: &smoothed, context: &context)
            let report = try SmoothQuant(alpha: 0.5).apply(to: &smoothed, context: &context)
            XCTAssertGreaterThan(report.setsScaled, 0, name)
            let before = try Executor(graph: graph).run(images).outputs[0]
            let after = try Executor(graph: smoothed).run(images).outputs[0]
            let range = before.data.max()! - before.data.min()!
            XCTAssertLessThanOrEqual(before.maxAbsDifference(after) / range, 1e-5, name)
        }
    }
}

final class InputWeightEqualizationTests: XCTestCase {
    func testScaleFormulaByHand() {
        // s = √(weight column range / input column range); zero ranges keep 1.
        XCTAssertEqual(InputWeightEqualization.scales(weightRange: [8, 1, 0], inputRange: [2, 4, 3]), [2, 0.5, 1])
    }

    /// Two connected linear layers: the second layer's scale folds into the
    /// first layer's rows and bias (no Mul between them); the first layer's
    /// input has no producer and gets a Mul node.
    func testConnectedLinearLayersFoldAndKeepTheirFunction() throws {
        var rng = SeededRandom(seed: 33)
        let a = LinearLayer(weight: Tensor(shape: [4, 3], data: rng.signedArray(12)), bias: Tensor(shape: [4], data: rng.signedArray(4)))
        let b = LinearLayer(weight: Tensor(shape: [2, 4], data: rng.signedArray(8).map { $0 * 10 }), bias: nil)
        let graph = Graph(name: "pair", input: GraphInput(name: "x", shape: [3]), nodes: [
            Node(name: "a", op: .linear(a), inputs: ["x"], output: "h"),
            Node(name: "b", op: .linear(b), inputs: ["h"], output: "y"),
        ], outputs: ["y"])
        let data = Tensor(shape: [32, 3], data: rng.signedArray(96).map { $0 * 3 })
        var equalized = graph
        var context = PassContext(threads: 1, calibration: [data])
        let report = try InputWeightEqualization().apply(to: &equalized, context: &context)
        XCTAssertEqual(report.setsScaled, 2)
        XCTAssertEqual(report.details, "1 scale folded into the previous layer, 1 Mul node inserted")
        XCTAssertEqual(equalized.nodes.map(\.name), ["a::iwe", "a", "b"])
        let before = try Executor(graph: graph).run(data).outputs[0]
        let after = try Executor(graph: equalized).run(data).outputs[0]
        XCTAssertLessThan(before.maxAbsDifference(after), 1e-4)
        // On a real model (mlp_hard) the float function is kept too.
        let mlp = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Datasets/models/mlp_hard.onnx")
        let hard = try ONNXImporter.load(contentsOf: mlp)
        var hardEqualized = hard
        let images = Tensor(shape: [16, 1, 28, 28], data: rng.signedArray(16 * 784).map { abs($0) })
        var hardContext = PassContext(threads: 2, calibration: [images])
        _ = try InputWeightEqualization().apply(to: &hardEqualized, context: &hardContext)
        let x = try Executor(graph: hard).run(images).outputs[0], y = try Executor(graph: hardEqualized).run(images).outputs[0]
        XCTAssertLessThanOrEqual(x.maxAbsDifference(y) / (x.data.max()! - x.data.min()!), 1e-5)
    }
}

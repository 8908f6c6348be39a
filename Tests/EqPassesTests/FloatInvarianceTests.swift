@testable import EqPasses
import EqData
import EqGraph
import EqONNX
import EqRuntime
import EqTensor
import Foundation
import XCTest

/// Function-preserving pipelines on the real demo models: logits before and
/// after agree to 1e-5 of their range on bundled test images.
final class FloatInvarianceTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    func images(_ n: Int) throws -> Tensor {
        let folder = try ImageFolder(root: Self.root.appendingPathComponent("Datasets/fashion-mnist/test"))
        let prep = try Preprocessing(channels: 1, height: 28, width: 28, mean: [0.286], std: [0.353])
        return try folder.batch(0..<n, preprocessing: prep).images
    }

    func testBNFoldAndCrossLayerScalingPreserveEveryDemoModel() throws {
        let input = try images(32)
        for name in ["mbv2", "resnet", "inception", "mlp", "mbv2_hard", "mlp_hard"] {
            let graph = try ONNXImporter.load(contentsOf: Self.root.appendingPathComponent("Datasets/models/\(name).onnx"))
            let reference = try Executor(graph: graph).run(input).outputs[0]
            let range = reference.data.max()! - reference.data.min()!
            for variant in ["bnfold", "cls", "cls6"] {
                var transformed = graph
                var context = PassContext()
                var reports = [PassReport]()
                for pass in Variant.named(variant)!.passes { reports.append(try pass.apply(to: &transformed, context: &context)) }
                let output = try Executor(graph: transformed).run(input).outputs[0]
                let relative = reference.maxAbsDifference(output) / range
                XCTAssertLessThanOrEqual(relative, 1e-5, "\(name) \(variant): \(relative)")
                if variant == "cls6", !name.hasPrefix("mlp") {
                    XCTAssertGreaterThan(reports.last!.setsScaled, 0, "\(name): cls6 scaled nothing")
                }
            }
        }
    }

    func testCoverageExplainsSkippedLayers() throws {
        let graph = try ONNXImporter.load(contentsOf: Self.root.appendingPathComponent("Datasets/models/mbv2.onnx"))
        var folded = graph
        var context = PassContext()
        _ = try BatchNormFolding().apply(to: &folded, context: &context)
        let skip = try CrossLayerScaling(relu6: .skip).find(in: folded)
        XCTAssertTrue(skip.coverage.contains { $0.reason == "ReLU6 kept (policy skip)" })
        let perChannel = try CrossLayerScaling(relu6: .perChannel).find(in: folded)
        XCTAssertEqual(perChannel.coverage.count, 23)
        // The classifier's input comes from GlobalAveragePool → Reshape, which keep channels.
        XCTAssertTrue(perChannel.sets.contains { $0.layers.contains(folded.nodes.last!.id) })
        XCTAssertGreaterThan(perChannel.sets.filter { $0.hops.count == 2 }.count, 0, "conv → depthwise → conv triplets")
        // Residual outputs feed two readers.
        XCTAssertTrue(perChannel.coverage.contains { $0.reason.hasPrefix("shared output") })
    }

    func testBatchNormBeforeAnUnpaddedConvFoldsForward() throws {
        let bn = BatchNorm(gamma: [2, 0.5], beta: [1, -1], mean: [0.5, 0], variance: [1, 4], epsilon: 1e-5)
        var rng = SeededRandom(seed: 5)
        let conv = ConvLayer(weight: Tensor(shape: [3, 2, 1, 1], data: rng.signedArray(6)), bias: Tensor(shape: [3], data: [0.1, 0, -0.1]),
                             geometry: WindowGeometry(kernelH: 1, kernelW: 1), group: 1)
        let graph = Graph(name: "g", input: GraphInput(name: "x", shape: [2, 3, 3]), nodes: [
            Node(name: "bn", op: .batchNorm(bn), inputs: ["x"], output: "b"),
            Node(name: "conv", op: .conv(conv), inputs: ["b"], output: "y"),
        ], outputs: ["y"])
        var folded = graph
        var context = PassContext()
        let report = try BatchNormFolding().apply(to: &folded, context: &context)
        XCTAssertEqual(folded.nodes.count, 1)
        XCTAssertEqual(report.details, "0 into the layer before, 1 into the layer after, 0 kept as affine ops")
        let input = Tensor(shape: [2, 2, 3, 3], data: rng.signedArray(36))
        let before = try Executor(graph: graph).run(input).outputs[0]
        let after = try Executor(graph: folded).run(input).outputs[0]
        XCTAssertLessThan(before.maxAbsDifference(after), 1e-5)
    }
}

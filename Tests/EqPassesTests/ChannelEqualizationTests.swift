@testable import EqPasses
import EqData
import EqGraph
import EqONNX
import EqRuntime
import EqTensor
import Foundation
import XCTest

/// Channel equalization: the scale formula, the three kinds of pairing sets
/// on small hand-built graphs, and float invariance on the demo models.
final class ChannelEqualizationTests: XCTestCase {
    /// A 1×1 conv with weight [out, in] and no bias.
    func conv(_ out: Int, _ inputs: Int, _ w: [Float]) -> Op {
        .conv(ConvLayer(weight: Tensor(shape: [out, inputs, 1, 1], data: w), bias: nil,
                        geometry: WindowGeometry(kernelH: 1, kernelW: 1), group: 1))
    }

    func weights(_ graph: Graph, _ name: String) -> [Float] {
        guard case let .conv(c) = graph.nodes[graph.nodes.firstIndex { $0.name == name }!].op else { return [] }
        return c.weight.data
    }

    func apply(_ graph: Graph, data: Tensor) throws -> (Graph, PassReport) {
        var transformed = graph
        var context = PassContext(threads: 1, calibration: [data])
        let report = try ChannelEqualization().apply(to: &transformed, context: &context)
        let before = try Executor(graph: graph).run(data).outputs[0]
        let after = try Executor(graph: transformed).run(data).outputs[0]
        XCTAssertLessThan(before.maxAbsDifference(after), 1e-5 * max(1, before.data.map(abs).max()!))
        return (transformed, report)
    }

    func testScaleFormulaByHand() {
        // W = 4, A = 8. Channel 0: min(4/1, 8/8) = 1. Channel 1: min(4/4, 8/2) = 1.
        // Channel 2: min(4/0.5, 8/1) = 8. Channel 3: zero activation → weights decide, 4/0.25 = 16.
        let r = ChannelEqualization.scales(weightRange: [1, 4, 0.5, 0.25], activationRange: [8, 2, 1, 0])
        XCTAssertEqual(r.scales, [1, 1, 8, 16])
        XCTAssertEqual(r.maxActivation, 8)
        XCTAssertEqual(r.newMax, 8)
        // Clamped to [1, 20]: 100 → 20; EPSILON keeps an all-zero channel finite (→ 20).
        let clamped = ChannelEqualization.scales(weightRange: [0.01, 1, 0], activationRange: [0.01, 1, 0])
        XCTAssertEqual(clamped.scales, [20, 1, 20])
    }

    /// x → A (2 ch), x → B (2 ch) → Concat → C. With x = ±1 the activation
    /// ranges equal the weights: A = [1, 0.5], B = [4, 2]. Own scales: A [1, 2]
    /// (new max 1), B [1, 2] (new max 4). Common max 4: A's scales × 4 → [4, 8],
    /// B's stay [1, 2]. So A's weights become [4, 4], B's [4, 4], and C's four
    /// input columns are divided by [4, 8, 1, 2].
    func testConcatParentsAreRescaledToACommonMax() throws {
        let graph = Graph(name: "concat", input: GraphInput(name: "x", shape: [1, 1, 1]), nodes: [
            Node(name: "A", op: conv(2, 1, [1, 0.5]), inputs: ["x"], output: "a"),
            Node(name: "B", op: conv(2, 1, [4, 2]), inputs: ["x"], output: "b"),
            Node(name: "cat", op: .concat(axis: 1), inputs: ["a", "b"], output: "ab"),
            Node(name: "C", op: conv(1, 4, [1, 1, 1, 1]), inputs: ["ab"], output: "y"),
        ], outputs: ["y"])
        let data = Tensor(shape: [2, 1, 1, 1], data: [1, -1])
        let (result, report) = try apply(graph, data: data)
        XCTAssertEqual(weights(result, "A"), [4, 4])
        XCTAssertEqual(weights(result, "B"), [4, 4])
        XCTAssertEqual(weights(result, "C"), [1 / 4, 1 / 8, 1, 1 / 2])
        XCTAssertTrue(report.details.hasPrefix("0 single, 1 concat, 0 residual"), report.details)
        XCTAssertEqual(report.scaleRange?.min, 1)
        XCTAssertEqual(report.scaleRange?.max, 8)
        XCTAssertTrue(report.coverage.allSatisfy { $0.status == .equalized && $0.set.hasPrefix("concat: A, B → C") })
    }

    /// Concat parent sets must nest: A feeding two concats with different
    /// partners breaks the seed's assumption; nesting through a concat of a
    /// concat is fine.
    func testConcatGroupsThatDoNotNestAreSkipped() throws {
        let split = Graph(name: "split", input: GraphInput(name: "x", shape: [1, 1, 1]), nodes: [
            Node(name: "A", op: conv(1, 1, [1]), inputs: ["x"], output: "a"),
            Node(name: "B", op: conv(1, 1, [2]), inputs: ["x"], output: "b"),
            Node(name: "D", op: conv(1, 1, [3]), inputs: ["x"], output: "d"),
            Node(name: "cat1", op: .concat(axis: 1), inputs: ["a", "b"], output: "ab"),
            Node(name: "cat2", op: .concat(axis: 1), inputs: ["a", "d"], output: "ad"),
            Node(name: "C1", op: conv(1, 2, [1, 1]), inputs: ["ab"], output: "y1"),
            Node(name: "C2", op: conv(1, 2, [1, 1]), inputs: ["ad"], output: "y2"),
            Node(name: "sum", op: .binary(.add), inputs: ["y1", "y2"], output: "y"),
        ], outputs: ["y"])
        let (sets, skipped, _) = try ChannelEqualization().find(in: split)
        XCTAssertFalse(sets.contains { $0.kind == .concat })
        XCTAssertTrue(skipped.contains { $0.kind == .concat && $0.reason.contains("do not nest") }, "\(skipped.map(\.reason))")

        let nested = Graph(name: "nested", input: GraphInput(name: "x", shape: [1, 1, 1]), nodes: [
            Node(name: "A", op: conv(1, 1, [1]), inputs: ["x"], output: "a"),
            Node(name: "B", op: conv(1, 1, [0.25]), inputs: ["x"], output: "b"),
            Node(name: "D", op: conv(1, 1, [3]), inputs: ["x"], output: "d"),
            Node(name: "cat1", op: .concat(axis: 1), inputs: ["a", "b"], output: "ab"),
            Node(name: "E", op: conv(1, 2, [1, 1]), inputs: ["ab"], output: "e"),
            Node(name: "cat2", op: .concat(axis: 1), inputs: ["ab", "d"], output: "abd"),
            Node(name: "C", op: conv(1, 3, [1, 1, 1]), inputs: ["abd"], output: "c"),
            Node(name: "sum", op: .binary(.add), inputs: ["c", "e"], output: "y"),
        ], outputs: ["y"])
        let found = try ChannelEqualization().find(in: nested)
        let concat = try XCTUnwrap(found.sets.first { $0.kind == .concat })
        XCTAssertEqual(concat.parents.map { nested.nodes[$0].name }, ["A", "B", "D"])
        XCTAssertEqual(concat.children.map { nested.nodes[$0].name }, ["E", "C"])
        let (result, _) = try apply(nested, data: Tensor(shape: [2, 1, 1, 1], data: [1, -1]))
        // Own scales 1, 1, 1 (one channel each); new maxima 1, 0.25, 3; common 3.
        XCTAssertEqual(weights(result, "A"), [3])
        XCTAssertEqual(weights(result, "B"), [3])
        XCTAssertEqual(weights(result, "D"), [3])
    }

    /// c0 → ReLU → r0; a1 = r0 + conv1(r0); a2 = a1 + conv2(a1); conv3(a2).
    /// The two adds are chained, so one residual family: parents conv0, conv1,
    /// conv2; children conv1, conv2, conv3; one shared scale, the minimum of
    /// the parents' own scales.
    func residualGraph(memberOp: Op? = nil) -> Graph {
        var rng = SeededRandom(seed: 8)
        // Output channel 2 of every layer is 10× smaller, so the family has something to equalize.
        func layer(_ name: String, _ inputs: Int) -> Op {
            let rowScale = (0..<3 * inputs).map { $0 / inputs == 2 ? Float(0.1) : 1 }
            return .conv(ConvLayer(weight: Tensor(shape: [3, inputs, 1, 1], data: zip(rng.signedArray(3 * inputs), rowScale).map(*)),
                                   bias: Tensor(shape: [3], data: zip(rng.signedArray(3), [1, 1, 0.1]).map(*)),
                                   geometry: WindowGeometry(kernelH: 1, kernelW: 1), group: 1))
        }
        var nodes = [
            Node(name: "conv0", op: layer("conv0", 2), inputs: ["x"], output: "c0"),
            Node(name: "relu0", op: .activation(.relu), inputs: ["c0"], output: "r0"),
            Node(name: "conv1", op: layer("conv1", 3), inputs: ["r0"], output: "c1"),
            Node(name: "add1", op: .binary(.add), inputs: ["r0", "c1"], output: "a1"),
            Node(name: "conv2", op: layer("conv2", 3), inputs: ["a1"], output: "c2"),
            Node(name: "add2", op: .binary(.add), inputs: ["a1", "c2"], output: "a2"),
            Node(name: "conv3", op: layer("conv3", 3), inputs: ["a2"], output: "y"),
        ]
        if let memberOp {
            nodes.insert(Node(name: "odd", op: memberOp, inputs: ["c1"], output: "m1"), at: 3)
            nodes[4].inputs = ["r0", "m1"]
        }
        return Graph(name: "residual", input: GraphInput(name: "x", shape: [2, 2, 2]), nodes: nodes, outputs: ["y"])
    }

    func testChainedAddsFormOneResidualFamilyWithTheMinimumScale() throws {
        let graph = residualGraph()
        var rng = SeededRandom(seed: 9)
        let data = Tensor(shape: [4, 2, 2, 2], data: rng.signedArray(32).map { $0 * 3 })
        let (sets, skipped, _) = try ChannelEqualization().find(in: graph)
        let families = sets.filter { $0.kind == .residual }
        XCTAssertEqual(families.count, 1, "\(skipped.map(\.reason))")
        XCTAssertEqual(families[0].parents.map { graph.nodes[$0].name }, ["conv0", "conv1", "conv2"])
        XCTAssertEqual(families[0].children.map { graph.nodes[$0].name }, ["conv1", "conv2", "conv3"])

        // Expected shared scale from the observed parent outputs.
        let taps = try Executor(graph: graph).run(data, taps: ["c0", "c1", "c2"]).taps
        var expected = [Float](repeating: .infinity, count: 3)
        for (layer, value) in [(0, "c0"), (2, "c1"), (4, "c2")] {
            let t = taps[value]!
            var range = [Float](repeating: 0, count: 3)
            for n in 0..<4 { for c in 0..<3 { for i in 0..<4 { range[c] = max(range[c], abs(t.data[(n * 3 + c) * 4 + i])) } } }
            let own = ChannelEqualization.scales(weightRange: LayerScaling.outputRanges(graph.nodes[layer].op), activationRange: range).scales
            expected = zip(expected, own).map(min)
        }
        let (result, report) = try apply(graph, data: data)
        let w0 = weights(graph, "conv0"), w0after = weights(result, "conv0")
        for o in 0..<3 { for i in 0..<2 { XCTAssertEqual(w0after[o * 2 + i], w0[o * 2 + i] * expected[o], accuracy: 1e-5) } }
        // conv3 only reads the family: its input columns are divided.
        let w3 = weights(graph, "conv3"), w3after = weights(result, "conv3")
        for o in 0..<3 { for i in 0..<3 { XCTAssertEqual(w3after[o * 3 + i], w3[o * 3 + i] / expected[i], accuracy: 1e-5) } }
        XCTAssertTrue(report.details.contains("1 residual"), report.details)
        XCTAssertGreaterThan(expected.max()!, 1, "the example must scale something")
    }

    func testAFamilyWithANonConvMemberIsSkippedWhole() throws {
        let constant = Tensor(shape: [3, 1, 1], data: [2, 2, 2])
        let graph = residualGraph(memberOp: .binaryConstant(.mul, constant: constant, constantFirst: false))
        let (sets, skipped, _) = try ChannelEqualization().find(in: graph)
        XCTAssertFalse(sets.contains { $0.kind == .residual })
        let family = try XCTUnwrap(skipped.first { $0.kind == .residual })
        XCTAssertTrue(family.reason.contains("odd (MulConstant)"), family.reason)
        var rng = SeededRandom(seed: 9)
        let (result, _) = try apply(graph, data: Tensor(shape: [4, 2, 2, 2], data: rng.signedArray(32)))
        for name in ["conv0", "conv2", "conv3"] { XCTAssertEqual(weights(result, name), weights(graph, name), name) }
    }

    func testDemoModelsKeepTheirFloatFunction() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let folder = try ImageFolder(root: root.appendingPathComponent("Datasets/fashion-mnist/test"))
        let prep = try Preprocessing(channels: 1, height: 28, width: 28, mean: [0.286], std: [0.353])
        let images = try folder.batch(0..<32, preprocessing: prep).images
        for name in ["mbv2", "resnet", "inception", "mlp", "mbv2_hard", "mlp_hard"] {
            let graph = try ONNXImporter.load(contentsOf: root.appendingPathComponent("Datasets/models/\(name).onnx"))
            var transformed = graph
            var context = PassContext(threads: 2, calibration: [images])
            for pass in try Variant.resolve("bnfold+chaneq").passes { _ = try pass.apply(to: &transformed, context: &context) }
            let before = try Executor(graph: graph).run(images).outputs[0]
            let after = try Executor(graph: transformed).run(images).outputs[0]
            let range = before.data.max()! - before.data.min()!
            XCTAssertLessThanOrEqual(before.maxAbsDifference(after) / range, 1e-5, name)
        }
    }
}

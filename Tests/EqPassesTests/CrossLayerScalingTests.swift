@testable import EqPasses
import EqGraph
import EqTensor
import XCTest

final class CrossLayerScalingTests: XCTestCase {
    func linear(_ name: String, _ rows: Int, _ cols: Int, _ w: [Float], bias: [Float]? = nil) -> Op {
        .linear(LinearLayer(weight: Tensor(shape: [rows, cols], data: w), bias: bias.map { Tensor(shape: [rows], data: $0) }))
    }

    func weights(_ op: Op) -> [Float] {
        switch op {
        case let .linear(l): return l.weight.data
        case let .conv(c): return c.weight.data
        default: return []
        }
    }

    /// r1 = [4, 1], r2 = [1, 4] → s = √(r1·r2)/r2 = [2, 0.5]; both layers end at range 2.
    func testPairScaleByHand() throws {
        var graph = Graph(name: "pair", input: GraphInput(name: "x", shape: [1]), nodes: [
            Node(name: "a", op: linear("a", 2, 1, [4, 1], bias: [2, 1]), inputs: ["x"], output: "h"),
            Node(name: "relu", op: .activation(.relu), inputs: ["h"], output: "r"),
            Node(name: "b", op: linear("b", 1, 2, [1, 4]), inputs: ["r"], output: "y"),
        ], outputs: ["y"])
        var context = PassContext()
        let report = try CrossLayerScaling().apply(to: &graph, context: &context)
        XCTAssertEqual(weights(graph.nodes[0].op), [2, 2])
        XCTAssertEqual(weights(graph.nodes[2].op), [2, 2])
        guard case let .linear(a) = graph.nodes[0].op else { return XCTFail() }
        XCTAssertEqual(a.bias?.data, [1, 2])                     // bias ÷ s
        XCTAssertEqual(context.scalingSets.first?.scales, [[2, 0.5]])
        XCTAssertEqual(report.setsFound, 1)
        XCTAssertEqual(report.scaleRange?.min, 0.5)
        XCTAssertEqual(report.scaleRange?.max, 2)
        XCTAssertTrue(report.details.hasPrefix("2 iterations, converged"), report.details)
    }

    /// conv → depthwise → conv with r0 = [8, 1], r1 = [1, 8], r2 = [1, 1]: every range ends at g = 2.
    func testTripletScaleByHand() throws {
        let one = WindowGeometry(kernelH: 1, kernelW: 1)
        var graph = Graph(name: "triplet", input: GraphInput(name: "x", shape: [1, 2, 2]), nodes: [
            Node(name: "a", op: .conv(ConvLayer(weight: Tensor(shape: [2, 1, 1, 1], data: [8, 1]), bias: nil, geometry: one, group: 1)),
                 inputs: ["x"], output: "h1"),
            Node(name: "r1", op: .activation(.relu), inputs: ["h1"], output: "a1"),
            Node(name: "dw", op: .conv(ConvLayer(weight: Tensor(shape: [2, 1, 1, 1], data: [1, 8]), bias: nil, geometry: one, group: 2)),
                 inputs: ["a1"], output: "h2"),
            Node(name: "r2", op: .activation(.relu), inputs: ["h2"], output: "a2"),
            Node(name: "c", op: .conv(ConvLayer(weight: Tensor(shape: [1, 2, 1, 1], data: [1, 1]), bias: nil, geometry: one, group: 1)),
                 inputs: ["a2"], output: "y"),
        ], outputs: ["y"])
        var context = PassContext()
        let report = try CrossLayerScaling().apply(to: &graph, context: &context)
        XCTAssertEqual(report.setsFound, 1)
        XCTAssertEqual(context.scalingSets[0].hops.count, 2)
        for i in [0, 2, 4] {
            for (w, g) in zip(weights(graph.nodes[i].op), [Float](repeating: 2, count: 2)) { XCTAssertEqual(w, g, accuracy: 1e-5) }
        }
    }

    func testZeroRangeChannelKeepsScaleOne() throws {
        var graph = Graph(name: "zero", input: GraphInput(name: "x", shape: [1]), nodes: [
            Node(name: "a", op: linear("a", 2, 1, [0, 3]), inputs: ["x"], output: "h"),
            Node(name: "b", op: linear("b", 1, 2, [5, 0]), inputs: ["h"], output: "y"),
        ], outputs: ["y"])
        var context = PassContext()
        _ = try CrossLayerScaling().apply(to: &graph, context: &context)
        XCTAssertEqual(context.scalingSets[0].scales, [[1, 1]])
        XCTAssertFalse(weights(graph.nodes[0].op).contains { !$0.isFinite })
        XCTAssertFalse(weights(graph.nodes[1].op).contains { !$0.isFinite })
    }

    func testScalesAreClampedAndCounted() throws {
        var graph = Graph(name: "clamp", input: GraphInput(name: "x", shape: [1]), nodes: [
            Node(name: "a", op: linear("a", 1, 1, [1e6]), inputs: ["x"], output: "h"),
            Node(name: "b", op: linear("b", 1, 1, [1e-6]), inputs: ["h"], output: "y"),
        ], outputs: ["y"])
        var context = PassContext()
        let report = try CrossLayerScaling(maxIterations: 1, scaleBounds: 1e-2...1e2).apply(to: &graph, context: &context)
        XCTAssertEqual(context.scalingSets[0].scales, [[100]])
        XCTAssertTrue(report.details.contains("1 scale clamped"), report.details)
    }

    func testManualSetsRestrictThePassAndUnknownSetsAreErrors() throws {
        let graph = Graph(name: "chain", input: GraphInput(name: "x", shape: [1]), nodes: [
            Node(name: "a", op: linear("a", 2, 1, [4, 1]), inputs: ["x"], output: "h"),
            Node(name: "b", op: linear("b", 2, 2, [1, 4, 2, 2]), inputs: ["h"], output: "h2"),
            Node(name: "c", op: linear("c", 1, 2, [1, 1]), inputs: ["h2"], output: "y"),
        ], outputs: ["y"])
        var copy = graph
        var context = PassContext()
        let report = try CrossLayerScaling(manualSets: [["b", "c"]]).apply(to: &copy, context: &context)
        XCTAssertEqual(report.setsFound, 1)
        XCTAssertEqual(copy.nodes[0], graph.nodes[0], "a is not in the manual set")
        XCTAssertEqual(report.coverage.first { $0.node == "a" }?.reason, "not in the manual sets")
        XCTAssertThrowsError(try CrossLayerScaling(manualSets: [["a", "c"]]).apply(to: &copy, context: &context))
    }
}

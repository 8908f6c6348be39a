@testable import EqPasses
import EqGraph
import EqTensor
import XCTest

final class FixedPointTests: XCTestCase {
    func layer(_ w: [Float], bias: [Float]) -> Graph {
        let fc = LinearLayer(weight: Tensor(shape: [1, w.count], data: w), bias: Tensor(shape: [1], data: bias))
        return Graph(name: "fc", input: GraphInput(name: "x", shape: [w.count]),
                     nodes: [Node(name: "fc", op: .linear(fc), inputs: ["x"], output: "y")], outputs: ["y"])
    }

    func weights(_ g: Graph) -> (w: [Float], b: [Float]) {
        guard case let .linear(l) = g.nodes[0].op else { return ([], []) }
        return (l.weight.data, l.bias?.data ?? [])
    }

    /// 4 signed bits, max |w| = 0.3: δ = 2^⌈log2(0.3/7)⌉ = 1/16 (ceil) or 1/32 (floor, codes clip at ±7).
    func testStepsByHand() throws {
        var g = layer([0.3, -0.1, 0.05], bias: [0])
        var context = PassContext()
        let report = try FixedPointWeights(weights: .init(bits: 4), biases: .init(bits: 4)).apply(to: &g, context: &context)
        XCTAssertEqual(weights(g).w, [0.3125, -0.125, 0.0625])
        XCTAssertEqual(weights(g).b, [0], "an all-zero bias is left alone")
        XCTAssertEqual(report.scaleRange?.min, 1.0 / 16)
        var f = layer([0.3, -0.1, 0.05], bias: [0.7])
        _ = try FixedPointWeights(weights: .init(bits: 4), biases: .init(bits: 8), floor: true).apply(to: &f, context: &context)
        XCTAssertEqual(weights(f).w, [7.0 / 32, -3.0 / 32, 2.0 / 32])
        // Bias 0.7, 8 signed bits: δ = 2^⌊log2(0.7/127)⌋ = 2^−8; 0.7·256 = 179.2 → 179 clips at 127.
        XCTAssertEqual(weights(f).b, [127.0 / 256])
        var u = layer([0.3, -0.1], bias: [0])
        _ = try FixedPointWeights(weights: .init(bits: 4, signed: false), biases: nil).apply(to: &u, context: &context)
        XCTAssertEqual(weights(u).w, [0.3125, 0], "unsigned: δ = 2^⌈log2(0.3/15)⌉ = 1/32, negatives clip to 0")
        XCTAssertFalse(FixedPointWeights().preservesFloatFunction)
    }
}

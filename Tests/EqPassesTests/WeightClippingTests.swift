@testable import EqPasses
import EqGraph
import EqTensor
import XCTest

final class WeightClippingTests: XCTestCase {
    /// Two output channels of 10 weights. Channel 0: nine 0s and one 10, so
    /// μ = 1, σ = 3 and k = 2 clips the 10 to μ + 2σ = 7 (the 0s sit inside
    /// [−5, 7]). Channel 1 is flat (σ = 0): every weight equals μ and stays.
    func testEachChannelIsClippedToItsOwnBand() throws {
        let w: [Float] = Array(repeating: 0, count: 9) + [10] + Array(repeating: 0.5, count: 10)
        let fc = LinearLayer(weight: Tensor(shape: [2, 10], data: w), bias: Tensor(shape: [2], data: [1, 2]))
        var graph = Graph(name: "fc", input: GraphInput(name: "x", shape: [10]),
                          nodes: [Node(name: "fc", op: .linear(fc), inputs: ["x"], output: "y")], outputs: ["y"])
        var context = PassContext()
        let report = try WeightClipping(deviations: 2).apply(to: &graph, context: &context)
        guard case let .linear(clipped) = graph.nodes[0].op else { return XCTFail("not a linear layer") }
        XCTAssertEqual(Array(clipped.weight.data[0..<10]), Array(repeating: 0, count: 9) + [7])
        XCTAssertEqual(Array(clipped.weight.data[10...]), Array(repeating: 0.5, count: 10))
        XCTAssertEqual(clipped.bias?.data, [1, 2], "biases are left alone")
        XCTAssertEqual(report.setsFound, 1)
        XCTAssertEqual(report.setsScaled, 1)
        XCTAssertEqual(report.details, "k = 2.0: 1 of 20 weights clipped")
        XCTAssertFalse(WeightClipping().preservesFloatFunction)
        XCTAssertNotNil(PassCatalog.entries.first { $0.name == "wclip" }, "reachable from --variants and --config")
    }
}

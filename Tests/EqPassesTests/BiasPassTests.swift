@testable import EqPasses
import EqGraph
import EqQuant
import EqRuntime
import EqTensor
import XCTest

final class BiasPassTests: XCTestCase {
    /// a (BN folded, γ = 1, β = 5) → ReLU → b: c = β − 3γ = 2 moves into b's bias;
    /// exact for inputs whose pre-activation stays above 2.
    func testHighBiasFoldIsExactInsideTheBand() throws {
        let a = LinearLayer(weight: Tensor(shape: [1, 1], data: [1]), bias: Tensor(shape: [1], data: [5]))
        let b = LinearLayer(weight: Tensor(shape: [2, 1], data: [3, -1]), bias: Tensor(shape: [2], data: [0, 1]))
        var graph = Graph(name: "hbf", input: GraphInput(name: "x", shape: [1]), nodes: [
            Node(name: "a", op: .linear(a), inputs: ["x"], output: "h"),
            Node(name: "relu", op: .activation(.relu), inputs: ["h"], output: "r"),
            Node(name: "b", op: .linear(b), inputs: ["r"], output: "y"),
        ], outputs: ["y"])
        let original = graph
        var context = PassContext()
        context.record(FoldedStatistics(gamma: [1], beta: [5]), for: graph.nodes[0].id)
        _ = try CrossLayerScaling(maxIterations: 1, scaleBounds: 1...1).apply(to: &graph, context: &context)
        let report = try HighBiasFold().apply(to: &graph, context: &context)
        XCTAssertEqual(report.setsScaled, 1)
        guard case let .linear(newA) = graph.nodes[0].op, case let .linear(newB) = graph.nodes[2].op else { return XCTFail() }
        XCTAssertEqual(newA.bias?.data, [3])
        XCTAssertEqual(newB.bias?.data, [6, -1])           // b + W·c = [0 + 3·2, 1 − 2]
        let inside = Tensor(shape: [3, 1], data: [-2.5, 0, 4])   // pre-activations 2.5, 5, 9 ≥ 2
        let before = try Executor(graph: original).run(inside).outputs[0]
        let after = try Executor(graph: graph).run(inside).outputs[0]
        XCTAssertLessThan(before.maxAbsDifference(after), 1e-5)
        let outside = Tensor(shape: [1, 1], data: [-4])         // pre-activation 1 < 2: not exact
        XCTAssertGreaterThan(try Executor(graph: original).run(outside).outputs[0].maxAbsDifference(
            try Executor(graph: graph).run(outside).outputs[0]), 0.1)
    }

    func linearModel() -> Graph {
        var rng = SeededRandom(seed: 9)
        let fc = LinearLayer(weight: Tensor(shape: [4, 8], data: rng.signedArray(32)), bias: Tensor(shape: [4], repeating: 0))
        return Graph(name: "fc", input: GraphInput(name: "x", shape: [8]),
                     nodes: [Node(name: "fc", op: .linear(fc), inputs: ["x"], output: "y")], outputs: ["y"])
    }

    /// After empirical correction the weight-quantized layer's mean output over
    /// the calibration data equals the float layer's.
    func testEmpiricalBiasCorrectionRemovesTheMeanShift() throws {
        let graph = linearModel()
        var rng = SeededRandom(seed: 10)
        // Inputs with a large positive mean, so quantization error has a mean.
        let data = Tensor(shape: [64, 8], data: rng.signedArray(512).map { $0 + 3 })
        let precision = try Precision.parse("w4a8-pt")
        var corrected = graph
        var context = PassContext(precision: precision, threads: 2, calibration: [data])
        let report = try BiasCorrection(.empirical).apply(to: &corrected, context: &context)
        XCTAssertEqual(report.setsScaled, 1)
        func meanOutputs(_ g: Graph, quantize: Bool) throws -> [Double] {
            let plan = QuantPlan(graph: g, precision: precision)
            let run = quantize ? try plan.quantizedGraph(Calibration(ranges: [:], quantizers: [:], images: 0)) : g
            let y = try Executor(graph: run).run(data).outputs[0].data
            var means = [Double](repeating: 0, count: 4)
            for n in 0..<64 { for c in 0..<4 { means[c] += Double(y[n * 4 + c]) / 64 } }
            return means
        }
        let float = try meanOutputs(graph, quantize: false)
        let before = try meanOutputs(graph, quantize: true)
        let after = try meanOutputs(corrected, quantize: true)
        let shiftBefore = zip(float, before).map { abs($0 - $1) }.max()!
        let shiftAfter = zip(float, after).map { abs($0 - $1) }.max()!
        XCTAssertGreaterThan(shiftBefore, 1e-3)
        XCTAssertLessThan(shiftAfter, 1e-5)
        // At fp32 there is nothing to correct.
        var untouched = graph
        var floatContext = PassContext(precision: .float)
        XCTAssertEqual(try BiasCorrection(.empirical).apply(to: &untouched, context: &floatContext).setsScaled, 0)
    }

    func testAnalyticExpectationThroughReLU() {
        // E[ReLU(x)], x ~ N(0, 1) = 1/√(2π).
        XCTAssertEqual(BiasCorrection.expectedOutput(mean: 0, std: 1, through: .activation(.relu), channel: 0)!,
                       1 / (2 * Double.pi).squareRoot(), accuracy: 1e-12)
        // Far above zero ReLU is the identity; ReLU6 then clips at 6.
        XCTAssertEqual(BiasCorrection.expectedOutput(mean: 10, std: 0.1, through: .activation(.relu), channel: 0)!, 10, accuracy: 1e-9)
        XCTAssertEqual(BiasCorrection.expectedOutput(mean: 10, std: 0.1, through: .activation(.clip(lower: 0, upper: 6)), channel: 0)!, 6, accuracy: 1e-9)
        XCTAssertNil(BiasCorrection.expectedOutput(mean: 0, std: 1, through: .activation(.sigmoid), channel: 0))
    }
}

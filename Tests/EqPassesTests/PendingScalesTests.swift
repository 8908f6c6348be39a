@testable import EqPasses
import EqGraph
import EqTensor
import XCTest

/// The deferred factors of iterative cross-layer scaling: ranges from the
/// taps-reduced magnitudes equal ranges of the effective weights
/// w·row[o]·column[i], and `write` produces exactly those weights.
final class PendingScalesTests: XCTestCase {
    func testRangesAndWrittenWeightsMatchTheEffectiveWeights() {
        for threads in [1, 2] { check(threads: threads) }
    }

    func check(threads: Int) {
        var rng = SeededRandom(seed: 31)
        let (outs, ins, taps) = (5, 11, 9)   // 11 inputs: the 8-lane path and its tail
        let conv = ConvLayer(weight: Tensor(shape: [outs, ins, 3, 3], data: rng.signedArray(outs * ins * taps)),
                             bias: Tensor(shape: [outs], data: rng.signedArray(outs)),
                             geometry: WindowGeometry(kernelH: 3, kernelW: 3, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1), group: 1)
        let linear = LinearLayer(weight: Tensor(shape: [4, outs], data: rng.signedArray(4 * outs)), bias: nil)
        var graph = Graph(name: "g", input: GraphInput(name: "x", shape: [ins, 4, 4]), nodes: [
            Node(name: "conv", op: .conv(conv), inputs: ["x"], output: "c"),
            Node(name: "pool", op: .globalAveragePool, inputs: ["c"], output: "p"),
            Node(name: "flat", op: .reshape(to: [outs]), inputs: ["p"], output: "f"),
            Node(name: "fc", op: .linear(linear), inputs: ["f"], output: "y"),
        ], outputs: ["y"])
        let (convID, fcID) = (graph.nodes[0].id, graph.nodes[3].id)
        var pending = PendingScales(graph: graph, layers: [convID, fcID], bothSides: [convID], threads: threads)
        let rows: [Float] = [2, 0.5, 1, 4, 0.25], columns = (0..<ins).map { 0.5 + Float($0) * 0.2 }
        pending.divideOutputs(convID, by: rows.map { 1 / $0 })
        pending.multiplyInputs(convID, by: columns)
        pending.multiplyInputs(fcID, by: rows)

        let w = conv.weight.data
        func effective(_ o: Int, _ i: Int, _ t: Int) -> Float { w[(o * ins + i) * taps + t] * rows[o] * columns[i] }
        let expectedRows = (0..<outs).map { o in (0..<ins).flatMap { i in (0..<taps).map { abs(effective(o, i, $0)) } }.max()! }
        let expectedColumns = (0..<ins).map { i in (0..<outs).flatMap { o in (0..<taps).map { abs(effective(o, i, $0)) } }.max()! }
        for (a, e) in zip(pending.outputRanges(convID), expectedRows) { XCTAssertEqual(a, e, accuracy: 1e-6 * e) }
        for (a, e) in zip(pending.inputRanges(convID), expectedColumns) { XCTAssertEqual(a, e, accuracy: 1e-6 * e) }
        let fcColumns = (0..<outs).map { i in (0..<4).map { abs(linear.weight.data[$0 * outs + i]) }.max()! * rows[i] }
        for (a, e) in zip(pending.inputRanges(fcID), fcColumns) { XCTAssertEqual(a, e, accuracy: 1e-6 * e) }

        pending.write(to: &graph, threads: threads)
        guard case let .conv(written) = graph.nodes[0].op, case let .linear(fc) = graph.nodes[3].op else { return XCTFail("ops changed kind") }
        for o in 0..<outs { for i in 0..<ins { for t in 0..<taps {
            XCTAssertEqual(written.weight.data[(o * ins + i) * taps + t], effective(o, i, t), accuracy: 1e-6)
        } } }
        // The bias takes the row factor.
        for o in 0..<outs { XCTAssertEqual(written.bias!.data[o], conv.bias!.data[o] * rows[o], accuracy: 1e-6) }
        for o in 0..<4 { for i in 0..<outs {
            XCTAssertEqual(fc.weight.data[o * outs + i], linear.weight.data[o * outs + i] * rows[i], accuracy: 1e-6)
        } }
    }
}

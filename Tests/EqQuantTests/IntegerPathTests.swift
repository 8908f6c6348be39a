import EqGraph
import EqONNX
import EqQuant
import EqRuntime
import EqTensor
import Foundation
import XCTest

/// `Int8Path.integer` against fake quant. One layer on the same input: output
/// codes equal or within 1 (the integer path sums exactly in int32 and scales
/// once, fake quant sums dequantized values in float, so an output within
/// float rounding of a code boundary may round the other way). Whole bundled
/// models: under 1% of all activation codes differ (a code that differs feeds
/// the next layers, so deeper ones can drift by a few), and the same
/// prediction wherever the logits do not tie.
final class IntegerPathTests: XCTestCase {
    func testOneLayerCodesAreWithinOne() throws {
        var random = SeededRandom(seed: 9)
        // Padded, strided, dilated and pointwise windows; 8 input channels
        // let a pointwise conv multiply the pixel-major codes directly.
        let layers = [(WindowGeometry(kernelH: 3, kernelW: 3, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1), 6),
                      (WindowGeometry(kernelH: 3, kernelW: 3, strideH: 2, strideW: 2, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1), 6),
                      (WindowGeometry(kernelH: 3, kernelW: 2, dilationH: 2, dilationW: 3, padTop: 2, padLeft: 0, padBottom: 1, padRight: 3), 5),
                      (WindowGeometry(kernelH: 1, kernelW: 1), 6),
                      (WindowGeometry(kernelH: 1, kernelW: 1), 8)]
        for (geometry, cin) in layers {
            let (cout, size) = (10, 9)
            let k = cin * geometry.kernelH * geometry.kernelW
            let weightScales = (0..<cout).map { _ in 0.002 + 0.01 * abs(random.nextSigned()) }
            let weights = (0..<(cout * k)).map { i in Float(Int(random.next() % 255) - 127) * weightScales[i / k] }
            let bias = Tensor(shape: [cout], data: (0..<cout).map { _ in random.nextSigned() })
            let conv = ConvLayer(weight: Tensor(shape: [cout, cin, geometry.kernelH, geometry.kernelW], data: weights), bias: bias,
                                 geometry: geometry, group: 1)
            let graph = Graph(name: "one", input: GraphInput(name: "x", shape: [cin, size, size]),
                              nodes: [Node(name: "conv", op: .conv(conv), inputs: ["x"], output: "y")], outputs: ["y"])
            let input = FakeQuantizer(scale: 0.02, zeroPoint: 37, qmin: 0, qmax: 255)
            let output = FakeQuantizer(scale: 0.05, zeroPoint: 128, qmin: 0, qmax: 255)
            let encodings = IntegerEncodings(input: input, weights: weightScales.map { FakeQuantizer(scale: $0, zeroPoint: 0, qmin: -127, qmax: 127) })
            let x = Tensor(shape: [4, cin, size, size], data: (0..<(4 * cin * size * size)).map { _ in input(Float(random.next() % 256) * 0.02 - 0.74) })
            let quantizers = ["x": input, "y": output]
            let fake = try Executor(graph: graph, threads: 1, activationQuantizers: quantizers).run(x).outputs[0]
            let exact = try Executor(graph: graph, threads: 1, activationQuantizers: quantizers,
                                     integerLayers: [graph.nodes[0].id: encodings]).run(x).outputs[0]
            let kernels = try Executor(graph: graph, threads: 1, activationQuantizers: quantizers,
                                       integerLayers: [graph.nodes[0].id: encodings]).profile(x, repeats: 1).map(\.kernel)
            XCTAssertTrue(kernels[0].hasSuffix(" int8"), "\(kernels)")
            var differing = 0
            for (a, b) in zip(fake.data, exact.data) {
                let gap = abs(output.code(a) - output.code(b))
                XCTAssertLessThanOrEqual(gap, 1, "\(geometry)")
                if gap > 0 { differing += 1 }
            }
            XCTAssertLessThan(differing, fake.data.count / 50, "\(geometry): \(differing) of \(fake.data.count) codes differ")
        }
    }

    static let models = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Datasets/models")

    func testIntegerCodesMatchFakeQuantWithinOne() throws {
        for name in ["mlp", "resnet", "mbv2", "inception"] {
            let graph = try ONNXImporter.load(contentsOf: Self.models.appendingPathComponent("\(name).onnx"))
            var random = SeededRandom(seed: 5)
            func images(_ n: Int) -> Tensor { Tensor(shape: [n] + graph.input.shape, data: (0..<(n * 784)).map { _ in (random.nextSigned() + 1) * 1.5 }) }
            let calibration = images(32), test = images(32)
            for precision in ["w8a8-pt", "w8a8-pc", "w8a8-pc-b32"] {
                let plan = QuantPlan(graph: graph, precision: try Precision.parse(precision))
                let frozen = try plan.calibrate(using: StatisticsService(batches: [calibration], threads: 2))
                let quantized = try plan.quantizedGraph(frozen)
                let integer = try plan.integerEncodings(frozen)
                XCTAssertFalse(integer.isEmpty, "\(name) \(precision): no layer on integer kernels")
                let taps = plan.quantizedValues.filter { $0 != graph.input.name }
                let fake = try Executor(graph: quantized, threads: 2, activationQuantizers: frozen.quantizers).run(test, taps: taps)
                let exact = try Executor(graph: quantized, threads: 2, activationQuantizers: frozen.quantizers,
                                         integerLayers: integer).run(test, taps: taps)
                var differing = 0, beyondOne = 0, total = 0, worst: Float = 0
                for value in taps {
                    let q = frozen.quantizers[value]!
                    for (a, b) in zip(fake.taps[value]!.data, exact.taps[value]!.data) {
                        let gap = abs(q.code(a) - q.code(b))
                        if gap > 0 { differing += 1 }
                        if gap > 1 { beyondOne += 1 }
                        worst = max(worst, gap)
                        total += 1
                    }
                }
                print("\(name) \(precision): \(differing) of \(total) codes differ, \(beyondOne) by more than 1, at most \(worst)")
                XCTAssertLessThan(Double(differing), 0.01 * Double(total), "\(name) \(precision): \(differing) of \(total) codes differ")
                let classes = fake.outputs[0].shape[1]
                for image in 0..<32 {
                    let a = Array(fake.outputs[0].data[(image * classes)..<((image + 1) * classes)])
                    let b = Array(exact.outputs[0].data[(image * classes)..<((image + 1) * classes)])
                    let top = a.indices.max { a[$0] < a[$1] }!, other = b.indices.max { b[$0] < b[$1] }!
                    // A different argmax only where fake quant's top two logits are a code apart.
                    if top != other {
                        let step = frozen.quantizers[graph.outputs[0]]!.scale
                        XCTAssertLessThanOrEqual(abs(a[top] - a[other]), step * 1.01, "\(name) \(precision) image \(image)")
                    }
                }
            }
        }
    }
}

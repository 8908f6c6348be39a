import EqGraph
import EqONNX
import EqRuntime
import EqTensor
import XCTest

/// Executor behaviour beyond numeric agreement: determinism across thread
/// counts, taps, fusion, and input checks.
final class ExecutorTests: XCTestCase {
    /// conv(3×3) → relu → conv(1×1) → global pool → linear, with random weights.
    func smallNetwork() -> Graph {
        var rng = SeededRandom(seed: 7)
        let conv1 = ConvLayer(weight: Tensor(shape: [4, 1, 3, 3], data: rng.signedArray(36)), bias: Tensor(shape: [4], data: rng.signedArray(4)),
                              geometry: WindowGeometry(kernelH: 3, kernelW: 3, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1), group: 1)
        let conv2 = ConvLayer(weight: Tensor(shape: [3, 4, 1, 1], data: rng.signedArray(12)), bias: nil,
                              geometry: WindowGeometry(kernelH: 1, kernelW: 1), group: 1)
        let fc = LinearLayer(weight: Tensor(shape: [2, 3], data: rng.signedArray(6)), bias: Tensor(shape: [2], data: [0.5, -0.5]))
        return Graph(name: "small", input: GraphInput(name: "x", shape: [1, 5, 5]), nodes: [
            Node(name: "conv1", op: .conv(conv1), inputs: ["x"], output: "c1"),
            Node(name: "relu1", op: .activation(.relu), inputs: ["c1"], output: "r1"),
            Node(name: "conv2", op: .conv(conv2), inputs: ["r1"], output: "c2"),
            Node(name: "pool", op: .globalAveragePool, inputs: ["c2"], output: "p"),
            Node(name: "flat", op: .reshape(to: [3]), inputs: ["p"], output: "f"),
            Node(name: "fc", op: .linear(fc), inputs: ["f"], output: "y"),
        ], outputs: ["y"])
    }

    func batch(_ n: Int) -> Tensor {
        var rng = SeededRandom(seed: 11)
        return Tensor(shape: [n, 1, 5, 5], data: rng.signedArray(n * 25))
    }

    func testResultsAreBitIdenticalForAnyThreadCount() throws {
        let graph = smallNetwork()
        let input = batch(37)   // not a multiple of the tile size
        let one = try Executor(graph: graph, threads: 1).run(input)
        let two = try Executor(graph: graph, threads: 2).run(input)
        let four = try Executor(graph: graph, threads: 4).run(input)
        XCTAssertEqual(one.outputs, two.outputs)
        XCTAssertEqual(one.outputs, four.outputs)
    }

    func testTapsReturnIntermediateValuesAndDoNotChangeOutputs() throws {
        let graph = smallNetwork()
        let input = batch(3)
        let executor = try Executor(graph: graph, threads: 2)
        let plain = try executor.run(input)
        // Tapping conv1 blocks its fusion with relu1: outputs must not change.
        let tapped = try executor.run(input, taps: ["conv1", "relu1", "x", "relu1", "r1"])
        XCTAssertEqual(plain.outputs, tapped.outputs)
        let c1 = tapped.taps["conv1"]!, r1 = tapped.taps["relu1"]!
        XCTAssertEqual(c1.shape, [3, 4, 5, 5])
        XCTAssertEqual(r1.data, c1.data.map { max($0, 0) })
        XCTAssertTrue(c1.data.contains { $0 < 0 }, "the pre-activation tap holds negative values")
        XCTAssertEqual(tapped.taps["x"], input)
        XCTAssertEqual(tapped.taps["r1"], r1, "a value name and its node's name tap the same value")
        // Hand check of one conv1 output: image 0, channel 0, centre pixel.
        guard case let .conv(layer) = graph.nodes[0].op else { return XCTFail() }
        var expected = layer.bias!.data[0]
        for i in 0..<3 { for j in 0..<3 { expected += layer.weight.data[i * 3 + j] * input.data[(1 + i) * 5 + 1 + j] } }
        XCTAssertEqual(c1.data[2 * 5 + 2], expected, accuracy: 1e-5)
    }

    /// conv → BatchNorm → relu runs as one step (the affine in the conv's
    /// epilogue); tapping the conv or the batch norm blocks that fusion, and
    /// the outputs must be bit-identical either way, and match the definition.
    /// A batch norm and a ReLU/ReLU6 fused into the conv before them give the
    /// values of the separate steps, for each conv method: tap columns on one
    /// input channel (3 output channels: single-row tiles), shifted rows (16
    /// channels at 14², 3 out), pointwise (8 channels on 28 pixels: 4×24
    /// and 4×1 tiles), depthwise, tap columns at stride 2 (144 rows of B: two
    /// passes over k, the epilogue only in the last; 20 channels on 25
    /// pixels: 4×24, 16×1 and 4×1 tiles), grouped tap columns (each group's
    /// channels get their own scale), and a pointwise conv of 9 channels on
    /// 17 pixels (8×8, 4×1 and single-row tiles). A sigmoid is not a clamp: the
    /// batch norm stays in the epilogue and the sigmoid runs after it.
    func testBatchNormFusedIntoConvChangesNoValue() throws {
        var rng = SeededRandom(seed: 5)
        let pad1 = WindowGeometry(kernelH: 3, kernelW: 3, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1)
        let cases: [(ConvLayer, Activation, input: [Int])] = [
            (ConvLayer(weight: Tensor(shape: [3, 1, 3, 3], data: rng.signedArray(27)), bias: nil, geometry: pad1, group: 1), .relu, [1, 5, 5]),
            (ConvLayer(weight: Tensor(shape: [3, 16, 3, 3], data: rng.signedArray(432)), bias: nil, geometry: pad1, group: 1), .relu, [16, 14, 14]),
            (ConvLayer(weight: Tensor(shape: [8, 2, 1, 1], data: rng.signedArray(16)), bias: Tensor(shape: [8], data: rng.signedArray(8)),
                       geometry: WindowGeometry(kernelH: 1, kernelW: 1), group: 1), .clip(lower: 0, upper: 6), [2, 4, 7]),
            (ConvLayer(weight: Tensor(shape: [4, 1, 3, 3], data: rng.signedArray(36)), bias: nil, geometry: pad1, group: 4), .relu, [4, 6, 11]),
            (ConvLayer(weight: Tensor(shape: [20, 16, 3, 3], data: rng.signedArray(2880)), bias: Tensor(shape: [20], data: rng.signedArray(20)),
                       geometry: WindowGeometry(kernelH: 3, kernelW: 3, strideH: 2, strideW: 2), group: 1), .clip(lower: 0, upper: 6), [16, 11, 11]),
            (ConvLayer(weight: Tensor(shape: [8, 2, 3, 3], data: rng.signedArray(144)), bias: nil, geometry: pad1, group: 2), .relu, [4, 7, 7]),
            (ConvLayer(weight: Tensor(shape: [9, 3, 1, 1], data: rng.signedArray(27)), bias: nil,
                       geometry: WindowGeometry(kernelH: 1, kernelW: 1), group: 1), .relu, [3, 1, 17]),
            (ConvLayer(weight: Tensor(shape: [8, 2, 1, 1], data: rng.signedArray(16)), bias: nil,
                       geometry: WindowGeometry(kernelH: 1, kernelW: 1), group: 1), .sigmoid, [2, 4, 7]),
        ]
        for (conv, activation, shape) in cases {
            let channels = conv.outChannels
            let bn = BatchNorm(gamma: (0..<channels).map { $0 % 2 == 0 ? 1.5 : -0.5 }, beta: rng.signedArray(channels),
                               mean: rng.signedArray(channels), variance: (0..<channels).map { 0.4 + Float($0) * 0.1 }, epsilon: 1e-5)
            let graph = Graph(name: "convbn", input: GraphInput(name: "x", shape: shape), nodes: [
                Node(name: "conv", op: .conv(conv), inputs: ["x"], output: "c"),
                Node(name: "bn", op: .batchNorm(bn), inputs: ["c"], output: "b"),
                Node(name: "act", op: .activation(activation), inputs: ["b"], output: "y"),
            ], outputs: ["y"])
            let count = shape.reduce(1, *)
            let input = Tensor(shape: [3] + shape, data: rng.signedArray(3 * count).map { $0 * 4 })
            let executor = try Executor(graph: graph, threads: 1)
            let fused = try executor.run(input)
            let unfused = try executor.run(input, taps: ["conv", "bn"])
            XCTAssertEqual(fused.outputs, unfused.outputs, "\(activation)")
            let (scale, shift) = bn.affine()
            let c = unfused.taps["conv"]!
            let plane = c.count / (3 * channels)
            var expected = c.data.indices.map { i -> Float in
                c.data[i] * scale[(i / plane) % channels] + shift[(i / plane) % channels]
            }
            expected.withUnsafeMutableBufferPointer { activation.apply($0.baseAddress!, count: $0.count) }
            XCTAssertEqual(fused.outputs[0].data, expected, "\(activation)")
        }
    }

    /// conv → BN → Add → ReLU/ReLU6 runs as one step: the Add's other input
    /// (a second conv's output) is read in the conv's epilogue, for each conv
    /// GEMM method: shifted rows (16 channels at 14²), pointwise (4×24/4×48
    /// and 4×1 tiles), tap columns at stride 2 with two passes over k, and a
    /// sigmoid, which is not a clamp and runs after the fused add. A
    /// depthwise conv keeps its Add as a step. The Add fuses into whichever conv
    /// runs second (the residual must exist when it runs); in half the cases
    /// that is the one without the batch norm. Outputs are bit-identical to
    /// the unfused steps (taps block every fusion) and equal the definition.
    func testResidualAddFusedIntoConvChangesNoValue() throws {
        var rng = SeededRandom(seed: 21)
        let pad1 = WindowGeometry(kernelH: 3, kernelW: 3, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1)
        let pointwise = WindowGeometry(kernelH: 1, kernelW: 1)
        let cases: [(ConvLayer, Activation, input: [Int])] = [
            (ConvLayer(weight: Tensor(shape: [16, 16, 3, 3], data: rng.signedArray(2304)), bias: nil, geometry: pad1, group: 1), .relu, [16, 14, 14]),
            (ConvLayer(weight: Tensor(shape: [9, 3, 1, 1], data: rng.signedArray(27)), bias: Tensor(shape: [9], data: rng.signedArray(9)),
                       geometry: pointwise, group: 1), .clip(lower: 0, upper: 6), [3, 7, 9]),
            (ConvLayer(weight: Tensor(shape: [5, 1, 3, 3], data: rng.signedArray(45)), bias: nil, geometry: pad1, group: 5), .relu, [5, 7, 7]),
            (ConvLayer(weight: Tensor(shape: [20, 16, 3, 3], data: rng.signedArray(2880)), bias: Tensor(shape: [20], data: rng.signedArray(20)),
                       geometry: WindowGeometry(kernelH: 3, kernelW: 3, strideH: 2, strideW: 2), group: 1), .relu, [16, 11, 11]),
            (ConvLayer(weight: Tensor(shape: [8, 2, 1, 1], data: rng.signedArray(16)), bias: nil, geometry: pointwise, group: 1), .sigmoid, [2, 4, 7]),
        ]
        for (n, (conv, activation, shape)) in cases.enumerated() {
            let channels = conv.outChannels
            let bn = BatchNorm(gamma: (0..<channels).map { $0 % 2 == 0 ? 1.5 : -0.5 }, beta: rng.signedArray(channels),
                               mean: rng.signedArray(channels), variance: (0..<channels).map { 0.4 + Float($0) * 0.1 }, epsilon: 1e-5)
            let sideWeight = Tensor(shape: conv.weight.shape, data: rng.signedArray(conv.weight.count))
            let side = ConvLayer(weight: sideWeight, bias: nil, geometry: conv.geometry, group: conv.group)
            let sideNode = Node(name: "side", op: .conv(side), inputs: ["x"], output: "s")
            let main = [Node(name: "conv", op: .conv(conv), inputs: ["x"], output: "c"),
                        Node(name: "bn", op: .batchNorm(bn), inputs: ["c"], output: "b")]
            let sideFirst = n % 2 == 0
            let graph = Graph(name: "residual", input: GraphInput(name: "x", shape: shape), nodes:
                (sideFirst ? [sideNode] + main : main + [sideNode]) + [
                    Node(name: "add", op: .binary(.add), inputs: sideFirst ? ["b", "s"] : ["s", "b"], output: "a"),
                    Node(name: "act", op: .activation(activation), inputs: ["a"], output: "y"),
                ], outputs: ["y"])
            let count = shape.reduce(1, *)
            let input = Tensor(shape: [3] + shape, data: rng.signedArray(3 * count).map { $0 * 4 })
            let executor = try Executor(graph: graph, threads: 1)
            let steps = try executor.profile(input, repeats: 1).map(\.nodes)
            let expectedSteps = conv.isDepthwise ? [["side"], ["conv", "bn"], ["add", "act"]]   // never into depthwise
                : sideFirst ? [["side"], ["conv", "bn", "add", "act"]] : [["conv", "bn"], ["side", "add", "act"]]
            XCTAssertEqual(steps, expectedSteps, "case \(n)")
            let fused = try executor.run(input)
            let unfused = try executor.run(input, taps: ["conv", "bn", "side", "add"])
            XCTAssertEqual(fused.outputs, unfused.outputs, "case \(n)")
            let (scale, shift) = bn.affine()
            let c = unfused.taps["conv"]!, residual = unfused.taps["side"]!
            let plane = c.count / (3 * channels)
            var expected = c.data.indices.map { i -> Float in
                let y = c.data[i] * scale[(i / plane) % channels] + shift[(i / plane) % channels]
                return sideFirst ? y + residual.data[i] : residual.data[i] + y
            }
            expected.withUnsafeMutableBufferPointer { activation.apply($0.baseAddress!, count: $0.count) }
            XCTAssertEqual(fused.outputs[0].data, expected, "case \(n)")
        }
    }

    /// Mul(x, Sigmoid(x)) after a conv + batch norm becomes one SiLU in the
    /// conv's step, with x·σ(x) as the separate steps compute it (tapping the
    /// sigmoid keeps them separate); either operand order of the Mul.
    func testSigmoidTimesItsInputFusesIntoTheConvAsSiLU() throws {
        var rng = SeededRandom(seed: 5)
        let conv = ConvLayer(weight: Tensor(shape: [6, 3, 3, 3], data: rng.signedArray(162)), bias: Tensor(shape: [6], data: rng.signedArray(6)),
                             geometry: WindowGeometry(kernelH: 3, kernelW: 3, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1), group: 1)
        let bn = BatchNorm(gamma: rng.signedArray(6), beta: rng.signedArray(6), mean: rng.signedArray(6),
                           variance: (0..<6).map { 0.5 + Float($0) * 0.1 }, epsilon: 1e-5)
        for sigmoidFirst in [true, false] {
            let graph = Graph(name: "silu", input: GraphInput(name: "x", shape: [3, 9, 7]), nodes: [
                Node(name: "conv", op: .conv(conv), inputs: ["x"], output: "c"),
                Node(name: "bn", op: .batchNorm(bn), inputs: ["c"], output: "b"),
                Node(name: "sig", op: .activation(.sigmoid), inputs: ["b"], output: "s"),
                Node(name: "mul", op: .binary(.mul), inputs: sigmoidFirst ? ["s", "b"] : ["b", "s"], output: "y"),
            ], outputs: ["y"])
            let input = Tensor(shape: [2, 3, 9, 7], data: rng.signedArray(2 * 189).map { $0 * 3 })
            let executor = try Executor(graph: graph, threads: 1)
            XCTAssertEqual(try executor.profile(input, repeats: 1).map(\.nodes), [["conv", "bn", "mul"]])
            let fused = try executor.run(input).outputs[0]
            let separate = try executor.run(input, taps: ["s", "b"])
            let expected = zip(separate.taps["b"]!.data, separate.taps["s"]!.data).map { $0 * $1 }
            XCTAssertEqual(separate.outputs[0].data, expected)
            for (a, b) in zip(fused.data, expected) { XCTAssertEqual(a, b, accuracy: 1e-6 * max(1, abs(b))) }
        }
    }

    /// In int8 simulation a residual Add reads the conv's quantized output,
    /// and still fuses into the conv: the conv stores its raw output and one
    /// pass applies that quantizer, the add and the activation
    /// (`FakeQuantizer.applyThenAdd`). The quantizers sit where `QuantPlan`
    /// puts them: on both inputs of the Add and on the activation's output
    /// (or on the Add's own output when nothing follows it). Outputs are
    /// bit-identical to the unfused steps (taps block the fusion) and equal
    /// the definition, over the shifted, pointwise and tap-column methods and
    /// a sigmoid, which runs after the pass.
    func testResidualAddFusesAfterTheConvOutputsQuantizer() throws {
        var rng = SeededRandom(seed: 23)
        let pad1 = WindowGeometry(kernelH: 3, kernelW: 3, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1)
        let pointwise = WindowGeometry(kernelH: 1, kernelW: 1)
        let cases: [(ConvLayer, Activation?, input: [Int])] = [
            (ConvLayer(weight: Tensor(shape: [16, 16, 3, 3], data: rng.signedArray(2304)), bias: nil, geometry: pad1, group: 1), .relu, [16, 14, 14]),
            (ConvLayer(weight: Tensor(shape: [9, 3, 1, 1], data: rng.signedArray(27)), bias: Tensor(shape: [9], data: rng.signedArray(9)),
                       geometry: pointwise, group: 1), nil, [3, 7, 9]),
            (ConvLayer(weight: Tensor(shape: [20, 16, 3, 3], data: rng.signedArray(2880)), bias: Tensor(shape: [20], data: rng.signedArray(20)),
                       geometry: WindowGeometry(kernelH: 3, kernelW: 3, strideH: 2, strideW: 2), group: 1), .clip(lower: 0, upper: 6), [16, 11, 11]),
            (ConvLayer(weight: Tensor(shape: [8, 2, 1, 1], data: rng.signedArray(16)), bias: nil, geometry: pointwise, group: 1), .sigmoid, [2, 4, 7]),
        ]
        for (n, (conv, activation, shape)) in cases.enumerated() {
            let side = ConvLayer(weight: Tensor(shape: conv.weight.shape, data: rng.signedArray(conv.weight.count)), bias: nil,
                                 geometry: conv.geometry, group: conv.group)
            let sideFirst = n % 2 == 0
            let main = Node(name: "conv", op: .conv(conv), inputs: ["x"], output: "c")
            let sideNode = Node(name: "side", op: .conv(side), inputs: ["x"], output: "s")
            var nodes = (sideFirst ? [sideNode, main] : [main, sideNode])
                + [Node(name: "add", op: .binary(.add), inputs: ["c", "s"], output: "a")]
            if let activation { nodes.append(Node(name: "act", op: .activation(activation), inputs: ["a"], output: "y")) }
            let out = activation == nil ? "a" : "y"
            let graph = Graph(name: "quantized residual", input: GraphInput(name: "x", shape: shape), nodes: nodes, outputs: [out])
            let quantizers = ["c": FakeQuantizer(scale: 0.05, zeroPoint: 3, qmin: 0, qmax: 255),
                              "s": FakeQuantizer(scale: 0.04, zeroPoint: 0, qmin: -127, qmax: 127),
                              out: FakeQuantizer(scale: 0.03, zeroPoint: -5, qmin: -128, qmax: 127)]
            let count = shape.reduce(1, *)
            let input = Tensor(shape: [3] + shape, data: rng.signedArray(3 * count))
            let executor = try Executor(graph: graph, threads: 1, activationQuantizers: quantizers)
            let steps = try executor.profile(input, repeats: 1).map(\.nodes)
            let tail = activation == nil ? ["add"] : ["add", "act"]
            XCTAssertEqual(steps, sideFirst ? [["side"], ["conv"] + tail] : [["conv"], ["side"] + tail], "case \(n)")
            let fused = try executor.run(input)
            let unfused = try executor.run(input, taps: ["c", "s", "a"])
            XCTAssertEqual(fused.outputs, unfused.outputs, "case \(n)")
            // The definition from the tapped (already quantized) conv outputs.
            let c = unfused.taps["c"]!.data, s = unfused.taps["s"]!.data
            var expected = zip(c, s).map { $0 + $1 }
            expected.withUnsafeMutableBufferPointer { activation?.apply($0.baseAddress!, count: $0.count) }
            expected = expected.map { quantizers[out]!($0) }
            XCTAssertEqual(fused.outputs[0].data, expected, "case \(n)")
            XCTAssertEqual(c, c.map { quantizers["c"]!($0) }, "case \(n): the tapped conv output is quantized")
        }
    }

    /// Reshapes run as views of their input's buffer (one of the graph
    /// input itself, which the executor reads in place and must not write),
    /// and a ReLU after a residual Add is fused into it: the outputs match
    /// the definition, tapping the views and the Add (which blocks both)
    /// changes no output, and the caller's batch is unchanged.
    func testReshapeViewsBorrowedInputAndAddActivationFusion() throws {
        var rng = SeededRandom(seed: 9)
        let fc = LinearLayer(weight: Tensor(shape: [4, 18], data: rng.signedArray(72)), bias: Tensor(shape: [4], data: rng.signedArray(4)))
        let graph = Graph(name: "views", input: GraphInput(name: "x", shape: [2, 3, 3]), nodes: [
            Node(name: "flat", op: .reshape(to: [18]), inputs: ["x"], output: "f"),
            Node(name: "relu", op: .activation(.relu), inputs: ["f"], output: "r"),
            Node(name: "add", op: .binary(.add), inputs: ["f", "r"], output: "s"),
            Node(name: "act", op: .activation(.relu), inputs: ["s"], output: "a"),
            Node(name: "flat2", op: .reshape(to: [18]), inputs: ["a"], output: "a2"),
            Node(name: "fc", op: .linear(fc), inputs: ["a2"], output: "y"),
        ], outputs: ["y"])
        let values = rng.signedArray(5 * 18)
        let input = Tensor(shape: [5, 2, 3, 3], data: values)
        let executor = try Executor(graph: graph, threads: 2)
        let plain = try executor.run(input)
        XCTAssertEqual(input.data, values, "the executor wrote into the caller's batch")
        for image in 0..<5 {
            let x = values[(image * 18)..<((image + 1) * 18)]
            let a = x.map { v -> Float in let s = v + max(v, 0); return max(s, 0) }
            for o in 0..<4 {
                let row = fc.weight.data[(o * 18)..<((o + 1) * 18)]
                let expected = zip(row, a).reduce(fc.bias!.data[o]) { $0 + $1.0 * $1.1 }
                XCTAssertEqual(plain.outputs[0].data[image * 4 + o], expected, accuracy: 1e-5)
            }
        }
        let tapped = try executor.run(input, taps: ["flat", "add", "flat2"])
        XCTAssertEqual(plain.outputs, tapped.outputs)
        XCTAssertEqual(tapped.taps["flat"]!.data, values)
        XCTAssertEqual(tapped.taps["add"]!.data, values.map { $0 + max($0, 0) })
        XCTAssertEqual(input.data, values)
    }

    /// The profile lists one row per step of the plan: the step's node, then
    /// the nodes fused into it, its kernel and output shape, a measured time,
    /// and 2 · multiply-adds for the weighted layers (by hand: a 3×3 conv of
    /// 1 → 4 channels on 6×6 is 4·36·9 multiply-adds; a 2×2/2 depthwise on
    /// the 3×3 map left by a 2×2 max pool is 4·1·4, a linear 36 → 3 is 108).
    func testProfileListsEveryStepWithItsFusedNodesAndFlops() throws {
        var rng = SeededRandom(seed: 12)
        let pad1 = WindowGeometry(kernelH: 3, kernelW: 3, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1)
        let conv = ConvLayer(weight: Tensor(shape: [4, 1, 3, 3], data: rng.signedArray(36)), bias: nil, geometry: pad1, group: 1)
        let bn = BatchNorm(gamma: [1, 2, 3, 4], beta: [0, 0, 0, 0], mean: [0, 0, 0, 0], variance: [1, 1, 1, 1], epsilon: 1e-5)
        let depthwise = ConvLayer(weight: Tensor(shape: [4, 1, 2, 2], data: rng.signedArray(16)), bias: nil,
                                  geometry: WindowGeometry(kernelH: 2, kernelW: 2, strideH: 2, strideW: 2, padBottom: 1, padRight: 1),
                                  group: 4)
        let fc = LinearLayer(weight: Tensor(shape: [3, 16], data: rng.signedArray(48)), bias: nil)
        let graph = Graph(name: "profiled", input: GraphInput(name: "x", shape: [1, 6, 6]), nodes: [
            Node(name: "conv", op: .conv(conv), inputs: ["x"], output: "c"),
            Node(name: "bn", op: .batchNorm(bn), inputs: ["c"], output: "b"),
            Node(name: "relu", op: .activation(.relu), inputs: ["b"], output: "r"),
            Node(name: "pool", op: .maxPool(WindowGeometry(kernelH: 2, kernelW: 2, strideH: 2, strideW: 2)), inputs: ["r"], output: "p"),
            Node(name: "dw", op: .conv(depthwise), inputs: ["p"], output: "d"),
            Node(name: "flat", op: .reshape(to: [16]), inputs: ["d"], output: "f"),
            Node(name: "fc", op: .linear(fc), inputs: ["f"], output: "y"),
        ], outputs: ["y"])
        let executor = try Executor(graph: graph, threads: 2)
        let input = Tensor(shape: [20, 1, 6, 6], data: rng.signedArray(720))
        let steps = try executor.profile(input, repeats: 2)
        XCTAssertEqual(steps.map(\.nodes), [["conv", "bn", "relu"], ["pool"], ["dw"], ["fc"]])
        XCTAssertEqual(steps.map(\.kernel), ["conv 3x3 tapColumns", "max pool", "depthwise 2x2/2", "linear"])
        XCTAssertEqual(steps.map(\.outputShape), [[4, 6, 6], [4, 3, 3], [4, 2, 2], [3]])
        let flops: [Double] = [2 * 4 * 36 * 9, 0, 2 * 4 * 4 * 4, 2 * 16 * 3]
        XCTAssertEqual(steps.map(\.flopsPerImage), flops)
        XCTAssertTrue(steps.allSatisfy { $0.secondsPerImage > 0 }, "\(steps)")
        XCTAssertNil(steps[1].gflops)
        // Profiling runs the same plan: the outputs that follow are unchanged.
        XCTAssertEqual(try executor.run(input).outputs, try Executor(graph: graph, threads: 1).run(input).outputs)
        XCTAssertThrowsError(try executor.profile(Tensor(shape: [1, 2, 6, 6]))) { error in
            XCTAssertEqual(error as? ExecutorError, .inputShape(expected: [1, 6, 6], got: [1, 2, 6, 6]))
        }
    }

    func testLinearLayerByHand() throws {
        let fc = LinearLayer(weight: Tensor(shape: [2, 3], data: [1, 2, 3, 4, 5, 6]), bias: Tensor(shape: [2], data: [1, -1]))
        let graph = Graph(name: "fc", input: GraphInput(name: "x", shape: [3]),
                          nodes: [Node(name: "fc", op: .linear(fc), inputs: ["x"], output: "y")], outputs: ["y"])
        let y = try Executor(graph: graph).run(Tensor(shape: [2, 3], data: [1, 0, -1, 0.5, 0.5, 0.5])).outputs[0]
        XCTAssertEqual(y.data, [-1, -3, 4, 6.5] as [Float])
    }

    func testWrongInputShapeAndUnknownTapAreErrors() throws {
        let executor = try Executor(graph: smallNetwork())
        XCTAssertThrowsError(try executor.run(Tensor(shape: [1, 1, 4, 4]))) { error in
            XCTAssertEqual(error as? ExecutorError, .inputShape(expected: [1, 5, 5], got: [1, 1, 4, 4]))
        }
        XCTAssertThrowsError(try executor.run(Tensor(shape: [0, 1, 5, 5]))) { error in
            XCTAssertEqual(error as? ExecutorError, .emptyBatch)
        }
        XCTAssertThrowsError(try executor.run(batch(1), taps: ["nope"])) { error in
            XCTAssertEqual(error as? ExecutorError, .unknownTap("nope"))
        }
    }

    func testInvalidGraphIsRejectedWithTheNode() {
        let graph = Graph(name: "bad", input: GraphInput(name: "x", shape: [3]),
                          nodes: [Node(name: "relu", op: .activation(.relu), inputs: ["missing"], output: "y")], outputs: ["y"])
        XCTAssertThrowsError(try Executor(graph: graph)) { error in
            XCTAssertTrue(String(describing: error).contains("node 'relu'"))
        }
    }
}

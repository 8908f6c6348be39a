import EqGraph
import EqTensor

/// Graphs of real-model size built in code with random weights, so no large
/// file is committed: a ResNet-50 (bottleneck blocks 3-4-6-3, 25.5 M
/// parameters, 102 MB of float weights) and a MobileNetV2 (inverted residuals
/// with depthwise convs and ReLU6, 3.5 M parameters), both on 3×224×224
/// inputs with a batch norm after every conv.
struct ModelBuilder {
    var nodes = [Node]()
    var rng = SeededRandom(seed: 50)
    var count = 0

    mutating func name(_ kind: String) -> String {
        count += 1
        return "\(kind)\(count)"
    }

    /// Conv (He-scaled random weights, no bias) + BN (random statistics) [+ activation]; returns the output value.
    mutating func convBN(_ input: String, inC: Int, outC: Int, k: Int, stride: Int = 1, group: Int = 1,
                         activation: Activation? = .relu) -> String {
        let fanIn = inC / group * k * k
        let scale = (2 / Float(fanIn)).squareRoot()
        let weight = Tensor(shape: [outC, inC / group, k, k], data: rng.signedArray(outC * fanIn).map { $0 * scale * 1.7 })
        let pad = k / 2
        let geometry = WindowGeometry(kernelH: k, kernelW: k, strideH: stride, strideW: stride,
                                      padTop: pad, padLeft: pad, padBottom: pad, padRight: pad)
        let conv = name("conv")
        nodes.append(Node(name: conv, op: .conv(ConvLayer(weight: weight, bias: nil, geometry: geometry, group: group)),
                          inputs: [input], output: conv))
        let bn = name("bn")
        let stats = BatchNorm(gamma: (0..<outC).map { _ in 0.5 + abs(rng.nextSigned()) }, beta: rng.signedArray(outC).map { $0 * 0.2 },
                              mean: rng.signedArray(outC).map { $0 * 0.1 }, variance: (0..<outC).map { _ in 0.5 + abs(rng.nextSigned()) },
                              epsilon: 1e-5)
        nodes.append(Node(name: bn, op: .batchNorm(stats), inputs: [conv], output: bn))
        guard let activation else { return bn }
        let act = name("act")
        nodes.append(Node(name: act, op: .activation(activation), inputs: [bn], output: act))
        return act
    }

    mutating func add(_ a: String, _ b: String, relu: Bool) -> String {
        let sum = name("add")
        nodes.append(Node(name: sum, op: .binary(.add), inputs: [a, b], output: sum))
        guard relu else { return sum }
        let act = name("act")
        nodes.append(Node(name: act, op: .activation(.relu), inputs: [sum], output: act))
        return act
    }

    mutating func head(_ input: String, channels: Int) -> Graph {
        nodes.append(Node(name: "pool", op: .globalAveragePool, inputs: [input], output: "pool"))
        nodes.append(Node(name: "flat", op: .reshape(to: [channels]), inputs: ["pool"], output: "flat"))
        let fc = LinearLayer(weight: Tensor(shape: [1000, channels], data: rng.signedArray(1000 * channels).map { $0 * 0.05 }),
                             bias: Tensor(shape: [1000], data: rng.signedArray(1000).map { $0 * 0.01 }))
        nodes.append(Node(name: "fc", op: .linear(fc), inputs: ["flat"], output: "logits"))
        return Graph(name: "built", input: GraphInput(name: "input", shape: [3, 224, 224]), nodes: nodes, outputs: ["logits"])
    }

    static func resnet50() -> Graph {
        var b = ModelBuilder()
        var x = b.convBN("input", inC: 3, outC: 64, k: 7, stride: 2)
        let pool = WindowGeometry(kernelH: 3, kernelW: 3, strideH: 2, strideW: 2, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1)
        b.nodes.append(Node(name: "maxpool", op: .maxPool(pool), inputs: [x], output: "maxpool"))
        x = "maxpool"
        var inC = 64
        for (stage, (blocks, width)) in zip([3, 4, 6, 3], [64, 128, 256, 512]).enumerated() {
            for block in 0..<blocks {
                let stride = block == 0 && stage > 0 ? 2 : 1
                let outC = width * 4
                var y = b.convBN(x, inC: inC, outC: width, k: 1)
                y = b.convBN(y, inC: width, outC: width, k: 3, stride: stride)
                y = b.convBN(y, inC: width, outC: outC, k: 1, activation: nil)
                let shortcut = block == 0 ? b.convBN(x, inC: inC, outC: outC, k: 1, stride: stride, activation: nil) : x
                x = b.add(y, shortcut, relu: true)
                inC = outC
            }
        }
        return b.head(x, channels: inC)
    }

    static func mobilenetV2() -> Graph {
        var b = ModelBuilder()
        let relu6 = Activation.clip(lower: 0, upper: 6)
        var x = b.convBN("input", inC: 3, outC: 32, k: 3, stride: 2, activation: relu6)
        var inC = 32
        // (expansion, channels, repeats, stride) as in the MobileNetV2 paper.
        for (t, c, n, s) in [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)] {
            for i in 0..<n {
                let stride = i == 0 ? s : 1
                let hidden = inC * t
                var y = t == 1 ? x : b.convBN(x, inC: inC, outC: hidden, k: 1, activation: relu6)
                y = b.convBN(y, inC: hidden, outC: hidden, k: 3, stride: stride, group: hidden, activation: relu6)
                y = b.convBN(y, inC: hidden, outC: c, k: 1, activation: nil)
                x = stride == 1 && inC == c ? b.add(y, x, relu: false) : y
                inC = c
            }
        }
        x = b.convBN(x, inC: inC, outC: 1280, k: 1, activation: relu6)
        return b.head(x, channels: 1280)
    }
}

import EqTensor

/// A structural problem in a graph, naming the node it was found at.
public struct GraphError: Error, Equatable, CustomStringConvertible {
    public var node: String
    public var message: String

    public init(node: String, _ message: String) { self.node = node; self.message = message }

    public var description: String { "node '\(node)': \(message)" }
}

/// The product of `dims`, nil when it overflows Int.
public func checkedElementCount(_ dims: [Int]) -> Int? {
    var count = 1
    for d in dims {
        guard d >= 0 else { return nil }
        let (product, overflow) = count.multipliedReportingOverflow(by: d)
        if overflow { return nil }
        count = product
    }
    return count
}

extension Graph {
    /// The most elements one value may hold per image (2^28 floats, 1 GiB):
    /// what a model file declares is checked against it before anything is
    /// allocated.
    public static let maxValueElements = 1 << 28

    /// The per-sample shape of every value, checking as it goes that each node's
    /// inputs exist, come before it, and fit its op, and that no value holds
    /// more than `maxValueElements` per image.
    public func inferShapes() throws -> [String: [Int]] {
        func checkSize(_ shape: [Int], _ node: String, _ value: String) throws {
            guard let count = checkedElementCount(shape), count <= Self.maxValueElements else {
                throw GraphError(node: node, "value '\(value)' of shape \(shape) would hold more than \(Self.maxValueElements) elements per image")
            }
        }
        guard !outputs.isEmpty else { throw GraphError(node: "(graph)", "the graph has no outputs") }
        try checkSize(input.shape, "(input)", input.name)
        var shapes = [input.name: input.shape]
        var names = Set<String>()
        for node in nodes {
            guard names.insert(node.name).inserted else {
                throw GraphError(node: node.name, "two nodes share this name")
            }
            let inputShapes = try node.inputs.map { name -> [Int] in
                guard let shape = shapes[name] else {
                    throw GraphError(node: node.name, "input '\(name)' is not produced before this node")
                }
                return shape
            }
            guard shapes[node.output] == nil else {
                throw GraphError(node: node.name, "value '\(node.output)' is produced twice")
            }
            let shape = try node.op.outputShape(inputs: inputShapes, node: node.name)
            try checkSize(shape, node.name, node.output)
            shapes[node.output] = shape
        }
        for output in outputs where shapes[output] == nil {
            throw GraphError(node: output, "graph output is never produced")
        }
        return shapes
    }
}

extension Op {
    /// The per-sample output shape for these per-sample input shapes.
    public func outputShape(inputs: [[Int]], node: String) throws -> [Int] {
        func fail(_ message: String) -> GraphError { GraphError(node: node, message) }
        guard arity.contains(inputs.count) else {
            throw fail("\(typeName) takes \(arity.lowerBound == arity.upperBound ? "\(arity.lowerBound)" : "at least \(arity.lowerBound)") input(s), got \(inputs.count)")
        }
        let x = inputs[0]
        switch self {
        case let .conv(c):
            guard x.count == 3 else { throw fail("Conv needs a [C, H, W] input, got \(x)") }
            guard c.weight.rank == 4, c.group >= 1, c.outChannels % c.group == 0 else {
                throw fail("Conv weight \(c.weight.shape) does not fit group \(c.group)")
            }
            guard x[0] == c.inChannels else {
                throw fail("Conv weight \(c.weight.shape) with group \(c.group) expects \(c.inChannels) input channels, got \(x[0])")
            }
            if let b = c.bias, b.count != c.outChannels {
                throw fail("Conv bias has \(b.count) values for \(c.outChannels) channels")
            }
            guard c.weight.shape[2] == c.geometry.kernelH, c.weight.shape[3] == c.geometry.kernelW else {
                throw fail("Conv kernel_shape disagrees with weight \(c.weight.shape)")
            }
            guard let out = c.geometry.outputSize(height: x[1], width: x[2]) else {
                throw fail("Conv window does not fit a \(x[1])×\(x[2]) input")
            }
            return [c.outChannels, out.height, out.width]
        case let .linear(l):
            guard x.count == 1, x[0] == l.inFeatures else {
                throw fail("linear layer with weight \(l.weight.shape) needs a [\(l.inFeatures)] input, got \(x)")
            }
            if let b = l.bias, b.count != l.outFeatures {
                throw fail("linear bias has \(b.count) values for \(l.outFeatures) outputs")
            }
            return [l.outFeatures]
        case let .batchNorm(bn):
            guard !x.isEmpty, x[0] == bn.channels else {
                throw fail("BatchNormalization has \(bn.channels) channels, input is \(x)")
            }
            return x
        case let .activation(activation):
            switch activation {
            case let .leakyRelu(alpha) where !alpha.isFinite:
                throw fail("LeakyRelu alpha is \(alpha)")
            case let .hardSigmoid(alpha, beta) where !alpha.isFinite || !beta.isFinite:
                throw fail("HardSigmoid alpha \(alpha), beta \(beta) must be finite")
            case let .clip(lower, upper) where lower.isNaN || upper.isNaN || lower > upper:
                throw fail("Clip bounds [\(lower), \(upper)] are NaN or empty")
            default:
                return x
            }
        case let .clipPerChannel(lower, upper):
            guard !x.isEmpty, lower.count == x[0], upper.count == x[0] else {
                throw fail("ClipPerChannel has \(lower.count)/\(upper.count) bounds for input \(x)")
            }
            return x
        case let .prelu(slopes):
            guard slopes.count == 1 || (!x.isEmpty && slopes.count == x[0]) else {
                throw fail("PRelu has \(slopes.count) slopes for input \(x)")
            }
            return x
        case .binary:
            guard let out = broadcastShape(inputs[0], inputs[1]) else {
                throw fail("shapes \(inputs[0]) and \(inputs[1]) do not broadcast")
            }
            return out
        case let .binaryConstant(_, constant, _):
            guard let out = broadcastShape(x, constant.shape) else {
                throw fail("constant \(constant.shape) does not broadcast to \(x)")
            }
            return out
        case let .concat(axis):
            let a = axis - 1
            guard a >= 0, a < x.count else { throw fail("Concat axis \(axis) is out of range for \(x)") }
            var out = x
            for other in inputs.dropFirst() {
                guard other.count == x.count,
                      zip(other, x).enumerated().allSatisfy({ $0.offset == a || $0.element.0 == $0.element.1 })
                else { throw fail("Concat inputs \(x) and \(other) differ off axis \(axis)") }
                out[a] += other[a]
            }
            return out
        case let .maxPool(g), let .averagePool(g, _):
            guard x.count == 3 else { throw fail("pooling needs a [C, H, W] input, got \(x)") }
            guard let out = g.outputSize(height: x[1], width: x[2]) else {
                throw fail("pooling window does not fit a \(x[1])×\(x[2]) input")
            }
            return [x[0], out.height, out.width]
        case .globalAveragePool:
            guard x.count >= 2 else { throw fail("GlobalAveragePool needs a [C, H, W] input, got \(x)") }
            return [x[0]] + [Int](repeating: 1, count: x.count - 1)
        case let .reshape(to):
            guard let count = checkedElementCount(to), count == checkedElementCount(x) else {
                throw fail("cannot reshape \(x) to \(to)")
            }
            return to
        case let .softmax(axis, _):
            guard axis >= 1, axis <= x.count else { throw fail("Softmax axis \(axis) is out of range for \(x)") }
            return x
        case let .pad(pads, _):
            guard pads.count == 2 * x.count else { throw fail("Pad has \(pads.count) pads for rank \(x.count)") }
            guard pads.allSatisfy({ $0 >= 0 && $0 <= Graph.maxValueElements }) else { throw fail("Pad pads \(pads) must be from 0 to \(Graph.maxValueElements)") }
            return x.enumerated().map { $0.element + pads[$0.offset] + pads[$0.offset + x.count] }
        }
    }
}

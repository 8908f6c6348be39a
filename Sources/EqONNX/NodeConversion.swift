import EqGraph
import EqTensor

/// Translation of each supported ONNX op into IR nodes or folded constants.
extension ImportContext {
    static let supportedOpTypes: Set<String> = [
        "Conv", "Gemm", "MatMul", "BatchNormalization", "Relu", "Clip", "LeakyRelu", "PRelu",
        "Add", "Sub", "Mul", "Div", "Concat", "MaxPool", "AveragePool", "GlobalAveragePool",
        "Flatten", "Reshape", "Softmax", "Identity", "Dropout", "Sigmoid", "HardSigmoid",
        "HardSwish", "Constant", "Pad", "ReduceMean", "Max", "Min",
        "Shape", "Gather", "Unsqueeze", "Squeeze", "Slice", "Cast",
    ]

    /// Ops computed at import time when all their inputs are constants.
    static let foldableOpTypes: Set<String> = [
        "Shape", "Gather", "Unsqueeze", "Squeeze", "Slice", "Cast", "Concat", "Reshape",
        "Add", "Sub", "Mul", "Div", "Flatten",
    ]

    mutating func convert(_ node: Onnx_NodeProto, name: String) throws {
        let attributes = Attributes(node)
        let inputs = node.input
        func input(_ i: Int) -> String? { i < inputs.count && !inputs[i].isEmpty ? inputs[i] : nil }
        guard let output = node.output.first, !output.isEmpty else { throw Invalid("node has no output") }
        // Extra outputs (BatchNormalization running stats, MaxPool indices, Dropout
        // mask) are training or index outputs: fine as long as nobody reads them.
        for extra in node.output.dropFirst() where !extra.isEmpty {
            if readers[extra] != nil || graphOutputs.contains(extra) {
                throw Unsupported("its output '\(extra)' is used; eqbench computes only the first output")
            }
        }
        for input in inputs where !input.isEmpty && constant(input) == nil && activationShape(input) == nil
            && foldedPads[resolve(input)] == nil {
            throw Invalid("input '\(input)' is not an initializer, the graph input or an output of an earlier node (misspelled?)")
        }
        let allConstant = inputs.allSatisfy { $0.isEmpty || constant($0) != nil }
        if allConstant && ImportContext.foldableOpTypes.contains(node.opType) {
            constants[output] = try foldConstant(node.opType, inputs: inputs, attributes: attributes)
            return
        }

        switch node.opType {
        case "Constant":
            constants[output] = try constantNodeValue(attributes)
        case "Identity":
            aliases[output] = try require(input(0))
        case "Dropout":
            if let mode = input(2), let flag = constant(mode)?.knownInts?.first, flag != 0 {
                throw Unsupported("training_mode is true")
            }
            aliases[output] = try require(input(0))
        case "Shape":
            // Shape of an activation: [N, per-sample dims...], N symbolic.
            let shape = try activation(require(input(0)))
            var values: [ConstantValue.ShapeElement] = [.batch] + shape.map { .known($0) }
            let rank = values.count
            let start = normalizeAxis(attributes.int("start", default: 0), rank: rank, clampTo: rank)
            let end = normalizeAxis(attributes.int("end", default: rank), rank: rank, clampTo: rank)
            values = start < end ? Array(values[start..<end]) : []
            constants[output] = .ints(shape: [values.count], values: values)
        case "Cast":
            let to = attributes.int("to", default: 0)
            guard [1, 10, 11, 16].contains(to) else { throw Unsupported("Cast of activations to a non-float type") }
            aliases[output] = try require(input(0))
        case "Conv":
            try convertConv(node, name: name, attributes: attributes, output: output)
        case "Gemm":
            try convertGemm(name: name, attributes: attributes, inputs: inputs, output: output)
        case "MatMul":
            let x = try require(input(0))
            let xShape = try activation(x)
            guard xShape.count == 1 else { throw Unsupported("MatMul on inputs of rank \(xShape.count + 1); eqbench runs [N, K] × [K, M]") }
            guard let b = constant(try require(input(1)))?.floatTensor, b.rank == 2 else {
                throw Unsupported("MatMul whose right operand is not a constant matrix")
            }
            try checkWeightMatrix(b, "MatMul weight")
            try emit(name, .linear(LinearLayer(weight: transpose(b), bias: nil)), inputs: [x], output: output)
        case "BatchNormalization":
            if attributes.int("training_mode", default: 0) != 0 { throw Unsupported("training_mode=1") }
            let x = try require(input(0))
            let parts = try (1...4).map { i -> [Float] in
                guard let t = constant(try require(input(i)))?.floatTensor else {
                    throw Unsupported("scale, bias, mean and variance must be constants")
                }
                try checkFinite(t, "BatchNormalization parameter")
                return t.data
            }
            guard Set(parts.map(\.count)).count == 1 else { throw Invalid("BatchNormalization parameters differ in length") }
            let bn = BatchNorm(gamma: parts[0], beta: parts[1], mean: parts[2], variance: parts[3],
                               epsilon: attributes.float("epsilon", default: 1e-5))
            try emit(name, .batchNorm(bn), inputs: [x], output: output)
        case "Relu":
            try emit(name, .activation(.relu), inputs: [try require(input(0))], output: output)
        case "Sigmoid":
            try emit(name, .activation(.sigmoid), inputs: [try require(input(0))], output: output)
        case "HardSwish":
            try emit(name, .activation(.hardSwish), inputs: [try require(input(0))], output: output)
        case "HardSigmoid":
            let act = Activation.hardSigmoid(alpha: attributes.float("alpha", default: 0.2),
                                             beta: attributes.float("beta", default: 0.5))
            try emit(name, .activation(act), inputs: [try require(input(0))], output: output)
        case "LeakyRelu":
            let act = Activation.leakyRelu(alpha: attributes.float("alpha", default: 0.01))
            try emit(name, .activation(act), inputs: [try require(input(0))], output: output)
        case "Clip":
            var lower = -Float.greatestFiniteMagnitude, upper = Float.greatestFiniteMagnitude
            if attributes.has("min") || attributes.has("max") {
                lower = attributes.float("min", default: lower)
                upper = attributes.float("max", default: upper)
            }
            if let minName = input(1) {
                guard let t = constant(minName)?.floatTensor, t.count == 1 else { throw Unsupported("min that is not a constant scalar") }
                lower = t.data[0]
            }
            if let maxName = input(2) {
                guard let t = constant(maxName)?.floatTensor, t.count == 1 else { throw Unsupported("max that is not a constant scalar") }
                upper = t.data[0]
            }
            let act: Activation = lower == 0 && upper >= Float.greatestFiniteMagnitude ? .relu : .clip(lower: lower, upper: upper)
            try emit(name, .activation(act), inputs: [try require(input(0))], output: output)
        case "PRelu":
            let x = try require(input(0))
            let shape = try activation(x)
            guard let slope = constant(try require(input(1)))?.floatTensor else { throw Unsupported("slope that is not a constant") }
            let channelAligned = slope.shape.reversed().drop { $0 == 1 }.count <= 1
                && (slope.count == 1 || (slope.rank >= shape.count && slope.shape[slope.rank - shape.count] == shape[0]))
            guard slope.count == 1 || (channelAligned && slope.count == shape[0]) else {
                throw Unsupported("slope of shape \(slope.shape) (eqbench runs one slope, or one per channel)")
            }
            try emit(name, .prelu(slopes: slope.data), inputs: [x], output: output)
        case "Max", "Min":
            try convertChannelBound(node.opType, name: name, inputs: inputs, output: output)
        case "Add", "Sub", "Mul", "Div":
            try convertBinary(node.opType, name: name, inputs: inputs, output: output)
        case "Concat":
            let values = inputs.filter { !$0.isEmpty }
            guard values.allSatisfy({ activationShape($0) != nil }) else {
                throw Unsupported("Concat of activations and constants")
            }
            let rank = try activation(values[0]).count + 1
            let axis = normalizeAxis(attributes.int("axis", default: 1), rank: rank)
            guard axis >= 1 else { throw Unsupported("Concat along the batch axis") }
            try emit(name, .concat(axis: axis), inputs: values, output: output)
        case "MaxPool", "AveragePool":
            try convertPool(node.opType, name: name, attributes: attributes, inputs: inputs, output: output)
        case "GlobalAveragePool":
            try emit(name, .globalAveragePool, inputs: [try require(input(0))], output: output)
        case "ReduceMean":
            try convertReduceMean(name: name, attributes: attributes, inputs: inputs, output: output)
        case "Flatten":
            let x = try require(input(0))
            let shape = try activation(x)
            let axis = normalizeAxis(attributes.int("axis", default: 1), rank: shape.count + 1)
            guard axis >= 1, shape.prefix(axis - 1).allSatisfy({ $0 == 1 }) else {
                throw Unsupported("Flatten with axis \(axis) merges the batch dimension")
            }
            try emit(name, .reshape(to: [shape.reduce(1, *)]), inputs: [x], output: output)
        case "Reshape":
            let x = try require(input(0))
            guard let target = constant(try require(input(1))) else { throw Unsupported("a shape computed at run time") }
            let shape = try resolveReshape(from: try activation(x), target: target.elements,
                                           allowZero: attributes.int("allowzero", default: 0) != 0)
            try emit(name, .reshape(to: shape), inputs: [x], output: output)
        case "Squeeze", "Unsqueeze":
            let x = try require(input(0))
            let shape = try activation(x)
            let axes = try axesOperand(attributes, inputs: inputs)
            let full = try reshapeAxes(node.opType, shape: [-1] + shape, axes: axes)
            guard full.first == -1 else { throw Unsupported("\(node.opType) on the batch axis") }
            try emit(name, .reshape(to: Array(full.dropFirst())), inputs: [x], output: output)
        case "Softmax":
            let x = try require(input(0))
            let rank = try activation(x).count + 1
            let axis = normalizeAxis(attributes.int("axis", default: opset < 13 ? 1 : -1), rank: rank)
            guard axis >= 1 else { throw Unsupported("Softmax over the batch axis") }
            try emit(name, .softmax(axis: axis, coerced2D: opset < 13), inputs: [x], output: output)
        case "Pad":
            try convertPad(name: name, attributes: attributes, inputs: inputs, output: output)
        case "Gather", "Slice":
            throw Unsupported("\(node.opType) on activations (eqbench folds it only on shape tensors)")
        default:
            throw Unsupported()
        }
    }

    /// Max(x, c) and Min(x, c) with a constant c, one value or one per
    /// channel: a per-channel clip open on one side (what eqbench's export
    /// writes for a ReLU6 whose bounds a scaling pass divided per channel).
    mutating func convertChannelBound(_ opType: String, name: String, inputs: [String], output: String) throws {
        let operands = inputs.filter { !$0.isEmpty }
        guard operands.count == 2 else { throw Unsupported("\(opType) of \(operands.count) inputs (eqbench runs an activation and a constant)") }
        guard let x = operands.first(where: { activationShape($0) != nil }),
              let c = operands.first(where: { $0 != x }).flatMap({ constant($0)?.floatTensor }) else {
            throw Unsupported("\(opType) of two activations (eqbench runs an activation and a constant)")
        }
        let shape = try activation(x)
        let channelAligned = c.shape.reversed().drop { $0 == 1 }.count <= 1
            && (c.rank >= shape.count && c.rank <= shape.count + 1 && c.shape[c.rank - shape.count] == shape[0])
        guard c.count == 1 || (channelAligned && c.count == shape[0]) else {
            throw Unsupported("\(opType) with a constant of shape \(c.shape) (eqbench runs one bound, or one per channel)")
        }
        let bounds = c.count == 1 ? [Float](repeating: c.data[0], count: shape[0]) : c.data
        let open = [Float](repeating: opType == "Max" ? .infinity : -.infinity, count: shape[0])
        let op: Op = opType == "Max" ? .clipPerChannel(lower: bounds, upper: open) : .clipPerChannel(lower: open, upper: bounds)
        try emit(name, op, inputs: [x], output: output)
    }

    // MARK: - Helpers

    func require(_ name: String?) throws -> String {
        guard let name else { throw Invalid("a required input is missing") }
        return name
    }

    func activation(_ name: String) throws -> [Int] {
        guard let shape = activationShape(name) else {
            if constant(name) != nil { throw Unsupported("a constant where eqbench expects an activation ('\(name)')") }
            throw Invalid("input '\(name)' is not computed before this node")
        }
        return shape
    }

    /// A layer's constant weight matrix: some elements, all finite.
    func checkWeightMatrix(_ m: Tensor, _ what: String) throws {
        guard m.count > 0 else { throw Invalid("\(what) of shape \(m.shape) has no elements") }
        try checkFinite(m, what)
    }

    func checkFinite(_ t: Tensor, _ what: String) throws {
        if let bad = t.data.firstIndex(where: { !$0.isFinite }) {
            throw Invalid("\(what) has a non-finite value (\(t.data[bad])) at element \(bad)")
        }
    }

    func normalizeAxis(_ axis: Int, rank: Int, clampTo limit: Int? = nil) -> Int {
        let a = axis < 0 ? axis + rank : axis
        if let limit { return min(max(a, 0), limit) }
        return a
    }

    func transpose(_ m: Tensor) -> Tensor {
        let rows = m.shape[0], cols = m.shape[1]
        var out = [Float](repeating: 0, count: m.count)
        for r in 0..<rows { for c in 0..<cols { out[c * rows + r] = m.data[r * cols + c] } }
        return Tensor(shape: [cols, rows], data: out)
    }

    func constantNodeValue(_ attributes: Attributes) throws -> ConstantValue {
        if let t = attributes.tensor("value") { return try TensorDecoder.decode(t) }
        if attributes.has("value_float") { return .floats(Tensor(scalar: attributes.float("value_float", default: 0))) }
        if let fs = attributes.floats("value_floats") { return .floats(Tensor(shape: [fs.count], data: fs)) }
        if attributes.has("value_int") { return .ints(shape: [], values: [.known(attributes.int("value_int", default: 0))]) }
        if let ints = attributes.ints("value_ints") { return .ints(shape: [ints.count], values: ints.map { .known($0) }) }
        throw Unsupported("a Constant without a tensor, float or int value")
    }

    /// The axes of Squeeze/Unsqueeze/ReduceMean: an attribute before opset 13
    /// (18 for ReduceMean), an input after.
    func axesOperand(_ attributes: Attributes, inputs: [String]) throws -> [Int]? {
        if let axes = attributes.ints("axes") { return axes }
        if inputs.count > 1, !inputs[1].isEmpty {
            guard let axes = constant(inputs[1])?.knownInts else { throw Unsupported("axes computed at run time") }
            return axes
        }
        return nil
    }
}

import EqGraph
import EqTensor

/// Conversion of the ONNX ops that carry weights or window geometry.
extension ImportContext {
    /// Conv (2-D): weights must be constants; pads come from `pads`, `auto_pad`
    /// and any zero Pad folded in front of it.
    mutating func convertConv(_ node: Onnx_NodeProto, name: String, attributes: Attributes, output: String) throws {
        var x = try require(node.input.first)
        var extra = [0, 0, 0, 0]
        if let folded = foldedPads[resolve(x)] {
            x = folded.input
            extra = folded.pads
        }
        var shape = try activation(x)
        guard node.input.count > 1, let weight = constant(node.input[1])?.floatTensor else {
            throw Unsupported("weights computed at run time")
        }
        guard weight.rank == 4, shape.count == 3 else {
            throw Unsupported("\(weight.rank - 2)-D convolution (eqbench runs 2-D convolutions on NCHW)")
        }
        try checkFinite(weight, "Conv weight")
        var bias: Tensor?
        if node.input.count > 2, !node.input[2].isEmpty {
            guard let b = constant(node.input[2])?.floatTensor else { throw Unsupported("bias computed at run time") }
            try checkFinite(b, "Conv bias")
            bias = b.reshaped([b.count])
        }
        shape[1] += extra[0] + extra[2]
        shape[2] += extra[1] + extra[3]
        var geometry = try window(attributes, kernel: [weight.shape[2], weight.shape[3]], input: shape, op: "Conv")
        geometry.padTop += extra[0]; geometry.padLeft += extra[1]
        geometry.padBottom += extra[2]; geometry.padRight += extra[3]
        let group = attributes.int("group", default: 1)
        let layer = ConvLayer(weight: weight, bias: bias, geometry: geometry, group: group)
        try emit(name, .conv(layer), inputs: [x], output: output)
    }

    /// The window of Conv/MaxPool/AveragePool from kernel_shape, strides,
    /// dilations, pads and auto_pad (SAME_UPPER puts the odd cell at the end).
    func window(_ attributes: Attributes, kernel defaultKernel: [Int]?, input: [Int], op: String) throws -> WindowGeometry {
        guard let kernel = attributes.ints("kernel_shape") ?? defaultKernel, kernel.count == 2 else {
            throw Unsupported("a kernel that is not 2-D")
        }
        let strides = attributes.ints("strides") ?? [1, 1]
        let dilations = attributes.ints("dilations") ?? [1, 1]
        guard strides.count == 2, dilations.count == 2, strides.allSatisfy({ $0 > 0 }), dilations.allSatisfy({ $0 > 0 }) else {
            throw Invalid("\(op) strides \(strides) or dilations \(dilations) are not two positive numbers")
        }
        var pads = attributes.ints("pads") ?? [0, 0, 0, 0]
        guard pads.count == 4, pads.allSatisfy({ $0 >= 0 }) else { throw Invalid("\(op) pads \(pads) are not four non-negative numbers") }
        switch attributes.string("auto_pad") ?? "NOTSET" {
        case "NOTSET", "":
            break
        case "VALID":
            pads = [0, 0, 0, 0]
        case let mode where mode == "SAME_UPPER" || mode == "SAME_LOWER":
            for axis in 0..<2 {
                let outSize = (input[axis + 1] + strides[axis] - 1) / strides[axis]
                let span = dilations[axis] * (kernel[axis] - 1) + 1
                let total = max(0, (outSize - 1) * strides[axis] + span - input[axis + 1])
                let small = total / 2, large = total - small
                pads[axis] = mode == "SAME_UPPER" ? small : large
                pads[axis + 2] = mode == "SAME_UPPER" ? large : small
            }
        case let mode:
            throw Unsupported("auto_pad=\(mode)")
        }
        return WindowGeometry(kernelH: kernel[0], kernelW: kernel[1],
                              strideH: strides[0], strideW: strides[1],
                              dilationH: dilations[0], dilationW: dilations[1],
                              padTop: pads[0], padLeft: pads[1], padBottom: pads[2], padRight: pads[3],
                              ceilMode: attributes.int("ceil_mode", default: 0) != 0)
    }

    /// Gemm: Y = alpha·A·op(B) + beta·C with A the activation [N, K] and B, C
    /// constants, imported as weight alpha·op(B)ᵀ [out, K] and bias beta·C.
    mutating func convertGemm(name: String, attributes: Attributes, inputs: [String], output: String) throws {
        guard attributes.int("transA", default: 0) == 0 else { throw Unsupported("transA=1") }
        let x = try require(inputs.first)
        guard try activation(x).count == 1 else { throw Unsupported("Gemm on an input that is not [N, K]") }
        guard inputs.count > 1, let b = constant(inputs[1])?.floatTensor, b.rank == 2 else {
            throw Unsupported("a right operand that is not a constant matrix")
        }
        try checkWeightMatrix(b, "Gemm weight")
        let alpha = attributes.float("alpha", default: 1), beta = attributes.float("beta", default: 1)
        var weight = attributes.int("transB", default: 0) != 0 ? b : transpose(b)
        if alpha != 1 { weight.data = weight.data.map { $0 * alpha } }
        var bias: Tensor?
        if inputs.count > 2, !inputs[2].isEmpty {
            guard let c = constant(inputs[2])?.floatTensor else { throw Unsupported("C computed at run time") }
            try checkFinite(c, "Gemm bias")
            let out = weight.shape[0]
            guard c.count == 1 || (c.count == out && c.shape.last == out) else {
                throw Unsupported("C of shape \(c.shape) (eqbench adds a [\(out)] or scalar bias)")
            }
            let values = c.count == 1 ? [Float](repeating: c.data[0], count: out) : c.data
            bias = Tensor(shape: [out], data: values.map { $0 * beta })
        }
        try emit(name, .linear(LinearLayer(weight: weight, bias: bias)), inputs: [x], output: output)
    }

    /// Add/Sub/Mul/Div: of two activations, or of an activation and a constant
    /// (the constant's leading batch axis, if any, dropped).
    mutating func convertBinary(_ opType: String, name: String, inputs: [String], output: String) throws {
        guard inputs.count == 2 else { throw Invalid("\(opType) takes two inputs") }
        let op: BinaryOperator = ["Add": .add, "Sub": .sub, "Mul": .mul, "Div": .div][opType]!
        let a = inputs[0], b = inputs[1]
        switch (activationShape(a), activationShape(b)) {
        case (.some, .some):
            try emit(name, .binary(op), inputs: [a, b], output: output)
        case let (.some(shape), nil), let (nil, .some(shape)):
            let constantFirst = activationShape(a) == nil
            guard var c = constant(constantFirst ? a : b)?.floatTensor else {
                throw Unsupported("an operand that is neither an activation nor a float constant")
            }
            try checkFinite(c, "\(opType) constant")
            if c.rank == shape.count + 1 {
                guard c.shape[0] == 1 else { throw Unsupported("a constant that varies along the batch axis") }
                c = c.reshaped(Array(c.shape.dropFirst()))
            } else if c.rank > shape.count + 1 {
                throw Unsupported("a constant of higher rank than the activation")
            }
            try emit(name, .binaryConstant(op, constant: c, constantFirst: constantFirst), inputs: [constantFirst ? b : a], output: output)
        default:
            throw Invalid("\(opType) has no computed input")
        }
    }

    mutating func convertPool(_ opType: String, name: String, attributes: Attributes, inputs: [String], output: String) throws {
        let x = try require(inputs.first)
        let shape = try activation(x)
        guard shape.count == 3 else { throw Unsupported("pooling of a rank-\(shape.count + 1) tensor") }
        if attributes.int("storage_order", default: 0) != 0 { throw Unsupported("storage_order=1") }
        let geometry = try window(attributes, kernel: nil, input: shape, op: opType)
        if opType == "MaxPool" {
            try emit(name, .maxPool(geometry), inputs: [x], output: output)
        } else {
            let include = attributes.int("count_include_pad", default: 0) != 0
            try emit(name, .averagePool(geometry, countIncludePad: include), inputs: [x], output: output)
        }
    }

    /// ReduceMean over the spatial axes of an NCHW tensor (how newer exporters
    /// write global average pooling): GlobalAveragePool, reshaped without
    /// keepdims.
    mutating func convertReduceMean(name: String, attributes: Attributes, inputs: [String], output: String) throws {
        let x = try require(inputs.first)
        let shape = try activation(x)
        let axes = try axesOperand(attributes, inputs: inputs) ?? []
        let normalized = Set(axes.map { normalizeAxis($0, rank: shape.count + 1) })
        guard shape.count == 3, normalized == [2, 3] else {
            throw Unsupported("ReduceMean over axes \(axes) (eqbench runs the spatial mean of NCHW tensors)")
        }
        if attributes.int("keepdims", default: 1) != 0 {
            try emit(name, .globalAveragePool, inputs: [x], output: output)
        } else {
            let pooled = output + "::pooled"
            try emit(name, .globalAveragePool, inputs: [x], output: pooled)
            try emit(uniqueName(name + "::flatten"), .reshape(to: [shape[0]]), inputs: [pooled], output: output)
        }
    }

    /// Pad in constant mode. Zero padding of the spatial axes whose only readers
    /// are convolutions folds into their pads; other constant pads run as ops.
    mutating func convertPad(name: String, attributes: Attributes, inputs: [String], output: String) throws {
        let mode = attributes.string("mode") ?? "constant"
        guard mode == "constant" else { throw Unsupported("mode=\(mode)") }
        let x = try require(inputs.first)
        let shape = try activation(x)
        let rank = shape.count + 1
        var pads: [Int]
        var value: Float = 0
        if let attr = attributes.ints("pads") {
            pads = attr
            value = attributes.float("value", default: 0)
        } else {
            guard inputs.count > 1, let p = constant(inputs[1])?.knownInts else { throw Unsupported("pads computed at run time") }
            pads = p
            if inputs.count > 2, !inputs[2].isEmpty {
                guard let v = constant(inputs[2])?.floatTensor, v.count == 1 else { throw Unsupported("a pad value that is not a constant scalar") }
                value = v.data[0]
            }
        }
        if inputs.count > 3, !inputs[3].isEmpty {
            guard let axes = constant(inputs[3])?.knownInts else { throw Unsupported("axes computed at run time") }
            var full = [Int](repeating: 0, count: 2 * rank)
            for (i, axis) in axes.enumerated() {
                let a = normalizeAxis(axis, rank: rank)
                full[a] = pads[i]; full[a + rank] = pads[i + axes.count]
            }
            pads = full
        }
        guard pads.count == 2 * rank else { throw Invalid("Pad has \(pads.count) pads for a rank-\(rank) input") }
        guard pads.allSatisfy({ $0 >= 0 }) else { throw Unsupported("negative pads (cropping)") }
        guard pads[0] == 0, pads[rank] == 0 else { throw Unsupported("padding of the batch axis") }
        let onlyConvReaders = !(readers[output] ?? []).isEmpty
            && readers[output]!.allSatisfy { $0 == "Conv" } && !graphOutputs.contains(output)
        if value == 0, rank == 4, pads[1] == 0, pads[5] == 0, onlyConvReaders {
            foldedPads[output] = (resolve(x), [pads[2], pads[3], pads[6], pads[7]])
            return
        }
        let perSample = Array(pads[1..<rank]) + Array(pads[(rank + 1)...])
        try emit(name, .pad(pads: perSample, value: value), inputs: [x], output: output)
    }
}

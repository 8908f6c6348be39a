import EqGraph
import EqTensor

/// A linear layer's kernel: one GEMM over a tile of images' rows,
/// Y[rows, out] = X[rows, in] · Wᵀ + bias, with a ReLU or clip fused.
protocol TileLinear {
    var outFeatures: Int { get }
    func run(_ x: UnsafePointer<Float>, rows: Int, clamp: (lower: Float, upper: Float)?, into y: UnsafeMutablePointer<Float>)
}

extension PackedLinear: TileLinear {}
extension BLASLinear: TileLinear {}

/// One executable step of a compiled graph: the op with everything it needs
/// precomputed (weights as flat arrays, strides, plane sizes), reading and
/// writing per-tile buffers ("slots") of an `Arena`.
enum Kernel {
    case conv(ConvKernel)
    case linear(PackedLinear)
    /// A quantized conv or linear layer in integers (`Int8Path.integer`).
    case integerConv(IntegerConv)
    case integerLinear(IntegerLinear)
    /// The `openblas` engine's linear layer (`BLASKernels.swift`).
    case blasLinear(BLASLinear)
    case affine(scale: [Float], shift: [Float], channels: Int, plane: Int)
    case activation(Activation)
    case clipPerChannel(lower: [Float], upper: [Float], plane: Int)
    case prelu(slopes: [Float], channels: Int, plane: Int)
    case binary(BinaryOperator, aStrides: [Int], bStrides: [Int], outShape: [Int])
    case binaryConstant(BinaryOperator, constant: [Float], inputStrides: [Int], outShape: [Int], constantFirst: Bool)
    case concat(outer: Int, chunks: [Int])
    case maxPool(WindowGeometry, channels: Int, inH: Int, inW: Int, outH: Int, outW: Int)
    case averagePool(WindowGeometry, countIncludePad: Bool, channels: Int, inH: Int, inW: Int, outH: Int, outW: Int)
    case globalAveragePool(channels: Int, plane: Int)
    case copy
    case softmax(outer: Int, axis: Int, inner: Int)
    case pad(inShape: [Int], outShape: [Int], before: [Int], value: Float)
}

/// How a convolution is computed. Every method but depthwise ends in
/// `rowGemm`, our own GEMM that reads B as rows already in memory and starts
/// from the bias:
/// - pointwise (1×1, stride 1, unpadded): B's rows are the input planes;
/// - shifted (stride 1, group 1): the input is copied once into zero-bordered
///   planes of rowLength columns (`padPlanes`: one zero column between rows
///   for a 3×3 window), and B's row for channel c and tap (i, j) is that plane
///   shifted by i·rowLength + j, so output pixel (oh, ow) lands at column
///   oh·rowLength + ow of a wide result whose valid columns are then copied
///   out. One copy of the input, but the GEMM grows by rowLength / outW and
///   the result is copied again, so only where that is at most
///   `KernelTuning.shiftedRowsMaxGrowth` and the tap columns would not fit in L1 (`KernelTuning.tapColumnsInL1`);
/// - tapColumns (strides, groups, small maps, few input channels): the im2col
///   matrix's rows, per group, read from one copy of the input per column
///   tap and row phase (`tapColumns`: 3 copies for a 3×3 window where im2col
///   makes 9). The GEMM's columns are exactly the output pixels and its
///   epilogue writes the output, but it reads C·kh·kw distinct rows, which
///   on the larger maps miss L1 where the shifted rows' overlapping ones hit;
/// - depthwise: the direct kernel of `DepthwiseConv.swift`, or for 3×3
///   windows at stride 1 or 2 with outputs of at most
///   `KernelTuning.flatDepthwisePlaneMax` floats (`FlatDepthwise`: 7²) each
///   output plane as one flat row;
/// - im2col (the `openblas` engine, any conv): the im2col matrix and
///   OpenBLAS's sgemm per group, then bias and epilogue in a plain loop.
struct ConvKernel {
    enum Method { case pointwise, shifted, tapColumns, depthwise, im2col }

    var method: Method
    /// The flat [out, in/group, kh, kw] weight (the depthwise kernel's input).
    var weight: [Float]
    /// The weight of each group packed for `rowGemm` (empty for depthwise).
    var packed: [RowGemmWeights]
    /// Offsets of B's rows for `rowGemm`, relative to its base pointer.
    var rowOffsets: [Int]
    var bias: [Float]?
    var geometry: WindowGeometry
    var group: Int
    var inChannels: Int, inH: Int, inW: Int
    var outChannels: Int, outH: Int, outW: Int

    init(_ layer: ConvLayer, input: [Int], output: [Int], engine: Engine = .native, tuning: KernelTuning = .measured) {
        weight = layer.weight.data
        bias = layer.bias?.data
        geometry = layer.geometry
        group = layer.group
        inChannels = input[0]; inH = input[1]; inW = input[2]
        outChannels = output[0]; outH = output[1]; outW = output[2]
        let g = geometry
        let taps = TapColumnLayout(channels: inChannels / group, geometry: g, outHeight: outH, outWidth: outW)
        if engine == .openblas {
            method = .im2col
        } else if layer.isDepthwise {
            method = .depthwise
        } else if group == 1 && g.isPointwise {
            method = .pointwise
        } else if group == 1 && g.strideH == 1 && g.strideW == 1 && taps.count > tuning.tapColumnsInL1
                    && Double(shiftedRowLength(width: inW, geometry: g)) <= tuning.shiftedRowsMaxGrowth * Double(outW) {
            method = .shifted
        } else {
            method = .tapColumns
        }
        tapLayout = taps
        flatDepthwise = method == .depthwise
            ? FlatDepthwise(height: inH, width: inW, geometry: g, largestPlane: tuning.flatDepthwisePlaneMax) : nil
        let rows = input[0] / group * g.kernelH * g.kernelW, cout = output[0] / group, plane = input[1] * input[2]
        packed = method == .depthwise || method == .im2col ? [] : (0..<group).map { index in
            layer.weight.data.withUnsafeBufferPointer { RowGemmWeights($0.baseAddress! + index * cout * rows, m: cout, k: rows) }
        }
        switch method {
        case .depthwise, .im2col: rowOffsets = []
        case .pointwise: rowOffsets = (0..<input[0]).map { $0 * plane }
        case .tapColumns: rowOffsets = taps.rowOffsets(geometry: g)
        case .shifted: rowOffsets = shiftedRowOffsets(channels: input[0], height: input[1], width: input[2], geometry: g)
        }
    }

    /// The copies of the tap-columns method, for one group's input channels.
    var tapLayout: TapColumnLayout
    /// The masks of a depthwise conv run over flat planes, when its planes are small.
    var flatDepthwise: FlatDepthwise?

    /// Floats per row of the shifted layout (`shiftedRowLength`).
    var rowLength: Int { shiftedRowLength(width: inW, geometry: geometry) }

    /// Scratch floats this conv needs per image.
    var workspaceCount: Int {
        switch method {
        case .pointwise: return 0
        case .shifted:
            return outChannels * outH * rowLength
                + paddedPlanesCount(channels: inChannels, height: inH, width: inW, geometry: geometry)
        case .tapColumns:
            return tapLayout.count + paddedPlaneScratchCount(height: inH, width: inW, geometry: geometry)
        case .depthwise:
            return flatDepthwise?.scratchCount(channels: inChannels) ?? depthwiseScratchCount(height: inH, width: inW, geometry: geometry)
        case .im2col:
            return im2colRows * outH * outW
        }
    }

    /// Runs the conv on one image. A fused batch norm (`affine`), residual add
    /// (`residual`: the image's elements of the Add's other input, laid out as
    /// the output) and a ReLU or clip after them are applied by the kernel as
    /// it stores each output (`OutputEpilogue`); any other activation runs as
    /// a pass afterwards.
    func run(input: UnsafePointer<Float>, residual: UnsafePointer<Float>? = nil, output: UnsafeMutablePointer<Float>,
             workspace: UnsafeMutablePointer<Float>, affine: ChannelAffine?, activation: Activation?) {
        let clamp = activation?.clampBounds
        let residualOffset = residual.map { UnsafePointer(output).distance(to: $0) }
        withEpilogue(affine: affine, residualOffset: residualOffset, clamp: clamp) { epilogue in
            compute(input: input, output: output, workspace: workspace, epilogue: epilogue)
        }
        if clamp == nil { activation?.apply(output, count: outChannels * outH * outW) }
    }

    private func compute(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
                         workspace: UnsafeMutablePointer<Float>, epilogue: OutputEpilogue?) {
        let outPlane = outH * outW
        rowOffsets.withUnsafeBufferPointer { offsets in
            bias.withOptionalPointer { b in
                // Every GEMM method has at least one row of B; depthwise has none.
                let rows = offsets.baseAddress
                switch method {
                case .pointwise:
                    rowGemm(packed[0], n: outPlane, b: input, rowOffsets: rows!, bias: b, epilogue: epilogue,
                            c: output, ldc: outPlane)
                case .tapColumns:
                    let cin = inChannels / group, cout = outChannels / group
                    for g in 0..<group {
                        tapColumns(input: input + g * cin * inH * inW, height: inH, width: inW, geometry: geometry,
                                   layout: tapLayout, columns: workspace, padded: workspace + tapLayout.count)
                        rowGemm(packed[g], n: outPlane, b: workspace, rowOffsets: rows!, bias: b.map { $0 + g * cout },
                                epilogue: epilogue?.advanced(by: g * cout), c: output + g * cout * outPlane, ldc: outPlane)
                    }
                case .shifted:
                    let n = outH * rowLength
                    let wide = workspace, planes = workspace + outChannels * n
                    padPlanes(input: input, channels: inChannels, height: inH, width: inW, geometry: geometry, padded: planes)
                    rowGemm(packed[0], n: n, b: planes, rowOffsets: rows!, bias: b, c: wide, ldc: n)
                    copyValidColumns(wide, rowLength: rowLength, channels: outChannels, outHeight: outH, outWidth: outW,
                                     epilogue: epilogue, output: output)
                case .im2col:
                    im2colGemm(input: input, output: output, columns: workspace, bias: b, epilogue: epilogue)
                case .depthwise:
                    weight.withUnsafeBufferPointer { w in
                        if let flat = flatDepthwise {
                            flat.run(input: input, channels: inChannels, weights: w.baseAddress!, bias: b,
                                     multiplier: outChannels / inChannels, epilogue: epilogue, output: output,
                                     scratch: workspace)
                            return
                        }
                        depthwiseConv2D(input: input, channels: inChannels, height: inH, width: inW,
                                        weights: w.baseAddress!, bias: b, multiplier: outChannels / inChannels,
                                        geometry: geometry, outHeight: outH, outWidth: outW, epilogue: epilogue,
                                        output: output, scratch: workspace)
                    }
                }
            }
        }
    }
}

/// Calls `body` with the epilogue of a fused batch norm, residual add and
/// clamp, or nil when there is none of them.
func withEpilogue(affine: ChannelAffine?, residualOffset: Int?, clamp: (lower: Float, upper: Float)?,
                          _ body: (OutputEpilogue?) -> Void) {
    let bounds = clamp ?? (-.infinity, .infinity)
    guard let affine else {
        body(clamp == nil && residualOffset == nil ? nil
             : OutputEpilogue(scale: nil, shift: nil, residualOffset: residualOffset, lower: bounds.lower, upper: bounds.upper))
        return
    }
    affine.scale.withUnsafeBufferPointer { scale in
        affine.shift.withUnsafeBufferPointer { shift in
            body(OutputEpilogue(scale: scale.baseAddress, shift: shift.baseAddress, residualOffset: residualOffset,
                                lower: bounds.lower, upper: bounds.upper))
        }
    }
}

/// y = x · scale[c] + shift[c] over channel planes: an inference-mode
/// BatchNorm fused into the conv before it. The conv applies it, and a ReLU or
/// clip after it, as it stores each output (`OutputEpilogue`, the same
/// arithmetic as a separate `.affine` step, so fusing changes no result).
struct ChannelAffine {
    var scale: [Float]
    var shift: [Float]
}

extension Optional where Wrapped == [Float] {
    /// Calls `body` with a pointer to the array's elements, or nil.
    func withOptionalPointer<R>(_ body: (UnsafePointer<Float>?) -> R) -> R {
        guard let array = self else { return body(nil) }
        return array.withUnsafeBufferPointer { body($0.baseAddress) }
    }
}

extension Kernel {
    /// Builds the kernel for a node given its per-sample input and output
    /// shapes; `engine` and `tuning` pick the conv and linear kernels, and `integer`
    /// (a quantized layer's encodings) the integer ones where they apply.
    init(_ op: Op, inputs: [[Int]], output: [Int], engine: Engine = .native, tuning: KernelTuning = .measured,
         integer: IntegerEncodings? = nil) {
        let x = inputs[0]
        func plane(_ shape: [Int]) -> Int { shape.dropFirst().reduce(1, *) }
        if let integer {
            if case let .conv(layer) = op, let conv = IntegerConv(layer, input: x, output: output, encodings: integer) {
                self = .integerConv(conv)
                return
            }
            if case let .linear(layer) = op, let linear = IntegerLinear(layer, encodings: integer) {
                self = .integerLinear(linear)
                return
            }
        }
        switch op {
        case let .linear(layer) where engine == .openblas:
            self = .blasLinear(BLASLinear(weight: layer.weight.data, bias: layer.bias?.data,
                                          inFeatures: layer.inFeatures, outFeatures: layer.outFeatures))
        case let .conv(layer):
            self = .conv(ConvKernel(layer, input: x, output: output, engine: engine, tuning: tuning))
        case let .linear(layer):
            self = .linear(PackedLinear(weight: layer.weight.data, bias: layer.bias?.data,
                                        inFeatures: layer.inFeatures, outFeatures: layer.outFeatures))
        case let .batchNorm(bn):
            let (scale, shift) = bn.affine()
            self = .affine(scale: scale, shift: shift, channels: x[0], plane: plane(x))
        case let .activation(a):
            self = .activation(a)
        case let .clipPerChannel(lower, upper):
            self = .clipPerChannel(lower: lower, upper: upper, plane: plane(x))
        case let .prelu(slopes):
            self = .prelu(slopes: slopes, channels: x.first ?? 1, plane: plane(x))
        case let .binary(op):
            self = .binary(op, aStrides: broadcastStrides(inputs[0], to: output),
                           bStrides: broadcastStrides(inputs[1], to: output), outShape: output)
        case let .binaryConstant(op, constant, constantFirst):
            // Expand the constant to the output shape once, so the common case
            // (input shape == output shape) runs as a flat loop.
            var expanded = [Float](repeating: 0, count: output.reduce(1, *))
            let zeros = [Float](repeating: 0, count: 1)
            constant.data.withUnsafeBufferPointer { c in
                zeros.withUnsafeBufferPointer { z in
                    expanded.withUnsafeMutableBufferPointer { e in
                        broadcastBinary(.add, c.baseAddress!, aStrides: broadcastStrides(constant.shape, to: output),
                                        z.baseAddress!, bStrides: [Int](repeating: 0, count: output.count),
                                        e.baseAddress!, outShape: output)
                    }
                }
            }
            self = .binaryConstant(op, constant: expanded, inputStrides: broadcastStrides(x, to: output),
                                   outShape: output, constantFirst: constantFirst)
        case let .concat(axis):
            let a = axis - 1
            self = .concat(outer: output[..<a].reduce(1, *), chunks: inputs.map { $0[a...].reduce(1, *) })
        case let .maxPool(g):
            self = .maxPool(g, channels: x[0], inH: x[1], inW: x[2], outH: output[1], outW: output[2])
        case let .averagePool(g, include):
            self = .averagePool(g, countIncludePad: include, channels: x[0], inH: x[1], inW: x[2],
                                outH: output[1], outW: output[2])
        case .globalAveragePool:
            self = .globalAveragePool(channels: x[0], plane: plane(x))
        case .reshape:
            self = .copy
        case let .softmax(axis, coerced):
            let a = axis - 1
            let outer = x[..<a].reduce(1, *)
            self = coerced
                ? .softmax(outer: outer, axis: x[a...].reduce(1, *), inner: 1)
                : .softmax(outer: outer, axis: x[a], inner: x[(a + 1)...].reduce(1, *))
        case let .pad(pads, value):
            self = .pad(inShape: x, outShape: output, before: Array(pads[..<x.count]), value: value)
        }
    }

    /// Applies the kernel to one image. `inputs`/`output` point at that image's
    /// elements; `workspace` is per-arena scratch.
    func run(inputs: [UnsafeMutablePointer<Float>], output: UnsafeMutablePointer<Float>,
             outputCount: Int, workspace: UnsafeMutablePointer<Float>, affine: ChannelAffine?, activation: Activation?) {
        let x = inputs[0]
        switch self {
        case let .conv(conv):
            // A second input is the residual of a fused Add (`ExecutionPlan`).
            conv.run(input: x, residual: inputs.count > 1 ? UnsafePointer(inputs[1]) : nil, output: output,
                     workspace: workspace, affine: affine, activation: activation)
        case let .integerConv(conv):
            let clamp = activation?.clampBounds
            let residualOffset = inputs.count > 1 ? UnsafePointer(output).distance(to: UnsafePointer(inputs[1])) : nil
            withEpilogue(affine: affine, residualOffset: residualOffset, clamp: clamp) { epilogue in
                conv.run(input: x, output: output, workspace: workspace, epilogue: epilogue)
            }
            if clamp == nil { activation?.apply(output, count: outputCount) }
        case .linear, .blasLinear, .integerLinear:
            preconditionFailure("linear layers run per tile")
        case let .affine(scale, shift, channels, plane):
            channelAffine(x, output, channels: channels, plane: plane, scale: scale, shift: shift)
            activation?.apply(output, count: outputCount)
        case let .activation(a):
            a.apply(x, to: output, count: outputCount)
        case let .clipPerChannel(lower, upper, plane):
            for c in 0..<lower.count {
                let lo = lower[c], hi = upper[c]
                let src = x + c * plane, dst = output + c * plane
                for i in 0..<plane {
                    let v = src[i]
                    dst[i] = v < lo ? lo : (v > hi ? hi : v)
                }
            }
        case let .prelu(slopes, channels, plane):
            output.update(from: x, count: outputCount)
            preluPerChannel(output, channels: channels, plane: plane, slopes: slopes, slopeCount: slopes.count)
        case let .binary(op, aStrides, bStrides, outShape):
            broadcastBinary(op, inputs[0], aStrides: aStrides, inputs[1], bStrides: bStrides, output, outShape: outShape)
            activation?.apply(output, count: outputCount)
        case let .binaryConstant(op, constant, inputStrides, outShape, constantFirst):
            let dense = broadcastStrides(outShape, to: outShape)
            constant.withUnsafeBufferPointer { c in
                if constantFirst {
                    broadcastBinary(op, c.baseAddress!, aStrides: dense, x, bStrides: inputStrides, output, outShape: outShape)
                } else {
                    broadcastBinary(op, x, aStrides: inputStrides, c.baseAddress!, bStrides: dense, output, outShape: outShape)
                }
            }
        case let .concat(outer, chunks):
            let total = chunks.reduce(0, +)
            var offset = 0
            for (source, chunk) in zip(inputs, chunks) {
                for o in 0..<outer {
                    (output + o * total + offset).update(from: source + o * chunk, count: chunk)
                }
                offset += chunk
            }
        case let .maxPool(g, channels, inH, inW, outH, outW):
            maxPool2D(input: x, channels: channels, height: inH, width: inW, geometry: g,
                      outHeight: outH, outWidth: outW, output: output, scratch: workspace)
        case let .averagePool(g, include, channels, inH, inW, outH, outW):
            averagePool2D(input: x, channels: channels, height: inH, width: inW, geometry: g,
                          countIncludePad: include, outHeight: outH, outWidth: outW, output: output)
        case let .globalAveragePool(channels, plane):
            EqTensor.globalAveragePool(input: x, channels: channels, plane: plane, output: output)
        case .copy:
            output.update(from: x, count: outputCount)
        case let .softmax(outer, axis, inner):
            EqTensor.softmax(x, output, outer: outer, axis: axis, inner: inner)
        case let .pad(inShape, outShape, before, value):
            constantPad(x, inShape: inShape, output, outShape: outShape, before: before, value: value)
        }
    }
}

/// Constant padding of one sample: fills the output with `value`, then copies
/// each innermost row of the input to its shifted place.
func constantPad(_ x: UnsafePointer<Float>, inShape: [Int], _ y: UnsafeMutablePointer<Float>,
                 outShape: [Int], before: [Int], value: Float) {
    y.update(repeating: value, count: outShape.reduce(1, *))
    let rank = inShape.count
    let rowLength = inShape[rank - 1]
    let rows = inShape.dropLast().reduce(1, *)
    let outStrides = broadcastStrides(outShape, to: outShape)
    var index = [Int](repeating: 0, count: max(rank - 1, 0))
    for row in 0..<rows {
        var offset = before[rank - 1]
        for axis in 0..<(rank - 1) { offset += (index[axis] + before[axis]) * outStrides[axis] }
        (y + offset).update(from: x + row * rowLength, count: rowLength)
        var axis = rank - 2
        while axis >= 0 {
            index[axis] += 1
            if index[axis] < inShape[axis] { break }
            index[axis] = 0
            axis -= 1
        }
    }
}

extension Kernel {
    /// The linear layer's kernel, which the executor runs once per tile rather than per image.
    var tileLinear: TileLinear? {
        switch self {
        case let .linear(layer): return layer
        case let .blasLinear(layer): return layer
        case let .integerLinear(layer): return layer
        default: return nil
        }
    }
}

import EqGraph
import EqTensor

/// How int8 precisions compute quantized convs and linear layers.
public enum Int8Path: String, Sendable, CaseIterable {
    /// Quantize-dequantize in float32: weights and activations take their
    /// quantized values, products are summed in float.
    case fakequant
    /// What an int8 runtime computes: uint8 activation codes × int8 weight
    /// codes summed exactly in int32 (`Int8Gemm`), then scaled back by
    /// s_in · s_w[c] with the bias added; the default where the CPU has AVX2.
    /// Layers the integer kernels do not cover (depthwise and grouped convs,
    /// wider than 8-bit codes, unquantized inputs) stay on fake quant.
    case integer
}

extension Int8Path {
    /// The default: integer where the running CPU has the vector integer
    /// kernel (AVX2), fake quant where only the portable loops would run.
    public static var preferred: Int8Path { Int8Gemm.kernelName == "portable" ? .fakequant : .integer }

    /// What accuracy.csv's and throughput.csv's int8_path say: "fakequant",
    /// or "integer K/N" when K of the N quantized convs and linear layers
    /// ran on the integer kernels.
    public func label(integerLayers: Int, of quantizedLayers: Int) -> String {
        self == .integer ? "integer \(integerLayers)/\(quantizedLayers)" : rawValue
    }
}

/// The encodings an integer layer needs: its input activation's and its
/// weights' (one per output channel, or one for the tensor).
public struct IntegerEncodings: Sendable {
    public var input: FakeQuantizer
    public var weights: [FakeQuantizer]

    public init(input: FakeQuantizer, weights: [FakeQuantizer]) {
        self.input = input
        self.weights = weights
    }

    /// True when both fit the u8 × s8 kernel: uint8 activation codes, symmetric int8 weights.
    public var fitsU8S8: Bool {
        input.qmin >= 0 && input.qmax <= 255 && input.zeroPoint.rounded() == input.zeroPoint
            && weights.allSatisfy { $0.zeroPoint == 0 && $0.qmin >= -128 && $0.qmax <= 127 }
    }
}

/// A quantized layer's integer arithmetic, shared by convs and linear layers:
/// y[m] = s_in · s_w[m] · (Σ_k q_in[k] · q_w[m][k] − z_in · Σ_k q_w[m][k]) + bias[m],
/// the zero-point correction precomputed per output (as ONNX Runtime's
/// QLinearConv does).
struct IntegerLayer {
    let gemm: Int8Gemm
    /// s_in · s_w[m].
    let outputScale: [Float]
    /// z_in · Σ_k q_w[m][k].
    let zeroPointCorrection: [Int32]
    let bias: [Float]
    let input: FakeQuantizer

    /// `weight` is [outputs, inputs] with quantize-dequantized values: each is
    /// an exact multiple of its channel's scale, so its code is recovered by rounding.
    init(weight: [Float], outputs: Int, inputs: Int, bias: [Float]?, encodings: IntegerEncodings) {
        let perChannel = encodings.weights.count == outputs
        let codes = weight.indices.map { i -> Int8 in
            let q = encodings.weights[perChannel ? i / inputs : 0]
            return Int8(q.code(weight[i]))
        }
        gemm = Int8Gemm(weights: codes, outputs: outputs, inputs: inputs)
        outputScale = (0..<outputs).map { encodings.input.scale * encodings.weights[perChannel ? $0 : 0].scale }
        let zero = Int32(encodings.input.zeroPoint)
        zeroPointCorrection = gemm.rowSums.map { zero &* $0 }
        self.bias = bias ?? [Float](repeating: 0, count: outputs)
        input = encodings.input
    }

    /// The codes of `count` activation values, which are on the input's grid
    /// (the producer quantized them).
    func codes(_ x: UnsafePointer<Float>, count: Int, into out: UnsafeMutablePointer<UInt8>) {
        Int8Codes.quantize(x, count: count, scale: input.scale, zeroPoint: Int(input.zeroPoint), range: codeRange, into: out)
    }

    /// The same for planes [channels][pixels], stored pixel-major.
    func codesPixelMajor(_ x: UnsafePointer<Float>, channels: Int, pixels: Int, into out: UnsafeMutablePointer<UInt8>) {
        Int8Codes.quantizeTransposed(x, channels: channels, pixels: pixels, scale: input.scale, zeroPoint: Int(input.zeroPoint),
                                     range: codeRange, into: out)
    }

    var codeRange: ClosedRange<Int> { Int(input.qmin)...Int(input.qmax) }

    /// Calls `body` with each output's multiplier and offset: s_in · s_w[m]
    /// and bias[m], followed by a fused per-channel affine (a folded batch
    /// norm) when there is one: (y · a[m] + b[m]).
    func withScaleAndShift(_ affine: OutputEpilogue?, _ body: (UnsafePointer<Float>, UnsafePointer<Float>) -> Void) {
        guard let a = affine?.scale, let b = affine?.shift else {
            outputScale.withUnsafeBufferPointer { scale in bias.withUnsafeBufferPointer { body(scale.baseAddress!, $0.baseAddress!) } }
            return
        }
        let count = outputScale.count
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * count) { buffer in
            let scale = buffer.baseAddress!, shift = scale + count
            for m in 0..<count {
                scale[m] = outputScale[m] * a[m]
                shift[m] = bias[m] * a[m] + b[m]
            }
            body(scale, shift)
        }
    }
}

/// A group-1, non-depthwise conv in integers: the input's codes in
/// pixel-major order, each output pixel's window as a GEMM row (kernel row,
/// kernel column, channel; the zero point's code outside the image), the
/// weights reordered to match, then `Int8Gemm` with the sums dequantized
/// in registers into the output planes, bias and epilogue included. A pointwise conv over channels
/// in multiples of 4 multiplies the pixel-major codes directly.
struct IntegerConv {
    let layer: IntegerLayer
    let geometry: WindowGeometry
    let inChannels: Int, inH: Int, inW: Int
    let outChannels: Int, outH: Int, outW: Int

    init?(_ conv: ConvLayer, input: [Int], output: [Int], encodings: IntegerEncodings) {
        guard Op.conv(conv).runsAsOneGemm, encodings.fitsU8S8 else { return nil }
        inChannels = input[0]; inH = input[1]; inW = input[2]
        outChannels = output[0]; outH = output[1]; outW = output[2]
        geometry = conv.geometry
        let window = geometry.kernelH * geometry.kernelW, k = inChannels * window
        // [out][in][kh][kw] → [out][kh][kw][in], the windows' order.
        let w = conv.weight.data
        var reordered = [Float](repeating: 0, count: w.count)
        for m in 0..<outChannels {
            for c in 0..<inChannels {
                for t in 0..<window { reordered[m * k + t * inChannels + c] = w[m * k + c * window + t] }
            }
        }
        layer = IntegerLayer(weight: reordered, outputs: outChannels, inputs: k, bias: conv.bias?.data, encodings: encodings)
    }

    var pixels: Int { outH * outW }
    var inputCount: Int { inChannels * inH * inW }
    /// The pixel-major codes are the GEMM's rows as they are.
    var multipliesCodesDirectly: Bool { geometry.isPointwise && layer.gemm.paddedK == inChannels }
    /// Bytes of scratch: the pixel-major codes and the GEMM rows.
    var workspaceBytes: Int { inputCount + (multipliesCodesDirectly ? 0 : pixels * layer.gemm.paddedK) }
    /// Scratch floats per image.
    var workspaceCount: Int { (workspaceBytes + 3) / 4 }

    func run(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, workspace: UnsafeMutablePointer<Float>,
             epilogue: OutputEpilogue?) {
        let lda = layer.gemm.paddedK
        let codes = UnsafeMutableRawPointer(workspace).bindMemory(to: UInt8.self, capacity: workspaceBytes)
        let rows = codes + inputCount
        layer.codesPixelMajor(input, channels: inChannels, pixels: inH * inW, into: codes)
        if !multipliesCodesDirectly {
            Int8Codes.windows(codes, channels: inChannels, inH: inH, inW: inW, outH: outH, outW: outW, geometry: geometry,
                              padding: UInt8(layer.input.zeroPoint), into: rows, lda: lda)
        }
        let residual = epilogue?.residualOffset.map { UnsafePointer(output + $0) }
        layer.withScaleAndShift(epilogue) { scale, shift in
            layer.zeroPointCorrection.withUnsafeBufferPointer { correction in
                layer.gemm.multiplyDequantized(multipliesCodesDirectly ? codes : rows, lda: lda, rows: pixels,
                                               correction: correction.baseAddress!, scale: scale, shift: shift, residual: residual,
                                               lower: epilogue?.lower ?? -.infinity, upper: epilogue?.upper ?? .infinity,
                                               into: output, ld: pixels)
            }
        }
    }
}

/// A linear layer in integers over a tile of rows.
struct IntegerLinear: TileLinear {
    let layer: IntegerLayer
    let inFeatures: Int, outFeatures: Int

    init?(_ linear: LinearLayer, encodings: IntegerEncodings) {
        guard encodings.fitsU8S8 else { return nil }
        inFeatures = linear.inFeatures
        outFeatures = linear.outFeatures
        layer = IntegerLayer(weight: linear.weight.data, outputs: outFeatures, inputs: inFeatures, bias: linear.bias?.data,
                             encodings: encodings)
    }

    func run(_ x: UnsafePointer<Float>, rows: Int, clamp: (lower: Float, upper: Float)?, into y: UnsafeMutablePointer<Float>) {
        let lda = layer.gemm.paddedK
        let codes = UnsafeMutablePointer<UInt8>.allocate(capacity: rows * lda)
        let sums = UnsafeMutablePointer<Int32>.allocate(capacity: rows * outFeatures)
        defer { codes.deallocate(); sums.deallocate() }
        for r in 0..<rows {
            layer.codes(x + r * inFeatures, count: inFeatures, into: codes + r * lda)
            for k in inFeatures..<lda { codes[r * lda + k] = 0 }
        }
        layer.gemm.multiply(codes, lda: lda, rows: rows, into: sums, ldc: outFeatures)
        layer.withScaleAndShift(nil) { scale, shift in
            layer.zeroPointCorrection.withUnsafeBufferPointer { correction in
                Int8Codes.dequantizeRows(sums, ldc: outFeatures, rows: rows, channels: outFeatures, correction: correction.baseAddress!,
                                         scale: scale, shift: shift, lower: clamp?.lower ?? -.infinity,
                                         upper: clamp?.upper ?? .infinity, into: y)
            }
        }
    }
}

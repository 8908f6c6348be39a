import EqGraph
import EqTensor

/// How int8 precisions compute quantized convs and linear layers.
public enum Int8Path: String, Sendable, CaseIterable {
    /// Quantize-dequantize in float32: weights and activations take their
    /// quantized values, products are summed in float.
    case fakequant
    /// What an int8 runtime computes: uint8 activation codes × int8 weight
    /// codes summed exactly in int32 (`Int8Gemm`), then scaled back by
    /// s_in · s_w[c] with the bias added. Layers the integer kernels do not
    /// cover (depthwise and grouped convs, wider than 8-bit codes, unquantized
    /// inputs) stay on fake quant.
    case integer
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
    /// (the producer quantized them): x · (1/s) is within float rounding of
    /// an integer. Adding 1.5·2²³ rounds it half to even into the float's
    /// low mantissa bits, read as an integer: no divide, no libm call, no
    /// generic conversion.
    func codes(_ x: UnsafePointer<Float>, count: Int, into out: UnsafeMutablePointer<UInt8>) {
        let inverse = 1 / input.scale
        let zero = Int32(input.zeroPoint), lo = Int32(input.qmin), hi = Int32(input.qmax)
        let magic: Float = 12_582_912, magicBits: Int32 = 0x4B40_0000
        var i = 0
        while i + 8 <= count {
            let v = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self) * inverse + magic
            let q = (unsafeBitCast(v, to: SIMD8<Int32>.self) &- magicBits &+ zero)
                .clamped(lowerBound: SIMD8(repeating: lo), upperBound: SIMD8(repeating: hi))
            for lane in 0..<8 { out[i + lane] = UInt8(truncatingIfNeeded: q[lane]) }
            i += 8
        }
        while i < count {
            let q = Int32(bitPattern: (x[i] * inverse + magic).bitPattern) &- magicBits &+ zero
            out[i] = UInt8(truncatingIfNeeded: min(max(q, lo), hi))
            i += 1
        }
    }

    /// The layer's float output of sum `acc` for output m.
    @inline(__always)
    func dequantized(_ acc: Int32, _ m: Int) -> Float {
        Float(acc &- zeroPointCorrection[m]) * outputScale[m] + bias[m]
    }
}

/// A group-1, non-depthwise conv in integers: the input's codes as an
/// im2col matrix [pixels][k] (k = C·kh·kw, padding as the zero point's
/// code), `Int8Gemm`, then dequantized, bias and epilogue per output.
struct IntegerConv {
    let layer: IntegerLayer
    let geometry: WindowGeometry
    let inChannels: Int, inH: Int, inW: Int
    let outChannels: Int, outH: Int, outW: Int

    init?(_ conv: ConvLayer, input: [Int], output: [Int], encodings: IntegerEncodings) {
        guard conv.group == 1, !conv.isDepthwise, encodings.fitsU8S8 else { return nil }
        inChannels = input[0]; inH = input[1]; inW = input[2]
        outChannels = output[0]; outH = output[1]; outW = output[2]
        geometry = conv.geometry
        let k = inChannels * geometry.kernelH * geometry.kernelW
        layer = IntegerLayer(weight: conv.weight.data, outputs: outChannels, inputs: k, bias: conv.bias?.data, encodings: encodings)
    }

    var pixels: Int { outH * outW }

    /// Bytes of scratch: the input's codes, the code matrix, the int32 sums.
    var workspaceBytes: Int { inChannels * inH * inW + pixels * layer.gemm.paddedK + 4 * pixels * outChannels }
    /// Scratch floats per image.
    var workspaceCount: Int { (workspaceBytes + 7) / 4 }

    func run(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, workspace: UnsafeMutablePointer<Float>,
             epilogue: OutputEpilogue?) {
        let lda = layer.gemm.paddedK, g = geometry, inPlane = inH * inW
        let raw = UnsafeMutableRawPointer(workspace)
        let planes = raw.bindMemory(to: UInt8.self, capacity: inChannels * inPlane)
        let codes = planes + inChannels * inPlane
        // The sums start on a 4-byte boundary after the bytes.
        let sumsOffset = (inChannels * inPlane + pixels * lda + 3) / 4 * 4
        let sums = (raw + sumsOffset).bindMemory(to: Int32.self, capacity: pixels * outChannels)
        layer.codes(input, count: inChannels * inPlane, into: planes)
        let zero = UInt8(layer.input.zeroPoint)
        let kh = g.kernelH, kw = g.kernelW, dh = g.dilationH, dw = g.dilationW
        for oh in 0..<outH {
            for ow in 0..<outW {
                let row = codes + (oh &* outW &+ ow) &* lda
                let left = ow &* g.strideW &- g.padLeft
                // A window inside the row's width needs no column checks.
                let interior = left >= 0 && left &+ (kw &- 1) &* dw < inW
                var k = 0
                for c in 0..<inChannels {
                    let plane = planes + c &* inPlane
                    for i in 0..<kh {
                        let ih = oh &* g.strideH &- g.padTop &+ i &* dh
                        if ih < 0 || ih >= inH {
                            for j in 0..<kw { row[k &+ j] = zero }
                        } else if interior {
                            let source = plane + (ih &* inW &+ left)
                            for j in 0..<kw { row[k &+ j] = source[j &* dw] }
                        } else {
                            for j in 0..<kw {
                                let iw = left &+ j &* dw
                                row[k &+ j] = iw >= 0 && iw < inW ? plane[ih &* inW &+ iw] : zero
                            }
                        }
                        k = k &+ kw
                    }
                }
                for pad in k..<lda { row[pad] = 0 }
            }
        }
        layer.gemm.multiply(codes, lda: lda, rows: pixels, into: sums, ldc: outChannels)
        for m in 0..<outChannels {
            let out = output + m * pixels
            for p in 0..<pixels {
                let v = layer.dequantized(sums[p * outChannels + m], m)
                out[p] = epilogue?.apply(v, channel: m, at: out + p) ?? v
            }
        }
    }
}

/// A linear layer in integers over a tile of rows.
struct IntegerLinear {
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
        let lower = clamp?.lower ?? -.infinity, upper = clamp?.upper ?? .infinity
        for r in 0..<rows {
            for m in 0..<outFeatures {
                let v = layer.dequantized(sums[r * outFeatures + m], m)
                y[r * outFeatures + m] = v < lower ? lower : (v > upper ? upper : v)
            }
        }
    }
}

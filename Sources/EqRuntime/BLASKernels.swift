import EqBLAS
import EqGraph
import EqTensor

/// Which kernels compute convolutions and linear layers.
public enum Engine: String, Sendable, CaseIterable {
    /// eqbench's own kernels: packed GEMMs (`rowGemm`, `PackedLinear`) that
    /// start from the bias and apply a fused batch norm, residual add and
    /// clamp as they store, and direct depthwise kernels.
    case native
    /// The reference: every conv as im2col + OpenBLAS `sgemm` per group
    /// (depthwise too), every linear layer as one `sgemm` per tile, then bias,
    /// fused batch norm, residual and clamp in plain loops. Same function as
    /// `native`, summed in another order; slower, and independent of eqbench's GEMMs.
    case openblas
}

extension ConvKernel {
    /// Rows of one group's im2col matrix: cin/group · kh · kw.
    var im2colRows: Int { inChannels / group * geometry.kernelH * geometry.kernelW }

    /// For each group, the [cin/g·kh·kw, outH·outW] matrix of input taps
    /// (zero where the window leaves the input), C = W_g · columns by sgemm,
    /// then y = epilogue(C + bias[c]) element by element.
    func im2colGemm(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, columns: UnsafeMutablePointer<Float>,
                    bias: UnsafePointer<Float>?, epilogue: OutputEpilogue?) {
        let g = geometry, plane = outH * outW, cin = inChannels / group, cout = outChannels / group, rows = im2colRows
        for groupIndex in 0..<group {
            var row = 0
            for c in 0..<cin {
                let source = input + (groupIndex * cin + c) * inH * inW
                for i in 0..<g.kernelH {
                    for j in 0..<g.kernelW {
                        let column = columns + row * plane
                        for oh in 0..<outH {
                            let ih = oh * g.strideH - g.padTop + i * g.dilationH
                            for ow in 0..<outW {
                                let iw = ow * g.strideW - g.padLeft + j * g.dilationW
                                column[oh * outW + ow] = ih >= 0 && ih < inH && iw >= 0 && iw < inW ? source[ih * inW + iw] : 0
                            }
                        }
                        row += 1
                    }
                }
            }
            weight.withUnsafeBufferPointer { w in
                BLAS.sgemm(m: cout, n: plane, k: rows, a: w.baseAddress! + groupIndex * cout * rows, b: columns,
                           c: output + groupIndex * cout * plane)
            }
        }
        for c in 0..<outChannels {
            let b = bias?[c] ?? 0
            for i in (c * plane)..<((c + 1) * plane) {
                let v = output[i] + b
                output[i] = epilogue?.apply(v, channel: c, at: output + i) ?? v
            }
        }
    }
}

/// A linear layer as one sgemm per tile: Y[rows, out] = X[rows, in] · Wᵀ,
/// then bias and a fused clamp in a plain loop.
struct BLASLinear {
    var weight: [Float]
    var bias: [Float]?
    var inFeatures: Int, outFeatures: Int

    func run(_ x: UnsafePointer<Float>, rows: Int, clamp: (lower: Float, upper: Float)?, into y: UnsafeMutablePointer<Float>) {
        weight.withUnsafeBufferPointer { w in
            BLAS.sgemm(m: rows, n: outFeatures, k: inFeatures, a: x, b: w.baseAddress!, transposeB: true, c: y)
        }
        let lower = clamp?.lower ?? -.infinity, upper = clamp?.upper ?? .infinity
        for r in 0..<rows {
            let out = y + r * outFeatures
            for o in 0..<outFeatures {
                let v = out[o] + (bias?[o] ?? 0)
                out[o] = v < lower ? lower : (v > upper ? upper : v)
            }
        }
    }
}

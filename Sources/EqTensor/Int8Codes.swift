import CEqInt8

/// Activations on their way into and out of `Int8Gemm`, in C (Sources/CEqInt8)
/// compiled for AVX2 and for any x86-64 and picked by the running CPU:
/// float → uint8 codes, channel-major → pixel-major, conv windows as GEMM
/// rows, and a linear layer's int32 sums → floats.
public enum Int8Codes {
    /// out[i] = clamp(round_half_even(x[i] / scale) + zero, qmin, qmax).
    public static func quantize(_ x: UnsafePointer<Float>, count: Int, scale: Float, zeroPoint: Int, range: ClosedRange<Int>,
                                into out: UnsafeMutablePointer<UInt8>) {
        eq_i8_codes(x, count, 1 / scale, Int32(zeroPoint), Int32(range.lowerBound), Int32(range.upperBound), out)
    }

    /// out[p·channels + c] = the code of x[c·pixels + p] (as `quantize`).
    public static func quantizeTransposed(_ x: UnsafePointer<Float>, channels: Int, pixels: Int, scale: Float, zeroPoint: Int,
                                          range: ClosedRange<Int>, into out: UnsafeMutablePointer<UInt8>) {
        eq_i8_codes_transposed(x, Int32(channels), Int32(pixels), 1 / scale, Int32(zeroPoint), Int32(range.lowerBound),
                               Int32(range.upperBound), out)
    }

    /// A conv's GEMM rows over a pixel-major image `[inH][inW][channels]`:
    /// row oh·outW + ow holds its window's codes in (kernel row, kernel
    /// column, channel) order, `padding` outside the image, zeros from
    /// kernelH·kernelW·channels to lda.
    public static func windows(_ x: UnsafePointer<UInt8>, channels: Int, inH: Int, inW: Int, outH: Int, outW: Int,
                               geometry g: WindowGeometry, padding: UInt8, into a: UnsafeMutablePointer<UInt8>, lda: Int) {
        var window = EqI8Window(channels: Int32(channels), in_h: Int32(inH), in_w: Int32(inW), out_h: Int32(outH), out_w: Int32(outW),
                                kernel_h: Int32(g.kernelH), kernel_w: Int32(g.kernelW), stride_h: Int32(g.strideH),
                                stride_w: Int32(g.strideW), pad_top: Int32(g.padTop), pad_left: Int32(g.padLeft),
                                dilation_h: Int32(g.dilationH), dilation_w: Int32(g.dilationW))
        eq_i8_im2col(x, &window, padding, a, Int32(lda))
    }

    /// out[n·channels + m] = clamp((sums[n·ldc + m] − correction[m]) · scale[m] + shift[m]).
    public static func dequantizeRows(_ sums: UnsafePointer<Int32>, ldc: Int, rows: Int, channels: Int, correction: UnsafePointer<Int32>,
                                      scale: UnsafePointer<Float>, shift: UnsafePointer<Float>, lower: Float, upper: Float,
                                      into out: UnsafeMutablePointer<Float>) {
        eq_i8_dequantize_rows(sums, Int32(ldc), Int32(rows), Int32(channels), correction, scale, shift, lower, upper, out)
    }
}

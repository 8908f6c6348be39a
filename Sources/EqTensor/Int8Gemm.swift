import CEqInt8

/// A layer's int8 weights packed for the integer GEMM of int8 inference:
/// uint8 activation codes × int8 weight codes summed exactly in int32, as
/// ONNX Runtime's QLinearConv and MatMulInteger compute them (u8×s8).
///
/// `C[n][m] = Σ_k A[n][k] · W[m][k]` for activation rows A (k codes each,
/// zero padded to `paddedK`) and weight rows W. With activation zero point
/// z, `Σ_k (A[n][k] − z) · W[m][k] = C[n][m] − z · rowSums[m]`. The C kernel
/// (Sources/CEqInt8) picks AVX2 or portable loops by the running CPU; its
/// packing keeps AVX2's 16-bit pair sums from saturating, so the sums are
/// exact on every path.
public final class Int8Gemm: @unchecked Sendable {
    private var packed = EqI8PackedWeights()
    public let outputs: Int
    public let inputs: Int

    /// Packs row-major weights `[outputs][inputs]`.
    public init(weights: [Int8], outputs: Int, inputs: Int) {
        precondition(outputs > 0 && inputs > 0 && weights.count == outputs * inputs, "weights must be [outputs][inputs]")
        self.outputs = outputs
        self.inputs = inputs
        let status = weights.withUnsafeBufferPointer { eq_i8_pack_weights($0.baseAddress, Int32(outputs), Int32(inputs), &packed) }
        precondition(status == 0, "out of memory packing \(outputs)×\(inputs) int8 weights")
    }

    deinit { eq_i8_free_weights(&packed) }

    /// Activation rows hold this many codes (inputs rounded up to 4, zeros after `inputs`).
    public var paddedK: Int { Int(packed.padded_k) }

    /// Σ_k W[m][k] per output, for the zero-point correction.
    public var rowSums: UnsafeBufferPointer<Int32> { UnsafeBufferPointer(start: packed.row_sums, count: outputs) }

    /// Weight pairs whose excess runs through the exact scalar residual (see Sources/CEqInt8).
    public var residualCount: Int { Int(packed.corr_start[outputs]) }

    /// The kernel this CPU runs: "avx2" or "portable".
    public static var kernelName: String { String(cString: eq_i8_kernel_name()) }

    /// `out[m·ld + n] = clamp((C[n][m] − correction[m]) · scale[m] + shift[m] (+ residual[m·ld + n]), lower, upper)`
    /// with C the sums of `multiply`, dequantized in registers: a conv's
    /// output planes, no int32 sums in memory.
    public func multiplyDequantized(_ a: UnsafePointer<UInt8>, lda: Int, rows: Int, correction: UnsafePointer<Int32>,
                                    scale: UnsafePointer<Float>, shift: UnsafePointer<Float>, residual: UnsafePointer<Float>?,
                                    lower: Float, upper: Float, into out: UnsafeMutablePointer<Float>, ld: Int) {
        precondition(lda >= paddedK && ld >= rows)
        var output = EqI8Output(correction: correction, scale: scale, shift: shift, residual: residual, lower: lower, upper: upper,
                                out: out, ld: Int32(ld))
        withUnsafePointer(to: &packed) { eq_i8_gemm_dequantize(a, Int32(lda), Int32(rows), $0, &output) }
    }

    /// `c[n·ldc + m] = Σ_k a[n·lda + k] · W[m][k]` for `rows` rows.
    public func multiply(_ a: UnsafePointer<UInt8>, lda: Int, rows: Int, into c: UnsafeMutablePointer<Int32>, ldc: Int) {
        precondition(lda >= paddedK && ldc >= outputs)
        withUnsafePointer(to: &packed) { eq_i8_gemm(a, Int32(lda), Int32(rows), $0, c, Int32(ldc)) }
    }
}

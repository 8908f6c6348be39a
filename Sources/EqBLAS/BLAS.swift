import COpenBLAS

/// Thin, typed access to OpenBLAS: single-precision GEMM on row-major
/// matrices, the library's own thread count and the kernels it runs.
///
/// The runtime's GEMMs are its own (`rowGemm` for convs, `PackedLinear` for
/// linear layers: both pack the weight once, which OpenBLAS does on every
/// call). OpenBLAS is the reference they are held to: the tests compare them
/// with `sgemm`, and Benchmarks/ states their speed as a share of its peak
/// on the same machine.
public enum BLAS {
    /// Sets the number of threads OpenBLAS uses for each call.
    public static func setThreads(_ count: Int) {
        openblas_set_num_threads(Int32(max(1, count)))
    }

    /// The number of threads OpenBLAS uses for each call.
    public static var threads: Int { Int(openblas_get_num_threads()) }

    /// The kernels OpenBLAS chose for this CPU when it loaded, e.g. "Haswell",
    /// "SkylakeX", "Prescott".
    public static var coreName: String { String(cString: openblas_get_corename()) }

    /// The OPENBLAS_CORETYPE to run with when the loaded OpenBLAS fell back to
    /// its Prescott (SSE3) kernels on a CPU it does not know, nil otherwise.
    /// Debian 12's OpenBLAS 0.3.21 does that on CPUs newer than it (Xeon
    /// model 207, Emerald Rapids; AMD Zen 4), several times slower than its
    /// Haswell, SkylakeX or Cooperlake kernels (commit 8515d04), so a floor
    /// measured on the fallback would flatter every kernel held to it. The choice follows the CPU's flags
    /// (/proc/cpuinfo): AVX-512 BF16 → Cooperlake, AVX-512 F/VL/BW/DQ →
    /// SkylakeX, AVX2 + FMA → Haswell. OpenBLAS reads the variable only as it
    /// loads, so a process must be started with it set (Benchmarks/ names it).
    public static func fittingCoreType(loadedCore: String, cpuFlags: Set<String>) -> String? {
        guard loadedCore.lowercased() == "prescott" else { return nil }
        if cpuFlags.contains("avx512_bf16") { return "Cooperlake" }
        if ["avx512f", "avx512vl", "avx512bw", "avx512dq"].allSatisfy(cpuFlags.contains) { return "SkylakeX" }
        if cpuFlags.contains("avx2") && cpuFlags.contains("fma") { return "Haswell" }
        return nil
    }

    /// C[m×n] = alpha · op(A) · op(B) + beta · C, all row-major, where op(A) is
    /// m×k (A stored k×m when `transposeA`) and op(B) is k×n (B stored n×k when
    /// `transposeB`). Leading dimensions default to the packed ones.
    @inlinable
    public static func sgemm(
        m: Int, n: Int, k: Int,
        a: UnsafePointer<Float>, lda: Int? = nil, transposeA: Bool = false,
        b: UnsafePointer<Float>, ldb: Int? = nil, transposeB: Bool = false,
        c: UnsafeMutablePointer<Float>, ldc: Int? = nil,
        alpha: Float = 1, beta: Float = 0
    ) {
        cblas_sgemm(CblasRowMajor,
                    transposeA ? CblasTrans : CblasNoTrans,
                    transposeB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha,
                    a, Int32(lda ?? (transposeA ? m : k)),
                    b, Int32(ldb ?? (transposeB ? k : n)),
                    beta, c, Int32(ldc ?? n))
    }
}

import COpenBLAS

/// Thin, typed access to OpenBLAS: single-precision GEMM/GEMV on row-major
/// matrices and the library's own thread count.
///
/// eqbench parallelises over the batch itself, so the runtime asks OpenBLAS for
/// one thread (`BLAS.setThreads(1)`) before it starts its own workers: two
/// levels of threads on 2 cores would oversubscribe them (see NOTES.md).
public enum BLAS {
    /// Sets the number of threads OpenBLAS uses for each call.
    public static func setThreads(_ count: Int) {
        openblas_set_num_threads(Int32(max(1, count)))
    }

    /// The number of threads OpenBLAS uses for each call.
    public static var threads: Int { Int(openblas_get_num_threads()) }

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

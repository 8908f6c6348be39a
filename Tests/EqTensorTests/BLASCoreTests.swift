import EqBLAS
import XCTest

/// Which OpenBLAS kernels Benchmarks/ names on a CPU the library does not
/// know (`BLAS.fittingCoreType`), and that the library in this process answers.
final class BLASCoreTests: XCTestCase {
    func testFallbackKernelsAreReplacedByTheCPUsBest() {
        let avx2: Set = ["sse3", "avx", "avx2", "fma"]
        let avx512 = avx2.union(["avx512f", "avx512vl", "avx512bw", "avx512dq"])
        XCTAssertEqual(BLAS.fittingCoreType(loadedCore: "Prescott", cpuFlags: avx512.union(["avx512_bf16", "avx512_fp16"])),
                       "Cooperlake")
        XCTAssertEqual(BLAS.fittingCoreType(loadedCore: "Prescott", cpuFlags: avx512), "SkylakeX")
        XCTAssertEqual(BLAS.fittingCoreType(loadedCore: "Prescott", cpuFlags: avx512.subtracting(["avx512vl"])), "Haswell")
        XCTAssertEqual(BLAS.fittingCoreType(loadedCore: "Prescott", cpuFlags: avx2), "Haswell")
        XCTAssertNil(BLAS.fittingCoreType(loadedCore: "Prescott", cpuFlags: ["sse3", "avx"]))
    }

    func testKernelsTheLibraryChoseAreKept() {
        let flags: Set = ["avx2", "fma", "avx512f", "avx512vl", "avx512bw", "avx512dq", "avx512_bf16"]
        for core in ["Haswell", "Zen", "SkylakeX", "Cooperlake"] {
            XCTAssertNil(BLAS.fittingCoreType(loadedCore: core, cpuFlags: flags), core)
        }
        XCTAssertFalse(BLAS.coreName.isEmpty)
    }
}

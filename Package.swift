// swift-tools-version: 6.1
// eqbench: accuracy evaluation and benchmarking of weight-equalization passes
// for int8 quantization. Module layout: docs/ARCHITECTURE.md.
import Foundation
import PackageDescription

// The runtime's own kernels (RowGemm.swift, depthwise conv, fake quant) and
// the passes' weight loops are written for 8-lane vectors and fused
// multiply-adds. Without a target CPU that has FMA, Swift lowers each
// `addingProduct` to a libm `fmaf` call and a conv runs ~100× slower, so every
// module is compiled for a CPU with AVX2 + FMA in every build, and the kernel
// module (EqTensor) with optimization even in debug builds, so tests run the
// arithmetic users get. The CPU is EQBENCH_CPU (`make CPU=…` sets it), else
// skylake-avx512 when the building machine has AVX-512 (F, VL, BW, DQ: Intel
// since Skylake-SP, AMD since Zen 4), else haswell (x86-64-v3). An AVX-512
// CPU also defines EQBENCH_AVX512, which gives rowGemm its 16-lane tile
// (RowGemm.swift: 1.6–1.9× the 8-lane one's GFLOP/s on a Xeon with two
// 512-bit FMA units). A binary built so needs AVX-512 where it runs.
#if arch(x86_64)
let hostHasAVX512: Bool = {
    guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
          let flags = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return false }
    let present = Set(flags.split(separator: " ").map(String.init))
    return ["avx512f", "avx512vl", "avx512bw", "avx512dq"].allSatisfy(present.contains)
}()
let cpu = Context.environment["EQBENCH_CPU"].flatMap { $0.isEmpty ? nil : $0 }
    ?? (hostHasAVX512 ? "skylake-avx512" : "haswell")
let avx512CPUs: Set = ["skylake-avx512", "skx", "cascadelake", "cooperlake", "cannonlake", "icelake-client",
                       "icelake-server", "tigerlake", "rocketlake", "sapphirerapids", "emeraldrapids",
                       "graniterapids", "graniterapids-d", "diamondrapids", "znver4", "znver5"]
let cpuSettings: [SwiftSetting] = [.unsafeFlags(["-target-cpu", cpu])]
    + (avx512CPUs.contains(cpu) ? [.define("EQBENCH_AVX512")] : [])
#else
let cpuSettings = [SwiftSetting]()
#endif
let kernelSettings: [SwiftSetting] = cpuSettings + [.unsafeFlags(["-O"])]

let package = Package(
    name: "eqbench",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "eqbench", targets: ["eqbench"]),
        .library(name: "EqHarness", targets: ["EqHarness"]),
        // Every layer, for Benchmarks/ (a separate package) and other embedders.
        .library(name: "EqKit", targets: ["EqTensor", "EqBLAS", "EqGraph", "EqONNX", "EqRuntime", "EqQuant", "EqPasses", "EqHarness"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    ],
    targets: [
        // C libraries from Debian: libopenblas-dev, libpng-dev (zlib comes with it), libturbojpeg0-dev.
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng",
                       providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib",
                       providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CTurboJPEG", pkgConfig: "libturbojpeg",
                       providers: [.apt(["libturbojpeg0-dev"])]),

        // Integer u8 × s8 GEMM (int32 sums) in C: AVX2's byte dot products
        // (vpmaddubsw) have no Swift spelling; the kernel is chosen by the
        // running CPU's features, whatever CPU the build targets.
        .target(name: "CEqInt8", cSettings: [.unsafeFlags(["-O2"])]),
        .target(name: "EqTensor", dependencies: ["CEqInt8"], swiftSettings: kernelSettings),
        // OpenBLAS's sgemm: the reference engine (`--engine openblas`), the
        // independent GEMM the tests check the runtime's own kernels against,
        // and the floor Benchmarks/ measures them by (docs/ARCHITECTURE.md).
        .target(name: "EqBLAS", dependencies: ["COpenBLAS"], swiftSettings: cpuSettings),
        .target(name: "EqGraph", dependencies: ["EqTensor"], swiftSettings: cpuSettings),
        .target(name: "EqONNX",
                dependencies: ["EqGraph", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
                exclude: ["Proto"], swiftSettings: cpuSettings),
        .target(name: "EqRuntime", dependencies: ["EqGraph", "EqTensor", "EqBLAS"], swiftSettings: cpuSettings),
        .target(name: "EqQuant", dependencies: ["EqGraph", "EqRuntime", "EqTensor"], swiftSettings: cpuSettings),
        .target(name: "EqPasses", dependencies: ["EqGraph", "EqQuant", "EqRuntime", "EqTensor"], swiftSettings: cpuSettings),
        .target(name: "EqData", dependencies: ["EqTensor", "CPNG", "CZlib", "CTurboJPEG"], swiftSettings: cpuSettings),
        .target(name: "EqHarness", dependencies: ["EqONNX", "EqRuntime", "EqQuant", "EqPasses", "EqData"], swiftSettings: cpuSettings),
        .executableTarget(name: "eqbench", dependencies: [
            "EqHarness", "EqRuntime", "EqQuant", "EqTensor", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: cpuSettings),

        // Fuzz targets of every file format eqbench reads (`make fuzz`), and a
        // replayer of the committed corpus that the tests run.
        .executableTarget(name: "eqbench-fuzz", dependencies: ["EqHarness", "EqONNX", "EqData", "EqPasses", "EqGraph"],
                          swiftSettings: cpuSettings),

        .testTarget(name: "EqTensorTests", dependencies: ["EqTensor", "EqBLAS"]),
        .testTarget(name: "EqONNXTests", dependencies: ["EqONNX"]),
        .testTarget(name: "EqQuantTests", dependencies: ["EqQuant", "EqONNX"]),
        .testTarget(name: "EqPassesTests", dependencies: ["EqPasses", "EqONNX", "EqData"]),
        .testTarget(name: "EqRuntimeTests", dependencies: ["EqRuntime", "EqONNX", "EqData"],
                    exclude: ["Fixtures"]),
        .testTarget(name: "EqDataTests", dependencies: ["EqData"], exclude: ["Fixtures"]),
        .testTarget(name: "EqHarnessTests", dependencies: ["EqHarness", "EqONNX", "EqData"], exclude: ["Fixtures"]),
        .testTarget(name: "eqbenchTests", dependencies: ["eqbench", "eqbench-fuzz"]),
    ]
)

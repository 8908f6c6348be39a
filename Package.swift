// swift-tools-version: 6.1
// eqbench: accuracy evaluation and benchmarking of weight-equalization passes
// for int8 quantization. Module layout: docs/ARCHITECTURE.md.
import PackageDescription

// The runtime's own kernels (RowGemm.swift, depthwise conv, fake quant) and
// the passes' weight loops are written for 8-lane vectors and fused
// multiply-adds. Without a target CPU that has FMA, Swift lowers each
// `addingProduct` to a libm `fmaf` call and a conv runs ~100× slower, so every
// module is compiled for AVX2 + FMA (haswell: x86-64-v3) in every build, and
// the kernel module (EqTensor) with optimization even in debug builds, so
// tests run the arithmetic users get. Another x86-64 CPU:
// EQBENCH_CPU=znver4 swift build (`make CPU=…` sets it).
#if arch(x86_64)
let cpuFlags = ["-target-cpu", Context.environment["EQBENCH_CPU"] ?? "haswell"]
#else
let cpuFlags = [String]()
#endif
let cpuSettings: [SwiftSetting] = [.unsafeFlags(cpuFlags)]
let kernelSettings: [SwiftSetting] = [.unsafeFlags(["-O"] + cpuFlags)]

let package = Package(
    name: "eqbench",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "eqbench", targets: ["eqbench"]),
        .library(name: "EqHarness", targets: ["EqHarness"]),
        // Every layer, for Benchmarks/ (a separate package) and other embedders.
        .library(name: "EqKit", targets: ["EqTensor", "EqGraph", "EqONNX", "EqRuntime", "EqQuant", "EqPasses", "EqHarness"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    ],
    targets: [
        // C libraries from Debian: libopenblas-dev, libpng-dev (zlib comes with it).
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng",
                       providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib",
                       providers: [.apt(["zlib1g-dev"])]),

        .target(name: "EqTensor", dependencies: ["COpenBLAS"], swiftSettings: kernelSettings),
        .target(name: "EqGraph", dependencies: ["EqTensor"], swiftSettings: cpuSettings),
        .target(name: "EqONNX",
                dependencies: ["EqGraph", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
                exclude: ["Proto"], swiftSettings: cpuSettings),
        .target(name: "EqRuntime", dependencies: ["EqGraph", "EqTensor", "COpenBLAS"], swiftSettings: cpuSettings),
        .target(name: "EqQuant", dependencies: ["EqGraph", "EqRuntime", "EqTensor"], swiftSettings: cpuSettings),
        .target(name: "EqPasses", dependencies: ["EqGraph", "EqQuant", "EqRuntime", "EqTensor"], swiftSettings: cpuSettings),
        .target(name: "EqData", dependencies: ["EqTensor", "CPNG", "CZlib"], swiftSettings: cpuSettings),
        .target(name: "EqHarness", dependencies: ["EqONNX", "EqRuntime", "EqQuant", "EqPasses", "EqData"], swiftSettings: cpuSettings),
        .executableTarget(name: "eqbench", dependencies: [
            "EqHarness", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: cpuSettings),

        .testTarget(name: "EqTensorTests", dependencies: ["EqTensor"]),
        .testTarget(name: "EqONNXTests", dependencies: ["EqONNX"]),
        .testTarget(name: "EqQuantTests", dependencies: ["EqQuant", "EqONNX"]),
        .testTarget(name: "EqPassesTests", dependencies: ["EqPasses", "EqONNX", "EqData"]),
        .testTarget(name: "EqRuntimeTests", dependencies: ["EqRuntime", "EqONNX", "EqData"],
                    exclude: ["Fixtures"]),
        .testTarget(name: "EqDataTests", dependencies: ["EqData"], exclude: ["Fixtures"]),
        .testTarget(name: "EqHarnessTests", dependencies: ["EqHarness"]),
        .testTarget(name: "eqbenchTests", dependencies: ["eqbench"]),
    ]
)

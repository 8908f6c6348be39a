// swift-tools-version: 6.1
// The kernel and pass benchmarks, a package of their own so that the main
// package's `swift test` never builds package-benchmark. Run from this folder:
//   swift package --allow-writing-to-package-directory benchmark
import PackageDescription

let package = Package(
    name: "EqBenchmarks",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(name: "eqbench", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "EqBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "EqKit", package: "eqbench"),
            ],
            path: "Benchmarks/EqBenchmarks",
            swiftSettings: [.unsafeFlags(["-target-cpu", "haswell"])],
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)

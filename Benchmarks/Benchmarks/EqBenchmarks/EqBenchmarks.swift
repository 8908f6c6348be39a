import Benchmark
import EqBLAS
import EqGraph
import EqPasses
import EqRuntime
import EqTensor
import Foundation

// Each benchmark states its floor, measured in the same run, and reports the
// ratio as a custom metric (×100, integers):
// - convs: achieved GFLOP/s ÷ OpenBLAS sgemm peak (1024³, one thread) → "% of sgemm peak";
// - scaling kernels and whole passes: one memcpy of the same bytes ÷ their time
//   → "% of copy bandwidth" (kernels) or their time ÷ that copy → "× weight copy" (passes).

let percentOfPeak = BenchmarkMetric.custom("% of sgemm peak", polarity: .prefersLarger, useScalingFactor: false)
let percentOfCopy = BenchmarkMetric.custom("% of copy bandwidth", polarity: .prefersLarger, useScalingFactor: false)
let percentOfFreshCopy = BenchmarkMetric.custom("% of copy into new memory", polarity: .prefersLarger, useScalingFactor: false)
let timesCopy = BenchmarkMetric.custom("× weight copy (×100)", polarity: .prefersSmaller, useScalingFactor: false)
let gflops = BenchmarkMetric.custom("GFLOP/s", polarity: .prefersLarger, useScalingFactor: false)
let percentOfShapeGemm = BenchmarkMetric.custom("% of same-shape sgemm", polarity: .prefersLarger, useScalingFactor: false)

/// Best wall time of `repeats` calls of `body`, in seconds.
func bestSeconds(_ repeats: Int, _ body: () throws -> Void) rethrows -> Double {
    var best = Double.infinity
    for _ in 0..<repeats {
        let start = DispatchTime.now().uptimeNanoseconds
        try body()
        best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }
    return best
}

enum Floors {
    /// OpenBLAS sgemm GFLOP/s on 1024³, one thread (the runtime's kernels
    /// run on one thread each), best of `repeats`. Measured anew beside each timed conv
    /// iteration: measured once per process, it varied from 57 to 93 GFLOP/s
    /// between processes on this shared VM and moved every ratio with it.
    static func sgemmPeak(repeats: Int = 3) -> Double {
        BLAS.setThreads(1)
        let n = 1024
        let a = [Float](repeating: 0.5, count: n * n), b = a
        var c = a
        let seconds = bestSeconds(repeats) { BLAS.sgemm(m: n, n: n, k: n, a: a, b: b, c: &c) }
        return 2 * Double(n * n * n) / seconds / 1e9
    }

    /// Seconds for `calls` sgemms of m×k by k×n (B stored n×k when
    /// `transposeB`; beta 0, one thread), best of 5.
    static func gemmSeconds(m: Int, n: Int, k: Int, calls: Int, transposeB: Bool = false) -> Double {
        let a = [Float](repeating: 0.5, count: m * k), b = [Float](repeating: 0.25, count: k * n)
        var c = [Float](repeating: 0, count: m * n)
        return bestSeconds(5) {
            for _ in 0..<calls { BLAS.sgemm(m: m, n: n, k: k, a: a, b: b, transposeB: transposeB, c: &c) }
        }
    }

    /// Says so on standard error when OpenBLAS runs this CPU on its SSE3
    /// fallback kernels (`BLAS.fittingCoreType`): every "% of sgemm peak"
    /// would then be measured against a floor several times too low.
    static func warnOnFallbackKernels() {
        guard let cpuinfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let flags = cpuinfo.split(separator: "\n").first(where: { $0.hasPrefix("flags") }),
              let core = BLAS.fittingCoreType(loadedCore: BLAS.coreName,
                                              cpuFlags: Set(flags.split(separator: " ").map(String.init)))
        else { return }
        FileHandle.standardError.write(Data("""
            warning: OpenBLAS runs this CPU on its \(BLAS.coreName) kernels; the sgemm floor is too low. \
            Run again with OPENBLAS_CORETYPE=\(core).\n
            """.utf8))
    }

    /// Seconds to copy `bytes` once (memcpy), best of 5. The source gets one
    /// byte the compiler cannot know: from a plain memset source, LLVM turns
    /// the memcpy into a memset (write-only, 2.5× faster here: 4.8 ms instead
    /// of 12 ms for 102 MB), and every ratio against this floor was off by that.
    static func copySeconds(bytes: Int) -> Double {
        let source = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        let target = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        defer { source.deallocate(); target.deallocate() }
        memset(source, 1, bytes); memset(target, 0, bytes)
        source.storeBytes(of: UInt8(truncatingIfNeeded: DispatchTime.now().uptimeNanoseconds), toByteOffset: bytes / 2, as: UInt8.self)
        let seconds = bestSeconds(5) { memcpy(target, source, bytes) }
        blackHole(target.load(fromByteOffset: bytes / 2, as: UInt8.self))
        return seconds
    }

    /// Seconds to copy `bytes` into a newly allocated array, best of 5: the
    /// floor of any function that returns new storage (`Tensor.fakeQuantized`).
    /// On this VM the first touch of fresh pages costs about four memcpys
    /// (32 MB: 15 ms against 3 ms, standalone timing).
    static func freshCopySeconds(bytes: Int) -> Double {
        let count = bytes / 4
        var source = [Float](repeating: 1, count: count)
        source[count / 2] = Float(DispatchTime.now().uptimeNanoseconds % 7)
        return bestSeconds(5) {
            let copy = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
                source.withUnsafeBufferPointer { _ = memcpy(buffer.baseAddress!, $0.baseAddress!, bytes) }
                initialized = count
            }
            blackHole(copy[count / 2])
        }
    }
}

/// A one-conv graph on [channels, size, size] inputs.
func convGraph(inC: Int, outC: Int, k: Int, stride: Int, size: Int, depthwise: Bool = false) -> Graph {
    var rng = SeededRandom(seed: 1)
    let group = depthwise ? inC : 1
    let weight = Tensor(shape: [outC, inC / group, k, k], data: rng.signedArray(outC * inC / group * k * k))
    let pad = k / 2
    let geometry = WindowGeometry(kernelH: k, kernelW: k, strideH: stride, strideW: stride, padTop: pad, padLeft: pad, padBottom: pad, padRight: pad)
    return Graph(name: "conv", input: GraphInput(name: "x", shape: [inC, size, size]),
                 nodes: [Node(name: "conv", op: .conv(ConvLayer(weight: weight, bias: Tensor(shape: [outC], repeating: 0.1), geometry: geometry, group: group)),
                              inputs: ["x"], output: "y")], outputs: ["y"])
}

/// Times `executor` on `batch` (best of `repeats`) and reports its GFLOP/s,
/// their % of the sgemm peak measured beside it, and, given the seconds of
/// OpenBLAS's sgemm on the same product alone, the % of those.
func measureGemmLayer(_ benchmark: Benchmark, _ executor: Executor, _ batch: Tensor, flops: Double, repeats: Int,
                      sameShapeGemm: (() -> Double)?) throws {
    let peak = Floors.sgemmPeak()
    benchmark.startMeasurement()
    let seconds = try bestSeconds(repeats) { _ = try executor.run(batch) }
    benchmark.stopMeasurement()
    benchmark.measurement(gflops, Int(flops / seconds / 1e9))
    benchmark.measurement(percentOfPeak, Int(100 * flops / seconds / 1e9 / peak))
    if let sameShapeGemm { benchmark.measurement(percentOfShapeGemm, Int(100 * sameShapeGemm() / seconds)) }
}

/// Total bytes of Conv/Gemm weights and biases.
func weightBytes(_ graph: Graph) -> Int { graph.nodes.reduce(0) { $0 + $1.op.parameterCount } * 4 }

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .mallocCountTotal, .peakMemoryResident],
                                           maxDuration: .seconds(2), maxIterations: 20)
    registerThresholdBenchmarks()

    Benchmark("sgemm 1024³, 1 thread (floor)", configuration: .init(metrics: [.wallClock, gflops])) { benchmark in
        Floors.warnOnFallbackKernels()
        benchmark.measurement(gflops, Int(Floors.sgemmPeak(repeats: 5)))
    }

    // Linear layers as the demo MLPs have them, 128 rows (the executor's tile
    // for them), one thread, through the executor; % of OpenBLAS's sgemm on
    // the same product (X · Wᵀ, which packs W on every call where PackedLinear
    // packed it once).
    for (inF, outF) in [(784, 256), (256, 128)] {
        Benchmark("linear \(inF)→\(outF), 128 rows (demo mlp)",
                  configuration: .init(metrics: [.wallClock, gflops, percentOfPeak, percentOfShapeGemm])) { benchmark in
            var rng = SeededRandom(seed: 5)
            let layer = LinearLayer(weight: Tensor(shape: [outF, inF], data: rng.signedArray(outF * inF)),
                                    bias: Tensor(shape: [outF], repeating: 0.1))
            let graph = Graph(name: "linear", input: GraphInput(name: "x", shape: [inF]),
                              nodes: [Node(name: "fc", op: .linear(layer), inputs: ["x"], output: "y")], outputs: ["y"])
            let executor = try Executor(graph: graph, threads: 1, tileSize: 128)
            let batch = Tensor(shape: [128, inF], data: rng.signedArray(128 * inF))
            try measureGemmLayer(benchmark, executor, batch, flops: 2.0 * Double(128 * inF * outF), repeats: 20) {
                Floors.gemmSeconds(m: 128, n: outF, k: inF, calls: 1, transposeB: true)
            }
        }
    }

    // Convolutions as the demo models and ResNet/MobileNet have them, batch 16, one thread,
    // through the executor (so the batch's copy in and out is included).
    // Besides % of sgemm peak, each reports % of OpenBLAS's sgemm on the same
    // GEMM alone (M = out channels, K = in·k·k, N = output pixels, 16 calls):
    // above 100 the whole conv beats the bare library GEMM it replaced (rowGemm
    // packs no B), below it the layout copies and epilogue cost more than that.
    let convs: [(String, Int, Int, Int, Int, Int, Bool)] = [
        ("conv 1x1 256→64 @28²", 256, 64, 1, 1, 28, false),
        ("conv 3x3 64→64 @28²", 64, 64, 3, 1, 28, false),
        ("conv 3x3 16→16 @28² (demo resnet)", 16, 16, 3, 1, 28, false),
        ("conv 3x3 32→32 @14² (demo resnet)", 32, 32, 3, 1, 14, false),
        ("conv 3x3 64→64 @7² (demo resnet)", 64, 64, 3, 1, 7, false),
        ("conv 3x3 stride 2 32→64 @14² (demo resnet)", 32, 64, 3, 2, 14, false),
        ("conv 1x1 16→64 @28² (demo mbv2)", 16, 64, 1, 1, 28, false),
        ("conv 1x1 96→24 @14² (demo mbv2)", 96, 24, 1, 1, 14, false),
        ("conv 1x1 64→256 @7² (demo mbv2)", 64, 256, 1, 1, 7, false),
        ("conv 1x1 24→16 @28² (demo inception)", 24, 16, 1, 1, 28, false),
        ("conv 3x3 12→24 @28² (demo inception)", 12, 24, 3, 1, 28, false),
        ("conv 3x3 stride 2 64→128 @28²", 64, 128, 3, 2, 28, false),
        ("depthwise 3x3 144 @28²", 144, 144, 3, 1, 28, true),
        ("depthwise 3x3 stride 2 144 @28²", 144, 144, 3, 2, 28, true),
    ]
    for (title, inC, outC, k, stride, size, depthwise) in convs {
        Benchmark(title, configuration: .init(metrics: [.wallClock, gflops, percentOfPeak, percentOfShapeGemm])) { benchmark in
            let graph = convGraph(inC: inC, outC: outC, k: k, stride: stride, size: size, depthwise: depthwise)
            let executor = try Executor(graph: graph, threads: 1)
            var rng = SeededRandom(seed: 2)
            let batch = Tensor(shape: [16, inC, size, size], data: rng.signedArray(16 * inC * size * size))
            let out = (size + 2 * (k / 2) - k) / stride + 1
            let flops = 2.0 * Double(16 * outC * out * out * (inC / (depthwise ? inC : 1)) * k * k)
            try measureGemmLayer(benchmark, executor, batch, flops: flops, repeats: 5,
                                 sameShapeGemm: depthwise ? nil : { Floors.gemmSeconds(m: outC, n: out * out, k: inC * k * k, calls: 16) })
        }
    }

    Benchmark("max pool 3x3 stride 2, 64 @112² ×4", configuration: .init(metrics: [.wallClock])) { benchmark in
        let pool = WindowGeometry(kernelH: 3, kernelW: 3, strideH: 2, strideW: 2, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1)
        let graph = Graph(name: "pool", input: GraphInput(name: "x", shape: [64, 112, 112]),
                          nodes: [Node(name: "pool", op: .maxPool(pool), inputs: ["x"], output: "y")], outputs: ["y"])
        let executor = try Executor(graph: graph, threads: 1)
        var rng = SeededRandom(seed: 3)
        let batch = Tensor(shape: [4, 64, 112, 112], data: rng.signedArray(4 * 64 * 112 * 112))
        for _ in benchmark.scaledIterations { blackHole(try executor.run(batch)) }
    }

    // Elementwise kernels on 8 M floats (32 MB): fake quant, per-channel weight scaling.
    let count = 8 << 20
    for perChannel in [false, true] {
        Benchmark("fake-quant int8 \(perChannel ? "per-channel (256 rows)" : "per-tensor") in place 32 MB",
                  configuration: .init(metrics: [.wallClock, percentOfCopy])) { benchmark in
            var rng = SeededRandom(seed: 4)
            var data = rng.signedArray(count)
            let quantizers = (0..<(perChannel ? 256 : 1)).map { _ in FakeQuantizer(scale: 1.0 / 127, zeroPoint: 0, qmin: -127, qmax: 127) }
            let row = count / quantizers.count
            // The executor's activation path: quantize-dequantize a buffer in place.
            let seconds = bestSeconds(5) {
                data.withUnsafeMutableBufferPointer { p in
                    for (c, q) in quantizers.enumerated() { q.apply(p.baseAddress! + c * row, count: row) }
                }
            }
            benchmark.measurement(percentOfCopy, Int(100 * Floors.copySeconds(bytes: count * 4) / seconds))
        }
    }
    // Returns a new tensor, so its floor is a copy into new memory; against a
    // memcpy into memory already touched it also pays the page faults.
    Benchmark("fake-quant weights per-channel 32 MB (Tensor.fakeQuantized, new tensor)",
              configuration: .init(metrics: [.wallClock, percentOfCopy, percentOfFreshCopy])) { benchmark in
        var rng = SeededRandom(seed: 4)
        let tensor = Tensor(shape: [256, count / 256], data: rng.signedArray(count))
        let quantizers = (0..<256).map { _ in FakeQuantizer(scale: 1.0 / 127, zeroPoint: 0, qmin: -127, qmax: 127) }
        let seconds = bestSeconds(5) { blackHole(tensor.fakeQuantized(quantizers)) }
        benchmark.measurement(percentOfCopy, Int(100 * Floors.copySeconds(bytes: count * 4) / seconds))
        benchmark.measurement(percentOfFreshCopy, Int(100 * Floors.freshCopySeconds(bytes: count * 4) / seconds))
    }
    Benchmark("scale rows in place 32 MB (per-channel weight scaling)", configuration: .init(metrics: [.wallClock, percentOfCopy])) { benchmark in
        var rng = SeededRandom(seed: 5)
        var tensor = Tensor(shape: [256, count / 256], data: rng.signedArray(count))
        let factors = (0..<256).map { 1 + Float($0 % 3) * 0.001 }
        let seconds = bestSeconds(5) { tensor.scaleRows(by: factors) }
        benchmark.measurement(percentOfCopy, Int(100 * Floors.copySeconds(bytes: count * 4) / seconds))
    }

    // Passes on real-size graphs: time ÷ one copy of the weights.
    for (label, build) in [("ResNet-50", ModelBuilder.resnet50), ("MobileNetV2", ModelBuilder.mobilenetV2)] {
        let pipelines: [(String, [any GraphPass])] = [
            ("bnfold", [BatchNormFolding()]),
            ("dfq (relu6relu+bnfold+cls+hbf)", [ReLU6ToReLU(), BatchNormFolding(), CrossLayerScaling(), HighBiasFold()]),
            ("bnfold+chaneq (2 calibration images)", [BatchNormFolding(), ChannelEqualization()]),
            ("bnfold+smoothquant (2 calibration images)", [BatchNormFolding(), SmoothQuant()]),
        ]
        for (name, passes) in pipelines {
            Benchmark("\(label) \(name)", configuration: .init(metrics: [.wallClock, .peakMemoryResident, timesCopy], maxIterations: 3)) { benchmark in
                var rng = SeededRandom(seed: 6)
                let images = Tensor(shape: [2, 3, 224, 224], data: rng.signedArray(2 * 3 * 224 * 224))
                let bytes = weightBytes(build())
                for _ in benchmark.scaledIterations {
                    // A graph of its own, so the passes edit weights in place (the harness
                    // instead keeps the imported graph and pays one copy-on-write copy).
                    var graph = build()
                    var context = PassContext(threads: 2, calibration: [images])
                    // The floor beside each timed iteration, so both see the same machine.
                    let copy = Floors.copySeconds(bytes: bytes)
                    benchmark.startMeasurement()
                    let start = DispatchTime.now().uptimeNanoseconds
                    for pass in passes { _ = try pass.apply(to: &graph, context: &context) }
                    let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                    benchmark.stopMeasurement()
                    blackHole(graph)
                    benchmark.measurement(timesCopy, Int(100 * seconds / copy))
                }
            }
        }
    }
}

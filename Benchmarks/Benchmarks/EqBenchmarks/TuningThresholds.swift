import Benchmark
import EqGraph
import EqRuntime
import EqTensor
import Foundation

// Each `KernelTuning` threshold picks one kernel (or tile size) over another.
// These benchmarks run a layer at shapes on both sides of a threshold twice:
// with the measured tuning, and with one that flips the choice. The metric is
// the rejected choice's time over the chosen one's (×100): at or above 100 the
// threshold still picks the faster kernel on this machine. Its static
// threshold (Benchmarks/Thresholds/) is 100 with a tolerance of 15 points (above a shared VM's run-to-run noise), so
// `swift package benchmark thresholds check` fails when a threshold stops
// holding by more than noise. The files are named after the benchmarks with
// their spaces: `thresholds update` writes "_" for them, which `check` does
// not read back.

let percentOfRejected = BenchmarkMetric.custom("rejected ÷ chosen time (×100)", polarity: .prefersLarger, useScalingFactor: false)

/// A threshold case: the layer, and the tuning that makes the other choice.
struct ThresholdCase {
    var title: String
    var graph: Graph
    var images: Int
    var flipped: KernelTuning
    /// Runs of each executor per sample (the best counts), and the seconds a benchmark may take.
    var repeats = 9
    var seconds = 2
}

/// Each step's kernel name, to check that `flipped` really runs another kernel.
func kernels(_ executor: Executor, _ batch: Tensor) throws -> [String] {
    try executor.profile(batch, repeats: 1).map(\.kernel)
}

func tuning(_ edit: (inout KernelTuning) -> Void) -> KernelTuning {
    var t = KernelTuning.measured
    edit(&t)
    return t
}

/// A 3×3 conv at stride 1, padded to keep its size.
func conv3x3(channels: Int, size: Int) -> Graph {
    convGraph(inC: channels, outC: channels, k: 3, stride: 1, size: size)
}

let thresholdCases: [ThresholdCase] = {
    let growth = KernelTuning.measured.shiftedRowsMaxGrowth
    let inL1 = KernelTuning.measured.tapColumnsInL1
    let flat = KernelTuning.measured.flatDepthwisePlaneMax
    return [
        // shiftedRowsMaxGrowth: 3×3 rows grow by (w + 1) / w: 1.036 at 28², 1.071 at 14² (shifted), 1.14 at 7² (tap columns).
        ThresholdCase(title: "shiftedRowsMaxGrowth \(growth): conv 3x3 64→64 @28²", graph: conv3x3(channels: 64, size: 28), images: 16,
                      flipped: tuning { $0.shiftedRowsMaxGrowth = 1 }),
        ThresholdCase(title: "shiftedRowsMaxGrowth \(growth): conv 3x3 64→64 @14²", graph: conv3x3(channels: 64, size: 14), images: 16,
                      flipped: tuning { $0.shiftedRowsMaxGrowth = 1 }),
        ThresholdCase(title: "shiftedRowsMaxGrowth \(growth): conv 3x3 256→256 @7²", graph: conv3x3(channels: 256, size: 7), images: 16,
                      flipped: tuning { $0.shiftedRowsMaxGrowth = 2 }),
        // tapColumnsInL1: convs whose tap columns fit in L1 (the demo models' 1-channel stem) stay tap columns at any map size; 16 channels at 28² do not.
        ThresholdCase(title: "tapColumnsInL1 \(inL1): conv 3x3 1→16 @28² (demo stem)", graph: convGraph(inC: 1, outC: 16, k: 3, stride: 1, size: 28),
                      images: 16, flipped: tuning { $0.tapColumnsInL1 = 0 }),
        ThresholdCase(title: "tapColumnsInL1 \(inL1): conv 3x3 16→16 @28²", graph: conv3x3(channels: 16, size: 28), images: 16,
                      flipped: tuning { $0.tapColumnsInL1 = Int.max }),
        // flatDepthwisePlaneMax: 3×3 depthwise planes of 7² run flat, 14² and 28² run the direct kernel.
        ThresholdCase(title: "flatDepthwisePlaneMax \(flat): depthwise 3x3 576 @7²",
                      graph: convGraph(inC: 576, outC: 576, k: 3, stride: 1, size: 7, depthwise: true), images: 16,
                      flipped: tuning { $0.flatDepthwisePlaneMax = 0 }),
        ThresholdCase(title: "flatDepthwisePlaneMax \(flat): depthwise 3x3 144 @14²",
                      graph: convGraph(inC: 144, outC: 144, k: 3, stride: 1, size: 14, depthwise: true), images: 16,
                      flipped: tuning { $0.flatDepthwisePlaneMax = 14 * 14 }),
        ThresholdCase(title: "flatDepthwisePlaneMax \(flat): depthwise 3x3 144 @28²",
                      graph: convGraph(inC: 144, outC: 144, k: 3, stride: 1, size: 28, depthwise: true), images: 16,
                      flipped: tuning { $0.flatDepthwisePlaneMax = 28 * 28 }),
        // The same on a whole MobileNetV2 at 224² (depthwise planes of 112² down to 7²).
        ThresholdCase(title: "flatDepthwisePlaneMax \(flat): MobileNetV2 224², against flat up to 14²", graph: ModelBuilder.mobilenetV2(),
                      images: 8, flipped: tuning { $0.flatDepthwisePlaneMax = 14 * 14 }, repeats: 3, seconds: 30),
    ]
}()

func registerThresholdBenchmarks() {
    for item in thresholdCases {
        Benchmark("threshold \(item.title)",
                  configuration: .init(metrics: [.wallClock, percentOfRejected], maxDuration: .seconds(item.seconds), maxIterations: 20,
                                       thresholds: [percentOfRejected: .init(absolute: [.p90: 15])])) { benchmark in
            var rng = SeededRandom(seed: 7)
            let shape = item.graph.input.shape
            let batch = Tensor(shape: [item.images] + shape, data: rng.signedArray(item.images * shape.reduce(1, *)))
            let chosen = try Executor(graph: item.graph, threads: 1)
            let rejected = try Executor(graph: item.graph, threads: 1, tuning: item.flipped)
            let (chosenKernels, rejectedKernels) = (try kernels(chosen, batch), try kernels(rejected, batch))
            guard chosenKernels != rejectedKernels else {
                throw BenchmarkSetupError("\(item.title): the flipped tuning runs the same kernels (\(chosenKernels))")
            }
            for _ in benchmark.scaledIterations {
                let chosenSeconds = try bestSeconds(item.repeats) { _ = try chosen.run(batch) }
                let rejectedSeconds = try bestSeconds(item.repeats) { _ = try rejected.run(batch) }
                benchmark.measurement(percentOfRejected, Int(100 * rejectedSeconds / chosenSeconds))
            }
        }
    }

    // tileFloats / tileImagesMax: the demo-size ResNet block chain at the
    // measured tile against a quarter and four times as many images per tile.
    Benchmark("threshold tileFloats \(KernelTuning.measured.tileFloats): 4 convs 3x3 32 @28², tile ÷4 and ×4",
              configuration: .init(metrics: [.wallClock, percentOfRejected], maxDuration: .seconds(30), maxIterations: 10,
                                   thresholds: [percentOfRejected: .init(absolute: [.p90: 15])])) { benchmark in
        let graph = convChain(channels: 32, size: 28, depth: 4)
        var rng = SeededRandom(seed: 8)
        let batch = Tensor(shape: [64, 32, 28, 28], data: rng.signedArray(64 * 32 * 28 * 28))
        let chosen = try Executor(graph: graph, threads: 1)
        let smaller = try Executor(graph: graph, threads: 1, tileSize: max(1, chosen.tileSize / 4))
        let larger = try Executor(graph: graph, threads: 1, tileSize: chosen.tileSize * 4)
        for _ in benchmark.scaledIterations {
            let chosenSeconds = try bestSeconds(5) { _ = try chosen.run(batch) }
            let best = min(try bestSeconds(5) { _ = try smaller.run(batch) }, try bestSeconds(5) { _ = try larger.run(batch) })
            benchmark.measurement(percentOfRejected, Int(100 * best / chosenSeconds))
        }
    }
}

/// `depth` 3×3 convs with ReLU of `channels` on [channels, size, size].
func convChain(channels: Int, size: Int, depth: Int) -> Graph {
    var rng = SeededRandom(seed: 9)
    let geometry = WindowGeometry(kernelH: 3, kernelW: 3, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1)
    var nodes = [Node]()
    var input = "x"
    for i in 0..<depth {
        let weight = Tensor(shape: [channels, channels, 3, 3], data: rng.signedArray(channels * channels * 9).map { $0 * 0.1 })
        let layer = ConvLayer(weight: weight, bias: Tensor(shape: [channels], repeating: 0), geometry: geometry, group: 1)
        nodes.append(Node(name: "conv\(i)", op: .conv(layer), inputs: [input], output: "c\(i)"))
        nodes.append(Node(name: "relu\(i)", op: .activation(.relu), inputs: ["c\(i)"], output: "r\(i)"))
        input = "r\(i)"
    }
    return Graph(name: "chain", input: GraphInput(name: "x", shape: [channels, size, size]), nodes: nodes, outputs: [input])
}

struct BenchmarkSetupError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

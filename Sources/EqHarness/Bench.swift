import EqGraph
import EqONNX
import EqPasses
import EqQuant
import EqRuntime
import EqTensor
import Foundation

/// What `eqbench bench` measures.
public struct BenchSettings: Sendable {
    public var models: [URL]
    public var batchSizes = [1, 32, 256]
    public var threadCounts = [1, ProcessInfo.processInfo.activeProcessorCount]
    public var precisions = ["fp32", "w8a8-pt"]
    public var variants = [Variant.baselineName]
    /// Images per timed pass (random inputs in the model's input shape).
    public var images = 256
    /// Timed passes per configuration; the best is kept.
    public var repeats = 3
    /// The kernels that run convs and linear layers.
    public var engine = Engine.native
    /// How int8 precisions compute quantized convs and linear layers.
    public var int8Path = Int8Path.preferred

    public init(models: [URL]) { self.models = models }
}

/// What `eqbench bench` measured: one row per file.
public struct BenchResult: Sendable {
    public var throughput = [ThroughputRecord]()
    public var passes = [PassRecord]()
    public var kernels = [KernelTimingRecord]()
}

/// `eqbench bench`: profiles any ONNX model without a dataset. For each model
/// and variant it applies the pipeline (each pass timed, with its peak memory,
/// into passes.csv), and for each precision, batch size and thread count it
/// times the executor over `images` random inputs (uniform in [−1, 1], a fixed
/// seed; int8 precisions calibrated on the same inputs), best of `repeats`
/// after one warm-up batch, into throughput.csv. Each precision's graph is
/// also profiled step by step on one thread over all `images` inputs
/// (`Executor.profile`, best of `repeats` per step), into kernels.csv. Passes
/// that need calibration images observe the random inputs too, so their
/// timing is representative while their scales are not meaningful.
public enum Bench {
    public static func run(_ settings: BenchSettings, log: (String) -> Void) throws -> BenchResult {
        let precisions = try Catalog.precisions(settings.precisions)
        try Catalog.validateVariants(settings.variants)
        var result = BenchResult()
        for url in settings.models {
            let name = url.deletingPathExtension().lastPathComponent
            let original = try ONNXImporter.load(contentsOf: url)
            var rng = SeededRandom(seed: 20261201)
            let inputs = Tensor(shape: [settings.images] + original.input.shape,
                                data: rng.signedArray(settings.images * original.input.shape.reduce(1, *)))
            let batches = { (size: Int) in
                stride(from: 0, to: settings.images, by: size).map { start in inputs.slice(start..<min(start + size, settings.images)) }
            }
            let calibration = batches(50)
            for variantName in settings.variants {
                let variant = try Variant.resolve(variantName)
                var graph = original
                var context = PassContext(threads: settings.threadCounts.max() ?? 1, calibration: calibration)
                for pass in variant.passes {
                    ProcessMemory.resetPeak()
                    let began = DispatchTime.now().uptimeNanoseconds
                    let report = try pass.apply(to: &graph, context: &context)
                    let seconds = Double(DispatchTime.now().uptimeNanoseconds - began) / 1e9
                    result.passes.append(PassRecord(model: name, variant: variantName, pass: pass.name, setsFound: report.setsFound,
                                             setsScaled: report.setsScaled, scaleRange: report.scaleRange, seconds: seconds,
                                             floatMaxAbsDiff: 0, precision: "", details: report.details,
                                             peakRSSMB: ProcessMemory.peakMB()))
                    log(String(format: "%@ %@ pass %@: %.4f s", name, variantName, pass.name, seconds))
                }
                for precision in precisions {
                    var timedGraph = graph
                    var quantizers = [String: FakeQuantizer]()
                    var integerLayers = [NodeID: IntegerEncodings]()
                    var path = ""
                    if !precision.isFloat {
                        let plan = QuantPlan(graph: graph, precision: precision)
                        let ranges = try plan.calibrate(using: StatisticsService(batches: calibration, threads: 1))
                        timedGraph = try plan.quantizedGraph(ranges)
                        quantizers = ranges.quantizers
                        if settings.int8Path == .integer { integerLayers = try plan.integerEncodings(ranges) }
                        path = settings.int8Path.label(integerLayers: integerLayers.count, of: plan.weightLayers.count)
                    }
                    let steps = try Executor(graph: timedGraph, threads: 1, activationQuantizers: quantizers, engine: settings.engine,
                                             integerLayers: integerLayers)
                        .profile(inputs, repeats: settings.repeats)
                    let total = steps.reduce(0) { $0 + $1.secondsPerImage }
                    result.kernels += steps.enumerated().map { index, step in
                        KernelTimingRecord(model: name, variant: variantName, precision: precision.name, step: index,
                                           profile: step, share: total > 0 ? step.secondsPerImage / total : 0)
                    }
                    for threads in settings.threadCounts {
                        let executor = try Executor(graph: timedGraph, threads: threads, activationQuantizers: quantizers,
                                                    engine: settings.engine, integerLayers: integerLayers)
                        for size in settings.batchSizes {
                            let work = batches(size)
                            _ = try executor.run(work[0])
                            var best = Double.infinity
                            for _ in 0..<settings.repeats {
                                let began = DispatchTime.now().uptimeNanoseconds
                                for batch in work { _ = try executor.run(batch) }
                                best = min(best, Double(DispatchTime.now().uptimeNanoseconds - began) / 1e9)
                            }
                            let record = ThroughputRecord(model: name, variant: variantName, precision: precision.name, batch: size,
                                                          threads: threads, engine: settings.engine.rawValue,
                                                          images: settings.images, seconds: best, int8Path: path)
                            result.throughput.append(record)
                            log(String(format: "%@ %@ %@ batch %d, %d thread%@: %.0f images/s", name, variantName, precision.name,
                                       size, threads, threads == 1 ? "" : "s", record.imagesPerSecond))
                        }
                    }
                }
            }
        }
        return result
    }
}

/// The files and the terminal table of `eqbench bench`.
public enum BenchReport {
    public static let files = ["throughput.csv", "passes.csv", "kernels.csv"]

    public static func write(_ result: BenchResult, to folder: URL) throws {
        try CSVTable(columns: ThroughputRecord.columns, rows: result.throughput.map(\.fields))
            .write(to: folder.appendingPathComponent("throughput.csv"))
        try CSVTable(columns: PassRecord.columns, rows: result.passes.map(\.fields))
            .write(to: folder.appendingPathComponent("passes.csv"))
        try CSVTable(columns: KernelTimingRecord.columns, rows: result.kernels.map(\.fields))
            .write(to: folder.appendingPathComponent("kernels.csv"))
    }

    /// Images/s per configuration, then the costliest steps of each profiled
    /// graph (those that together take 80% of its time, at most eight).
    public static func text(_ result: BenchResult) -> String {
        let throughput = TextTable.render(["model", "variant", "precision", "batch", "threads", "images/s"], result.throughput.map {
            [$0.model, $0.variant, $0.precision, String($0.batch), String($0.threads), fixed($0.imagesPerSecond, 0)]
        })
        var rows = [[String]]()
        var graphs = [String: [KernelTimingRecord]]()
        var order = [String]()
        for record in result.kernels {
            let key = [record.model, record.variant, record.precision].joined(separator: "|")
            if graphs[key] == nil { order.append(key) }
            graphs[key, default: []].append(record)
        }
        for key in order {
            var covered = 0.0
            for record in graphs[key]!.sorted(by: { $0.share > $1.share }).prefix(8) where covered < 0.8 {
                covered += record.share
                // The step's own node; the fused ones are in kernels.csv.
                let node = record.nodes.components(separatedBy: "+").first ?? record.nodes
                rows.append([record.model, record.variant, record.precision, node, record.kernel,
                             fixed(record.microsecondsPerImage, 1), fixed(record.share * 100, 1),
                             fixed(record.gflops, 1)])
            }
        }
        let steps = TextTable.render(["model", "variant", "precision", "node", "kernel", "µs/image", "%", "GFLOP/s"], rows)
        return throughput + "\n\nCostliest steps (one thread):\n" + steps
    }
}

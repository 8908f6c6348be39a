import ArgumentParser
import EqHarness
import EqRuntime
import EqTensor
import Foundation

/// `eqbench bench MODEL...`: throughput and pass timings of any model, no dataset needed.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure float and int8-simulated images/s at several batch sizes and thread counts, each pass's time and each layer's; write throughput.csv, passes.csv and kernels.csv.",
        discussion: "Inputs are random (uniform in [-1, 1], fixed seed) in the model's input shape; int8 precisions and data-driven passes calibrate on them. Each configuration is timed after one warm-up batch, best of --repeats.")

    @Argument(help: "ONNX models to profile (default: every .onnx in Datasets/models).")
    var models: [String] = []

    @Option(help: "Comma-separated batch sizes.")
    var batches = "1,32,256"

    @Option(help: "Comma-separated thread counts (default: 1 and all cores).")
    var threads: String?

    @Option(help: "Comma-separated precisions.")
    var precisions = "fp32,w8a8-pt"

    @Option(help: "Comma-separated variants whose passes are timed and whose graphs are run.")
    var variants = "baseline"

    @Option(help: "Images per timed pass.")
    var images = 256

    @Option(help: "Timed passes per configuration (the best is kept).")
    var repeats = 3

    @Option(help: "Kernels for convs and linear layers: native (eqbench's own) or openblas (the reference: im2col + OpenBLAS sgemm, plain loops after).")
    var engine = "native"

    @Option(name: .customLong("int8"), help: int8Help)
    var int8 = Int8Path.preferred.rawValue

    @Option(help: "Output folder. Default: reports/bench-<timestamp>.")
    var out: String?

    func counts(_ text: String, flag: String) throws -> [Int] {
        let values = parseNames(text).map { Int($0) }
        guard !values.isEmpty, values.allSatisfy({ ($0 ?? 0) >= 1 }) else {
            throw ValidationError("\(flag) must be comma-separated positive integers, got '\(text)'")
        }
        return values.map { $0! }
    }

    func validate() throws {
        _ = try counts(batches, flag: "--batches")
        if let threads { _ = try counts(threads, flag: "--threads") }
        guard (1...Limits.images).contains(images) else {
            throw ValidationError("--images must be from 1 to \(Limits.images), got \(images)")
        }
        if let threads, try counts(threads, flag: "--threads").contains(where: { $0 > Limits.threads }) {
            throw ValidationError("--threads must be at most \(Limits.threads) (4 per core), got '\(threads)'")
        }
        _ = try parseEngine(engine)
        _ = try parseInt8Path(int8)
        guard repeats >= 1 else { throw ValidationError("--repeats must be at least 1, got \(repeats)") }
        do {
            try Catalog.validateVariants(parseNames(variants))
            _ = try Catalog.precisions(parseNames(precisions))
        } catch let error as HarnessError {
            throw ValidationError(error.message)
        }
    }

    func run() throws {
        let urls = models.isEmpty ? try ModelSource.discover(in: URL(fileURLWithPath: "Datasets/models")) : models.map { URL(fileURLWithPath: $0) }
        var settings = BenchSettings(models: urls)
        settings.batchSizes = try counts(batches, flag: "--batches")
        let cores = ProcessInfo.processInfo.activeProcessorCount
        settings.threadCounts = try threads.map { try counts($0, flag: "--threads") } ?? Array(Set([1, cores])).sorted()
        settings.precisions = parseNames(precisions)
        settings.variants = parseNames(variants)
        settings.images = images
        settings.repeats = repeats
        settings.engine = try parseEngine(engine)
        settings.int8Path = try parseInt8Path(int8)
        let output = URL(fileURLWithPath: out ?? "reports/bench-" + RunCommand.timestamp())
        let result = try Bench.run(settings) { Log.line($0) }
        try BenchReport.write(result, to: output)
        print(BenchReport.text(result))
        // What ran: the numbers depend on the CPU the build targets (README).
        print("\nGEMM vectors: \(rowGemmLanes) floats (convs: 4×\(3 * rowGemmLanes) tiles; "
              + "linear layers: \(linearRowBlock)×\(linearPanelWidth))")
        print("wrote \(output.path)/" + BenchReport.files.joined(separator: ", "))
    }
}

import EqData
import EqRuntime
import EqTensor
import Foundation

/// What `eqbench run` was asked to do.
public struct RunSettings: Sendable {
    public var models: [URL]
    /// A dataset folder holding the `test/` (and later `calib/`) splits.
    public var dataset: URL
    /// Evaluate only the first N test images (all when nil).
    public var evalLimit: Int?
    public var output: URL
    public var threads: Int
    public var batchSize: Int
    public var mean: [Float]?
    public var std: [Float]?
    public var variants: [String]
    public var precisions: [String]

    public init(models: [URL], dataset: URL, evalLimit: Int? = nil, output: URL,
                threads: Int = ProcessInfo.processInfo.activeProcessorCount, batchSize: Int = 256,
                mean: [Float]? = nil, std: [Float]? = nil,
                variants: [String] = ["baseline"], precisions: [String] = ["fp32"]) {
        self.models = models; self.dataset = dataset; self.evalLimit = evalLimit
        self.output = output; self.threads = threads; self.batchSize = batchSize
        self.mean = mean; self.std = std; self.variants = variants; self.precisions = precisions
    }
}

/// The tables a run produced.
public struct RunReport: Sendable {
    public var accuracy: [AccuracyRecord] = []
    public var throughput: [ThroughputRecord] = []
    /// True when any row has status `error`.
    public var hasErrors: Bool { accuracy.contains { $0.status == "error" } }
}

/// Runs every model under every variant and precision on the test split and
/// writes `accuracy.csv` and `throughput.csv` into the output folder.
///
/// A model that fails to load or run becomes error rows (status `error`, the
/// message in `message`) and the others still run; a bad dataset or setting
/// stops the run before anything is written.
public final class EvaluationRun {
    public let settings: RunSettings
    let log: (String) -> Void

    public init(settings: RunSettings, log: @escaping (String) -> Void) {
        self.settings = settings
        self.log = log
    }

    public func execute() throws -> RunReport {
        try Catalog.validate(settings.variants, valid: Catalog.variants, flag: "--variants")
        try Catalog.validate(settings.precisions, valid: Catalog.precisions, flag: "--precisions")
        let test = try ImageFolder(root: settings.dataset.appendingPathComponent("test"))
        let count = min(settings.evalLimit ?? test.count, test.count)
        guard count > 0 else { throw HarnessError("--eval must be at least 1") }
        let images = try (0..<count).map { try PNGCodec.decode(path: test.path(of: test.items[$0])) }
        let labels = test.items.prefix(count).map(\.label)
        log("dataset \(settings.dataset.path): \(count) test images, \(test.classes.count) classes")

        var report = RunReport()
        for url in settings.models {
            let name = url.deletingPathExtension().lastPathComponent
            let model: ModelSource
            do {
                model = try ModelSource.load(url, mean: settings.mean, std: settings.std)
            } catch {
                log("error: \(error)")
                for variant in settings.variants {
                    for precision in settings.precisions {
                        report.accuracy.append(AccuracyRecord(model: name, variant: variant, precision: precision,
                                                              weights: "", activations: "", evalImages: count,
                                                              status: "error", message: String(describing: error)))
                    }
                }
                continue
            }
            for variant in settings.variants {
                for precision in settings.precisions {
                    var record = AccuracyRecord(model: model.name, variant: variant, precision: precision,
                                                weights: "fp32", activations: "fp32", evalImages: count)
                    do {
                        let (evaluation, throughput) = try evaluate(model, images: images, labels: labels,
                                                                    classes: test.classes.count)
                        record.top1 = evaluation.top1
                        record.top1CI = evaluation.interval
                        record.top5 = evaluation.top5
                        record.top1DeltaVsFloat = 0
                        report.throughput.append(ThroughputRecord(model: model.name, variant: variant, precision: precision,
                                                                  batch: settings.batchSize, threads: settings.threads,
                                                                  images: count, seconds: throughput))
                        log(String(format: "%@ %@ %@: top-1 %.2f%%, %.0f images/s", model.name, variant, precision,
                                   evaluation.top1, Double(count) / throughput))
                    } catch {
                        record.status = "error"
                        record.message = String(describing: error)
                        log("error: \(model.name) \(variant) \(precision): \(error)")
                    }
                    report.accuracy.append(record)
                }
            }
        }
        try write(report)
        return report
    }

    struct Evaluation {
        var top1: Double
        var top5: Double
        var interval: (low: Double, high: Double)
        var logits: [Float]
    }

    /// Runs the model over the images in batches; returns the metrics and the
    /// seconds spent in the executor.
    func evaluate(_ model: ModelSource, images: [DecodedImage], labels: [Int], classes: Int) throws -> (Evaluation, Double) {
        let executor = try Executor(graph: model.graph, threads: settings.threads)
        guard let outputShape = executor.shapes[model.graph.outputs[0]], outputShape.count == 1 else {
            throw HarnessError("\(model.url.path): the first output is not a [N, classes] tensor of logits")
        }
        guard outputShape[0] >= classes else {
            throw HarnessError("\(model.url.path): the model has \(outputShape[0]) outputs, the dataset \(classes) classes")
        }
        var logits = [Float]()
        logits.reserveCapacity(images.count * outputShape[0])
        var seconds = 0.0
        for start in stride(from: 0, to: images.count, by: settings.batchSize) {
            let end = min(start + settings.batchSize, images.count)
            let batch = preprocess(images[start..<end], model.preprocessing)
            let began = DispatchTime.now().uptimeNanoseconds
            let result = try executor.run(batch)
            seconds += Double(DispatchTime.now().uptimeNanoseconds - began) / 1e9
            logits += result.outputs[0].data
        }
        if let bad = logits.firstIndex(where: { !$0.isFinite }) {
            throw HarnessError("\(model.url.path): logit \(bad % outputShape[0]) of image \(bad / outputShape[0]) is \(logits[bad]) (NaN or infinite)")
        }
        let ranks = Metrics.ranks(logits: logits, classes: outputShape[0], labels: labels)
        let evaluation = Evaluation(top1: Metrics.topK(ranks, k: 1), top5: Metrics.topK(ranks, k: 5),
                                    interval: Metrics.bootstrapInterval(correct: ranks.map { $0 == 0 }),
                                    logits: logits)
        return (evaluation, seconds)
    }

    func preprocess(_ images: ArraySlice<DecodedImage>, _ preprocessing: Preprocessing) -> Tensor {
        var data = [Float](repeating: 0, count: images.count * preprocessing.count)
        data.withUnsafeMutableBufferPointer { buffer in
            for (i, image) in images.enumerated() {
                preprocessing.apply(image, into: buffer.baseAddress! + i * preprocessing.count)
            }
        }
        return Tensor(shape: [images.count, preprocessing.channels, preprocessing.height, preprocessing.width], data: data)
    }

    func write(_ report: RunReport) throws {
        var accuracy = CSVTable(columns: AccuracyRecord.columns)
        report.accuracy.forEach { accuracy.append($0.fields) }
        var throughput = CSVTable(columns: ThroughputRecord.columns)
        report.throughput.forEach { throughput.append($0.fields) }
        try accuracy.write(to: settings.output.appendingPathComponent("accuracy.csv"))
        try throughput.write(to: settings.output.appendingPathComponent("throughput.csv"))
    }
}

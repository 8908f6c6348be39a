import EqData
import EqGraph
import EqPasses
import EqQuant
import EqRuntime
import EqTensor
import Foundation

/// What `eqbench run` was asked to do.
public struct RunSettings: Sendable {
    public var models: [URL]
    /// A dataset folder holding the `calib/` and `test/` splits.
    public var dataset: URL
    /// Evaluate only the first N test images (all when nil).
    public var evalLimit: Int?
    /// Calibrate on the first N calibration images (default 500, or all if fewer).
    public var calibLimit: Int
    public var output: URL
    public var threads: Int
    public var batchSize: Int
    public var mean: [Float]?
    public var std: [Float]?
    /// `--resize N --crop M`: shorter side to N, then the center M×M (overriding the sidecar's).
    public var resize: Int?
    public var crop: Int?
    public var variants: [String]
    /// Variants defined by a `--config` file, found by name before the built-in ones.
    public var customVariants: [Variant] = []
    public var precisions: [String]
    /// Run only slice `index` (1-based) of `count` of the model × variant
    /// matrix: pair k (model-major, in the order given) belongs to slice
    /// k mod count + 1. nil runs everything.
    public var shard: (index: Int, count: Int)?
    /// K > 1: also calibrate on K disjoint subsets of calib/ (each min(calibLimit,
    /// count/K) images) and report the spread of top-1 over them.
    public var calibResamples = 1
    /// Evaluation images the per-layer SQNR of layers.csv is measured on (the
    /// first N; nil: all). Top-1 and logits SQNR always use every image.
    public var analysisLimit: Int? = 256
    /// Seconds per model for the greedy pipeline search (nil: no search).
    public var searchBudget: Double?
    /// The kernels every executor of the run computes convs and linear layers with.
    public var engine = Engine.native
    /// How int8 precisions compute their quantized layers (fake quant or integer kernels).
    public var int8Path = Int8Path.preferred
    /// The variant whose per-layer sensitivity is swept at each int8 precision (`SensitivityRecord`; nil: none).
    public var sensitivityVariant: String?
    /// Layers (node names) every int8 precision keeps in float (`QuantPlan.floatLayers`).
    public var floatLayers: [String] = []
    /// Points of top-1 below fp32 a recommended variant may lose (`Recommendation`).
    public var maxDrop = Recommendation.defaultMaxDrop

    public init(models: [URL], dataset: URL, evalLimit: Int? = nil, calibLimit: Int = 500, output: URL,
                threads: Int = ProcessInfo.processInfo.activeProcessorCount, batchSize: Int = 256,
                mean: [Float]? = nil, std: [Float]? = nil,
                variants: [String] = Catalog.defaultVariants, precisions: [String] = Catalog.defaultPrecisions) {
        self.models = models; self.dataset = dataset; self.evalLimit = evalLimit; self.calibLimit = calibLimit
        self.output = output; self.threads = threads; self.batchSize = batchSize
        self.mean = mean; self.std = std; self.variants = variants; self.precisions = precisions
    }
}

/// Set from another thread (e.g. a SIGINT handler) to stop a run after the
/// evaluation in progress; the rows finished so far are still written.
public final class CancellationFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var raised = false
    public init() {}
    public func cancel() { lock.lock(); raised = true; lock.unlock() }
    public var isCancelled: Bool { lock.lock(); defer { lock.unlock() }; return raised }
}

/// The tables a run produced.
public struct RunReport: Sendable {
    public var accuracy: [AccuracyRecord] = []
    public var layers: [LayerRecord] = []
    public var throughput: [ThroughputRecord] = []
    public var passes: [PassRecord] = []
    public var coverage: [CoverageRecord] = []
    /// Pipelines `--search` tried.
    public var search: [SearchRecord] = []
    /// The `--sensitivity` sweep's rows.
    public var sensitivity: [SensitivityRecord] = []
    /// Human-readable warnings (e.g. a function-preserving pipeline that changed the float logits).
    public var warnings: [String] = []
    /// Per model, the input it was fed (size, resize, mean, std), for summary.json.
    public var modelInputs: [String: JSONValue] = [:]
    /// True when the run was cancelled before it finished.
    public var interrupted = false
    /// The tables as written, with derived columns filled in (nil until written).
    public var folder: ReportFolder?
    /// True when any row has status `error`.
    public var hasErrors: Bool { accuracy.contains { $0.status == .error } }
}

/// Runs every model under every variant and precision and writes
/// `accuracy.csv`, `layers.csv` and `throughput.csv` into the output folder.
///
/// For an int8 precision: plan (BN folds, which tensors are quantized), calibrate
/// on the `calib/` split, evaluate the quantized model on `test/`, and compare
/// with the float run: top-1 delta, logits SQNR, per-layer cumulative and
/// local SQNR. A model that fails to load or run becomes error rows and the
/// others still run; a bad dataset or setting stops the run before anything
/// is written.
public final class EvaluationRun {
    public let settings: RunSettings
    let log: (String) -> Void
    let cancellation: CancellationFlag
    /// Called after every batch with where the run is (e.g. to draw a progress bar).
    public var progress: ((ProgressUpdate) -> Void)?
    /// The evaluation in progress, for `progress`.
    var position = ProgressUpdate(model: "", variant: "", precision: "", phase: "", imagesDone: 0, imagesTotal: 0, step: 0, steps: 0)

    /// What `--search` scores pipelines on, never the test images (nil without a search).
    var searchSplit: SearchData?
    /// Statistics services of the current model, by image set (`statistics`).
    var services = [String: StatisticsService]()
    /// Decoded image sets, by image set and input geometry (`prepared`).
    var preparedSets = [String: PreparedImages]()

    /// Images per analysis batch at most (per-layer taps hold every layer's output; `analysisBatchSize`).
    static let analysisBatch = 64
    /// Bytes of layer outputs one analysis batch may hold (fewer images per batch for large models).
    static let analysisBytes = 128 << 20
    /// Images per calibration batch: fixed, so EMA ranges do not depend on settings.
    static let calibrationBatch = 50

    public init(settings: RunSettings, cancellation: CancellationFlag = CancellationFlag(), log: @escaping (String) -> Void) {
        self.settings = settings
        self.cancellation = cancellation
        self.log = log
    }

    public func execute() throws -> RunReport {
        try Catalog.validateVariants(settings.variants, custom: settings.customVariants)
        let precisions = try Catalog.precisions(settings.precisions)
        if settings.searchBudget != nil, precisions.allSatisfy(\.isFloat) {
            throw HarnessError("--search needs an int8 precision in --precisions to score pipelines")
        }
        if settings.searchBudget != nil, settings.variants.contains(PipelineSearch.winnerName) {
            throw HarnessError("--search names its winner '\(PipelineSearch.winnerName)'; a variant of that name cannot run beside it")
        }
        let modelKeys = try ModelSource.keys(for: settings.models)
        var report = RunReport()
        let test = try split("test", report: &report)
        let count = min(settings.evalLimit ?? test.count, test.count)
        guard count > 0 else { throw HarnessError("--eval must be at least 1") }
        var calibration: ImageFolder?
        var resampleSubsets = [ImageFolder]()
        let variantsNeedData = try settings.variants.contains { try Variant.resolve($0, custom: settings.customVariants).needsCalibrationData }
        if precisions.contains(where: { !$0.isFloat }) || variantsNeedData || settings.searchBudget != nil {
            let calib = try split("calib", report: &report)
            calibration = calib.prefix(settings.calibLimit)
            let k = settings.calibResamples
            if k > 1 {
                let size = min(settings.calibLimit, calib.count / k)
                guard size > 0 else { throw HarnessError("--calib-resamples \(k) needs at least \(k) images in \(calib.root.path)") }
                resampleSubsets = (0..<k).map { calib.subset(($0 * size)..<(($0 + 1) * size)) }
            }
        }
        log("dataset \(settings.dataset.path): \(count) test images, \(calibration?.count ?? 0) calibration images, \(test.classes.count) classes")
        let data = EvaluationData(images: test.prefix(count), imageSet: "test", classes: test.classes.count,
                                  calibration: calibration, resampleSubsets: resampleSubsets)
        if settings.searchBudget != nil { searchSplit = try searchData(classes: test.classes.count, report: &report) }

        /// Pair (model m, variant v) is pair m·V + v of the matrix; a shard takes every count-th.
        func inShard(_ m: Int, _ v: Int) -> Bool {
            guard let shard = settings.shard else { return true }
            return (m * settings.variants.count + v) % shard.count == shard.index - 1
        }
        let variantsOfModel = settings.models.indices.map { m in
            settings.variants.enumerated().filter { v, _ in inShard(m, v) }.map(\.element)
        }
        position.steps = variantsOfModel.map(\.count).reduce(0, +) * precisions.count
        position.stepsPerVariant = precisions.count
        if settings.searchBudget != nil {
            // The search winner is evaluated as one more variant, in the shard holding the model's first pair.
            position.steps += settings.models.indices.filter { inShard($0, 0) }.count * precisions.count
        }
        for (m, url) in settings.models.enumerated() where !cancellation.isCancelled {
            let name = modelKeys[m]
            let variants = variantsOfModel[m]
            guard !variants.isEmpty else { continue }
            position.model = name
            do {
                var model = try ModelSource.load(url, mean: settings.mean, std: settings.std, resize: settings.resize, crop: settings.crop)
                model.name = name
                report.modelInputs[name] = model.inputJSON
                // The search runs once per model, in the shard holding its first pair.
                try evaluate(model, variants: variants, precisions: precisions, data: data, search: inShard(m, 0), into: &report)
            } catch let problem as DatasetProblem {
                // A dataset that cannot be read stops the run: every model would fail on it.
                throw problem.error
            } catch {
                log("error: \(error)")
                for variant in variants where !report.accuracy.contains(where: { $0.model == name && $0.variant == variant }) {
                    for precision in precisions {
                        report.accuracy.append(AccuracyRecord(model: name, variant: variant, precision: precision.name,
                                                              weights: precision.weightsDescription,
                                                              activations: precision.activationsDescription,
                                                              evalImages: count, status: .error, message: String(describing: error)))
                    }
                }
            }
        }
        report.interrupted = cancellation.isCancelled
        report.folder = try write(report)
        return report
    }

    /// A split's image folder (listing only, decoded per model geometry by
    /// `prepared`); its skipped files become a counted warning.
    func split(_ name: String, report: inout RunReport) throws -> ImageFolder {
        let folder = try ImageFolder(root: settings.dataset.appendingPathComponent(name))
        var warnings = [String]()
        if let example = folder.skipped.first {
            warnings.append("\(folder.root.path): \(folder.skipped.count) file\(folder.skipped.count == 1 ? " is" : "s are") not .png, .jpg or .jpeg and not used (e.g. \(example))")
        }
        if !folder.unlistedFolders.isEmpty {
            warnings.append("\(folder.root.path): classes.txt does not list \(folder.unlistedFolders.count) folder\(folder.unlistedFolders.count == 1 ? "" : "s") (\(folder.unlistedFolders.prefix(3).joined(separator: ", "))\(folder.unlistedFolders.count > 3 ? ", …" : "")), whose images are not used")
        }
        for warning in warnings where !report.warnings.contains(warning) {
            report.warnings.append(warning)
            log("warning: " + warning)
        }
        return folder
    }

    struct EvaluationData {
        var images: ImageFolder
        /// Names `images` for the decoded-image cache (`prepared`).
        var imageSet: String
        var classes: Int
        /// nil when nothing in the run calibrates.
        var calibration: ImageFolder?
        /// Disjoint calibration subsets for `--calib-resamples` (empty without it).
        var resampleSubsets: [ImageFolder]
        /// Names `calibration` for the statistics services and the decoded-image cache.
        var calibrationSet = "calib"

        var labels: [Int] { images.items.map(\.label) }
    }

    /// A dataset image that cannot be decoded: it stops the run instead of failing each model in turn.
    struct DatasetProblem: Error, CustomStringConvertible {
        var error: Error
        var description: String { String(describing: error) }
    }

    /// The images `--search` calibrates on and scores with, and which split they come from.
    struct SearchData {
        var data: EvaluationData
        var split: String
    }

    /// A `search/` split when the dataset has one (scored whole, calibrated on
    /// calib/); otherwise calib/ cut in two: the first half calibrates, the
    /// second half scores. Either way the winner is then evaluated on test/.
    func searchData(classes: Int, report: inout RunReport) throws -> SearchData {
        let calib = try split("calib", report: &report)
        if FileManager.default.fileExists(atPath: settings.dataset.appendingPathComponent("search").path) {
            let search = try split("search", report: &report)
            let images = search.prefix(settings.evalLimit ?? search.count)
            return SearchData(data: EvaluationData(images: images, imageSet: "search", classes: classes,
                                                   calibration: calib.prefix(settings.calibLimit), resampleSubsets: [],
                                                   calibrationSet: "calib"),
                              split: "search (\(images.count) images)")
        }
        guard calib.count >= 2 else { throw HarnessError("--search needs at least 2 images in \(calib.root.path) (or a search/ split)") }
        let half = calib.count / 2
        let first = calib.subset(0..<min(half, settings.calibLimit)), second = calib.subset(half..<calib.count)
        return SearchData(data: EvaluationData(images: second, imageSet: "calib second half", classes: classes,
                                               calibration: first, resampleSubsets: [], calibrationSet: "calib first half"),
                          split: "calib held-out half (\(second.count) images; \(first.count) calibrate)")
    }

    /// One model under every variant and precision.
    func evaluate(_ model: ModelSource, variants: [String], precisions: [Precision], data: EvaluationData,
                  search searchHere: Bool = false, into report: inout RunReport) throws {
        try QuantPlan.checkFloatLayers(settings.floatLayers, in: model.graph, source: model.url.path)
        (position.variant, position.precision) = ("(imported model)", "fp32")
        let original = try run(model.graph, quantizers: [:], model: model, data: data)
        let originalRange = Double(original.logits.max()! - original.logits.min()!)
        let originalNodes = Set(model.graph.nodes.map(\.id))
        let probe = try batch(try prepared(data.images, set: data.imageSet, for: model), 0..<min(64, data.images.count),
                              model.preprocessing)
        /// Every precision of one variant: its accuracy, throughput, pass and layer rows.
        func evaluate(_ variant: Variant) throws {
            let name = variant.name
            var shared: Pipeline?
            var floatOfVariant = [String: (evaluation: Evaluation, diff: Double)]()
            var calibrations = [String: (calibration: Calibration, seconds: Double)]()
            for precision in precisions where !cancellation.isCancelled {
                position.step += 1
                position.variant = name
                position.precision = precision.name
                var record = AccuracyRecord(model: model.name, variant: name, passes: variant.passNames, precision: precision.name,
                                            weights: precision.weightsDescription, activations: precision.activationsDescription,
                                            evalImages: data.images.count)
                do {
                    // The pipeline, once per variant, or once per precision when it depends on it.
                    let pipeline: Pipeline
                    if let cached = shared, !variant.dependsOnPrecision {
                        pipeline = cached
                    } else {
                        pipeline = try apply(variant, to: model, precision: precision, data: data, probe: probe)
                        report.passes += pipeline.records
                        if shared == nil {
                            report.coverage += pipeline.coverage
                            shared = pipeline
                        }
                    }
                    let key = variant.dependsOnPrecision ? precision.name : ""
                    if floatOfVariant[key] == nil {
                        let float = name == Variant.baselineName ? original : try run(pipeline.graph, quantizers: [:], model: model, data: data)
                        let diff = zip(float.logits, original.logits).map { Double(abs($0 - $1)) }.max()! / originalRange
                        floatOfVariant[key] = (float, diff)
                        if variant.preservesFloatFunction && diff > 1e-4 {
                            report.warnings.append(String(format: "%@ %@: the float logits changed by %.3g of their range, although every pass should preserve them", model.name, name, diff))
                        }
                    }
                    let (float, diff) = floatOfVariant[key]!
                    record.floatMaxAbsDiff = diff
                    record.inferenceNodesAdded = pipeline.graph.nodes.filter { !originalNodes.contains($0.id) }.count
                    let result: Evaluation
                    if precision.isFloat {
                        result = float
                    } else {
                        // Precisions with the same activation scheme share one calibration of the same pipeline.
                        if variant.dependsOnPrecision { calibrations = [:] }
                        let quantized = try evaluateQuantized(pipeline.graph, precision: precision, model: model, variant: name,
                                                              data: data, calibrations: &calibrations, layers: &report.layers)
                        result = quantized.evaluation
                        record.calibImages = quantized.calibrationImages
                        record.calibSeconds = quantized.calibrationSeconds
                        record.recordCalibrationResamples(quantized.resampledTop1)
                        record.int8Path = quantized.path
                        record.logitsSQNR = logitsSQNR(original.logits, result.logits)
                        if settings.sensitivityVariant == name, let frozen = calibrations[precision.activationsDescription] {
                            report.sensitivity += try sensitivity(of: pipeline.graph, variant: name, precision: precision,
                                                                  calibration: frozen.calibration, model: model, data: data, float: original)
                        }
                    }
                    record.top1 = result.top1
                    record.correct = result.correct
                    record.top1CI = result.interval
                    record.top5 = result.top5
                    record.top1DeltaVsFloat = result.top1 - original.top1
                    report.throughput.append(ThroughputRecord(model: model.name, variant: name, precision: precision.name,
                                                              batch: settings.batchSize, threads: settings.threads,
                                                              engine: settings.engine.rawValue,
                                                              images: data.images.count, seconds: result.seconds,
                                                              int8Path: record.int8Path))
                    log(String(format: "%@ %@ %@: top-1 %.2f%%, %.0f images/s", model.name, name, precision.name,
                               result.top1, Double(data.images.count) / result.seconds))
                } catch let problem as DatasetProblem {
                    throw problem
                } catch {
                    record.status = .error
                    record.message = String(describing: error)
                    log("error: \(model.name) \(name) \(precision.name): \(error)")
                }
                report.accuracy.append(record)
            }
        }
        for name in variants where !cancellation.isCancelled {
            try evaluate(try Variant.resolve(name, custom: settings.customVariants))
        }
        if searchHere, let budget = settings.searchBudget, !cancellation.isCancelled,
           let precision = precisions.first(where: { !$0.isFloat }) {
            let (trials, winner) = try search(model, precision: precision, budget: budget, data: data, probe: probe)
            report.search += trials
            // The winner, chosen off the test images, is graded like any variant,
            // so the recommendation weighs it; its row closes search.csv.
            // An empty winner is the baseline, graded already.
            if let winner, !cancellation.isCancelled {
                let passes = try winner.compactMap { try PassCatalog.make(token: $0, context: "search") }
                let gradedAs = winner.isEmpty ? Variant.baselineName : PipelineSearch.winnerName
                if !winner.isEmpty {
                    try evaluate(Variant(name: gradedAs, summary: "the --search winner: " + winner.joined(separator: " → "), passes: passes))
                }
                let graded = report.accuracy.last { $0.model == model.name && $0.precision == precision.name
                    && $0.variant == gradedAs && $0.status == .ok }
                var final = SearchRecord(model: model.name, precision: precision.name, round: (trials.last?.round ?? 0) + 1,
                                         pipeline: winner, seconds: 0, kept: true)
                final.scoredOn = "test" + (graded.map { " (variant \($0.variant))" } ?? "")
                final.top1 = graded?.top1
                final.logitsSQNR = graded?.logitsSQNR
                if graded == nil { final.status = .error; final.message = "no accuracy row of this run has this pipeline (its evaluation failed, or another shard holds it)" }
                report.search.append(final)
            }
        }
    }

    /// A variant's transformed graph and what its passes reported.
    struct Pipeline {
        var graph: Graph
        var records: [PassRecord]
        var coverage: [CoverageRecord]
    }

    /// Applies a variant's passes to a fresh copy of the model's graph, timing
    /// each and measuring its own float change on the probe images.
    func apply(_ variant: Variant, to model: ModelSource, precision: Precision, data: EvaluationData, probe: Tensor) throws -> Pipeline {
        var graph = model.graph
        var context = PassContext(precision: precision, threads: settings.threads,
                                  statistics: try data.calibration.map { try statistics($0, set: data.calibrationSet, of: model, phase: "passes") })
        var before = try Executor(graph: graph, threads: settings.threads, engine: settings.engine).run(probe).outputs[0]
        let range = Double(before.data.max()! - before.data.min()!)
        var pipeline = Pipeline(graph: graph, records: [], coverage: [])
        var graphBefore = graph
        for pass in variant.passes {
            ProcessMemory.resetPeak()
            let began = DispatchTime.now().uptimeNanoseconds
            let passReport: PassReport
            do {
                passReport = try pass.apply(to: &graph, context: &context)
            } catch let problem as DatasetProblem {
                throw problem
            } catch {
                throw HarnessError("pass \(pass.name): \(error)")
            }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - began) / 1e9
            let peak = ProcessMemory.peakMB()
            let checked = Array(Set(passReport.coverage.compactMap(\.checkedValue))).sorted()
            let afterRun = try Executor(graph: graph, threads: settings.threads, engine: settings.engine).run(probe, taps: checked)
            let after = afterRun.outputs[0]
            var changes = [String: Double]()
            if !checked.isEmpty, case .approximate = pass.floatEffect {
                let beforeTaps = try Executor(graph: graphBefore, threads: settings.threads, engine: settings.engine)
                    .run(probe, taps: checked).taps
                for value in checked {
                    let old = beforeTaps[value]!, new = afterRun.taps[value]!
                    let range = Double(old.data.max()! - old.data.min()!)
                    changes[value] = range > 0 ? Double(old.maxAbsDifference(new)) / range : 0
                }
            }
            pipeline.records.append(PassRecord(model: model.name, variant: variant.name, pass: pass.name,
                                               setsFound: passReport.setsFound, setsScaled: passReport.setsScaled,
                                               scaleRange: passReport.scaleRange, seconds: seconds,
                                               floatMaxAbsDiff: Double(before.maxAbsDifference(after)) / range,
                                               precision: variant.dependsOnPrecision ? precision.name : "",
                                               details: passReport.details, peakRSSMB: peak))
            pipeline.coverage += passReport.coverage.map {
                CoverageRecord(model: model.name, variant: variant.name, node: $0.node, op: $0.op, set: $0.set,
                               status: $0.status, reason: $0.reason, pass: pass.name,
                               floatChange: $0.checkedValue.flatMap { changes[$0] })
            }
            before = after
            graphBefore = graph
        }
        pipeline.graph = graph
        return pipeline
    }

    struct Evaluation {
        var top1: Double
        var top5: Double
        var interval: (low: Double, high: Double)
        /// Per image, whether top-1 was right.
        var correct: [Bool]
        var logits: [Float]
        var seconds: Double
    }

    /// What one int8 evaluation produced besides its accuracy.
    struct QuantizedEvaluation {
        var evaluation: Evaluation
        var calibrationImages: Int
        var calibrationSeconds: Double
        /// Top-1 after calibrating on each resample subset instead.
        var resampledTop1: [Double]
        /// `fakequant`, or `integer K/N`: K of the N quantized layers ran on integer kernels.
        var path: String
    }

    /// Plans, calibrates and evaluates one int8 precision, adding its per-layer
    /// rows; with resample subsets, calibrates and evaluates once more per subset.
    func evaluateQuantized(_ graph: Graph, precision: Precision, model: ModelSource, variant: String, data: EvaluationData,
                           calibrations: inout [String: (calibration: Calibration, seconds: Double)],
                           layers: inout [LayerRecord]) throws -> QuantizedEvaluation {
        guard let calibrationImages = data.calibration, calibrationImages.count > 0 else {
            throw HarnessError("\(settings.dataset.path)/calib has no images to calibrate on")
        }
        let plan = QuantPlan(graph: graph, precision: precision, floatLayers: Set(settings.floatLayers))
        // The observed ranges depend on the deployment graph (the same for every
        // precision of a pipeline) and the activation scheme and estimator only.
        let key = precision.activationsDescription
        if calibrations[key] == nil {
            let began = DispatchTime.now().uptimeNanoseconds
            let calibration = try calibrate(plan, on: calibrationImages, set: data.calibrationSet, model: model, phase: "calibrate")
            calibrations[key] = (calibration, Double(DispatchTime.now().uptimeNanoseconds - began) / 1e9)
        }
        let (calibration, calibrationSeconds) = calibrations[key]!
        let quantizedGraph = try plan.quantizedGraph(calibration)
        let integer = try integerLayers(plan, calibration)
        let evaluation = try run(quantizedGraph, quantizers: calibration.quantizers, model: model, data: data, integerLayers: integer)

        let analysed = min(settings.analysisLimit ?? data.images.count, data.images.count)
        let statistics = try statistics(data.images, set: data.imageSet, of: model, phase: "analyse",
                                        limit: analysed, batch: Self.analysisBatch)
        var analysis = try LayerAnalysis(plan: plan, quantizedGraph: quantizedGraph, calibration: calibration, statistics: statistics)
        try analysis.addAll(from: statistics, maxBytes: Self.analysisBytes)
        for row in analysis.rows {
            layers.append(LayerRecord(model: model.name, variant: variant, precision: precision.name, node: row.node,
                                      op: row.op, outChannels: row.channels, sqnrCumulative: row.cumulative.decibels,
                                      sqnrLocal: row.localSQNR.decibels, weightRangeRatio: row.weightRangeRatio,
                                      activationRange: calibration.ranges[row.value]))
        }
        var resampled = [Double]()
        for (j, subset) in data.resampleSubsets.enumerated() {
            let ranges = try calibrate(plan, on: subset, set: "resample \(j + 1)", model: model, phase: "resample \(j + 1)")
            resampled.append(try run(plan, ranges, model: model, data: data).top1)
        }
        return QuantizedEvaluation(evaluation: evaluation, calibrationImages: calibration.images,
                                   calibrationSeconds: calibrationSeconds, resampledTop1: resampled,
                                   path: settings.int8Path.label(integerLayers: integer.count, of: plan.weightLayers.count))
    }

    /// Observes a plan's activation ranges on `images` (the image set `set`) in fixed-size batches.
    func calibrate(_ plan: QuantPlan, on images: ImageFolder, set: String, model: ModelSource, phase: String) throws -> Calibration {
        try plan.calibrate(using: statistics(images, set: set, of: model, phase: phase))
    }

    /// `images` decoded for `model`'s input geometry: once per image set and
    /// geometry in a run, shared by every model, variant and precision;
    /// decoding goes on in the background while the first batches run.
    func prepared(_ images: ImageFolder, set: String, for model: ModelSource) throws -> PreparedImages {
        let key = set + "|" + model.preprocessing.geometryKey
        if let known = preparedSets[key] { return known }
        do {
            let prepared = try PreparedImages(images, geometry: model.preprocessing, threads: settings.threads)
            preparedSets[key] = prepared
            return prepared
        } catch {
            throw DatasetProblem(error: error)
        }
    }

    /// Images `range` of `images` normalised; while they are still being
    /// decoded the progress bar says so, and an undecodable image stops the run.
    func batch(_ images: PreparedImages, _ range: Range<Int>, _ preprocessing: Preprocessing) throws -> Tensor {
        if !images.isDecoded(range) {
            position.waitingForImages = true
            progress?(position)
        }
        defer { position.waitingForImages = false }
        do {
            try images.waitUntilDecoded(range)
        } catch {
            throw DatasetProblem(error: error)
        }
        return try images.batch(range, preprocessing: preprocessing)
    }

    /// The statistics service over `images` (the first `limit`) preprocessed
    /// for `model` in batches of `batch`: made once per model, image set and
    /// batching, shared by the passes of every variant and the calibrations
    /// after them (the calibration images), or by the per-layer analysis of
    /// every precision (the analysed test images); reports progress under `phase`.
    func statistics(_ images: ImageFolder, set: String, of model: ModelSource, phase: String,
                    limit: Int? = nil, batch size: Int = calibrationBatch) throws -> StatisticsService {
        let key = [model.url.path, set, String(limit ?? -1), String(size)].joined(separator: "|")
        let service: StatisticsService
        if let known = services[key] {
            service = known
        } else {
            let source = try prepared(images, set: set, for: model), preprocessing = model.preprocessing
            let count = min(limit ?? source.count, source.count)
            service = StatisticsService(batchCount: (count + size - 1) / size, imageCount: count,
                                        threads: settings.threads) { [unowned self] i in
                try batch(source, (i * size)..<min((i + 1) * size, count), preprocessing)
            }
            service.engine = settings.engine
            services = services.filter { $0.key.hasPrefix(model.url.path + "|") }
            services[key] = service
        }
        service.progress = { [unowned self] done, total in
            position.phase = phase
            position.imagesDone = done
            position.imagesTotal = total
            progress?(position)
        }
        return service
    }

    /// Evaluates a plan's fake-quantized graph with the calibrated activation
    /// quantizers (its layers on integer kernels with `--int8 integer`).
    func run(_ plan: QuantPlan, _ calibration: Calibration, model: ModelSource, data: EvaluationData) throws -> Evaluation {
        try run(try plan.quantizedGraph(calibration), quantizers: calibration.quantizers, model: model, data: data,
                integerLayers: try integerLayers(plan, calibration))
    }

    /// The layers `--int8 integer` runs on integer kernels (none with fake quant).
    func integerLayers(_ plan: QuantPlan, _ calibration: Calibration) throws -> [NodeID: IntegerEncodings] {
        settings.int8Path == .integer ? try plan.integerEncodings(calibration) : [:]
    }

    /// Runs a graph over the test images (the first `limit`, or all) in
    /// batches; returns the metrics and the seconds spent in the executor.
    func run(_ graph: Graph, quantizers: [String: FakeQuantizer], model: ModelSource, data: EvaluationData,
             limit: Int? = nil, phase: String = "evaluate", integerLayers: [NodeID: IntegerEncodings] = [:]) throws -> Evaluation {
        let executor = try Executor(graph: graph, threads: settings.threads, activationQuantizers: quantizers, engine: settings.engine,
                                    integerLayers: integerLayers)
        guard let outputShape = executor.shapes[graph.outputs[0]], outputShape.count == 1 else {
            throw HarnessError("\(model.url.path): the first output is not a [N, classes] tensor of logits")
        }
        guard outputShape[0] >= data.classes else {
            throw HarnessError("\(model.url.path): the model has \(outputShape[0]) outputs, the dataset \(data.classes) classes")
        }
        let count = min(limit ?? data.images.count, data.images.count)
        var logits = [Float]()
        logits.reserveCapacity(count * outputShape[0])
        try executor.prepare()
        var seconds = 0.0
        try forEachBatch(try prepared(data.images, set: data.imageSet, for: model), model.preprocessing,
                         size: settings.batchSize, limit: count, phase: phase) { batch in
            let began = DispatchTime.now().uptimeNanoseconds
            let result = try executor.run(batch)
            seconds += Double(DispatchTime.now().uptimeNanoseconds - began) / 1e9
            logits += result.outputs[0].data
        }
        if let bad = logits.firstIndex(where: { !$0.isFinite }) {
            throw HarnessError("\(model.url.path): logit \(bad % outputShape[0]) of image \(bad / outputShape[0]) is \(logits[bad]) (NaN or infinite)")
        }
        let ranks = Metrics.ranks(logits: logits, classes: outputShape[0], labels: Array(data.labels.prefix(count)))
        let correct = ranks.map { $0 == 0 }
        return Evaluation(top1: Metrics.topK(ranks, k: 1), top5: Metrics.topK(ranks, k: 5),
                          interval: Metrics.bootstrapInterval(correct: correct), correct: correct,
                          logits: logits, seconds: seconds)
    }

    func logitsSQNR(_ reference: [Float], _ quantized: [Float]) -> Double {
        var sqnr = SQNRAccumulator()
        sqnr.add(reference: reference[...], quantized: quantized[...])
        return sqnr.decibels
    }

    /// Gives `body` the first `limit` images (all when nil) normalised in
    /// batches of `size`, read one batch at a time, reporting progress after each.
    func forEachBatch(_ images: PreparedImages, _ preprocessing: Preprocessing, size: Int, limit: Int? = nil, phase: String,
                      _ body: (Tensor) throws -> Void) throws {
        let count = min(limit ?? images.count, images.count)
        position.phase = phase
        position.imagesTotal = count
        position.imagesDone = 0
        for start in stride(from: 0, to: count, by: size) {
            let batch = try self.batch(images, start..<min(start + size, count), preprocessing)
            try body(batch)
            position.imagesDone += batch.shape[0]
            progress?(position)
        }
    }

    /// Writes every file of the report folder; returns the tables as written.
    func write(_ report: RunReport) throws -> ReportFolder {
        var json = settings.json
        if case var .object(fields) = json {
            fields["model_inputs"] = .object(report.modelInputs)
            json = .object(fields)
        }
        let folder = ReportFolder(report: report, settings: json)
        try folder.write(to: settings.output)
        return folder
    }
}

import EqPasses
import EqRuntime
import Foundation

/// Whether an evaluation (an accuracy.csv or search.csv row) ran: `error`
/// rows carry the message and no numbers.
public enum RowStatus: String, Sendable {
    case ok, error
}

/// One row of `accuracy.csv`: a model evaluated under one variant and one
/// precision. Optional fields are written empty where they do not apply (e.g.
/// `logits_sqnr_db` for fp32). `float_change_of_logit_range` is the variant's
/// change of the float logits, max |Δ| over their range; `float_max_abs_diff`
/// holds the same number under its first, misleading name, for old readers.
public struct AccuracyRecord: ReadableReportRecord, Equatable, Sendable {
    public static let requiredColumns = 18
    public static var schema: [ReportColumn<Self>] {
        [.text("model", \.model), .text("variant", \.variant),
         .init("passes", { $0.passes.joined(separator: "+") }, read: { $0.passes = $1.split(separator: "+").map(String.init) }),
         .text("precision", \.precision), .text("weights", \.weights), .text("activations", \.activations),
         .integer("calib_images", \.calibImages), .integer("eval_images", \.evalImages), .fixed("top1", \.top1, 2),
         .fixed("top1_ci_low", \.top1CILow, 2), .fixed("top1_ci_high", \.top1CIHigh, 2),
         .fixed("top5", \.top5, 2), .fixed("top1_delta_vs_float", \.top1DeltaVsFloat, 2),
         .fixed("top1_delta_vs_baseline_int8", \.top1DeltaVsBaselineInt8, 2),
         .fixed("logits_sqnr_db", \.logitsSQNR, 2), .scientific("float_max_abs_diff", \.floatMaxAbsDiff),
         .word("status", \.status), .text("message", \.message), .fixed("calib_seconds", \.calibSeconds, 4),
         .integer("calib_resamples", \.calibResamples), .fixed("top1_calib_min", \.calibTop1Min, 2),
         .fixed("top1_calib_max", \.calibTop1Max, 2),
         .init("correct_images", { CorrectnessBits.encode($0.correct) }, read: { record, text in
             guard let correct = CorrectnessBits.decode(text, count: record.evalImages) else {
                 throw ColumnError("not \(record.evalImages) per-image outcomes in hex")
             }
             record.correct = correct
         }),
         .derived("float_change_of_logit_range", number: true) { scientific($0.floatMaxAbsDiff) },
         .init("inference_nodes_added", number: true, { $0.status == .ok ? String($0.inferenceNodesAdded) : "" },
               read: { $0.inferenceNodesAdded = try parseInteger($1) }),
         .text("int8_path", \.int8Path)]
    }

    public var model = ""
    public var variant = ""
    public var passes: [String] = []
    public var precision = ""
    public var weights = ""
    public var activations = ""
    public var calibImages = 0
    public var evalImages = 0
    public var top1: Double?
    /// The bootstrap 95% interval of top-1.
    public var top1CILow: Double?
    public var top1CIHigh: Double?
    public var top5: Double?
    public var top1DeltaVsFloat: Double?
    /// Top-1 minus the `baseline` variant's at the same model and int8
    /// precision: derived from the written rows (`ReportFolder.fillBaselineDeltas`),
    /// so a merged report gets it from whichever shard measured the baseline.
    public var top1DeltaVsBaselineInt8: Double?
    public var logitsSQNR: Double?
    public var floatMaxAbsDiff: Double?
    public var status = RowStatus.ok
    public var message = ""
    /// Seconds spent calibrating (range observation over the calibration images).
    public var calibSeconds: Double?
    /// How many disjoint calibration subsets `--calib-resamples K` graded, and
    /// the lowest and highest top-1 among them (nil without resamples).
    public var calibResamples: Int?
    public var calibTop1Min: Double?
    public var calibTop1Max: Double?
    /// Per evaluation image, whether top-1 was right (`CorrectnessBits`): what paired comparisons read.
    public var correct: [Bool] = []
    /// Nodes of the variant's graph that the imported model does not have (by
    /// `NodeID`): what the pipeline adds to every inference, e.g. SmoothQuant's Mul nodes.
    public var inferenceNodesAdded = 0
    /// How an int8 row's layers ran: `fakequant`, or `integer K/N` (K of the N quantized layers on integer kernels).
    public var int8Path = ""

    public static func == (a: AccuracyRecord, b: AccuracyRecord) -> Bool { a.fields == b.fields }

    /// Records the top-1 of each calibration subset (`--calib-resamples`).
    public mutating func recordCalibrationResamples(_ top1: [Double]) {
        calibResamples = top1.isEmpty ? nil : top1.count
        calibTop1Min = top1.min()
        calibTop1Max = top1.max()
    }

    public var top1CI: (low: Double, high: Double)? {
        get { top1CILow.flatMap { low in top1CIHigh.map { (low, $0) } } }
        set { (top1CILow, top1CIHigh) = (newValue?.low, newValue?.high) }
    }

    /// The lowest and highest top-1 over the calibration subsets.
    public var calibSpread: (min: Double, max: Double)? { calibTop1Min.flatMap { low in calibTop1Max.map { (low, $0) } } }
}

/// One row of `throughput.csv`: images per second of one evaluation.
/// `images_per_s` is kept as measured (images over unrounded seconds), not
/// recomputed from the rounded `seconds` column when a report is read back.
public struct ThroughputRecord: ReadableReportRecord, Equatable, Sendable {
    public static let requiredColumns = 8
    public static var schema: [ReportColumn<Self>] {
        [.text("model", \.model), .text("variant", \.variant), .text("precision", \.precision), .integer("batch", \.batch),
         .integer("threads", \.threads), .integer("images", \.images), .fixed("seconds", \.seconds, 4),
         .fixed("images_per_s", \.imagesPerSecond, 1), .text("engine", \.engine), .text("int8_path", \.int8Path)]
    }

    public var model = ""
    public var variant = ""
    public var precision = ""
    public var batch = 0
    public var threads = 0
    /// The kernels that ran convs and linear layers (`Engine`: native or openblas).
    public var engine = ""
    public var images = 0
    public var seconds = 0.0
    public var imagesPerSecond = 0.0
    /// How an int8 precision ran (`Int8Path.label`); empty for float.
    public var int8Path = ""

    public init() {}

    public init(model: String, variant: String, precision: String, batch: Int, threads: Int, engine: String,
                images: Int, seconds: Double, int8Path: String) {
        (self.model, self.variant, self.precision, self.batch, self.threads) = (model, variant, precision, batch, threads)
        (self.engine, self.images, self.seconds, self.int8Path) = (engine, images, seconds, int8Path)
        imagesPerSecond = seconds > 0 ? Double(images) / seconds : 0
    }
}

/// One step of a profiled graph (`Executor.profile`): a row of kernels.csv.
/// `nodes` joins the step's node and the nodes fused into it with "+";
/// `share` is its part of the graph's one-thread time; `gflops` is
/// 2 · multiply-adds per second, for convs and linear layers only.
public struct KernelTimingRecord: ReportRecord, Equatable, Sendable {
    public static var schema: [ReportColumn<Self>] {
        [.text("model", \.model), .text("variant", \.variant), .text("precision", \.precision), .integer("step", \.step),
         .text("nodes", \.nodes), .text("kernel", \.kernel),
         .init("output_shape") { $0.outputShape.map(String.init).joined(separator: "x") },
         .init("us_per_image", number: true) { fixed($0.microsecondsPerImage, 3) }, .init("share", number: true) { fixed($0.share, 4) },
         .fixed("gflops", \.gflops, 2)]
    }

    public var model: String
    public var variant: String
    public var precision: String
    public var step: Int
    public var nodes: String
    public var kernel: String
    public var outputShape: [Int]
    public var microsecondsPerImage: Double
    public var share: Double
    public var gflops: Double?

    public init(model: String, variant: String, precision: String, step: Int, profile: StepProfile, share: Double) {
        self.model = model
        self.variant = variant
        self.precision = precision
        self.step = step
        nodes = profile.nodes.joined(separator: "+")
        kernel = profile.kernel
        outputShape = profile.outputShape
        microsecondsPerImage = profile.secondsPerImage * 1e6
        self.share = share
        gflops = profile.gflops
    }
}

/// One row of `passes.csv`: one pass of one variant's pipeline.
/// `float_change_of_logit_range` (and its older name `float_max_abs_diff`,
/// kept for readers of earlier reports) is that pass's own change of the
/// float logits: max |Δ| over the first 64 evaluation images divided by the
/// logits' range;
/// `precision` is set when the pipeline depends on it (bias correction).
public struct PassRecord: ReadableReportRecord, Equatable, Sendable {
    public static let requiredColumns = 9
    public static var schema: [ReportColumn<Self>] {
        [.text("model", \.model), .text("variant", \.variant), .text("pass", \.pass), .integer("sets_found", \.setsFound),
         .integer("sets_scaled", \.setsScaled), .significant("scale_min", \.scaleMin, 6), .significant("scale_max", \.scaleMax, 6),
         .fixed("seconds", \.seconds, 6), .scientific("float_max_abs_diff", \.floatMaxAbsDiff),
         .text("precision", \.precision), .text("details", \.details), .fixed("peak_rss_mb", \.peakRSSMB, 1),
         .derived("float_change_of_logit_range", number: true) { scientific($0.floatMaxAbsDiff) }]
    }

    public var model = ""
    public var variant = ""
    public var pass = ""
    public var setsFound = 0
    public var setsScaled = 0
    /// The smallest and largest scale the pass applied (nil when it scaled nothing).
    public var scaleMin: Double?
    public var scaleMax: Double?
    public var seconds = 0.0
    public var floatMaxAbsDiff: Double?
    public var precision = ""
    public var details = ""
    /// The process's peak resident memory while the pass ran (Linux VmHWM, reset before it).
    public var peakRSSMB: Double?

    public init() {}

    public init(model: String, variant: String, pass: String, setsFound: Int, setsScaled: Int, scaleRange: (min: Float, max: Float)?,
                seconds: Double, floatMaxAbsDiff: Double, precision: String, details: String, peakRSSMB: Double? = nil) {
        (self.model, self.variant, self.pass, self.setsFound, self.setsScaled) = (model, variant, pass, setsFound, setsScaled)
        (scaleMin, scaleMax) = (scaleRange.map { Double($0.min) }, scaleRange.map { Double($0.max) })
        (self.seconds, self.floatMaxAbsDiff, self.precision, self.details, self.peakRSSMB) = (seconds, floatMaxAbsDiff, precision, details, peakRSSMB)
    }

    public static func == (a: PassRecord, b: PassRecord) -> Bool { a.fields == b.fields }
}

/// One row of `coverage.csv`: a Conv/Gemm and what the equalization did with it.
public struct CoverageRecord: ReadableReportRecord, Equatable, Sendable {
    public static let requiredColumns = 7
    public static var schema: [ReportColumn<Self>] {
        [.text("model", \.model), .text("variant", \.variant), .text("node", \.node), .text("op", \.op), .text("set", \.set),
         .word("status", \.status), .text("reason", \.reason), .text("pass", \.pass), .significant("float_change", \.floatChange, 3)]
    }

    public var model = ""
    public var variant = ""
    public var node = ""
    public var op = ""
    public var set = ""
    public var status = CoverageStatus.skipped
    public var reason = ""
    /// The pass that reported the row.
    public var pass = ""
    /// For an approximate pass: max |Δ| of the output it meant to keep, over
    /// that output's range, on the probe images.
    public var floatChange: Double?
}

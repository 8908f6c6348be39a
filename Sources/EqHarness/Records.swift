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
public struct AccuracyRecord: ReportRecord, Equatable, Sendable {
    public static var schema: [ReportColumn<Self>] {
        [.text("model", \.model), .text("variant", \.variant), .init("passes") { $0.passes.joined(separator: "+") },
         .text("precision", \.precision), .text("weights", \.weights), .text("activations", \.activations),
         .integer("calib_images", \.calibImages), .integer("eval_images", \.evalImages),
         .fixed("top1", \.top1, 2), .init("top1_ci_low", number: true) { fixed($0.top1CI?.low, 2) },
         .init("top1_ci_high", number: true) { fixed($0.top1CI?.high, 2) }, .fixed("top5", \.top5, 2),
         .fixed("top1_delta_vs_float", \.top1DeltaVsFloat, 2),
         .init("top1_delta_vs_baseline_int8", number: true) { _ in "" },   // derived from the written rows (ReportFolder)
         .fixed("logits_sqnr_db", \.logitsSQNR, 2), .scientific("float_max_abs_diff", \.floatMaxAbsDiff),
         .init("status") { $0.status.rawValue }, .text("message", \.message), .fixed("calib_seconds", \.calibSeconds, 4),
         .init("calib_resamples", number: true) { $0.calibResampledTop1.isEmpty ? "" : String($0.calibResampledTop1.count) },
         .init("top1_calib_min", number: true) { fixed($0.calibResampledTop1.min(), 2) },
         .init("top1_calib_max", number: true) { fixed($0.calibResampledTop1.max(), 2) },
         .init("correct_images") { CorrectnessBits.encode($0.correct) },
         .scientific("float_change_of_logit_range", \.floatMaxAbsDiff),
         .init("inference_nodes_added", number: true) { $0.status == .ok ? String($0.inferenceNodesAdded) : "" },
         .text("int8_path", \.int8Path)]
    }

    public var model: String
    public var variant: String
    public var passes: [String] = []
    public var precision: String
    public var weights: String
    public var activations: String
    public var calibImages = 0
    public var evalImages = 0
    public var top1: Double?
    public var top1CI: (low: Double, high: Double)?
    public var top5: Double?
    public var top1DeltaVsFloat: Double?
    public var logitsSQNR: Double?
    public var floatMaxAbsDiff: Double?
    public var status = RowStatus.ok
    public var message = ""
    /// Seconds spent calibrating (range observation over the calibration images).
    public var calibSeconds: Double?
    /// Top-1 over K disjoint calibration subsets (`--calib-resamples K`).
    public var calibResampledTop1: [Double] = []
    /// Per evaluation image, whether top-1 was right (`CorrectnessBits`): what paired comparisons read.
    public var correct: [Bool] = []
    /// Nodes of the variant's graph that the imported model does not have (by
    /// `NodeID`): what the pipeline adds to every inference, e.g. SmoothQuant's Mul nodes.
    public var inferenceNodesAdded = 0
    /// How an int8 row's layers ran: `fakequant`, or `integer K/N` (K of the N quantized layers on integer kernels).
    public var int8Path = ""

    public static func == (a: AccuracyRecord, b: AccuracyRecord) -> Bool { a.fields == b.fields }
}

/// One row of `throughput.csv`: images per second of one evaluation.
public struct ThroughputRecord: ReportRecord, Equatable, Sendable {
    public static var schema: [ReportColumn<Self>] {
        [.text("model", \.model), .text("variant", \.variant), .text("precision", \.precision), .integer("batch", \.batch),
         .integer("threads", \.threads), .integer("images", \.images), .init("seconds", number: true) { fixed($0.seconds, 4) },
         .init("images_per_s", number: true) { fixed($0.imagesPerSecond, 1) }, .text("engine", \.engine),
         .text("int8_path", \.int8Path)]
    }

    public var model: String
    public var variant: String
    public var precision: String
    public var batch: Int
    public var threads: Int
    /// The kernels that ran convs and linear layers (`Engine`: native or openblas).
    public var engine: String
    public var images: Int
    public var seconds: Double
    /// How an int8 precision ran (`Int8Path.label`); empty for float.
    public var int8Path = ""

    public var imagesPerSecond: Double { seconds > 0 ? Double(images) / seconds : 0 }
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
public struct PassRecord: ReportRecord, Equatable, Sendable {
    public static var schema: [ReportColumn<Self>] {
        [.text("model", \.model), .text("variant", \.variant), .text("pass", \.pass), .integer("sets_found", \.setsFound),
         .integer("sets_scaled", \.setsScaled), .init("scale_min", number: true) { $0.scaleRange.map { String(format: "%.6g", $0.min) } ?? "" },
         .init("scale_max", number: true) { $0.scaleRange.map { String(format: "%.6g", $0.max) } ?? "" },
         .init("seconds", number: true) { fixed($0.seconds, 6) }, .init("float_max_abs_diff", number: true) { scientific($0.floatMaxAbsDiff) },
         .text("precision", \.precision), .text("details", \.details), .fixed("peak_rss_mb", \.peakRSSMB, 1),
         .init("float_change_of_logit_range", number: true) { scientific($0.floatMaxAbsDiff) }]
    }

    public var model: String
    public var variant: String
    public var pass: String
    public var setsFound: Int
    public var setsScaled: Int
    public var scaleRange: (min: Float, max: Float)?
    public var seconds: Double
    public var floatMaxAbsDiff: Double
    public var precision: String
    public var details: String
    /// The process's peak resident memory while the pass ran (Linux VmHWM, reset before it).
    public var peakRSSMB: Double?

    public static func == (a: PassRecord, b: PassRecord) -> Bool { a.fields == b.fields }
}

/// One row of `coverage.csv`: a Conv/Gemm and what the equalization did with it.
public struct CoverageRecord: ReportRecord, Equatable, Sendable {
    public static var schema: [ReportColumn<Self>] {
        [.text("model", \.model), .text("variant", \.variant), .text("node", \.node), .text("op", \.op), .text("set", \.set),
         .init("status") { $0.status.rawValue }, .text("reason", \.reason), .text("pass", \.pass),
         .init("float_change", number: true) { $0.floatChange.map { String(format: "%.3g", $0) } ?? "" }]
    }

    public var model: String
    public var variant: String
    public var node: String
    public var op: String
    public var set: String
    public var status: CoverageStatus
    public var reason: String
    /// The pass that reported the row.
    public var pass: String
    /// For an approximate pass: max |Δ| of the output it meant to keep, over
    /// that output's range, on the probe images.
    public var floatChange: Double?

}

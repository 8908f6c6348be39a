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
/// `logits_sqnr_db` for fp32).
public struct AccuracyRecord: Equatable, Sendable {
    public static let columns = [
        "model", "variant", "passes", "precision", "weights", "activations",
        "calib_images", "eval_images", "top1", "top1_ci_low", "top1_ci_high", "top5",
        "top1_delta_vs_float", "top1_delta_vs_baseline_int8", "logits_sqnr_db",
        "float_max_abs_diff", "status", "message",
        "calib_seconds", "calib_resamples", "top1_calib_min", "top1_calib_max", "correct_images",
    ]

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

    public static func == (a: AccuracyRecord, b: AccuracyRecord) -> Bool { a.fields == b.fields }

    public var fields: [String] {
        [model, variant, passes.joined(separator: "+"), precision, weights, activations,
         String(calibImages), String(evalImages), fixed(top1, 2), fixed(top1CI?.low, 2), fixed(top1CI?.high, 2),
         fixed(top5, 2), fixed(top1DeltaVsFloat, 2), "" /* top1_delta_vs_baseline_int8: ReportFolder fills it */,
         fixed(logitsSQNR, 2), scientific(floatMaxAbsDiff), status.rawValue, message,
         fixed(calibSeconds, 4), calibResampledTop1.isEmpty ? "" : String(calibResampledTop1.count),
         fixed(calibResampledTop1.min(), 2), fixed(calibResampledTop1.max(), 2), CorrectnessBits.encode(correct)]
    }
}

/// One row of `throughput.csv`: images per second of one evaluation.
public struct ThroughputRecord: Equatable, Sendable {
    public static let columns = ["model", "variant", "precision", "batch", "threads", "images", "seconds", "images_per_s"]

    public var model: String
    public var variant: String
    public var precision: String
    public var batch: Int
    public var threads: Int
    public var images: Int
    public var seconds: Double

    public var imagesPerSecond: Double { seconds > 0 ? Double(images) / seconds : 0 }

    public var fields: [String] {
        [model, variant, precision, String(batch), String(threads), String(images),
         fixed(seconds, 4), fixed(imagesPerSecond, 1)]
    }
}

/// One step of a profiled graph (`Executor.profile`): a row of kernels.csv.
/// `nodes` joins the step's node and the nodes fused into it with "+";
/// `share` is its part of the graph's one-thread time; `gflops` is
/// 2 · multiply-adds per second, for convs and linear layers only.
public struct KernelTimingRecord: Equatable, Sendable {
    public static let columns = ["model", "variant", "precision", "step", "nodes", "kernel", "output_shape",
                                 "us_per_image", "share", "gflops"]

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

    public var fields: [String] {
        [model, variant, precision, String(step), nodes, kernel, outputShape.map(String.init).joined(separator: "x"),
         fixed(microsecondsPerImage, 3), fixed(share, 4), fixed(gflops, 2)]
    }
}

/// Fixed-point text with `digits` decimals ("" for nil), locale-independent.
func fixed(_ value: Double?, _ digits: Int) -> String {
    guard let value else { return "" }
    return String(format: "%.\(digits)f", value)
}

/// Scientific text with 3 significant decimals ("" for nil).
func scientific(_ value: Double?) -> String {
    guard let value else { return "" }
    return String(format: "%.3e", value)
}

/// One row of `passes.csv`: one pass of one variant's pipeline.
/// `float_max_abs_diff` is that pass's own change of the float logits (max
/// |Δ| over the first 64 evaluation images, relative to the logits' range);
/// `precision` is set when the pipeline depends on it (bias correction).
public struct PassRecord: Equatable, Sendable {
    public static let columns = ["model", "variant", "pass", "sets_found", "sets_scaled", "scale_min", "scale_max",
                                 "seconds", "float_max_abs_diff", "precision", "details", "peak_rss_mb"]

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

    public var fields: [String] {
        [model, variant, pass, String(setsFound), String(setsScaled),
         scaleRange.map { String(format: "%.6g", $0.min) } ?? "", scaleRange.map { String(format: "%.6g", $0.max) } ?? "",
         fixed(seconds, 6), scientific(floatMaxAbsDiff), precision, details, fixed(peakRSSMB, 1)]
    }
}

/// One row of `coverage.csv`: a Conv/Gemm and what the equalization did with it.
public struct CoverageRecord: Equatable, Sendable {
    public static let columns = ["model", "variant", "node", "op", "set", "status", "reason", "pass", "float_change"]

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

    public var fields: [String] { [model, variant, node, op, set, status.rawValue, reason, pass, floatChange.map { String(format: "%.3g", $0) } ?? ""] }
}

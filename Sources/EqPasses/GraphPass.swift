import EqGraph
import EqQuant
import EqTensor
import Foundation

/// A graph transformation with a report, applied to a variant's own copy of
/// the graph. Like ONNX Runtime's rewrite rules (SatisfyCondition, then Apply)
/// and the seeds' get_pairings / pairings_update_pass, each pass first *finds*
/// what it would touch (a plain value `inspect` can print) and then *applies*.
public protocol GraphPass: Sendable {
    /// The name used in variant pipelines and reports, e.g. "cls".
    var name: String { get }
    /// True when the pass leaves the float function unchanged (up to rounding);
    /// the harness checks it on every run.
    var preservesFloatFunction: Bool { get }
    /// True when the result depends on the precision being simulated (bias
    /// correction): the harness then applies the pipeline once per precision.
    var dependsOnPrecision: Bool { get }
    /// True when the pass reads calibration images (`PassContext.calibrationBatches`).
    var needsCalibrationData: Bool { get }
    func apply(to graph: inout Graph, context: inout PassContext) throws -> PassReport
}

extension GraphPass {
    public var dependsOnPrecision: Bool { false }
    public var needsCalibrationData: Bool { false }
}

/// What passes of one pipeline share: statistics of folded batch norms (the
/// high-bias fold and analytic bias correction need them, kept up to date by
/// scaling passes), the precision being simulated, and calibration data.
public struct PassContext: @unchecked Sendable {
    /// γ and β of the batch norm folded into each layer (by layer name), in the
    /// layer's current output scale.
    public var batchNormStatistics = [String: (gamma: [Float], beta: [Float])]()
    /// The cross-layer-scaling sets of the last CLS pass, for the high-bias fold.
    public var scalingSets = [ScalingSet]()
    /// The precision the pipeline is applied for (nil: float only).
    public var precision: Precision?
    /// Feeds calibration batches (in a fixed order) to its argument.
    public var calibrationBatches: (((Tensor) throws -> Void) throws -> Void)?
    public var threads: Int

    public init(precision: Precision? = nil, threads: Int = 1,
                calibrationBatches: (((Tensor) throws -> Void) throws -> Void)? = nil) {
        self.precision = precision
        self.threads = threads
        self.calibrationBatches = calibrationBatches
    }
}

/// What one pass found and did.
public struct PassReport: Sendable {
    public var pass: String
    /// Candidate sets (or nodes) the pass found.
    public var setsFound = 0
    /// Sets it changed.
    public var setsScaled = 0
    /// Smallest and largest scale applied (scaling passes).
    public var scaleRange: (min: Float, max: Float)?
    /// One line of specifics: iterations, clamps, counts.
    public var details = ""
    /// Per weighted layer: whether the pass covered it, and why not.
    public var coverage = [CoverageEntry]()

    public init(pass: String) { self.pass = pass }

    mutating func noteScales(_ scales: [Float]) {
        guard let lo = scales.min(), let hi = scales.max() else { return }
        scaleRange = (min(scaleRange?.min ?? lo, lo), max(scaleRange?.max ?? hi, hi))
    }
}

/// One row of `coverage.csv`: a Conv/Gemm and what an equalization pass did with it.
public struct CoverageEntry: Equatable, Sendable {
    public var node: String
    public var op: String
    /// The set it belongs to ("A → B" names), empty when skipped.
    public var set: String
    /// "equalized" or "skipped".
    public var status: String
    public var reason: String
}

/// A problem applying a pass; names the pass and, where it applies, the node.
public struct PassError: Error, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

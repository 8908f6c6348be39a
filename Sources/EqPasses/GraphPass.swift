import EqGraph
import EqQuant
import EqRuntime
import EqTensor
import Foundation

/// A graph transformation with a report, applied to a variant's own copy of
/// the graph. Like ONNX Runtime's rewrite rules (SatisfyCondition, then Apply)
/// and SiMa.ai's get_pairings / pairings_update_pass, each pass first *finds*
/// what it would touch (a plain value `inspect` can print) and then *applies*.
///
/// A pass declares what it needs from the passes before it (`requires`), what
/// it establishes for those after it (`provides`) and what it makes untrue
/// (`invalidates`); `PipelineValidator` checks every pipeline against them
/// before anything runs.
public protocol GraphPass: Sendable {
    /// The name used in variant pipelines and reports, e.g. "cls".
    var name: String { get }
    /// What the pass does to the float function (the harness measures it on every run).
    var floatEffect: FloatEffect { get }
    /// True when the result depends on the precision being simulated (bias
    /// correction): the harness then applies the pipeline once per precision.
    var dependsOnPrecision: Bool { get }
    /// True when the pass reads calibration images (`PassContext.statistics`).
    var needsCalibrationData: Bool { get }
    /// Facts an earlier pass of the pipeline must have established.
    var requires: Set<PipelineFact> { get }
    /// Facts the pass establishes for the passes after it.
    var provides: Set<PipelineFact> { get }
    /// Facts the pass makes untrue.
    var invalidates: Set<PipelineFact> { get }
    func apply(to graph: inout Graph, context: inout PassContext) throws -> PassReport
}

extension GraphPass {
    public var dependsOnPrecision: Bool { false }
    public var needsCalibrationData: Bool { false }
    public var requires: Set<PipelineFact> { [] }
    public var provides: Set<PipelineFact> { [] }
    /// By default a pass that changes weights or activations undoes a bias correction made before it.
    public var invalidates: Set<PipelineFact> { [.biasCorrected] }
    /// True when the pass leaves the float function unchanged (up to rounding).
    public var preservesFloatFunction: Bool { floatEffect == .preserves }
}

/// What a pass does to the float function of the model.
public enum FloatEffect: Equatable, Sendable {
    /// Unchanged up to float rounding (the harness warns above 1e-4 of the logits' range).
    case preserves
    /// Exact under a stated condition, approximate elsewhere; the harness
    /// measures by how much at each node the pass touched (coverage.csv).
    case approximate(String)
    /// Changed by design (the description says how).
    case changes(String)

    /// One line for README, `inspect` and reports.
    public var description: String {
        switch self {
        case .preserves: return "preserves the float function"
        case let .approximate(why): return "approximate: \(why)"
        case let .changes(how): return "changes the float function: \(how)"
        }
    }
}

/// A property of the graph that one pass establishes and a later one relies on.
public enum PipelineFact: String, Hashable, Sendable, CustomStringConvertible {
    /// γ and β of every batch norm folded into a layer are in `PassContext`,
    /// kept in the layer's current output scale by every later pass.
    case foldedBatchNormStatistics
    /// Biases were corrected for the weights' quantization error: a later pass
    /// that changes weights or their inputs leaves the correction wrong.
    case biasCorrected

    public var description: String {
        switch self {
        case .foldedBatchNormStatistics: return "folded batch-norm statistics (bnfold)"
        case .biasCorrected: return "a bias correction (bc, bca)"
        }
    }

    /// A result that must still hold at the end of the pipeline, so no later pass may invalidate it.
    var mustSurvive: Bool { self == .biasCorrected }
}

/// γ and β of a batch norm folded into a layer, in the layer's current output
/// scale and shift: what the high-bias fold and analytic bias correction read.
public struct FoldedStatistics: Equatable, Sendable {
    public var gamma: [Float]
    public var beta: [Float]
    public init(gamma: [Float], beta: [Float]) { self.gamma = gamma; self.beta = beta }
}

/// What passes of one pipeline share: statistics of folded batch norms (kept
/// current by every pass that rescales or shifts a layer's outputs, keyed by
/// stable node ids), the precision being simulated, and the statistics
/// service that runs graphs over the calibration images.
public struct PassContext: @unchecked Sendable {
    /// Folded batch-norm statistics of each layer that absorbed one.
    public private(set) var foldedStatistics = [NodeID: FoldedStatistics]()
    /// The cross-layer-scaling sets of the last CLS pass, with their scales,
    /// for callers to inspect; no pass reads them (hbf finds its own pairs).
    public var scalingSets = [ScalingSet]()
    /// The precision the pipeline is applied for (nil: float only).
    public var precision: Precision?
    /// Runs graphs over the calibration images (nil: no data; passes that need it fail).
    public var statistics: StatisticsService?
    public var threads: Int

    public init(precision: Precision? = nil, threads: Int = 1, statistics: StatisticsService? = nil) {
        self.precision = precision
        self.threads = threads
        self.statistics = statistics
    }

    /// A context whose statistics service runs these calibration batches.
    public init(precision: Precision? = nil, threads: Int = 1, calibration: [Tensor]) {
        self.init(precision: precision, threads: threads, statistics: StatisticsService(batches: calibration, threads: threads))
    }

    /// The statistics service, or an error naming the pass that needs calibration images.
    func requireStatistics(for pass: String) throws -> StatisticsService {
        guard let statistics else { throw PassError("\(pass) needs calibration images (run it through eqbench run)") }
        return statistics
    }

    /// Records the batch norms folded into `graph`'s layers.
    public mutating func record(_ folds: [FoldedBatchNorm]) {
        for fold in folds { foldedStatistics[fold.layerID] = FoldedStatistics(gamma: fold.gamma, beta: fold.beta) }
    }

    /// Records statistics for one layer directly (tests, manual pipelines).
    public mutating func record(_ statistics: FoldedStatistics, for layer: NodeID) { foldedStatistics[layer] = statistics }

    /// Layer `layer`'s output channel i was divided by s[i]: so were its γ and β.
    public mutating func outputsDivided(_ layer: NodeID, by s: [Float]) {
        guard let stats = foldedStatistics[layer] else { return }
        foldedStatistics[layer] = FoldedStatistics(gamma: zip(stats.gamma, s).map { $0 / $1 }, beta: zip(stats.beta, s).map { $0 / $1 })
    }

    /// `delta` was added to layer `layer`'s bias: its output mean β moved with it.
    public mutating func biasAdded(_ layer: NodeID, _ delta: [Float]) {
        guard let stats = foldedStatistics[layer] else { return }
        foldedStatistics[layer]!.beta = zip(stats.beta, delta).map { $0 + $1 }
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

/// What an equalization pass did with a layer (coverage.csv's `status`).
public enum CoverageStatus: String, Sendable {
    case equalized, skipped
}

/// One row of `coverage.csv`: a Conv/Gemm and what an equalization pass did with it.
public struct CoverageEntry: Equatable, Sendable {
    public var node: String
    public var op: String
    /// The set it belongs to ("A → B" names), empty when skipped.
    public var set: String
    public var status: CoverageStatus
    public var reason: String
    /// For an approximate pass: the value whose float output the pass means to
    /// keep (the harness measures by how much it moved).
    public var checkedValue: String?

    public init(node: String, op: String, set: String, status: CoverageStatus, reason: String, checkedValue: String? = nil) {
        self.node = node; self.op = op; self.set = set; self.status = status; self.reason = reason
        self.checkedValue = checkedValue
    }
}

/// A problem applying a pass; names the pass and, where it applies, the node.
public struct PassError: Error, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

import EqGraph
import EqPasses
import EqQuant
import EqTensor
import Foundation

/// One row of `search.csv`: a pipeline `--search` tried on a model.
public struct SearchRecord: ReadableReportRecord, Equatable, Sendable {
    public static let requiredColumns = 10
    public static var schema: [ReportColumn<Self>] {
        [.text("model", \.model), .text("precision", \.precision), .integer("round", \.round),
         .init("pipeline", \.pipelineName,
               read: { $0.pipeline = $1 == "(none)" ? [] : $1.split(separator: "+").map(String.init) }),
         .fixed("top1", \.top1, 2), .fixed("logits_sqnr_db", \.logitsSQNR, 2), .fixed("seconds", \.seconds, 3),
         .init("kept", { $0.kept ? "yes" : "no" }, read: { $0.kept = $1 == "yes" }), .word("status", \.status),
         .text("message", \.message), .text("scored_on", \.scoredOn)]
    }

    public var model = ""
    public var precision = ""
    public var round = 0
    public var pipeline: [String] = []
    public var top1: Double?
    public var logitsSQNR: Double?
    public var seconds = 0.0
    public var kept = false
    public var status = RowStatus.ok
    public var message = ""
    /// The split that scored the row: a held-out part of calib/ or search/ for
    /// the trials, test/ for the winner's final row.
    public var scoredOn = ""

    /// The pipeline's pass tokens joined with "+", "(none)" when empty.
    public var pipelineName: String { pipeline.isEmpty ? "(none)" : pipeline.joined(separator: "+") }
}

/// `eqbench run --search SECONDS`: greedy search over pass pipelines beyond
/// the named variants. From the empty pipeline, each round appends every
/// candidate pass not yet in it, evaluates the result at the first int8
/// precision (calibrate, evaluate; no per-layer analysis), and keeps the best
/// one if it beats the current pipeline (higher top-1, or equal top-1 and
/// 0.1 dB more logits SQNR). It stops when a round brings no improvement or
/// the time budget is spent; every tried pipeline is a row. Trials are scored
/// on images the report does not grade (`EvaluationRun.searchData`), so the
/// winner is not picked on the test images. The winner is then graded on
/// test/ as the variant `search` (every precision, in accuracy.csv, where the
/// recommendation weighs it) and its test top-1 closes search.csv.
struct PipelineSearch {
    /// Pass tokens (PassCatalog names, `name@VALUE`) the search appends.
    static let candidates = ["bnfold", "relu6relu", "cls", "hbf", "chaneq", "smoothquant", "smoothquant@0.25", "iwe", "bc"]
    /// The variant name the winning pipeline is graded under in accuracy.csv.
    static let winnerName = "search"

    /// True when `token` may extend `pipeline`: the pipeline stays valid
    /// (`PipelineValidator`), no pass repeats, and the graph-wide rewrites
    /// (bnfold, relu6relu) come before any scaling.
    static func allowed(_ token: String, after pipeline: [String]) -> Bool {
        guard !pipeline.contains(token),
              let passes = try? (pipeline + [token]).map({ try PassCatalog.make(token: $0, context: "search") }),
              PipelineValidator.problem(in: passes.compactMap { $0 }) == nil else { return false }
        switch token {
        case "bnfold", "relu6relu": return pipeline.allSatisfy { ["bnfold", "relu6relu"].contains($0) }
        case "smoothquant", "smoothquant@0.25": return !pipeline.contains { $0.hasPrefix("smoothquant") }
        default: return true
        }
    }
}

extension EvaluationRun {
    /// Runs the search for one model: every trial's row, and the winning
    /// pipeline's pass tokens (nil when cancelled or without a search split).
    func search(_ model: ModelSource, precision: Precision, budget: Double, data test: EvaluationData,
                probe: Tensor) throws -> (trials: [SearchRecord], winner: [String]?) {
        guard let held = searchSplit else { return ([], nil) }
        let data = held.data
        let original = try run(model.graph, quantizers: [:], model: model, data: data)
        let started = DispatchTime.now().uptimeNanoseconds
        let elapsed = { Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9 }
        var records = [SearchRecord]()
        var current = [String]()
        var score: (top1: Double, sqnr: Double)?
        var round = 0
        func trial(_ pipeline: [String], on data: EvaluationData, reference: Evaluation, split: String) throws -> SearchRecord {
            let began = DispatchTime.now().uptimeNanoseconds
            var record = SearchRecord(model: model.name, precision: precision.name, round: round, pipeline: pipeline, seconds: 0, kept: false)
            record.scoredOn = split
            do {
                let passes = try pipeline.map { token -> any GraphPass in
                    guard let pass = try PassCatalog.make(token: token, context: "search") else { throw HarnessError("unknown pass \(token)") }
                    return pass
                }
                let variant = Variant(name: "search:" + pipeline.joined(separator: "+"), summary: "search", passes: passes)
                let graph = try apply(variant, to: model, precision: precision, data: data, probe: probe).graph
                let plan = QuantPlan(graph: graph, precision: precision, floatLayers: Set(settings.floatLayers))
                guard let calibration = data.calibration else { throw HarnessError("the search has no calibration images") }
                let ranges = try calibrate(plan, on: calibration, set: data.calibrationSet, model: model, phase: "search calibrate")
                let result = try run(plan, ranges, model: model, data: data)
                record.top1 = result.top1
                record.logitsSQNR = logitsSQNR(reference.logits, result.logits)
            } catch let problem as DatasetProblem {
                throw problem
            } catch {
                record.status = .error
                record.message = String(describing: error)
            }
            record.seconds = Double(DispatchTime.now().uptimeNanoseconds - began) / 1e9
            log(String(format: "%@ search %@ %@: %@", model.name, precision.name, pipeline.isEmpty ? "(none)" : pipeline.joined(separator: "+"),
                       record.top1.map { String(format: "top-1 %.2f%%", $0) } ?? "error: \(record.message)"))
            return record
        }
        var start = try trial([], on: data, reference: original, split: held.split)
        start.kept = true
        records.append(start)
        if let top1 = start.top1 { score = (top1, start.logitsSQNR ?? -.infinity) }
        while elapsed() < budget, !cancellation.isCancelled, let best = score {
            round += 1
            var roundBest: (index: Int, top1: Double, sqnr: Double)?
            for token in PipelineSearch.candidates where PipelineSearch.allowed(token, after: current) {
                guard elapsed() < budget, !cancellation.isCancelled else { break }
                let record = try trial(current + [token], on: data, reference: original, split: held.split)
                records.append(record)
                guard let top1 = record.top1 else { continue }
                let sqnr = record.logitsSQNR ?? -.infinity
                if roundBest == nil || (top1, sqnr) > (roundBest!.top1, roundBest!.sqnr) { roundBest = (records.count - 1, top1, sqnr) }
            }
            guard let winner = roundBest, winner.top1 > best.top1 || (winner.top1 == best.top1 && winner.sqnr > best.sqnr + 0.1) else { break }
            records[winner.index].kept = true
            current = records[winner.index].pipeline
            score = (winner.top1, winner.sqnr)
        }
        log("\(model.name) search: best pipeline \(current.isEmpty ? "(none)" : current.joined(separator: "+")) after \(records.count) trials, \(String(format: "%.1f", elapsed())) s")
        return (records, cancellation.isCancelled ? nil : current)
    }
}

import EqGraph
import EqQuant
import EqTensor
import Foundation

/// One row of `sensitivity.csv`: what quantizing one layer costs, measured
/// two ways on the analysis images (`--analysis-images`), as AIMET's
/// QuantAnalyzer and NNCF's accuracy control rank layers:
///
/// - `only_this_quantized`: this layer's weights and input activation are
///   quantized, everything else runs in float; `top1_delta` is its top-1
///   minus float's, the damage this layer does on its own.
/// - `only_this_float`: every layer is quantized except this one
///   (`QuantPlan.floatLayers`); `top1_delta` is its top-1 minus the fully
///   quantized model's, what keeping it in float (`--float-layers`) buys.
///
/// Two reference rows per model, variant and precision give `float` and
/// `all_quantized` on the same images. `rank` orders a mode's layers from the
/// most sensitive: lowest top-1 then lowest logits SQNR for
/// `only_this_quantized`, highest top-1 then highest SQNR for
/// `only_this_float`. Activation encodings are the full calibration's, so
/// every row differs from `all_quantized` only in what is left in float.
public struct SensitivityRecord: ReadableReportRecord, Equatable, Sendable {
    public static let requiredColumns = 11
    public static var schema: [ReportColumn<Self>] {
        [.text("model", \.model), .text("variant", \.variant), .text("precision", \.precision), .text("mode", \.mode),
         .text("node", \.node), .text("op", \.op), .integer("eval_images", \.evalImages), .fixed("top1", \.top1, 2),
         .fixed("top1_delta", \.top1Delta, 2), .fixed("logits_sqnr_db", \.logitsSQNR, 2),
         .integer("rank", \.rank)]
    }

    public static let onlyQuantized = "only_this_quantized"
    public static let onlyFloat = "only_this_float"
    public static let allQuantized = "all_quantized"
    public static let float = "float"

    public var model = ""
    public var variant = ""
    public var precision = ""
    public var mode = ""
    /// The layer (empty on the two reference rows).
    public var node = ""
    public var op = ""
    public var evalImages = 0
    public var top1: Double?
    public var top1Delta: Double?
    public var logitsSQNR: Double?
    /// 1 for the most sensitive layer of its mode (nil on reference rows).
    public var rank: Int?

    public static func == (a: SensitivityRecord, b: SensitivityRecord) -> Bool { a.fields == b.fields }

    public init() {}

    public init(model: String, variant: String, precision: String, mode: String, node: String = "", op: String = "",
                evalImages: Int, top1: Double?, top1Delta: Double?, logitsSQNR: Double?, rank: Int? = nil) {
        (self.model, self.variant, self.precision, self.mode, self.node, self.op) = (model, variant, precision, mode, node, op)
        (self.evalImages, self.top1, self.top1Delta, self.logitsSQNR, self.rank) = (evalImages, top1, top1Delta, logitsSQNR, rank)
    }

    /// Fills `rank` within each (model, variant, precision, mode) of the layer rows.
    static func ranked(_ rows: [SensitivityRecord]) -> [SensitivityRecord] {
        var rows = rows
        var groups = [String: [Int]]()
        for (i, row) in rows.enumerated() where row.mode == onlyQuantized || row.mode == onlyFloat {
            groups[[row.model, row.variant, row.precision, row.mode].joined(separator: "|"), default: []].append(i)
        }
        for indices in groups.values {
            let harmFirst = rows[indices[0]].mode == onlyQuantized
            let order = indices.sorted { a, b in
                let ka = (rows[a].top1 ?? 0, rows[a].logitsSQNR ?? 0), kb = (rows[b].top1 ?? 0, rows[b].logitsSQNR ?? 0)
                return ka != kb ? (harmFirst ? ka < kb : ka > kb) : a < b
            }
            for (rank, i) in order.enumerated() { rows[i].rank = rank + 1 }
        }
        return rows
    }
}

extension EvaluationRun {
    /// The per-layer sensitivity sweep of one variant at one int8 precision
    /// (`SensitivityRecord`), on the first `--analysis-images` test images,
    /// with the activation encodings `calibration` froze for the full plan.
    func sensitivity(of graph: Graph, variant: String, precision: Precision, calibration: Calibration,
                     model: ModelSource, data: EvaluationData, float: Evaluation) throws -> [SensitivityRecord] {
        let count = min(settings.analysisLimit ?? data.images.count, data.images.count)
        let userFloat = Set(settings.floatLayers)
        let full = QuantPlan(graph: graph, precision: precision, floatLayers: userFloat)
        let classes = float.logits.count / data.images.count
        let reference = Array(float.logits.prefix(count * classes))
        let floatTop1 = 100 * Double(float.correct.prefix(count).filter { $0 }.count) / Double(count)
        func row(_ mode: String, _ node: Node?, _ result: Evaluation?) -> SensitivityRecord {
            SensitivityRecord(model: model.name, variant: variant, precision: precision.name, mode: mode,
                              node: node?.name ?? "", op: node?.op.typeName ?? "", evalImages: count,
                              top1: result?.top1 ?? floatTop1, top1Delta: nil,
                              logitsSQNR: result.map { logitsSQNR(reference, $0.logits) })
        }
        /// The plan with `kept` in float, run with the full plan's encodings.
        func evaluate(keeping kept: Set<String>, phase: String) throws -> Evaluation {
            let plan = QuantPlan(graph: graph, precision: precision, floatLayers: kept.union(userFloat))
            var quantizers = [String: FakeQuantizer]()
            for value in plan.quantizedValues {
                guard let q = full.quantizer(reaching: value, calibration) else {
                    throw HarnessError("sensitivity: '\(value)' has no calibrated encoding")
                }
                quantizers[value] = q
            }
            let encodings = Calibration(ranges: calibration.ranges, quantizers: quantizers, images: calibration.images)
            return try run(try plan.quantizedGraph(encodings), quantizers: quantizers, model: model, data: data,
                           limit: count, phase: phase, integerLayers: try integerLayers(plan, encodings))
        }
        let all = try evaluate(keeping: [], phase: "sensitivity")
        var rows = [row(SensitivityRecord.float, nil, nil), row(SensitivityRecord.allQuantized, nil, all)]
        rows[1].top1Delta = all.top1 - floatTop1
        let layers = full.weightLayers.compactMap { name in full.graph.nodes.first { $0.name == name } }
        let everyNode = Set(full.graph.nodes.map(\.name))
        for (k, layer) in layers.enumerated() where !cancellation.isCancelled {
            let phase = "sensitivity \(k + 1)/\(layers.count)"
            var alone = row(SensitivityRecord.onlyQuantized, layer, try evaluate(keeping: everyNode.subtracting([layer.name]), phase: phase))
            alone.top1Delta = alone.top1.map { $0 - floatTop1 }
            var kept = row(SensitivityRecord.onlyFloat, layer, try evaluate(keeping: [layer.name], phase: phase))
            kept.top1Delta = kept.top1.map { $0 - all.top1 }
            rows += [alone, kept]
        }
        log(String(format: "%@ %@ %@: sensitivity of %d layers on %d images", model.name, variant, precision.name, layers.count, count))
        return SensitivityRecord.ranked(rows)
    }
}

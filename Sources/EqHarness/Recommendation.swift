import EqPasses
import Foundation

/// Which variant to enable for a model at an int8 precision: the cheapest one
/// that is as good as the best, where noise is not mistaken for a win, cost is
/// what the deployed model pays, and "good" is also judged against float.
///
/// - Best: the highest top-1 (ties: higher logits SQNR, then lower cost).
/// - Cost: first the nodes the pipeline adds to the inference graph
///   (`inference_nodes_added`: SmoothQuant's and IWE's Mul nodes, which run
///   on every image), then the number of passes (offline work only), then
///   listing order. Weight rescaling alone costs nothing at inference.
/// - Within the float budget: top-1 at most `maxDrop` points below the
///   model's fp32 top-1, and with `--calib-resamples` also the worst top-1
///   over the calibration subsets, so a variant is not called safe on a lucky
///   calibration. Variants over the budget are passed over while one within it
///   exists; when none is, the verdict says so.
/// - From cheapest to dearest, the first variant that the evaluation images
///   cannot tell apart from the best is recommended: every variant ran on
///   the same images, so each is compared with the best image by image
///   (`PairedComparison`: exact McNemar test, p ≥ 0.05 means no significant
///   difference). Reports without per-image outcomes fall back to the
///   unpaired rule: the candidate's 95% bootstrap interval reaches the best.
///
/// The margin is the recommendation's top-1 minus `baseline`'s at the same
/// precision; `reason` says all of this in a sentence.
public struct Recommendation: ReportRecord, Equatable, Sendable {
    public static var schema: [ReportColumn<Self>] {
        [.text("model", \.model), .text("precision", \.precision), .text("variant", \.variant), .text("passes", \.passes),
         .init("top1", number: true) { fixed($0.top1, 2) }, .init("top1_ci_low", number: true) { fixed($0.interval.low, 2) },
         .init("top1_ci_high", number: true) { fixed($0.interval.high, 2) }, .fixed("margin_vs_baseline", \.marginVsBaseline, 2),
         .text("best_variant", \.best), .init("best_top1", number: true) { fixed($0.bestTop1, 2) }, .text("reason", \.reason),
         .init("paired_diff_vs_best", number: true) { fixed($0.paired?.difference, 2) },
         .init("paired_diff_ci_low", number: true) { fixed($0.paired?.interval.low, 2) },
         .init("paired_diff_ci_high", number: true) { fixed($0.paired?.interval.high, 2) },
         .init("p_value", number: true) { $0.paired.map { String(format: "%.4g", $0.pValue) } ?? "" },
         .fixed("float_top1", \.floatTop1, 2), .init("max_drop", number: true) { fixed($0.maxDrop, 2) },
         .init("within_max_drop") { $0.floatTop1 == nil ? "" : ($0.withinMaxDrop ? "yes" : "no") },
         .integer("inference_nodes_added", \.addedNodes),
         .derived("top1_calib_min", number: true) { fixed($0.calibSpread?.min, 2) },
         .derived("top1_calib_max", number: true) { fixed($0.calibSpread?.max, 2) }]
    }
    /// Below this McNemar p-value a cheaper variant counts as worse than the best.
    public static let significance = 0.05
    /// `--max-drop`'s default: points of top-1 below fp32 a recommendation may lose.
    public static let defaultMaxDrop = 1.0

    public var model: String
    public var precision: String
    public var variant: String
    public var passes: String
    public var top1: Double
    public var interval: (low: Double, high: Double)
    public var marginVsBaseline: Double?
    public var best: String
    public var bestTop1: Double
    public var reason: String
    /// The recommended variant against the best, image by image (nil for reports without per-image outcomes).
    public var paired: PairedComparison?
    /// The model's fp32 top-1 (nil when the report has no fp32 row or delta to derive it from).
    public var floatTop1: Double?
    public var maxDrop: Double
    /// True when the recommendation keeps within `maxDrop` of float (also on its worst calibration).
    public var withinMaxDrop: Bool
    /// Nodes the recommended pipeline adds to the inference graph.
    public var addedNodes: Int
    /// Top-1 over the `--calib-resamples` subsets, lowest and highest (nil without them).
    public var calibSpread: (min: Double, max: Double)?

    public static func == (a: Recommendation, b: Recommendation) -> Bool { a.fields == b.fields }

    struct Candidate {
        var variant: String
        var passes: String
        var passCount: Int
        var addedNodes: Int
        var top1: Double
        var low: Double
        var high: Double
        var sqnr: Double
        var order: Int
        var correct: [Bool]?
        var calibSpread: (min: Double, max: Double)?
        /// The lowest top-1 this variant showed: its own, or its worst calibration subset's.
        var worstTop1: Double { min(top1, calibSpread?.min ?? top1) }
        var cost: (Int, Int) { (addedNodes, passCount) }
    }

    /// One recommendation per model and int8 precision, from accuracy.csv rows.
    public static func all(in accuracy: [AccuracyRecord], maxDrop: Double = defaultMaxDrop) -> [Recommendation] {
        var groups = [String: [Candidate]]()
        var floatTop1 = [String: Double]()
        var keys = [(model: String, precision: String)]()
        for (order, row) in accuracy.enumerated() where row.status == .ok {
            guard let top1 = row.top1 else { continue }
            // The imported model's float top-1: its baseline fp32 row, else any row's top-1 minus its delta.
            if row.precision == "fp32", row.variant == Variant.baselineName {
                floatTop1[row.model] = top1
            } else if floatTop1[row.model] == nil, let delta = row.top1DeltaVsFloat {
                floatTop1[row.model] = top1 - delta
            }
            guard row.precision != "fp32" else { continue }
            let candidate = Candidate(variant: row.variant, passes: row.passes.joined(separator: "+"), passCount: row.passes.count,
                                      addedNodes: row.inferenceNodesAdded, top1: top1,
                                      low: row.top1CILow ?? top1, high: row.top1CIHigh ?? top1,
                                      sqnr: row.logitsSQNR ?? -.infinity, order: order,
                                      correct: row.correct.isEmpty ? nil : row.correct, calibSpread: row.calibSpread)
            let key = row.model + "|" + row.precision
            if groups[key] == nil { keys.append((row.model, row.precision)) }
            groups[key, default: []].append(candidate)
        }
        return keys.map { model, precision in
            recommend(groups[model + "|" + precision]!, model: model, precision: precision, floatTop1: floatTop1[model], maxDrop: maxDrop)
        }
    }

    static func recommend(_ candidates: [Candidate], model: String, precision: String, floatTop1: Double?,
                          maxDrop: Double = defaultMaxDrop) -> Recommendation {
        let best = candidates.max { a, b in
            (a.top1, a.sqnr, -a.addedNodes, -a.passCount, -a.order) < (b.top1, b.sqnr, -b.addedNodes, -b.passCount, -b.order)
        }!
        let byCost = candidates.sorted { a, b in
            (a.addedNodes, a.passCount, -a.top1, -a.sqnr, a.order) < (b.addedNodes, b.passCount, -b.top1, -b.sqnr, b.order)
        }
        // A tiny tolerance: top-1 is written with two decimals.
        func within(_ c: Candidate) -> Bool { floatTop1.map { $0 - c.worstTop1 <= maxDrop + 1e-9 } ?? true }
        let anyWithin = candidates.contains(where: within)
        func paired(_ candidate: Candidate) -> PairedComparison? {
            guard let mine = candidate.correct, let theirs = best.correct, mine.count == theirs.count else { return nil }
            return PairedComparison(mine, theirs)
        }
        var chosen = best
        var comparison = paired(best)
        var passedOver = [String]()
        for candidate in byCost {
            if candidate.order == best.order { break }
            let test = paired(candidate)
            let indistinguishable = test.map { $0.pValue >= significance } ?? (candidate.high >= best.top1)
            guard indistinguishable else { continue }
            if anyWithin && !within(candidate) { passedOver.append(candidate.variant); continue }
            chosen = candidate; comparison = test
            break
        }
        // The best itself is over the budget (on a calibration subset) while others are not: the best of those.
        if anyWithin && !within(chosen), let fallback = byCost.filter(within).max(by: { $0.top1 < $1.top1 }) {
            passedOver.append(chosen.variant)
            chosen = fallback
            comparison = paired(fallback)
        }
        let reason = explain(chosen: chosen, best: best, comparison: comparison, floatTop1: floatTop1, maxDrop: maxDrop,
                             anyWithin: anyWithin, passedOver: passedOver, candidates: candidates)
        let baseline = candidates.first { $0.variant == Variant.baselineName }
        return Recommendation(model: model, precision: precision, variant: chosen.variant, passes: chosen.passes,
                              top1: chosen.top1, interval: (chosen.low, chosen.high),
                              marginVsBaseline: baseline.map { chosen.top1 - $0.top1 },
                              best: best.variant, bestTop1: best.top1, reason: reason, paired: comparison,
                              floatTop1: floatTop1, maxDrop: maxDrop, withinMaxDrop: within(chosen),
                              addedNodes: chosen.addedNodes, calibSpread: chosen.calibSpread)
    }

    /// The reason line: why this variant, what it costs, how far from float.
    static func explain(chosen: Candidate, best: Candidate, comparison: PairedComparison?, floatTop1: Double?, maxDrop: Double,
                        anyWithin: Bool, passedOver: [String], candidates: [Candidate]) -> String {
        var parts = [String]()
        switch (chosen.order == best.order, comparison) {
        case (true, _) where !passedOver.isEmpty:
            parts.append(String(format: "best top-1 within --max-drop %.2g; the cheaper %@ cannot be told from it but lose%@ more than that against float",
                                maxDrop, passedOver.joined(separator: ", "), passedOver.count == 1 ? "s" : ""))
        case (true, _) where candidates.count == 1:
            parts.append("the only variant")
        case (true, _) where !candidates.contains(where: { $0.cost < chosen.cost || ($0.cost == chosen.cost && $0.order < chosen.order) }):
            parts.append("best top-1 and the cheapest")
        case (true, .some):
            parts.append("best top-1; every cheaper variant is worse on the same images (McNemar p < \(significance))")
        case (true, nil):
            parts.append("best top-1; no cheaper variant's interval reaches it")
        case let (false, test?):
            parts.append(String(format: "%@ is best (%.2f), but on the same images %@ differs from it by %+.2f points (95%% interval %+.2f to %+.2f, McNemar p = %.2g) and costs less",
                                best.variant, best.top1, chosen.variant, test.difference, test.interval.low, test.interval.high, test.pValue))
        case (false, nil):
            parts.append(String(format: "%@ is best (%.2f) but within %@'s 95%% interval (%.2f–%.2f), which costs less",
                                best.variant, best.top1, chosen.variant, chosen.low, chosen.high))
        }
        parts.append(chosen.addedNodes == 0
            ? "no nodes added at inference, \(chosen.passCount) pass\(chosen.passCount == 1 ? "" : "es")"
            : "adds \(chosen.addedNodes) node\(chosen.addedNodes == 1 ? "" : "s") to the inference graph")
        if let floatTop1 {
            let drop = floatTop1 - chosen.top1
            if anyWithin {
                let distance = abs(drop) < 0.005 ? "equal to float" : String(format: "%.2f points %@ float", abs(drop), drop > 0 ? "below" : "above")
                parts.append(String(format: "%@ (%.2f), within --max-drop %.2g", distance, floatTop1, maxDrop))
            } else {
                let closest = candidates.max { $0.worstTop1 < $1.worstTop1 }!
                parts.append(String(format: "no variant is within %.2g points of float (%.2f); the closest, %@, is %.2f below", maxDrop, floatTop1,
                                    closest.variant, floatTop1 - closest.worstTop1))
            }
        }
        if !passedOver.isEmpty && chosen.order != best.order {
            parts.append("passed over as more than \(String(format: "%.2g", maxDrop)) below float: \(passedOver.joined(separator: ", "))")
        }
        if let spread = chosen.calibSpread {
            parts.append(String(format: "top-1 %.2f–%.2f over the calibration subsets", spread.min, spread.max))
        }
        return parts.joined(separator: "; ")
    }
}

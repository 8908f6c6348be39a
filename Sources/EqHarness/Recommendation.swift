import EqPasses
import Foundation

/// Which variant to enable for a model at an int8 precision, chosen so that
/// sampling noise is not mistaken for a win.
///
/// The best row is the highest top-1 (ties: higher logits SQNR, then fewer
/// passes). Variants are then taken from cheapest (fewest passes; ties: higher
/// top-1, higher SQNR, then listing order) to dearest, and the first that the
/// evaluation images cannot tell apart from the best is recommended: every
/// variant ran on the same images, so each is compared with the best image by
/// image (`PairedComparison`: exact McNemar test, p ≥ 0.05 means no
/// significant difference). Reports written before per-image outcomes were
/// recorded fall back to the unpaired rule: the candidate's 95% bootstrap
/// interval reaches the best top-1. The margin is its top-1 minus
/// `baseline`'s at the same precision.
public struct Recommendation: ReportRecord, Equatable, Sendable {
    public static var schema: [ReportColumn<Self>] {
        [.text("model", \.model), .text("precision", \.precision), .text("variant", \.variant), .text("passes", \.passes),
         .init("top1", number: true) { fixed($0.top1, 2) }, .init("top1_ci_low", number: true) { fixed($0.interval.low, 2) },
         .init("top1_ci_high", number: true) { fixed($0.interval.high, 2) }, .fixed("margin_vs_baseline", \.marginVsBaseline, 2),
         .text("best_variant", \.best), .init("best_top1", number: true) { fixed($0.bestTop1, 2) }, .text("reason", \.reason),
         .init("paired_diff_vs_best", number: true) { fixed($0.paired?.difference, 2) },
         .init("paired_diff_ci_low", number: true) { fixed($0.paired?.interval.low, 2) },
         .init("paired_diff_ci_high", number: true) { fixed($0.paired?.interval.high, 2) },
         .init("p_value", number: true) { $0.paired.map { String(format: "%.4g", $0.pValue) } ?? "" }]
    }
    /// Below this McNemar p-value a cheaper variant counts as worse than the best.
    public static let significance = 0.05

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

    public static func == (a: Recommendation, b: Recommendation) -> Bool { a.fields == b.fields }

    struct Candidate {
        var variant: String
        var passes: String
        var passCount: Int
        var top1: Double
        var low: Double
        var high: Double
        var sqnr: Double
        var order: Int
        var correct: [Bool]?
    }

    /// One recommendation per model and int8 precision, from accuracy.csv rows.
    public static func all(in accuracy: CSVTable) -> [Recommendation] {
        let c = accuracy.index
        let outcomes = accuracy.columns.firstIndex(of: "correct_images")
        var groups = [String: [Candidate]]()
        var keys = [String]()
        for (order, row) in accuracy.rows.enumerated() where row[c("status")] == RowStatus.ok.rawValue && row[c("precision")] != "fp32" {
            guard let top1 = Double(row[c("top1")]) else { continue }
            let passes = row[c("passes")]
            let correct = outcomes.flatMap { CorrectnessBits.decode(row[$0], count: Int(row[c("eval_images")]) ?? 0) }
            let candidate = Candidate(variant: row[c("variant")], passes: passes,
                                      passCount: passes.isEmpty ? 0 : passes.split(separator: "+").count, top1: top1,
                                      low: Double(row[c("top1_ci_low")]) ?? top1, high: Double(row[c("top1_ci_high")]) ?? top1,
                                      sqnr: Double(row[c("logits_sqnr_db")]) ?? -.infinity, order: order,
                                      correct: correct.flatMap { $0.isEmpty ? nil : $0 })
            let key = row[c("model")] + "|" + row[c("precision")]
            if groups[key] == nil { keys.append(key) }
            groups[key, default: []].append(candidate)
        }
        return keys.map { key in
            let parts = key.split(separator: "|", maxSplits: 1).map(String.init)
            return recommend(groups[key]!, model: parts[0], precision: parts[1])
        }
    }

    static func recommend(_ candidates: [Candidate], model: String, precision: String) -> Recommendation {
        let best = candidates.max { a, b in
            (a.top1, a.sqnr, -a.passCount, -a.order) < (b.top1, b.sqnr, -b.passCount, -b.order)
        }!
        let byCost = candidates.sorted { a, b in
            (a.passCount, -a.top1, -a.sqnr, a.order) < (b.passCount, -b.top1, -b.sqnr, b.order)
        }
        func paired(_ candidate: Candidate) -> PairedComparison? {
            guard let mine = candidate.correct, let theirs = best.correct, mine.count == theirs.count else { return nil }
            return PairedComparison(mine, theirs)
        }
        var chosen = best
        var comparison = paired(best)
        for candidate in byCost {
            if candidate.order == best.order { break }
            let test = paired(candidate)
            let indistinguishable = test.map { $0.pValue >= significance } ?? (candidate.high >= best.top1)
            if indistinguishable { chosen = candidate; comparison = test; break }
        }
        let baseline = candidates.first { $0.variant == Variant.baselineName }
        let reason: String
        switch (chosen.order == best.order, comparison) {
        case (true, .some):
            reason = "best top-1; every cheaper variant is worse on the same images (McNemar p < \(significance))"
        case (true, nil):
            reason = "best top-1; no cheaper variant's interval reaches it"
        case let (false, test?):
            reason = String(format: "%@ is best (%.2f), but on the same images %@ differs from it by %+.2f points (95%% interval %+.2f to %+.2f, McNemar p = %.2g) and needs fewer passes",
                            best.variant, best.top1, chosen.variant, test.difference, test.interval.low, test.interval.high, test.pValue)
        case (false, nil):
            reason = String(format: "%@ is best (%.2f) but within %@'s 95%% interval (%.2f–%.2f), which needs fewer passes",
                            best.variant, best.top1, chosen.variant, chosen.low, chosen.high)
        }
        return Recommendation(model: model, precision: precision, variant: chosen.variant, passes: chosen.passes,
                              top1: chosen.top1, interval: (chosen.low, chosen.high),
                              marginVsBaseline: baseline.map { chosen.top1 - $0.top1 },
                              best: best.variant, bestTop1: best.top1, reason: reason, paired: comparison)
    }

    static func table(_ recommendations: [Recommendation]) -> CSVTable {
        CSVTable(columns: columns, rows: recommendations.map(\.fields))
    }
}

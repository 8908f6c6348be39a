import Foundation

/// Which variant to enable for a model at an int8 precision, chosen so that
/// sampling noise is not mistaken for a win.
///
/// The best row is the highest top-1 (ties: higher logits SQNR, then fewer
/// passes). Variants are then taken from cheapest (fewest passes; ties: higher
/// top-1, higher SQNR, then listing order) to dearest, and the first whose
/// 95% bootstrap interval reaches the best top-1 (`top1_ci_high ≥ best`) is
/// recommended: no dearer variant beats it by more than the evaluation set can
/// tell. The margin is its top-1 minus `baseline`'s at the same precision.
public struct Recommendation: Equatable, Sendable {
    public static let columns = ["model", "precision", "variant", "passes", "top1", "top1_ci_low", "top1_ci_high",
                                 "margin_vs_baseline", "best_variant", "best_top1", "reason"]

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

    public static func == (a: Recommendation, b: Recommendation) -> Bool { a.fields == b.fields }

    public var fields: [String] {
        [model, precision, variant, passes, fixed(top1, 2), fixed(interval.low, 2), fixed(interval.high, 2),
         fixed(marginVsBaseline, 2), best, fixed(bestTop1, 2), reason]
    }

    struct Candidate {
        var variant: String
        var passes: String
        var passCount: Int
        var top1: Double
        var low: Double
        var high: Double
        var sqnr: Double
        var order: Int
    }

    /// One recommendation per model and int8 precision, from accuracy.csv rows.
    public static func all(in accuracy: CSVTable) -> [Recommendation] {
        let c = accuracy.index
        var groups = [String: [Candidate]]()
        var keys = [String]()
        for (order, row) in accuracy.rows.enumerated() where row[c("status")] == "ok" && row[c("precision")] != "fp32" {
            guard let top1 = Double(row[c("top1")]) else { continue }
            let passes = row[c("passes")]
            let candidate = Candidate(variant: row[c("variant")], passes: passes,
                                      passCount: passes.isEmpty ? 0 : passes.split(separator: "+").count, top1: top1,
                                      low: Double(row[c("top1_ci_low")]) ?? top1, high: Double(row[c("top1_ci_high")]) ?? top1,
                                      sqnr: Double(row[c("logits_sqnr_db")]) ?? -.infinity, order: order)
            let key = row[c("model")] + "|" + row[c("precision")]
            if groups[key] == nil { keys.append(key) }
            groups[key, default: []].append(candidate)
        }
        return keys.map { key in
            let candidates = groups[key]!
            let parts = key.split(separator: "|", maxSplits: 1).map(String.init)
            let best = candidates.max { a, b in
                (a.top1, a.sqnr, -a.passCount, -a.order) < (b.top1, b.sqnr, -b.passCount, -b.order)
            }!
            let byCost = candidates.sorted { a, b in
                (a.passCount, -a.top1, -a.sqnr, a.order) < (b.passCount, -b.top1, -b.sqnr, b.order)
            }
            let chosen = byCost.first { $0.high >= best.top1 } ?? best
            let baseline = candidates.first { $0.variant == "baseline" }
            let reason: String
            if chosen.variant == best.variant {
                reason = "best top-1; no cheaper variant's interval reaches it"
            } else {
                reason = String(format: "%@ is best (%.2f) but within %@'s 95%% interval (%.2f–%.2f), which needs fewer passes",
                                best.variant, best.top1, chosen.variant, chosen.low, chosen.high)
            }
            return Recommendation(model: parts[0], precision: parts[1], variant: chosen.variant, passes: chosen.passes,
                                  top1: chosen.top1, interval: (chosen.low, chosen.high),
                                  marginVsBaseline: baseline.map { chosen.top1 - $0.top1 },
                                  best: best.variant, bestTop1: best.top1, reason: reason)
        }
    }

    static func table(_ recommendations: [Recommendation]) -> CSVTable {
        CSVTable(columns: columns, rows: recommendations.map(\.fields))
    }
}

import EqTensor

/// Classification metrics over logits [N, classes].
///
/// The predicted class is the first index of the maximum logit (as numpy's and
/// PyTorch's argmax do): under int8 simulation logits often tie, and a fixed
/// rule keeps results reproducible. Top-k counts an image as correct when
/// fewer than k classes score strictly higher than the true class, or equally
/// high at a lower index.
public enum Metrics {
    /// The rank of `label` among `logits` (0 = predicted class), ties broken by index.
    public static func rank(of label: Int, in logits: ArraySlice<Float>) -> Int {
        let target = logits[logits.startIndex + label]
        var rank = 0
        for (i, v) in logits.enumerated() where v > target || (v == target && i < label) { rank += 1 }
        return rank
    }

    /// Per-image ranks of the true labels.
    public static func ranks(logits: [Float], classes: Int, labels: [Int]) -> [Int] {
        labels.enumerated().map { n, label in
            rank(of: label, in: logits[(n * classes)..<((n + 1) * classes)])
        }
    }

    /// Percentage of ranks below k.
    public static func topK(_ ranks: [Int], k: Int) -> Double {
        guard !ranks.isEmpty else { return 0 }
        return 100 * Double(ranks.filter { $0 < k }.count) / Double(ranks.count)
    }

    /// A 95% percentile-bootstrap interval of top-1 (in percent): `resamples`
    /// resamples of the images with replacement from a fixed seed, so the
    /// interval is the same on every run.
    public static func bootstrapInterval(correct: [Bool], resamples: Int = 1000, seed: UInt64 = 0x5EED) -> (low: Double, high: Double) {
        let n = correct.count
        guard n > 0 else { return (0, 0) }
        var rng = SeededRandom(seed: seed)
        var estimates = [Double]()
        estimates.reserveCapacity(resamples)
        for _ in 0..<resamples {
            var hits = 0
            for _ in 0..<n where correct[Int(rng.next() % UInt64(n))] { hits += 1 }
            estimates.append(100 * Double(hits) / Double(n))
        }
        estimates.sort()
        let low = estimates[Int((Double(resamples) * 0.025).rounded(.down))]
        let high = estimates[min(resamples - 1, Int((Double(resamples) * 0.975).rounded(.down)))]
        return (low, high)
    }
}

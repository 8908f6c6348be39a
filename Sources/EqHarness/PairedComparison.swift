import EqTensor
import Foundation

/// Two variants compared on the same images, image by image: what the
/// recommendation decides with. A paired comparison sees only the images on
/// which the two disagree, so it separates two variants 0.5 points apart that
/// two separate intervals cannot (or shows that a larger gap is noise).
///
/// - Exact McNemar test: with b images right only under A and c right only
///   under B, under "same accuracy" b ~ Binomial(b + c, ½); the two-sided
///   p-value is min(1, 2·P(X ≤ min(b, c))).
/// - The difference of top-1, (b − c)/N in points, with a 95% paired
///   percentile-bootstrap interval: images resampled with replacement (fixed
///   seed), both variants' outcomes kept together.
public struct PairedComparison: Equatable, Sendable {
    /// Top-1 of A minus top-1 of B, in points.
    public var difference: Double
    public var interval: (low: Double, high: Double)
    public var pValue: Double
    /// Images right under A only, and under B only.
    public var onlyA: Int
    public var onlyB: Int

    public static func == (a: PairedComparison, b: PairedComparison) -> Bool {
        (a.difference, a.interval.low, a.interval.high, a.pValue, a.onlyA, a.onlyB)
            == (b.difference, b.interval.low, b.interval.high, b.pValue, b.onlyA, b.onlyB)
    }

    /// Compares per-image correctness of A and B (the same images, in the same order).
    public init(_ a: [Bool], _ b: [Bool], resamples: Int = 1000, seed: UInt64 = 0x5EED) {
        precondition(a.count == b.count, "paired outcomes of \(a.count) and \(b.count) images")
        let n = a.count
        // +1: right under A only, −1: under B only, 0: they agree.
        let signs = zip(a, b).map { $0 == $1 ? 0 : ($0 ? 1 : -1) }
        onlyA = signs.filter { $0 > 0 }.count
        onlyB = signs.filter { $0 < 0 }.count
        difference = n == 0 ? 0 : 100 * Double(onlyA - onlyB) / Double(n)
        pValue = Self.mcNemarExact(onlyA, onlyB)
        guard n > 0 else { interval = (0, 0); return }
        guard onlyA + onlyB > 0 else { interval = (0, 0); return }
        var rng = SeededRandom(seed: seed)
        var estimates = [Double]()
        estimates.reserveCapacity(resamples)
        for _ in 0..<resamples {
            // n images drawn with replacement; each adds its sign.
            var sum = 0
            for _ in 0..<n { sum += signs[Int(rng.next() % UInt64(n))] }
            estimates.append(100 * Double(sum) / Double(n))
        }
        estimates.sort()
        interval = (estimates[Int(Double(resamples) * 0.025)], estimates[min(resamples - 1, Int(Double(resamples) * 0.975))])
    }

    /// Two-sided exact McNemar p-value for b and c discordant pairs.
    public static func mcNemarExact(_ b: Int, _ c: Int) -> Double {
        let n = b + c
        guard n > 0 else { return 1 }
        // P(X ≤ k) for X ~ Binomial(n, ½), summed in log space (n can be thousands).
        let k = min(b, c)
        let logHalfN = Double(n) * log(0.5)
        var logTerm = logHalfN            // log C(n, 0) · ½ⁿ
        var cumulative = exp(logTerm)
        if k > 0 {
            for i in 1...k {
                logTerm += log(Double(n - i + 1)) - log(Double(i))
                cumulative += exp(logTerm)
            }
        }
        return min(1, 2 * cumulative)
    }
}

/// Per-image correctness as accuracy.csv stores it (`correct_images`): one
/// hex digit per four images, image 4k in the digit's highest bit.
public enum CorrectnessBits {
    public static func encode(_ correct: [Bool]) -> String {
        let digits = Array("0123456789abcdef")
        return String(stride(from: 0, to: correct.count, by: 4).map { start in
            var v = 0
            for i in 0..<4 where start + i < correct.count && correct[start + i] { v |= 8 >> i }
            return digits[v]
        })
    }

    /// The first `count` outcomes of an encoded string; nil when it is not one.
    public static func decode(_ text: String, count: Int) -> [Bool]? {
        guard text.count == (count + 3) / 4 else { return nil }
        var result = [Bool]()
        result.reserveCapacity(count)
        for character in text {
            guard let v = character.hexDigitValue else { return nil }
            for i in 0..<4 where result.count < count { result.append(v & (8 >> i) != 0) }
        }
        return result
    }
}

import EqTensor
import Foundation

/// How an activation's quantization range is estimated from calibration data.
public enum RangeEstimator: Equatable, Sendable, CustomStringConvertible {
    /// The smallest and largest value seen.
    case minMax
    /// Exponential moving average of each batch's min and max (TF's default
    /// decay 0.999); the first batch initialises it.
    case movingAverage(decay: Float)
    /// The last batch's min and max.
    case lastValue
    /// The p-th percentile of the values seen (and the (100 − p)-th for the
    /// minimum), read from a histogram rather than by sorting every value.
    case percentile(Double)
    /// The clipping range minimising the quantization MSE of the histogram.
    case mse

    public var description: String {
        switch self {
        case .minMax: return "minmax"
        case let .movingAverage(decay): return "ema\(decay)"
        case .lastValue: return "last"
        case let .percentile(p): return "pct\(p)"
        case .mse: return "mse"
        }
    }
}

/// Collects one activation's statistics over calibration batches and turns
/// them into a range. Batches must be fed in a fixed order (the calibration
/// batches do not depend on the thread count), so the result is deterministic.
public struct RangeObserver: Sendable {
    public let estimator: RangeEstimator
    public private(set) var minimum = Float.infinity
    public private(set) var maximum = -Float.infinity
    private var smoothed: (min: Float, max: Float)?
    private var histogram: Histogram?
    /// The range of the batch being fed in parts, until `endBatch`.
    private var batch: (min: Float, max: Float)?

    public init(_ estimator: RangeEstimator) {
        self.estimator = estimator
        switch estimator {
        case .percentile, .mse: histogram = Histogram(bins: 2048)
        default: break
        }
    }

    /// Feeds one batch of values; NaN or infinite values are an error.
    public mutating func observe(_ values: UnsafeBufferPointer<Float>) throws {
        try observePart(values)
        endBatch()
    }

    /// Feeds part of a batch (a batch too large to hold at once comes in
    /// parts); `endBatch` closes it. Min-max, moving average and last batch
    /// see the batch's range whatever the parts; the histogram widens per part.
    public mutating func observePart(_ values: UnsafeBufferPointer<Float>) throws {
        guard let base = values.baseAddress, !values.isEmpty else { return }
        let (lo, hi, hasNaN) = valueRange(base, count: values.count)
        guard !hasNaN, lo.isFinite, hi.isFinite else { throw QuantError("non-finite activation values") }
        minimum = Swift.min(minimum, lo)
        maximum = Swift.max(maximum, hi)
        batch = batch.map { (Swift.min($0.min, lo), Swift.max($0.max, hi)) } ?? (lo, hi)
        histogram?.add(values, low: lo, high: hi)
    }

    /// Ends the batch fed since the last call: the moving average and last-batch estimators take its range.
    public mutating func endBatch() {
        guard let (lo, hi) = batch else { return }
        batch = nil
        if case let .movingAverage(decay) = estimator {
            if let s = smoothed {
                smoothed = (decay * s.min + (1 - decay) * lo, decay * s.max + (1 - decay) * hi)
            } else {
                smoothed = (lo, hi)
            }
        }
        if case .lastValue = estimator { smoothed = (lo, hi) }
    }

    /// The estimated range, for the scheme it will be used with (MSE needs it).
    public func range(for scheme: QuantScheme) throws -> (min: Float, max: Float) {
        guard minimum <= maximum else { throw QuantError("no calibration data was observed") }
        switch estimator {
        case .minMax:
            return (minimum, maximum)
        case .movingAverage, .lastValue:
            return smoothed!
        case let .percentile(p):
            return histogram!.percentileRange(p)
        case .mse:
            return try histogram!.mseOptimalRange(scheme)
        }
    }
}

/// A fixed-bin histogram whose range grows as data arrives: when a batch falls
/// outside it, the range is widened and the old counts re-binned by their bin
/// centres (as PyTorch's HistogramObserver does, approximately).
struct Histogram: Sendable {
    var counts: [Double]
    var low: Float = 0
    var high: Float = 0
    var initialised = false

    init(bins: Int) { counts = [Double](repeating: 0, count: bins) }

    var binWidth: Float { (high - low) / Float(counts.count) }

    mutating func add(_ values: UnsafeBufferPointer<Float>, low newLow: Float, high newHigh: Float) {
        if !initialised {
            low = newLow; high = newHigh > newLow ? newHigh : newLow + 1e-6
            initialised = true
        } else if newLow < low || newHigh > high {
            let widenedLow = Swift.min(low, newLow), widenedHigh = Swift.max(high, newHigh)
            let old = counts, oldLow = low, oldWidth = binWidth
            low = widenedLow; high = widenedHigh
            counts = [Double](repeating: 0, count: old.count)
            for (i, c) in old.enumerated() where c > 0 {
                counts[bin(oldLow + (Float(i) + 0.5) * oldWidth)] += c
            }
        }
        for v in values { counts[bin(v)] += 1 }
    }

    func bin(_ v: Float) -> Int {
        let i = Int((v - low) / binWidth)
        return Swift.min(Swift.max(i, 0), counts.count - 1)
    }

    func center(_ i: Int) -> Float { low + (Float(i) + 0.5) * binWidth }

    /// The values below which (100 − p)% and p% of the mass lie.
    func percentileRange(_ p: Double) -> (min: Float, max: Float) {
        let total = counts.reduce(0, +)
        func quantile(_ q: Double) -> Float {
            var cumulative = 0.0
            for (i, c) in counts.enumerated() {
                cumulative += c
                if cumulative >= q * total {
                    // Interpolate inside the bin.
                    let before = cumulative - c
                    let fraction = c > 0 ? Float((q * total - before) / c) : 0
                    return low + (Float(i) + fraction) * binWidth
                }
            }
            return high
        }
        return (quantile(1 - p / 100), quantile(p / 100))
    }

    /// Tries 100 clipping ranges [f·low, f·high], f = 0.01 … 1, and keeps the one
    /// whose fake quantization of the bin centres has the least squared error.
    func mseOptimalRange(_ scheme: QuantScheme) throws -> (min: Float, max: Float) {
        var best = (min: low, max: high), bestError = Double.infinity
        for step in 1...100 {
            let f = Float(step) / 100
            let q = try scheme.quantizer(min: low * f, max: high * f)
            var error = 0.0
            for (i, c) in counts.enumerated() where c > 0 {
                let x = center(i)
                let d = Double(x - q(x))
                error += c * d * d
            }
            if error < bestError { bestError = error; best = (low * f, high * f) }
        }
        return best
    }
}

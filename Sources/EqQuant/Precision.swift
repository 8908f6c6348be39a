import EqTensor

/// A named numeric setting for a whole model, as given to `--precisions`:
/// `fp32`, or `w<bits>a<bits>-<pt|pc>[-pow2][-mse|-pct|-ema|-last][-b32]`.
///
/// Weights: signed, symmetric, min-max, per tensor (`pt`) or per output
/// channel (`pc`). Activations: unsigned, asymmetric, per tensor, range from
/// min-max unless a suffix picks another estimator (`pct` = 99.99th
/// percentile, `ema` = moving average with decay 0.999). `pow2` makes every
/// step a power of two (ceil of log2); `b32` also quantizes biases to int32
/// with scale s_input · s_weight.
public struct Precision: Equatable, Sendable, CustomStringConvertible {
    public var name: String
    /// nil for fp32.
    public var weights: QuantScheme?
    public var activations: QuantScheme?
    public var estimator: RangeEstimator
    public var quantizeBias: Bool

    public var isFloat: Bool { weights == nil }
    public var description: String { name }

    public static let float = Precision(name: "fp32", weights: nil, activations: nil, estimator: .minMax, quantizeBias: false)

    /// Parses a precision name; the error says what the grammar accepts.
    public static func parse(_ name: String) throws -> Precision {
        if name == "fp32" { return .float }
        let grammar = "expected fp32 or w<bits>a<bits>-<pt|pc>[-pow2][-mse|-pct|-ema|-last][-b32], e.g. w8a8-pc, w4a8-pc, w8a8-pt-pow2"
        var parts = name.split(separator: "-", omittingEmptySubsequences: false).map(String.init)
        guard parts.count >= 2, parts[0].hasPrefix("w"), let a = parts[0].firstIndex(of: "a"),
              let wb = Int(parts[0][parts[0].index(after: parts[0].startIndex)..<a]),
              let ab = Int(parts[0][parts[0].index(after: a)...]) else {
            throw QuantError("precision '\(name)': \(grammar)")
        }
        guard (2...16).contains(wb), (2...16).contains(ab) else {
            throw QuantError("precision '\(name)': bit widths must be 2 to 16")
        }
        let granularity: QuantScheme.Granularity
        switch parts[1] {
        case "pt": granularity = .perTensor
        case "pc": granularity = .perChannel
        default: throw QuantError("precision '\(name)': '\(parts[1])' is not pt or pc; \(grammar)")
        }
        parts.removeFirst(2)
        var pow2: QuantScheme.PowerOfTwo?
        var estimator = RangeEstimator.minMax
        var bias = false
        var estimators = [String]()
        for (index, option) in parts.enumerated() {
            guard !parts[..<index].contains(option) else { throw QuantError("precision '\(name)': option '\(option)' is given twice") }
            switch option {
            case "pow2": pow2 = .ceil
            case "mse": estimator = .mse; estimators.append(option)
            case "pct": estimator = .percentile(99.99); estimators.append(option)
            case "ema": estimator = .movingAverage(decay: 0.999); estimators.append(option)
            case "last": estimator = .lastValue; estimators.append(option)
            case "b32": bias = true
            case "": throw QuantError("precision '\(name)': an empty option (a doubled or trailing '-'); \(grammar)")
            default: throw QuantError("precision '\(name)': unknown option '\(option)'; \(grammar)")
            }
        }
        guard estimators.count <= 1 else {
            throw QuantError("precision '\(name)': one range estimator at most, got \(estimators.joined(separator: " and "))")
        }
        let weights = try QuantScheme(bits: wb, signed: true, symmetric: true, granularity: granularity, powerOfTwo: pow2)
        let activations = try QuantScheme(bits: ab, signed: false, symmetric: false, powerOfTwo: pow2)
        return Precision(name: name, weights: weights, activations: activations, estimator: estimator, quantizeBias: bias)
    }

    /// The weight scheme spelled out, for reports ("fp32" when not quantized).
    public var weightsDescription: String { weights.map { "\($0) minmax" } ?? "fp32" }
    /// The activation scheme spelled out, for reports.
    public var activationsDescription: String { activations.map { "\($0) \(estimator)" } ?? "fp32" }
}

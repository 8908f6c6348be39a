import Foundation

/// Every pass by the name pipelines use, with its parameters: what combined
/// variant names (`dfq+smoothquant@0.5`) and `--config` files are built from.
///
/// A parameter value comes from JSON (numbers, strings, booleans, arrays);
/// `name@VALUE` sets a pass's primary parameter. Unknown names and
/// parameters are errors that list the valid ones.
public enum PassCatalog {
    /// One pass: its name, a line of help, its parameters (name → help) and a
    /// constructor from parsed parameters.
    public struct Entry: Sendable {
        public var name: String
        public var summary: String
        public var parameters: [(name: String, help: String)]
        /// The parameter `name@VALUE` sets, if any.
        public var primary: String?
        let make: @Sendable (Parameters) throws -> any GraphPass
    }

    public static let entries: [Entry] = [
        Entry(name: "relu6relu", summary: "ReLU6 → ReLU (DFQ's first step)", parameters: [], primary: nil) { _ in
            ReLU6ToReLU()
        },
        Entry(name: "bnfold", summary: "fold batch norms into the neighbouring Conv/Gemm", parameters: [], primary: nil) { _ in
            BatchNormFolding()
        },
        Entry(name: "cls", summary: "cross-layer scaling of pairs and depthwise triplets", parameters: [
            ("relu6", "skip | perChannel: pairs through ReLU6 skipped, or its bounds scaled per channel (default skip)"),
            ("max_iterations", "iterations over all sets (default 20)"),
            ("tolerance", "stop when every |log s| of an iteration is below it (default 0.001)"),
            ("scale_min", "smallest scale (default 0.001)"), ("scale_max", "largest scale (default 1000)"),
            ("sets", "manual mode: list of chains of node names, e.g. [[\"conv1\", \"conv2\"]]"),
        ], primary: nil) { p in
            let relu6 = try p.string("relu6", default: "skip")
            guard let policy = ScalingChainFinder.ReLU6Policy(rawValue: relu6) else {
                throw PassError("\(p.context): cls parameter relu6 is '\(relu6)'; valid: skip, perChannel")
            }
            let bounds = try p.range("scale_min", "scale_max", default: 1e-3...1e3)
            return CrossLayerScaling(relu6: policy, maxIterations: try p.int("max_iterations", default: 20, min: 1),
                                     tolerance: try p.float("tolerance", default: 1e-3), scaleBounds: bounds,
                                     manualSets: try p.chains("sets"))
        },
        Entry(name: "hbf", summary: "high-bias fold of layers whose batch norm was folded", parameters: [], primary: nil) { _ in HighBiasFold() },
        Entry(name: "bc", summary: "empirical bias correction (calibration images)", parameters: [], primary: nil) { _ in
            BiasCorrection(.empirical)
        },
        Entry(name: "bca", summary: "analytic bias correction (folded batch-norm statistics)", parameters: [], primary: nil) { _ in
            BiasCorrection(.analytic)
        },
        Entry(name: "chaneq", summary: "activation-based channel equalization (single, concat, residual sets)", parameters: [
            ("scale_min", "EQUALIZATION_MINVAL (default 1)"), ("scale_max", "EQUALIZATION_MAXVAL (default 20)"),
        ], primary: "scale_max") { p in
            ChannelEqualization(scaleBounds: try p.range("scale_min", "scale_max", default: ChannelEqualization.defaultBounds))
        },
        Entry(name: "smoothquant", summary: "SmoothQuant scaling of Gemms and 1x1 convs", parameters: [
            ("alpha", "migration strength in (0, 1] (default 0.5)"),
        ], primary: "alpha") { p in
            let alpha = try p.float("alpha", default: 0.5)
            guard alpha > 0, alpha <= 1 else { throw PassError("\(p.context): smoothquant alpha must be in (0, 1], got \(alpha)") }
            return SmoothQuant(alpha: alpha)
        },
        Entry(name: "iwe", summary: "input-weight equalization of Gemms and 1x1 convs", parameters: [], primary: nil) { _ in
            InputWeightEqualization()
        },
        Entry(name: "wclip", summary: "clip each output channel's weights to k standard deviations of their mean", parameters: [
            ("k", "half-width of the band in standard deviations (default 3)"),
        ], primary: "k") { p in
            let k = try p.float("k", default: 3)
            guard k > 0 else { throw PassError("\(p.context): wclip k must be above 0, got \(k)") }
            return WeightClipping(deviations: k)
        },
        Entry(name: "fixedpoint", summary: "power-of-two fixed-point weights and biases (nnabla)", parameters: [
            ("weight_bits", "bits of weights, 0 keeps float (default 8)"), ("weight_signed", "sign bit (default true)"),
            ("bias_bits", "bits of biases, 0 keeps float (default 8)"), ("bias_signed", "sign bit (default true)"),
            ("floor", "floor instead of ceil of log2 (default false)"),
        ], primary: "weight_bits") { p in
            func setting(_ bits: String, _ signed: String) throws -> FixedPointWeights.Setting? {
                let n = try p.int(bits, default: 8, min: 0)
                guard n != 0 else { return nil }
                guard n >= 2, n <= 16 else { throw PassError("\(p.context): fixedpoint \(bits) must be 0 or 2...16, got \(n)") }
                return .init(bits: n, signed: try p.bool(signed, default: true))
            }
            return FixedPointWeights(weights: try setting("weight_bits", "weight_signed"),
                                     biases: try setting("bias_bits", "bias_signed"), floor: try p.bool("floor", default: false))
        },
    ]

    public static var names: [String] { entries.map(\.name) }

    /// Every pass with its summary and parameters, one per line (`eqbench run --help`).
    public static var reference: String {
        entries.map { entry in
            let pass = try? entry.make(Parameters(values: [:], context: entry.name))
            let needs = pass.map { $0.requires.map { "; needs \($0) earlier" }.sorted().joined() } ?? ""
            return "\(entry.name)\(entry.primary.map { "[@\($0)]" } ?? ""): \(entry.summary)"
                + (pass.map { " (\($0.floatEffect.description)\(needs))" } ?? "")
                + entry.parameters.map { "\n    \($0.name): \($0.help)" }.joined()
        }.joined(separator: "\n")
    }

    /// The pass `name` with `parameters`; `context` starts error messages.
    public static func make(_ name: String, parameters: [String: JSONValue] = [:], context: String) throws -> any GraphPass {
        guard let entry = entries.first(where: { $0.name == name }) else {
            throw PassError("\(context): unknown pass '\(name)'; valid passes: \(names.joined(separator: ", "))")
        }
        let valid = entry.parameters.map(\.name)
        if let unknown = parameters.keys.sorted().first(where: { !valid.contains($0) }) {
            throw PassError("\(context): unknown parameter '\(unknown)' of pass \(name); "
                + (valid.isEmpty ? "it takes none" : "valid: \(valid.joined(separator: ", "))"))
        }
        return try entry.make(Parameters(values: parameters, context: context))
    }

    /// A pass from `name` or `name@VALUE`; nil when `name` is no pass.
    public static func make(token: String, context: String) throws -> (any GraphPass)? {
        let parts = token.split(separator: "@", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        guard let entry = entries.first(where: { $0.name == parts[0] }) else { return nil }
        guard parts.count == 2 else { return try make(entry.name, context: context) }
        guard let primary = entry.primary else { throw PassError("\(context): pass \(entry.name) takes no @ value") }
        guard let value = Double(parts[1]) else { throw PassError("\(context): '\(parts[1])' after @ is not a number") }
        return try make(entry.name, parameters: [primary: .number(value)], context: context)
    }

    /// Typed access to one pass's JSON parameters.
    public struct Parameters {
        var values: [String: JSONValue]
        var context: String

        func number(_ key: String) throws -> Double? {
            guard let v = values[key] else { return nil }
            guard case let .number(d) = v else { throw PassError("\(context): parameter \(key) must be a number") }
            return d
        }
        func float(_ key: String, default value: Float) throws -> Float {
            guard let d = try number(key) else { return value }
            guard Float(d).isFinite else { throw PassError("\(context): parameter \(key) must be a finite number, got \(d)") }
            return Float(d)
        }
        func int(_ key: String, default value: Int, min: Int) throws -> Int {
            guard let d = try number(key) else { return value }
            // Bounded well inside Int, so the conversion cannot trap; no parameter needs more.
            guard d.isFinite, d == d.rounded(), d >= Double(min), d <= 1e9 else {
                throw PassError("\(context): parameter \(key) must be an integer from \(min) to 10⁹, got \(d)")
            }
            return Int(d)
        }
        func bool(_ key: String, default value: Bool) throws -> Bool {
            guard let v = values[key] else { return value }
            guard case let .bool(b) = v else { throw PassError("\(context): parameter \(key) must be true or false") }
            return b
        }
        func string(_ key: String, default value: String) throws -> String {
            guard let v = values[key] else { return value }
            guard case let .string(s) = v else { throw PassError("\(context): parameter \(key) must be a string") }
            return s
        }
        func range(_ low: String, _ high: String, default value: ClosedRange<Float>) throws -> ClosedRange<Float> {
            let lo = try float(low, default: value.lowerBound), hi = try float(high, default: value.upperBound)
            guard lo > 0, lo <= hi else { throw PassError("\(context): need 0 < \(low) ≤ \(high), got \(lo) and \(hi)") }
            return lo...hi
        }
        func chains(_ key: String) throws -> [[String]]? {
            guard let v = values[key] else { return nil }
            let invalid = PassError("\(context): parameter \(key) must be a list of chains of at least two node names")
            guard case let .array(chains) = v else { throw invalid }
            return try chains.map { chain in
                guard case let .array(names) = chain, names.count >= 2 else { throw invalid }
                return try names.map { name in
                    guard case let .string(s) = name else { throw invalid }
                    return s
                }
            }
        }
    }
}

/// A JSON value, as `--config` files hold pass parameters and summary.json
/// holds a run's results.
public enum JSONValue: Codable, Equatable, Sendable {
    case null, bool(Bool), number(Double), string(String)
    case array([JSONValue]), object([String: JSONValue])

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let d = try? c.decode(Double.self) { self = .number(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case let .bool(b): try c.encode(b)
        case let .number(d): try c.encode(d)
        case let .string(s): try c.encode(s)
        case let .array(a): try c.encode(a)
        case let .object(o): try c.encode(o)
        }
    }

    /// The string of a `.string`, nil otherwise.
    public var string: String? { if case let .string(s) = self { s } else { nil } }
    /// The elements of an `.array`, nil otherwise.
    public var array: [JSONValue]? { if case let .array(a) = self { a } else { nil } }
    /// A member of an `.object`, nil otherwise.
    public subscript(key: String) -> JSONValue? { if case let .object(o) = self { o[key] } else { nil } }
}

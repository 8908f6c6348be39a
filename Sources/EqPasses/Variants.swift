import EqGraph

/// The named, ordered pass pipelines `eqbench run --variants` accepts.
///
/// ReLU6 policies show in the names: `cls`/`dfq6` keep ReLU6 (`cls` skips
/// pairs through it, `cls6` and `dfq6` scale its bounds per channel, exact in
/// float); `dfq` replaces it with ReLU as DFQ and AIMET do, which changes the
/// float function.
public struct Variant: Sendable {
    public var name: String
    public var summary: String
    public var passes: [any GraphPass]

    /// True when every pass preserves the float function.
    public var preservesFloatFunction: Bool { passes.allSatisfy(\.preservesFloatFunction) }
    /// What the pipeline does to the float function: "preserves the float
    /// function", or every pass that does not, with how.
    public var floatEffectDescription: String {
        let others = passes.filter { !$0.preservesFloatFunction }
        guard !others.isEmpty else { return FloatEffect.preserves.description }
        return others.map { "\($0.name) \($0.floatEffect.description)" }.joined(separator: "; ")
    }
    /// True when some pass depends on the simulated precision.
    public var dependsOnPrecision: Bool { passes.contains { $0.dependsOnPrecision } }
    public var passNames: [String] { passes.map(\.name) }
    /// True when some pass reads calibration images.
    public var needsCalibrationData: Bool { passes.contains { $0.needsCalibrationData } }

    public init(name: String, summary: String, passes: [any GraphPass]) {
        self.name = name; self.summary = summary; self.passes = passes
    }

    /// The variant every delta is measured against: the model as given.
    public static let baselineName = "baseline"

    public static let all: [Variant] = {
        let dfq: [any GraphPass] = [ReLU6ToReLU(), BatchNormFolding(), CrossLayerScaling(relu6: .skip), HighBiasFold()]
        return [
            Variant(name: baselineName, summary: "the model as given", passes: []),
            Variant(name: "bnfold", summary: "batch norms folded", passes: [BatchNormFolding()]),
            Variant(name: "cls", summary: "bnfold + cross-layer scaling, pairs through ReLU6 skipped",
                    passes: [BatchNormFolding(), CrossLayerScaling(relu6: .skip)]),
            Variant(name: "cls6", summary: "bnfold + cross-layer scaling, ReLU6 bounds scaled per channel",
                    passes: [BatchNormFolding(), CrossLayerScaling(relu6: .perChannel)]),
            Variant(name: "dfq", summary: "ReLU6→ReLU + bnfold + cls + high-bias fold (DFQ, AIMET)", passes: dfq),
            Variant(name: "dfq6", summary: "bnfold + cls with per-channel ReLU6 bounds + high-bias fold",
                    passes: [BatchNormFolding(), CrossLayerScaling(relu6: .perChannel), HighBiasFold()]),
            Variant(name: "dfq+bc", summary: "dfq + empirical bias correction", passes: dfq + [BiasCorrection(.empirical)]),
            Variant(name: "dfq+bca", summary: "dfq + analytic (data-free) bias correction", passes: dfq + [BiasCorrection(.analytic)]),
            Variant(name: "smoothquant", summary: "bnfold + SmoothQuant scaling, alpha 0.5 (smoothquant@ALPHA sets it)",
                    passes: [BatchNormFolding(), SmoothQuant(alpha: 0.5)]),
            Variant(name: "chaneq", summary: "bnfold + activation-based channel equalization (Meller et al., SiMa.ai)",
                    passes: [BatchNormFolding(), ChannelEqualization()]),
            Variant(name: "iwe", summary: "bnfold + input-weight equalization of Gemms and 1x1 convs (PyTorch FX style)",
                    passes: [BatchNormFolding(), InputWeightEqualization()]),
            Variant(name: "fixedpoint", summary: "bnfold + nnabla-style fixed-point weights and biases (8-bit signed, power-of-two steps)",
                    passes: [BatchNormFolding(), FixedPointWeights()]),
        ]
    }()

    /// A variant by name: a built-in one, or `+`-joined parts where the first
    /// is a variant (or pass) and each later part a pass (`name` or
    /// `name@VALUE`, see `PassCatalog`) or a variant whose passes are appended:
    /// `dfq+smoothquant@0.5`, `bnfold+chaneq`, `smoothquant@0.25`. A part that
    /// repeats bnfold or relu6relu is dropped (the second would find nothing).
    /// `custom` variants (from a `--config` file) are found by name first.
    public static func resolve(_ name: String, custom: [Variant] = []) throws -> Variant {
        if let variant = (custom + all).first(where: { $0.name == name }) { return variant }
        let parts = name.split(separator: "+", omittingEmptySubsequences: false).map(String.init)
        if parts.contains(where: \.isEmpty) {
            throw PassError("variant '\(name)' has an empty part: join variant and pass names with single '+', e.g. dfq+bc")
        }
        var passes = [any GraphPass]()
        for (k, part) in parts.enumerated() {
            let context = "variant '\(name)'"
            let named = (custom + all).first { $0.name == part }
            var found: [any GraphPass]
            if k == 0, let named {
                found = named.passes
            } else if k == 0, part.hasPrefix("smoothquant@"), let pass = try PassCatalog.make(token: part, context: context) {
                found = [BatchNormFolding(), pass]
            } else if let pass = try PassCatalog.make(token: part, context: context) {
                found = [pass]
            } else if let named {
                found = named.passes
            } else {
                throw PassError("unknown variant or pass '\(part)'\(parts.count > 1 ? " in '\(name)'" : ""); variants: "
                    + (custom + all).map(\.name).joined(separator: ", ") + "; passes to join with +: "
                    + PassCatalog.names.joined(separator: ", ") + " ("
                    + PassCatalog.entries.compactMap { e in e.primary.map { "\(e.name)@\($0.uppercased())" } }.joined(separator: ", ") + ")")
            }
            found.removeAll { pass in ["bnfold", "relu6relu"].contains(pass.name) && passes.contains { $0.name == pass.name } }
            passes += found
        }
        try PipelineValidator.validate(passes, context: "variant '\(name)'")
        return Variant(name: name, summary: parts.count > 1 ? "combined: " + parts.joined(separator: " then ") : "pass \(name)",
                       passes: passes)
    }

    /// A built-in or combined variant by name, nil when it does not resolve.
    public static func named(_ name: String) -> Variant? { try? resolve(name) }
}

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
    /// True when some pass depends on the simulated precision.
    public var dependsOnPrecision: Bool { passes.contains { $0.dependsOnPrecision } }
    public var passNames: [String] { passes.map(\.name) }

    public static let all: [Variant] = {
        let dfq: [any GraphPass] = [ReLU6ToReLU(), BatchNormFolding(), CrossLayerScaling(relu6: .skip), HighBiasFold()]
        return [
            Variant(name: "baseline", summary: "the model as given", passes: []),
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
            Variant(name: "iwe", summary: "bnfold + input-weight equalization of Gemms and 1x1 convs (PyTorch FX style)",
                    passes: [BatchNormFolding(), InputWeightEqualization()]),
            Variant(name: "fixedpoint", summary: "bnfold + nnabla-style fixed-point weights and biases (8-bit signed, power-of-two steps)",
                    passes: [BatchNormFolding(), FixedPointWeights()]),
        ]
    }()

    /// A variant by name; `smoothquant@ALPHA` (0 < ALPHA ≤ 1) sets SmoothQuant's alpha.
    public static func named(_ name: String) -> Variant? {
        if let variant = all.first(where: { $0.name == name }) { return variant }
        let parts = name.split(separator: "@", maxSplits: 1)
        if parts.count == 2, parts[0] == "smoothquant", let alpha = Float(parts[1]), alpha > 0, alpha <= 1 {
            return Variant(name: name, summary: "bnfold + SmoothQuant scaling, alpha \(alpha)",
                           passes: [BatchNormFolding(), SmoothQuant(alpha: alpha)])
        }
        return nil
    }
}

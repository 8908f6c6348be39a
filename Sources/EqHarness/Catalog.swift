import EqPasses
import EqQuant

/// The variant and precision names `eqbench run` accepts.
///
/// A variant is a named, ordered pipeline of graph passes (`Variant.all`). A
/// precision is `fp32` or a name of the grammar `Precision.parse` reads.
public enum Catalog {
    public static let variants = Variant.all.map(\.name) + ["smoothquant@ALPHA", "A+B (e.g. bnfold+chaneq, dfq+smoothquant@0.5)"]
    public static let defaultVariants = [Variant.baselineName, "bnfold", "cls", "dfq", "dfq+bc", "chaneq", "smoothquant"]
    public static let defaultPrecisions = ["fp32", "w8a8-pt", "w8a8-pc"]
    public static let precisionGrammar = "fp32, or w<bits>a<bits>-<pt|pc>[-pow2][-mse|-pct|-ema|-last][-b32] (e.g. w8a8-pt, w8a8-pc, w4a8-pc)"

    /// Parses every precision name; the error names the bad one and the grammar.
    public static func precisions(_ names: [String]) throws -> [Precision] {
        guard !names.isEmpty else { throw HarnessError("--precisions is empty; valid: \(precisionGrammar)") }
        return try names.map { name in
            do { return try Precision.parse(name) } catch let error as QuantError {
                throw HarnessError("--precisions: \(error.message)")
            }
        }
    }

    /// Checks variant names (`Variant.resolve`); the error names the bad one
    /// and lists the valid variants and passes.
    public static func validateVariants(_ names: [String], custom: [Variant] = []) throws {
        guard !names.isEmpty else { throw HarnessError("--variants is empty; valid names: \(variants.joined(separator: ", "))") }
        for name in names {
            do { _ = try Variant.resolve(name, custom: custom) } catch let error as PassError {
                throw HarnessError("--variants: \(error.message)")
            }
        }
    }
}

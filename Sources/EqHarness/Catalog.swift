/// The variant and precision names `eqbench run` accepts.
///
/// A variant is a named, ordered pipeline of graph passes; a precision says how
/// weights and activations are represented. Only the float baseline exists so
/// far; the equalization passes and the int8 simulation add their names here.
public enum Catalog {
    public static let variants = ["baseline"]
    public static let precisions = ["fp32"]

    /// Checks a list of names against the valid ones; the error lists them all.
    public static func validate(_ names: [String], valid: [String], flag: String) throws {
        guard !names.isEmpty else { throw HarnessError("\(flag) is empty; valid names: \(valid.joined(separator: ", "))") }
        let unknown = names.filter { !valid.contains($0) }
        guard unknown.isEmpty else {
            throw HarnessError("\(flag): unknown name\(unknown.count == 1 ? "" : "s") \(unknown.map { "'\($0)'" }.joined(separator: ", ")); valid names: \(valid.joined(separator: ", "))")
        }
    }
}

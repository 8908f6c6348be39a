import Foundation

/// Custom pipelines from a JSON file (`eqbench run --config FILE`):
///
///     {"variants": [
///       {"name": "dfq-manual", "summary": "DFQ on two chosen pairs",
///        "passes": ["relu6relu", "bnfold",
///                   {"pass": "cls", "sets": [["conv1", "conv2"]], "max_iterations": 5},
///                   "hbf"]},
///       {"name": "sq25+chaneq", "passes": ["bnfold", "smoothquant@0.25", "chaneq"]}
///     ]}
///
/// A pass is a string (a pass name, `name@VALUE`, or a variant whose passes
/// are inserted) or an object whose `pass` names it and whose other keys are
/// its parameters (`PassCatalog`). Errors name the file, the variant and the
/// bad key, and list the valid ones.
public enum VariantConfig {
    public static func load(_ url: URL) throws -> [Variant] {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw PassError("\(url.path): cannot read the variant configuration")
        }
        return try parse(data, source: url)
    }

    /// The variants of a configuration's bytes; `source` names it in errors.
    public static func parse(_ data: Data, source url: URL) throws -> [Variant] {
        let root: JSONValue
        do { root = try JSONDecoder().decode(JSONValue.self, from: data) } catch {
            throw PassError("\(url.path): not valid JSON")
        }
        guard case let .object(top) = root, case let .array(entries)? = top["variants"] else {
            throw PassError("\(url.path): expected an object {\"variants\": [...]}")
        }
        if let extra = top.keys.sorted().first(where: { $0 != "variants" }) {
            throw PassError("\(url.path): unknown key '\(extra)'; valid: variants")
        }
        var variants = [Variant]()
        for (k, entry) in entries.enumerated() {
            let variant = try parse(entry, index: k, file: url.path, earlier: variants)
            if variants.contains(where: { $0.name == variant.name }) || Variant.all.contains(where: { $0.name == variant.name }) {
                throw PassError("\(url.path): variant name '\(variant.name)' is already taken (built in or earlier in the file)")
            }
            variants.append(variant)
        }
        guard !variants.isEmpty else { throw PassError("\(url.path): \"variants\" is empty") }
        return variants
    }

    static func parse(_ entry: JSONValue, index: Int, file: String, earlier: [Variant]) throws -> Variant {
        guard case let .object(fields) = entry, case let .string(name)? = fields["name"], !name.isEmpty,
              !name.contains(",") else {
            throw PassError("\(file): variant \(index + 1) needs a \"name\" (a string without commas)")
        }
        let context = "\(file): variant '\(name)'"
        if let extra = fields.keys.sorted().first(where: { !["name", "summary", "passes"].contains($0) }) {
            throw PassError("\(context): unknown key '\(extra)'; valid: name, summary, passes")
        }
        guard case let .array(items)? = fields["passes"] else { throw PassError("\(context): needs \"passes\", a list") }
        var passes = [any GraphPass]()
        for item in items {
            switch item {
            case let .string(token):
                if let pass = try PassCatalog.make(token: token, context: context) {
                    passes.append(pass)
                } else if let variant = (earlier + Variant.all).first(where: { $0.name == token }) {
                    passes += variant.passes
                } else {
                    throw PassError("\(context): unknown pass '\(token)'; valid passes: \(PassCatalog.names.joined(separator: ", ")), or a variant name")
                }
            case var .object(parameters):
                guard case let .string(pass)? = parameters.removeValue(forKey: "pass") else {
                    throw PassError("\(context): a pass object needs \"pass\": NAME")
                }
                passes.append(try PassCatalog.make(pass, parameters: parameters, context: context))
            default:
                throw PassError("\(context): each pass is a name or an object with \"pass\"")
            }
        }
        try PipelineValidator.validate(passes, context: context)
        var summary = "custom: " + passes.map(\.name).joined(separator: " → ")
        if case let .string(text)? = fields["summary"] { summary = text }
        return Variant(name: name, summary: summary, passes: passes)
    }
}

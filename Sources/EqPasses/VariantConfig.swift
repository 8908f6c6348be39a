import Foundation

/// Custom pipelines from a JSON file (`eqbench run --config FILE`):
///
///     {"variants": [
///       {"name": "dfq-manual", "summary": "DFQ on two chosen pairs",
///        "passes": ["relu6relu", "bnfold",
///                   {"pass": "cls", "sets": [["conv1", "conv2"]], "max_iterations": 5},
///                   "hbf"]},
///       {"name": "sq25+chaneq", "passes": ["bnfold", "smoothquant@0.25", "chaneq"]}
///     ],
///      "float_layers": ["conv1"]}
///
/// A pass is a string (a pass name, `name@VALUE`, or a variant whose passes
/// are inserted) or an object whose `pass` names it and whose other keys are
/// its parameters (`PassCatalog`). Errors name the file, the variant and the
/// bad key, and list the valid ones. `float_layers` (optional) names layers
/// every int8 precision keeps in float, as `--float-layers` does; a file may
/// hold only those.
public enum VariantConfig {
    public static func load(_ url: URL) throws -> [Variant] {
        try loadFile(url).variants
    }

    /// The variants and float layers of a configuration file.
    public static func loadFile(_ url: URL) throws -> (variants: [Variant], floatLayers: [String]) {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw PassError("\(url.path): cannot read the variant configuration")
        }
        return (try parse(data, source: url), try floatLayers(data, source: url))
    }

    /// The `float_layers` list of a configuration's bytes (empty without one).
    public static func floatLayers(_ data: Data, source url: URL) throws -> [String] {
        guard case let .object(top)? = try? JSONDecoder().decode(JSONValue.self, from: data), let list = top["float_layers"] else { return [] }
        guard case let .array(items) = list else { throw PassError("\(url.path): \"float_layers\" must be a list of node names") }
        return try items.map { item in
            guard case let .string(name) = item, !name.isEmpty else { throw PassError("\(url.path): \"float_layers\" must be a list of node names") }
            return name
        }
    }

    /// The variants of a configuration's bytes; `source` names it in errors.
    public static func parse(_ data: Data, source url: URL) throws -> [Variant] {
        let root: JSONValue
        do { root = try JSONDecoder().decode(JSONValue.self, from: data) } catch {
            throw PassError("\(url.path): not valid JSON")
        }
        guard case let .object(top) = root else {
            throw PassError("\(url.path): expected an object {\"variants\": [...]}")
        }
        if let extra = top.keys.sorted().first(where: { !["variants", "float_layers"].contains($0) }) {
            throw PassError("\(url.path): unknown key '\(extra)'; valid: variants, float_layers")
        }
        if top["variants"] == nil, top["float_layers"] != nil { return [] }
        guard case let .array(entries)? = top["variants"] else {
            throw PassError("\(url.path): expected an object {\"variants\": [...]}")
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

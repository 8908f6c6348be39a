import EqPasses
import EqRuntime
import Foundation

/// eqbench's version, written into every summary.json.
public enum EQBenchVersion {
    public static let current = "0.3.0"
}

/// `summary.json`: every table of a run (the CSV rows as objects, numbers as
/// numbers, from each record's schema), the recommendations, the settings,
/// the eqbench version and the machine, so one file describes a run
/// completely. Keys are written sorted.
struct RunSummary: Encodable {
    struct Machine: Encodable {
        var cores: Int
        var os: String
        var memory_bytes: UInt64
    }

    var eqbench = EQBenchVersion.current
    var created = ISO8601DateFormatter().string(from: Date())
    var machine: Machine
    var settings: JSONValue
    var status: ReportFolder.Status
    var warnings: [String]
    var recommendations: [JSONValue]
    /// accuracy, layers, passes, coverage, throughput, search, sensitivity: their rows.
    var tables: [String: [JSONValue]]

    init(_ folder: ReportFolder, recommendations: [Recommendation]) {
        let info = ProcessInfo.processInfo
        machine = Machine(cores: info.activeProcessorCount, os: info.operatingSystemVersionString, memory_bytes: info.physicalMemory)
        settings = folder.settings
        status = folder.status
        warnings = folder.warnings
        self.recommendations = recommendations.map(\.json)
        tables = ["accuracy": folder.accuracy.map(\.json), "layers": folder.layers.map(\.json), "passes": folder.passes.map(\.json),
                  "coverage": folder.coverage.map(\.json), "throughput": folder.throughput.map(\.json),
                  "search": folder.search.map(\.json), "sensitivity": folder.sensitivity.map(\.json)]
    }

    /// Each table sits at the top level beside the fixed fields.
    func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        try container.encode(eqbench, forKey: Key("eqbench"))
        try container.encode(created, forKey: Key("created"))
        try container.encode(machine, forKey: Key("machine"))
        try container.encode(settings, forKey: Key("settings"))
        try container.encode(status, forKey: Key("status"))
        try container.encode(warnings, forKey: Key("warnings"))
        try container.encode(recommendations, forKey: Key("recommendations"))
        for (name, rows) in tables { try container.encode(rows, forKey: Key(name)) }
    }

    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ name: String) { stringValue = name }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    func data() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }
}

/// The part of summary.json that `merge`, `compare` and `ReportFolder.read`
/// need; the tables are read from the CSVs. Every field is optional: reports
/// of early eqbench versions lack `status`.
struct SummaryHeader: Decodable {
    var settings: JSONValue?
    var warnings: [String]?
    var status: String?
}

extension RunSettings {
    /// The settings as summary.json records them.
    public var json: JSONValue {
        func numbers(_ values: [Float]?) -> JSONValue { values.map { .array($0.map { .number(Double($0)) }) } ?? .null }
        return .object([
            "models": .array(models.map { .string($0.path) }), "dataset": .string(dataset.path),
            "eval_images": evalLimit.map { .number(Double($0)) } ?? .null, "calib_images": .number(Double(calibLimit)),
            "threads": .number(Double(threads)), "batch": .number(Double(batchSize)),
            "mean": numbers(mean), "std": numbers(std),
            "resize": resize.map { .number(Double($0)) } ?? .null, "crop": crop.map { .number(Double($0)) } ?? .null,
            "variants": .array(variants.map(JSONValue.string)), "precisions": .array(precisions.map(JSONValue.string)),
            "calib_resamples": .number(Double(calibResamples)),
            "analysis_images": analysisLimit.map { .number(Double($0)) } ?? .null,
            "search_seconds": searchBudget.map { .number($0) } ?? .null,
            "shard": shard.map { .string("\($0.index)/\($0.count)") } ?? .null,
            "engine": .string(engine.rawValue),
            "int8": .string(int8Path.rawValue),
            "float_layers": .array(floatLayers.map(JSONValue.string)),
            "max_drop": .number(maxDrop),
            "sensitivity": sensitivityVariant.map(JSONValue.string) ?? .null,
            "custom_variants": .array(customVariants.map { .string($0.name + ": " + $0.passNames.joined(separator: "+")) }),
        ])
    }
}

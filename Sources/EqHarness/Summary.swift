import EqPasses
import EqRuntime
import Foundation

/// eqbench's version, written into every summary.json.
public enum EQBenchVersion {
    public static let current = "0.3.0"
}

/// `summary.json`: every table of a run (the CSV rows as objects, numbers as
/// numbers), the recommendations, the settings, the eqbench version and the
/// machine, so one file describes a run completely.
enum RunSummary {
    /// The rows as JSON objects: the table's number columns (its record's
    /// `numberColumns`) as numbers, null where empty (text such as "inf"
    /// stays text), every other column as text.
    static func objects(_ table: CSVTable, numbers: Set<String>) -> JSONValue {
        .array(table.rows.map { row in
            .object(Dictionary(uniqueKeysWithValues: zip(table.columns, row).map { column, field -> (String, JSONValue) in
                guard numbers.contains(column) else { return (column, .string(field)) }
                if field.isEmpty { return (column, .null) }
                if let number = Double(field), number.isFinite { return (column, .number(number)) }
                return (column, .string(field))
            }))
        })
    }

    static func json(_ folder: ReportFolder, recommendations: [Recommendation], extra: [String: JSONValue]) throws -> Data {
        let info = ProcessInfo.processInfo
        var summary: [String: JSONValue] = [
            "eqbench": .string(EQBenchVersion.current),
            "created": .string(ISO8601DateFormatter().string(from: Date())),
            "machine": .object(["cores": .number(Double(info.activeProcessorCount)), "os": .string(info.operatingSystemVersionString),
                                "memory_bytes": .number(Double(info.physicalMemory))]),
            "settings": folder.settings,
            "recommendations": objects(Recommendation.table(recommendations), numbers: Recommendation.numberColumns),
            "warnings": .array(folder.warnings.map(JSONValue.string)),
            "status": .string(folder.status.rawValue),
        ]
        for (name, table, numbers) in folder.tables { summary[name] = objects(table, numbers: numbers) }
        summary.merge(extra) { _, new in new }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(JSONValue.object(summary))
    }
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

import Foundation

/// eqbench's version, written into every summary.json.
public enum EQBenchVersion {
    public static let current = "0.1.0"
}

/// `summary.json`: every table of a run (the CSV rows as objects, numbers as
/// numbers), plus the settings, the eqbench version and the machine, so one
/// file describes a run completely.
enum RunSummary {
    static func json(_ report: RunReport, settings: RunSettings) throws -> Data {
        func objects(_ columns: [String], _ rows: [[String]]) -> [[String: Any]] {
            rows.map { row in
                Dictionary(uniqueKeysWithValues: zip(columns, row).map { column, field -> (String, Any) in
                    if let number = Double(field), number.isFinite, !["model", "variant", "node", "precision", "pass"].contains(column) {
                        return (column, number)
                    }
                    return (column, field)
                })
            }
        }
        let info = ProcessInfo.processInfo
        let summary: [String: Any] = [
            "eqbench": EQBenchVersion.current,
            "created": ISO8601DateFormatter().string(from: Date()),
            "machine": ["cores": info.activeProcessorCount, "os": info.operatingSystemVersionString,
                        "memory_bytes": info.physicalMemory],
            "settings": [
                "models": settings.models.map(\.path), "dataset": settings.dataset.path,
                "eval_images": settings.evalLimit as Any, "calib_images": settings.calibLimit,
                "threads": settings.threads, "batch": settings.batchSize,
                "mean": settings.mean as Any, "std": settings.std as Any,
                "variants": settings.variants, "precisions": settings.precisions,
            ],
            "accuracy": objects(AccuracyRecord.columns, report.accuracy.map(\.fields)),
            "layers": objects(LayerRecord.columns, report.layers.map(\.fields)),
            "passes": objects(PassRecord.columns, report.passes.map(\.fields)),
            "coverage": objects(CoverageRecord.columns, report.coverage.map(\.fields)),
            "throughput": objects(ThroughputRecord.columns, report.throughput.map(\.fields)),
            "warnings": report.warnings,
        ]
        return try JSONSerialization.data(withJSONObject: summary, options: [.prettyPrinted, .sortedKeys])
    }
}

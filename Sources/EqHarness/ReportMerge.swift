import EqPasses
import Foundation

extension ReportFolder {
    /// Settings that must agree between shards of one run.
    static let sharedSettings = ["models", "float_layers", "dataset", "variants", "precisions", "eval_images", "calib_images", "mean", "std",
                                 "custom_variants", "calib_resamples", "search_seconds", "analysis_images"]

    /// Folders of a sharded run must hold each slice 1…N of the same N once: a
    /// merge of some of them would be a partial report that looks whole.
    static func checkEveryShardIsThere(_ shards: [(url: URL, folder: ReportFolder)]) throws {
        let slices = shards.map { shard -> (index: Int, count: Int)? in
            guard let text = shard.folder.settings["shard"]?.string else { return nil }
            let parts = text.split(separator: "/").compactMap { Int($0) }
            return parts.count == 2 ? (parts[0], parts[1]) : nil
        }
        guard let count = slices.compactMap({ $0?.count }).first else { return }   // unsharded folders
        guard slices.allSatisfy({ $0?.count == count }) else {
            throw HarnessError("merge: the folders are not slices of one --shard K/\(count) run")
        }
        let present = Set(slices.compactMap { $0?.index })
        let missing = (1...count).filter { !present.contains($0) }
        guard missing.isEmpty else {
            throw HarnessError("merge: shard\(missing.count == 1 ? "" : "s") " + missing.map { "\($0)/\(count)" }.joined(separator: ", ")
                + " missing; merge needs every slice of the run")
        }
    }

    /// Joins the folders of `eqbench run --shard K/N` into the report the
    /// unsharded run writes: rows in model-major, then variant order (as the
    /// settings list them), each shard's order kept within a model and
    /// variant, derived columns recomputed. Shards of different runs, or a
    /// row present twice, are errors naming the folders.
    public static func merge(_ shards: [(url: URL, folder: ReportFolder)]) throws -> ReportFolder {
        guard let first = shards.first else { throw HarnessError("merge: no report folders given") }
        if let partial = shards.first(where: { $0.folder.status != .complete }) {
            throw HarnessError("merge: \(partial.url.path) is an interrupted run (summary.json status '\(partial.folder.status.rawValue)'); run that shard again")
        }
        for (url, shard) in shards.dropFirst() {
            for key in sharedSettings where shard.settings[key] != first.folder.settings[key] {
                throw HarnessError("merge: \(url.path) was run with other settings than \(first.url.path) (\(key) differs)")
            }
        }
        let models = (try? ModelSource.keys(for: (first.folder.settings["models"]?.array ?? []).compactMap(\.string).map {
            URL(fileURLWithPath: $0)
        })) ?? []
        let variants = (first.folder.settings["variants"]?.array ?? []).compactMap(\.string)
        // Model-major, then variant order; a shard's own order within them.
        func sorted<R>(_ tables: [[R]], model: (R) -> String, variant: (R) -> String?) -> [R] {
            let modelRank = Dictionary(models.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
            let variantRank = Dictionary(variants.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
            func rank(_ row: R) -> (Int, Int, Int) {
                (modelRank[model(row)] ?? models.count, variant(row).map { variantRank[$0] ?? variants.count } ?? 0, 0)
            }
            let ranked = tables.joined().enumerated().map { offset, row -> (key: (Int, Int, Int), row: R) in
                let r = rank(row)
                return ((r.0, r.1, offset), row)
            }
            return ranked.sorted { $0.key < $1.key }.map(\.row)
        }
        var seen = [String: URL]()
        for (url, shard) in shards {
            for row in shard.accuracy {
                let key = [row.model, row.variant, row.precision].joined(separator: " ")
                if let other = seen[key] { throw HarnessError("merge: \(key) is in both \(other.path) and \(url.path)") }
                seen[key] = url
            }
        }
        try checkEveryShardIsThere(shards)
        var settings = first.folder.settings
        if case var .object(fields) = settings { fields["shard"] = .null; settings = .object(fields) }
        let folders = shards.map(\.folder)
        var merged = ReportFolder(accuracy: sorted(folders.map(\.accuracy), model: \.model, variant: { $0.variant }),
                                  layers: sorted(folders.map(\.layers), model: \.model, variant: { $0.variant }),
                                  passes: sorted(folders.map(\.passes), model: \.model, variant: { $0.variant }),
                                  coverage: sorted(folders.map(\.coverage), model: \.model, variant: { $0.variant }),
                                  throughput: sorted(folders.map(\.throughput), model: \.model, variant: { $0.variant }),
                                  search: sorted(folders.map(\.search), model: \.model, variant: { _ in nil }),
                                  sensitivity: sorted(folders.map(\.sensitivity), model: \.model, variant: { $0.variant }),
                                  settings: settings, warnings: shards.flatMap(\.folder.warnings))
        merged.fillBaselineDeltas()
        return merged
    }
}

import ArgumentParser
import EqHarness
import Foundation

/// `eqbench merge DIR... --out DIR`: joins the folders of a sharded run.
struct MergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Join report folders written by `eqbench run --shard K/N` into one report (CSVs, summary.json, report.html).",
        discussion: "Rows come out in the order the unsharded run writes them; the baseline deltas and recommendations are recomputed over all shards.")

    @Argument(help: "Shard report folders.")
    var folders: [String]

    @Option(help: "Output folder for the merged report.")
    var out: String

    func validate() throws {
        guard !folders.isEmpty else { throw ValidationError("give at least one shard folder") }
    }

    func run() throws {
        let shards = try folders.map { path -> (url: URL, folder: ReportFolder) in
            let url = URL(fileURLWithPath: path)
            return (url, try ReportFolder.read(url))
        }
        let merged = try ReportFolder.merge(shards)
        let output = URL(fileURLWithPath: out)
        try merged.write(to: output)
        print(merged.summaryText)
        print("\nmerged \(shards.count) folder\(shards.count == 1 ? "" : "s") into \(output.path)/report.html and its tables")
        if merged.accuracy.contains(where: { $0.status != .ok }) {
            throw ExitCode(1)
        }
    }
}

import ArgumentParser
import EqHarness
import Foundation

/// `eqbench compare OLD NEW`: a nightly regression gate over two report folders.
struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Compare two report folders; exit 1 on a regression, 2 on unreadable input.",
        discussion: "Rows are matched by model, variant and precision (layers also by node). A regression is a top-1 drop above --max-top1-drop points, a row that turned to status error, or a layer SQNR drop above --max-sqnr-drop dB. Rows of the old report missing from the new one also fail, unless --allow-partial.")

    @Argument(help: "The earlier report folder (holding accuracy.csv, optionally layers.csv).")
    var old: String

    @Argument(help: "The later report folder.")
    var new: String

    @Option(parsing: .unconditional, help: "Largest tolerated top-1 drop, in points.")
    var maxTop1Drop = 0.5

    @Option(parsing: .unconditional, help: "Largest tolerated per-layer SQNR drop, in dB.")
    var maxSqnrDrop = 3.0

    @Option(help: "Output format: text or markdown.")
    var format = "text"

    @Flag(help: "Accept rows of the old report that the new one lacks (comparing a partial run on purpose).")
    var allowPartial = false

    func validate() throws {
        guard maxTop1Drop >= 0 else { throw ValidationError("--max-top1-drop must be 0 or more, got \(maxTop1Drop)") }
        guard maxSqnrDrop >= 0 else { throw ValidationError("--max-sqnr-drop must be 0 or more, got \(maxSqnrDrop)") }
        guard ["text", "markdown"].contains(format) else { throw ValidationError("--format must be text or markdown, got '\(format)'") }
    }

    func run() throws {
        var comparison: ReportComparison
        do {
            comparison = try ReportComparison.compare(old: URL(fileURLWithPath: old), new: URL(fileURLWithPath: new),
                                                      maxTop1Drop: maxTop1Drop, maxSQNRDrop: maxSqnrDrop)
        } catch {
            Log.line("Error: \(error)")
            throw ExitCode(2)
        }
        comparison.allowPartial = allowPartial
        print(comparison.render(markdown: format == "markdown"))
        if comparison.failed { throw ExitCode.failure }
    }
}

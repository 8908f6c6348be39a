import ArgumentParser
import EqHarness
import Foundation

/// The `eqbench` command line: evaluation runs, model inspection and dataset
/// import. Each subcommand is a small type whose properties are its flags.
/// A bare `eqbench` prints this help rather than starting the whole matrix.
@main
struct EQBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eqbench",
        abstract: "Accuracy evaluation and benchmarking of weight-equalization passes for int8 quantization.",
        version: EQBenchVersion.current,
        subcommands: [RunCommand.self, ExportCommand.self, MergeCommand.self, CompareCommand.self, BenchCommand.self, InspectCommand.self, PassesCommand.self,
                      DatasetCommand.self]
    )

    /// Parses and runs, first turning a misspelt subcommand into a one-line
    /// error that names the nearest one.
    static func main() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        if let first = arguments.first, !first.hasPrefix("-"), let suggestion = nearestSubcommand(to: first) {
            Log.line("Error: unknown subcommand '\(first)'; did you mean '\(suggestion)'?\n  See 'eqbench --help' for more information.")
            Foundation.exit(ExitCode.validationFailure.rawValue)
        }
        main(arguments)
    }

    /// The subcommand within two edits of `word`, nil when `word` is one or none is that close.
    static func nearestSubcommand(to word: String) -> String? {
        let names = configuration.subcommands.map { $0.configuration.commandName ?? "" }
        guard !names.contains(word) else { return nil }
        let best = names.min { editDistance(word, $0) < editDistance(word, $1) }
        return best.flatMap { editDistance(word, $0) <= 2 ? $0 : nil }
    }

    /// Levenshtein distance, with a swap of two neighbouring letters as one edit.
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        guard !a.isEmpty, !b.isEmpty else { return max(a.count, b.count) }
        var d = (0...a.count).map { i in (0...b.count).map { j in i == 0 ? j : (j == 0 ? i : 0) } }
        for i in 1...a.count {
            for j in 1...b.count {
                d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] { d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1) }
            }
        }
        return d[a.count][b.count]
    }
}

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
        subcommands: [RunCommand.self, MergeCommand.self, CompareCommand.self, BenchCommand.self, InspectCommand.self, DatasetCommand.self]
    )
}

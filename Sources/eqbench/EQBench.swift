import ArgumentParser
import EqHarness
import EqTensor
import Foundation

/// The `eqbench` command line: evaluation runs, model inspection and dataset
/// import. Each subcommand is a small type whose properties are its flags.
@main
struct EQBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eqbench",
        abstract: "Accuracy evaluation and benchmarking of weight-equalization passes for int8 quantization.",
        version: EQBenchVersion.current,
        subcommands: [RunCommand.self, MergeCommand.self, CompareCommand.self, BenchCommand.self, InspectCommand.self, DatasetCommand.self],
        defaultSubcommand: RunCommand.self
    )

    static func main() {
        restartOnFittingOpenBLASKernels()
        main(nil)
    }
}

/// Starts eqbench again with OPENBLAS_CORETYPE set when the OpenBLAS it loaded
/// runs this CPU on its SSE3 fallback kernels (`BLAS.fittingCoreType`): the
/// variable counts only while the library loads, before any of our code runs.
/// A variable the user set is left alone; if the restart fails, eqbench goes
/// on with the loaded kernels.
private func restartOnFittingOpenBLASKernels() {
    #if os(Linux)
    guard ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] == nil,
          let cpuinfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
          let flagsLine = cpuinfo.split(separator: "\n").first(where: { $0.hasPrefix("flags") }),
          let core = BLAS.fittingCoreType(loadedCore: BLAS.coreName,
                                          cpuFlags: Set(flagsLine.split(separator: " ").map(String.init)))
    else { return }
    setenv("OPENBLAS_CORETYPE", core, 1)
    execv("/proc/self/exe", CommandLine.unsafeArgv)
    #endif
}

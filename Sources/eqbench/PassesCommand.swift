import ArgumentParser
import EqPasses

/// `eqbench passes`: every pass that `+` combinations and `--config` files
/// can name, with its parameters, float effect and requirements.
struct PassesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "passes",
        abstract: "List the passes that variant names (A+B) and --config files can use, with their parameters.")

    func run() {
        print(PassCatalog.reference)
    }
}

import ArgumentParser
import EqHarness
import EqONNX
import Foundation

/// `eqbench inspect MODEL`: prints the imported graph.
struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Print a model's graph: nodes, op counts, parameter count, input and output shapes.")

    @Argument(help: "The ONNX model file.")
    var model: String

    func run() throws {
        let graph = try ONNXImporter.load(contentsOf: URL(fileURLWithPath: model))
        print(try GraphSummary.render(graph, source: model))
    }
}

import ArgumentParser
import EqHarness
import EqONNX
import EqPasses
import EqQuant
import Foundation

/// `eqbench inspect MODEL`: prints the imported graph.
struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Print a model's graph (nodes, op counts, parameters, shapes), its equalization sets and coverage, and optionally a precision's quantization plan.")

    @Argument(help: "The ONNX model file.")
    var model: String

    @Option(help: "Also list what this precision quantizes and how (\(Catalog.precisionGrammar)).")
    var precision: String?

    @Option(name: .customLong("float-layers"), help: "With --precision: Conv/Gemm node names the plan keeps in float, as `run --float-layers`.")
    var floatLayerNames: String?

    @Option(help: "Also apply this variant's passes (without data) and print each pass's report and time. Valid: \(Catalog.variants.joined(separator: ", ")).")
    var variant: String?

    func validate() throws {
        if floatLayerNames != nil, precision == nil {
            throw ValidationError("--float-layers changes the quantization plan; give --precision too")
        }
        if let variant {
            do { _ = try Variant.resolve(variant) } catch let error as PassError {
                throw ValidationError("--variant: \(error.message)")
            }
        }
        if let precision {
            do { _ = try Catalog.precisions([precision]) } catch let error as HarnessError {
                throw ValidationError(error.message.replacingOccurrences(of: "--precisions", with: "--precision"))
            }
        }
    }

    func run() throws {
        let graph = try ONNXImporter.load(contentsOf: URL(fileURLWithPath: model))
        print(try GraphSummary.render(graph, source: model))
        print("\n" + (try EqualizationSummary.render(graph)))
        if let variant {
            print("\n" + (try PipelineSummary.render(graph, variant: try Variant.resolve(variant))))
        }
        if let precision {
            let kept = floatLayerNames.map(parseNames) ?? []
            try QuantPlan.checkFloatLayers(kept, in: graph, source: model)
            print("\n" + QuantPlan(graph: graph, precision: try Precision.parse(precision), floatLayers: Set(kept)).describe())
        }
    }
}

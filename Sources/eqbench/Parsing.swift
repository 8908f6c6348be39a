import ArgumentParser
import EqGraph
import EqHarness
import EqONNX
import EqPasses
import EqQuant
import EqRuntime
import Foundation

/// The variants of a `--config` file, none without one.
func loadVariants(_ config: String?) throws -> [Variant] {
    guard let config else { return [] }
    do { return try VariantConfig.load(URL(fileURLWithPath: config)) } catch let error as PassError {
        throw ValidationError("--config: \(error.message)")
    }
}

/// The layers kept in float: `--float-layers` and the `--config` file's `float_layers`, each once.
func floatLayers(_ flag: String?, config: String?) throws -> [String] {
    var names = flag.map(parseNames) ?? []
    if let config {
        do {
            names += try VariantConfig.loadFile(URL(fileURLWithPath: config)).floatLayers
        } catch let error as PassError {
            throw ValidationError("--config: \(error.message)")
        }
    }
    var seen = Set<String>()
    return names.filter { seen.insert($0).inserted }
}

/// Checks the flags that depend on a model against each model before any
/// work: `--mean`/`--std` lengths and `--resize`/`--crop` against its input
/// (and its sidecar), `--float-layers` against its Conv/Gemm nodes. Only when
/// such a flag is given; a model that does not load at all is left to the
/// run, which reports it as error rows.
func checkModelFlags(_ input: InputOptions, floatLayers names: [String], models: [URL]) throws {
    guard !names.isEmpty || input.mean != nil || input.std != nil || input.resize != nil || input.crop != nil else { return }
    var settings = RunSettings(models: models, dataset: URL(fileURLWithPath: "."), output: URL(fileURLWithPath: "."))
    try input.apply(to: &settings)
    for model in models {
        guard (try? ONNXImporter.load(contentsOf: model)) != nil else { continue }
        let source: ModelSource
        do {
            source = try ModelSource.load(model, mean: settings.mean, std: settings.std, resize: settings.resize, crop: settings.crop)
        } catch let error as HarnessError {
            throw ValidationError(error.message)
        } catch {
            throw ValidationError("\(model.path): \(error)")
        }
        do { try QuantPlan.checkFloatLayers(names, in: source.graph, source: model.path) } catch let error as QuantError {
            throw ValidationError("--float-layers: \(error.message)")
        }
    }
}

/// `--float-layers`'s help, shared by the commands that quantize.
let floatLayersHelp: ArgumentHelp = "Comma-separated Conv/Gemm node names (as `eqbench inspect` lists them) that every int8 precision keeps in float: float weights, no activation quantized for their sake (ONNX Runtime's nodes_to_exclude)."

/// `--engine` as an `Engine`, with an error that lists the valid names.
func parseEngine(_ text: String) throws -> Engine {
    guard let engine = Engine(rawValue: text) else {
        throw ValidationError("--engine must be \(Engine.allCases.map(\.rawValue).joined(separator: " or ")), got '\(text)'")
    }
    return engine
}

/// `--int8`'s value.
func parseInt8Path(_ text: String) throws -> Int8Path {
    guard let path = Int8Path(rawValue: text) else {
        throw ValidationError("--int8 must be \(Int8Path.allCases.map(\.rawValue).joined(separator: " or ")), got '\(text)'")
    }
    return path
}

let int8Help: ArgumentHelp = "How int8 precisions compute quantized convs and linear layers: fakequant (quantize-dequantize, float sums) or integer (uint8 × int8 codes summed exactly in int32, as int8 runtimes do; depthwise and grouped convs stay on fake quant). int8_path in accuracy.csv and throughput.csv says which ran. Default: integer on CPUs with AVX2, else fakequant."

/// Parses a comma-separated list of numbers for a flag, with an error that
/// names the flag and the bad item.
func parseFloats(_ text: String, flag: String) throws -> [Float] {
    try text.split(separator: ",").map { item in
        guard let value = Float(item.trimmingCharacters(in: .whitespaces)), value.isFinite else {
            throw ValidationError("\(flag): '\(item)' is not a number (give one value, or one per channel separated by commas)")
        }
        return value
    }
}

/// Splits a comma-separated list of names, dropping empty items.
func parseNames(_ text: String) -> [String] {
    text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
}

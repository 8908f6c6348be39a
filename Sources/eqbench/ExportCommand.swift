import ArgumentParser
import EqHarness
import EqPasses
import EqQuant
import Foundation

/// `eqbench export MODEL --variant V [--precision P] --out DIR`: writes the
/// equalized model (float ONNX), and for an int8 precision its QDQ ONNX and
/// AIMET-style encodings, exactly as `run` measured them.
struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a variant's equalized float ONNX model and, for int8 precisions, a QDQ ONNX model and an encodings JSON.",
        discussion: "The passes and the calibration run on the first --calib images of the dataset's calib/ split, as in `eqbench run`. scripts/check_export.py runs the files in ONNX Runtime beside eqbench's accuracy.csv.")

    @Argument(help: "The ONNX model file.")
    var model: String

    @Option(help: "The variant to apply (a name, a `+` combination, or a --config name). Valid: \(Catalog.variants.joined(separator: ", ")).")
    var variant: String

    @Option(help: "Comma-separated int8 precisions to write QDQ models and encodings for (8-bit activations), e.g. w8a8-pt,w8a8-pc. Default: the float model only.")
    var precision: String?

    @Option(help: "Dataset folder whose calib/ split the passes and calibration use.")
    var dataset = "Datasets/fashion-mnist"

    @Option(name: .customLong("calib"), parsing: .unconditional, help: "Calibrate on the first N images of calib/ (all if fewer), as `run --calib`.")
    var calibLimit = 500

    @Option(help: "Folder to write the files into (created if missing).")
    var out: String

    @Option(parsing: .unconditional, help: "Worker threads; the default is this machine's core count.")
    var threads = ProcessInfo.processInfo.activeProcessorCount

    @OptionGroup var input: InputOptions

    @Option(name: .customLong("weight-codes"), help: "How the QDQ model stores int8 weights: int8 (symmetric, what TensorRT and most NPUs take) or uint8 (the same values shifted by 128; ONNX Runtime then multiplies u8×u8, which on x86 CPUs without VNNI avoids the int16 saturation of its u8×s8 kernel).")
    var weightCodes = "int8"

    @Option(help: "A JSON file of custom pipelines whose names --variant may give (and float_layers).")
    var config: String?

    @Option(name: .customLong("float-layers"), help: floatLayersHelp)
    var floatLayerNames: String?

    func validate() throws {
        guard (1...Limits.threads).contains(threads) else {
            throw ValidationError("--threads must be from 1 to \(Limits.threads) (4 per core), got \(threads)")
        }
        guard ["int8", "uint8"].contains(weightCodes) else {
            throw ValidationError("--weight-codes must be int8 or uint8, got '\(weightCodes)'")
        }
        guard calibLimit >= 1 else { throw ValidationError("--calib must be at least 1, got \(calibLimit)") }
        guard FileManager.default.fileExists(atPath: model) else { throw ValidationError("\(model): no such file") }
        try RunCommand.checkWritableFolder(out)
        do {
            try Catalog.validateVariants([variant], custom: try loadVariants(config))
            try checkModelFlags(input, floatLayers: try floatLayers(floatLayerNames, config: config), models: [URL(fileURLWithPath: model)])
            let precisions = try Catalog.precisions(parseNames(precision ?? ""))
            if let float = precisions.first(where: \.isFloat) {
                throw ValidationError("--precision \(float.name): the float model is always written; name int8 precisions here")
            }
        } catch let error as HarnessError {
            throw ValidationError(error.message)
        }
    }

    func run() throws {
        let url = URL(fileURLWithPath: model)
        let folder = URL(fileURLWithPath: out)
        var settings = RunSettings(models: [url], dataset: URL(fileURLWithPath: dataset), calibLimit: calibLimit,
                                   output: folder, threads: threads, variants: [variant], precisions: parseNames(precision ?? ""))
        try input.apply(to: &settings)
        settings.customVariants = try loadVariants(config)
        settings.floatLayers = try floatLayers(floatLayerNames, config: config)
        let bar = ProgressBar.forStandardError()
        let exporter = EvaluationRun(settings: settings, log: { bar?.clear(); Log.line($0) })
        if let bar { exporter.progress = { bar.update($0) } }
        let precisions = try Catalog.precisions(settings.precisions)
        var floatModels = Set<URL>()
        for precision in precisions.isEmpty ? [Precision.float] : precisions {
            let exported = try exporter.export(url, variant: variant, precision: precision, to: folder,
                                               unsignedWeightCodes: weightCodes == "uint8")
            bar?.clear()
            // One float model per variant, or per precision when the pipeline depends on it.
            if floatModels.insert(exported.floatModel).inserted {
                print("wrote \(exported.floatModel.path) (float; read back by eqbench: max |Δ logit| \(String(format: "%.2g", exported.floatRoundTrip)) of the range)")
            }
            if let qdq = exported.qdqModel, let encodings = exported.encodings {
                print("wrote \(qdq.path) (QDQ, \(precision.name), \(weightCodes) weight codes)")
                print("wrote \(encodings.path)")
            }
            for note in exported.notes { print("note: " + note) }
        }
    }
}

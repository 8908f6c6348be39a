import EqData
import EqGraph
import EqONNX
import EqPasses
import EqQuant
import EqRuntime
import EqTensor
import Foundation

/// What `eqbench export` wrote for one model, variant and precision.
public struct ExportedModel: Sendable {
    public var model: String
    public var variant: String
    public var precision: String
    /// The equalized float model (batch norms folded), and its preprocessing sidecar.
    public var floatModel: URL
    /// The QDQ model and the AIMET-style encodings (nil for fp32).
    public var qdqModel: URL?
    public var encodings: URL?
    /// Largest |Δ logit| / logit range between the exported float model, read
    /// back by eqbench's importer, and the variant's graph on the probe images.
    public var floatRoundTrip: Double
    /// Facts the user should know about the files (e.g. int32 biases the simulation kept float).
    public var notes: [String]
}

extension EvaluationRun {
    /// Applies `variant` to the model as `run` does (passes and calibration on
    /// the first `calibLimit` images of calib/), then writes into `folder`:
    /// - `<model>-<variant>.onnx`, the equalized float model with its batch
    ///   norms folded, and `<model>-<variant>.json`, its preprocessing sidecar,
    ///   so `eqbench run --model` on the file evaluates it as it was measured;
    /// - for an int8 precision, `<model>-<variant>-<precision>.qdq.onnx` (ONNX
    ///   QDQ with the calibrated encodings) and `….encodings.json` (AIMET's layout).
    /// The float file is read back and run before anything is written: a
    /// logit more than 1e-4 of the range away from the variant's is an error.
    /// `unsignedWeightCodes` stores int8 weight codes as uint8 + 128 (see `QDQAnnotation`).
    public func export(_ url: URL, variant name: String, precision: Precision, to folder: URL,
                       unsignedWeightCodes: Bool = false) throws -> ExportedModel {
        let model = try ModelSource.load(url, mean: settings.mean, std: settings.std, resize: settings.resize, crop: settings.crop)
        let variant = try Variant.resolve(name, custom: settings.customVariants)
        try QuantPlan.checkFloatLayers(settings.floatLayers, in: model.graph, source: url.path)
        var report = RunReport()
        let calib = try split("calib", report: &report).prefix(settings.calibLimit)
        guard calib.count > 0 else { throw HarnessError("\(settings.dataset.path)/calib has no images to calibrate on") }
        let data = EvaluationData(images: calib, imageSet: "calib", classes: calib.classes.count,
                                  calibration: calib, resampleSubsets: [])
        position = ProgressUpdate(model: model.name, variant: name, precision: precision.name, phase: "",
                                  imagesDone: 0, imagesTotal: 0, step: 1, steps: 1)
        let probe = try batch(try prepared(calib, set: "calib", for: model), 0..<min(64, calib.count), model.preprocessing)
        let pipeline = try apply(variant, to: model, precision: precision, data: data, probe: probe)
        var deployed = pipeline.graph
        deployed.foldBatchNormsIntoPrecedingLayers()

        // A pipeline that depends on the precision gives a float model per precision.
        let stem = variant.dependsOnPrecision && !precision.isFloat ? "\(model.name)-\(name)-\(precision.name)" : "\(model.name)-\(name)"
        let floatBytes = try ONNXExporter.serialize(deployed, producerVersion: EQBenchVersion.current,
                                                    docString: try describe(model, variant: name, precision: .float, calibImages: calib.count, weightCodes: nil))
        let roundTrip = try roundTripDifference(floatBytes, expected: pipeline.graph, probe: probe, source: stem + ".onnx")
        guard roundTrip <= 1e-4 else {
            throw HarnessError(String(format: "%@: the exported float model's logits differ from the variant's by %.3g of their range; nothing was written", stem, roundTrip))
        }
        var files = [(URL, Data)]()
        var exported = ExportedModel(model: model.name, variant: name, precision: precision.name,
                                     floatModel: folder.appendingPathComponent(stem + ".onnx"),
                                     floatRoundTrip: roundTrip, notes: [])
        files.append((exported.floatModel, floatBytes))
        files.append((folder.appendingPathComponent(stem + ".json"), try sidecar(for: model)))

        if !precision.isFloat {
            let plan = QuantPlan(graph: pipeline.graph, precision: precision, floatLayers: Set(settings.floatLayers))
            let calibration = try calibrate(plan, on: calib, set: "calib", model: model, phase: "calibrate")
            let quantization = try plan.deploymentEncodings(calibration, unsignedWeightCodes: unsignedWeightCodes)
            let qdqStem = variant.dependsOnPrecision ? stem : "\(stem)-\(precision.name)"
            let qdqBytes = try ONNXExporter.serialize(plan.graph, quantization: quantization.annotation,
                                                      producerVersion: EQBenchVersion.current,
                                                      docString: try describe(model, variant: name, precision: precision, calibImages: calib.count,
                                                                         weightCodes: unsignedWeightCodes ? "uint8" : "int8"))
            exported.qdqModel = folder.appendingPathComponent(qdqStem + ".qdq.onnx")
            exported.encodings = folder.appendingPathComponent(qdqStem + ".encodings.json")
            files.append((exported.qdqModel!, qdqBytes))
            files.append((exported.encodings!, try quantization.aimetJSON(precision: precision)))
            exported.notes = quantization.notes
        }
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for (file, bytes) in files { try bytes.write(to: file, options: .atomic) }
        return exported
    }

    /// Imports the exported bytes with eqbench's own importer and returns the
    /// largest logit difference from `expected` on the probe, relative to the range.
    func roundTripDifference(_ bytes: Data, expected: Graph, probe: Tensor, source: String) throws -> Double {
        let reread = try ONNXImporter.importModel(serialized: bytes, source: source)
        let want = try Executor(graph: expected, threads: settings.threads, engine: settings.engine).run(probe).outputs[0]
        let got = try Executor(graph: reread, threads: settings.threads, engine: settings.engine).run(probe).outputs[0]
        let range = Double(want.data.max()! - want.data.min()!)
        return range > 0 ? Double(want.maxAbsDifference(got)) / range : Double(want.maxAbsDifference(got))
    }

    /// What an exported file holds, as the JSON its doc_string carries.
    func describe(_ model: ModelSource, variant: String, precision: Precision, calibImages: Int, weightCodes: String?) throws -> String {
        var about: [String: JSONValue] = [
            "model": .string(model.name), "variant": .string(variant), "precision": .string(precision.name),
            "calib_images": .number(Double(calibImages)),
        ]
        if let weightCodes { about["weight_codes"] = .string(weightCodes) }
        if !settings.floatLayers.isEmpty, !precision.isFloat { about["float_layers"] = .array(settings.floatLayers.map(JSONValue.string)) }
        let fields: [String: JSONValue] = ["eqbench_export": .object(about)]
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(JSONValue.object(fields)), as: UTF8.self)
    }

    /// The model's preprocessing as a sidecar JSON, fixed key order.
    func sidecar(for model: ModelSource) throws -> Data {
        let p = model.preprocessing
        let sidecar = ModelSource.Sidecar(mean: p.mean, std: p.std, resize: p.resize, crop: p.resize == nil ? nil : p.height)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(sidecar)
    }
}

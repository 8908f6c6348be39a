import EqData
import EqGraph
@testable import EqHarness
@testable import EqONNX
import EqQuant
import EqRuntime
import EqTensor
import Foundation
import XCTest

/// `eqbench export`: the files run in ONNX Runtime as eqbench measured them.
/// ONNX Runtime's logits of the exported mbv2_hard `cls` models on the first
/// 256 test images are fixtures written by scripts/check_export.py (float
/// model, and the w8a8-pt-b32 QDQ model with uint8 weight codes, which ONNX
/// Runtime runs with QLinearConv/QGemm/QLinearAdd integer kernels).
final class ExportTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let models = root.appendingPathComponent("Datasets/models")
    static let dataset = root.appendingPathComponent("Datasets/fashion-mnist")
    static let fixtures = root.appendingPathComponent("Tests/EqHarnessTests/Fixtures")
    var scratch: URL!

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("eqbench-export-\(UUID())")
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: scratch) }

    func exporter() -> EvaluationRun {
        EvaluationRun(settings: RunSettings(models: [], dataset: Self.dataset, calibLimit: 500, output: scratch, threads: 2), log: { _ in })
    }

    func ortLogits(_ name: String) throws -> [Float] {
        let data = try Data(contentsOf: Self.fixtures.appendingPathComponent(name + ".ort-logits.f32"))
        return data.withUnsafeBytes { raw in
            (0..<(raw.count / 4)).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
        }
    }

    func testExportedModelsMatchONNXRuntimeOnMbv2Hard() throws {
        let run = exporter()
        let url = Self.models.appendingPathComponent("mbv2_hard.onnx")
        let precision = try Precision.parse("w8a8-pt-b32")
        let exported = try run.export(url, variant: "cls", precision: precision, to: scratch, unsignedWeightCodes: true)
        XCTAssertLessThanOrEqual(exported.floatRoundTrip, 1e-4)

        // eqbench's float logits and its int8 simulation of the exported float model, on the fixture's images.
        let model = try ModelSource.load(exported.floatModel, mean: nil, std: nil)
        let test = try ImageFolder(root: Self.dataset.appendingPathComponent("test"))
        let calib = try ImageFolder(root: Self.dataset.appendingPathComponent("calib")).prefix(500)
        let data = EvaluationRun.EvaluationData(images: test.prefix(256), imageSet: "test", classes: test.classes.count,
                                                calibration: calib, resampleSubsets: [])
        let float = try run.run(model.graph, quantizers: [:], model: model, data: data)
        let plan = QuantPlan(graph: model.graph, precision: precision)
        let calibration = try run.calibrate(plan, on: calib, set: "calib", model: model, phase: "calibrate")
        let simulated = try run.run(plan, calibration, model: model, data: data)

        let ortFloat = try ortLogits("mbv2_hard-cls")
        XCTAssertEqual(ortFloat.count, float.logits.count)
        let range = ortFloat.max()! - ortFloat.min()!
        let floatDiff = zip(float.logits, ortFloat).map { abs($0 - $1) }.max()!
        XCTAssertLessThanOrEqual(floatDiff, 1e-4 * range, "float export vs ONNX Runtime")

        // ONNX Runtime's integer kernels requantize each layer from int32 sums;
        // with uint8 weight codes they compute the simulation's codes (at most
        // a one-step difference allowed, for a tie rounded the other way).
        let ortInt8 = try ortLogits("mbv2_hard-cls-w8a8-pt-b32.qdq")
        let classes = 10
        let agree = (0..<256).filter { i in
            let a = simulated.logits[(i * classes)..<((i + 1) * classes)], b = ortInt8[(i * classes)..<((i + 1) * classes)]
            return a.firstIndex(of: a.max()!)! - i * classes == b.firstIndex(of: b.max()!)! - i * classes
        }.count
        let outputStep = calibration.quantizers[model.graph.outputs[0]]!.scale
        let worst = zip(simulated.logits, ortInt8).map { abs($0 - $1) }.max()!
        print("mbv2_hard cls w8a8-pt-b32: top-1 agrees with ONNX Runtime's integer kernels on \(agree)/256 images; max |Δ logit| \(worst / outputStep) output steps")
        XCTAssertGreaterThanOrEqual(agree, 255)
        XCTAssertLessThanOrEqual(worst, outputStep * 1.001)

        // The same inputs give the same bytes.
        let again = try exporter().export(url, variant: "cls", precision: precision, to: scratch.appendingPathComponent("again"),
                                          unsignedWeightCodes: true)
        for (a, b) in [(exported.floatModel, again.floatModel), (exported.qdqModel!, again.qdqModel!), (exported.encodings!, again.encodings!)] {
            XCTAssertEqual(try Data(contentsOf: a), try Data(contentsOf: b), a.lastPathComponent)
        }
    }
}

import EqONNX
import EqRuntime
import EqTensor
import Foundation
import XCTest

/// Opt-in agreement with ONNX Runtime on models from elsewhere (other
/// exporters, opsets, architectures). Point EQBENCH_ORT_CASES at a folder of
/// `<case>.onnx`, `<case>.input.f32` and `<case>.logits.f32` (float32, little
/// endian), e.g. made by scripts/make_ort_cases.py; without it the test skips.
final class ExternalModelAgreementTests: XCTestCase {
    func testExternalModelsMatchONNXRuntime() throws {
        guard let folder = ProcessInfo.processInfo.environment["EQBENCH_ORT_CASES"] else {
            throw XCTSkip("set EQBENCH_ORT_CASES to a folder made by scripts/make_ort_cases.py")
        }
        let cases = try FileManager.default.contentsOfDirectory(atPath: folder)
            .filter { $0.hasSuffix(".onnx") }.sorted()
        XCTAssertFalse(cases.isEmpty, "no .onnx files in \(folder)")
        for file in cases {
            let base = URL(fileURLWithPath: folder).appendingPathComponent(String(file.dropLast(5)))
            let graph = try ONNXImporter.load(contentsOf: base.appendingPathExtension("onnx"))
            let input = try readFloats(base.appendingPathExtension("input.f32"))
            let expected = try readFloats(base.appendingPathExtension("logits.f32"))
            let sample = graph.input.shape.reduce(1, *)
            let batch = input.count / sample
            let logits = try Executor(graph: graph, threads: 2)
                .run(Tensor(shape: [batch] + graph.input.shape, data: input)).outputs[0]
            let range = expected.max()! - expected.min()!
            let worst = zip(logits.data, expected).map { abs($0 - $1) }.max()!
            print("\(file): max |Δ logit| \(worst) = \(worst / range) of the range \(range)")
            XCTAssertLessThanOrEqual(worst, 1e-4 * range, file)
        }
    }

    func readFloats(_ url: URL) throws -> [Float] {
        let data = try Data(contentsOf: url)
        return data.withUnsafeBytes { raw in
            (0..<(raw.count / 4)).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
        }
    }
}

import EqData
import EqGraph
import EqONNX
import EqRuntime
import EqTensor
import Foundation
import XCTest

/// The float runtime against ONNX Runtime: for every bundled model and both
/// engines (eqbench's kernels and the OpenBLAS reference), the logits of 256
/// test images must agree with ONNX Runtime's (stored as fixtures by
/// Datasets/models/make_ort_fixtures.py) to within 1e-4 of the logits' range.
final class ORTAgreementTests: XCTestCase {
    static let demoModels = ["inception", "mbv2", "mbv2_hard", "mlp", "mlp_hard", "resnet"]

    func testEveryDemoModelMatchesONNXRuntime() throws {
        let paths = try String(contentsOf: RepositoryPaths.fixtures.appendingPathComponent("images.txt"), encoding: .utf8)
            .split(separator: "\n").map(String.init)
        XCTAssertEqual(paths.count, 256)
        let images = try paths.map { try PNGCodec.decode(path: RepositoryPaths.testSplit.appendingPathComponent($0).path) }

        for name in Self.demoModels {
            let modelURL = RepositoryPaths.models.appendingPathComponent(name + ".onnx")
            let graph = try ONNXImporter.load(contentsOf: modelURL)
            let sidecar = try JSONDecoder().decode([String: [Float]].self, from: Data(
                contentsOf: RepositoryPaths.models.appendingPathComponent(name + ".json")).prefixJSON(keys: ["mean", "std"]))
            let prep = try Preprocessing(channels: 1, height: 28, width: 28, mean: sidecar["mean"]!, std: sidecar["std"]!)
            var input = [Float](repeating: 0, count: images.count * prep.count)
            input.withUnsafeMutableBufferPointer { buffer in
                for (i, image) in images.enumerated() { prep.apply(image, into: buffer.baseAddress! + i * prep.count) }
            }
            let reference = try Data(contentsOf: RepositoryPaths.fixtures.appendingPathComponent(name + ".ort-logits.f32"))
            let expected: [Float] = reference.withUnsafeBytes { raw in
                (0..<(raw.count / 4)).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
            }
            for engine in Engine.allCases {
                let logits = try Executor(graph: graph, threads: 2, engine: engine)
                    .run(Tensor(shape: [images.count, 1, 28, 28], data: input)).outputs[0]
                XCTAssertEqual(logits.count, expected.count, name)
                let range = expected.max()! - expected.min()!
                let worst = zip(logits.data, expected).map { abs($0 - $1) }.max()!
                print("\(name) \(engine): max |Δ logit| vs ONNX Runtime \(worst) = \(worst / range) of the range \(range)")
                XCTAssertLessThanOrEqual(worst, 1e-4 * range, "\(name) \(engine): max |Δ logit| \(worst), range \(range)")
            }
        }
    }
}

extension Data {
    /// The sidecar with only the numeric-array keys (it also holds training notes).
    func prefixJSON(keys: [String]) throws -> Data {
        let object = try JSONSerialization.jsonObject(with: self) as? [String: Any] ?? [:]
        return try JSONSerialization.data(withJSONObject: object.filter { keys.contains($0.key) })
    }
}

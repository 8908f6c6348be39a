import EqData
import EqGraph
import EqONNX
import Foundation

/// A model to evaluate: its ONNX file, the imported graph and the
/// preprocessing its inputs need.
///
/// Preprocessing comes from, in order of precedence: the command line
/// (`--mean`, `--std`), the sidecar `<model>.json` beside the model
/// (`{"mean": [...], "std": [...]}`), and otherwise mean 0, std 1.
public struct ModelSource: Sendable {
    public var name: String
    public var url: URL
    public var graph: Graph
    public var preprocessing: Preprocessing

    /// The optional JSON file beside a model.
    public struct Sidecar: Codable, Sendable {
        public var mean: [Float]?
        public var std: [Float]?
    }

    public static func load(_ url: URL, mean: [Float]?, std: [Float]?) throws -> ModelSource {
        let graph = try ONNXImporter.load(contentsOf: url)
        let sidecarURL = url.deletingPathExtension().appendingPathExtension("json")
        var sidecar = Sidecar()
        if let data = FileManager.default.contents(atPath: sidecarURL.path) {
            do {
                sidecar = try JSONDecoder().decode(Sidecar.self, from: data)
            } catch {
                throw HarnessError("\(sidecarURL.path): not a valid sidecar (expected {\"mean\": [...], \"std\": [...]}): \(error.localizedDescription)")
            }
        }
        let shape = graph.input.shape
        guard shape.count == 3 else {
            throw HarnessError("\(url.path): input shape [N] + \(shape) is not an image batch [N, C, H, W]")
        }
        let preprocessing = try Preprocessing(channels: shape[0], height: shape[1], width: shape[2],
                                              mean: mean ?? sidecar.mean ?? [0], std: std ?? sidecar.std ?? [1])
        return ModelSource(name: url.deletingPathExtension().lastPathComponent, url: url,
                           graph: graph, preprocessing: preprocessing)
    }

    /// The `.onnx` files of a folder, sorted by name.
    public static func discover(in folder: URL) throws -> [URL] {
        guard let files = try? FileManager.default.contentsOfDirectory(atPath: folder.path) else {
            throw HarnessError("\(folder.path): model folder not found (pass --model PATH, or run from the repository root)")
        }
        let models = files.filter { $0.hasSuffix(".onnx") }.sorted().map { folder.appendingPathComponent($0) }
        guard !models.isEmpty else { throw HarnessError("\(folder.path): no .onnx models in this folder") }
        return models
    }
}

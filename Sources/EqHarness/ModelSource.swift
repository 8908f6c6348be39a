import EqData
import EqGraph
import EqONNX
import EqPasses
import Foundation

/// A model to evaluate: its ONNX file, the imported graph and the
/// preprocessing its inputs need.
///
/// Preprocessing comes from, in order of precedence: the command line
/// (`--mean`, `--std`, `--resize`, `--crop`), the sidecar `<model>.json`
/// beside the model (`{"mean": [...], "std": [...], "resize": 256, "crop": 224}`),
/// and otherwise mean 0, std 1 and a straight resize to the input size. The
/// crop is the model's input: `crop`, where given, must match it.
public struct ModelSource: Sendable {
    public var name: String
    public var url: URL
    public var graph: Graph
    public var preprocessing: Preprocessing

    /// The optional JSON file beside a model.
    public struct Sidecar: Codable, Sendable {
        public var mean: [Float]?
        public var std: [Float]?
        public var resize: Int?
        public var crop: Int?
    }

    public static func load(_ url: URL, mean: [Float]?, std: [Float]?, resize: Int? = nil, crop: Int? = nil) throws -> ModelSource {
        let graph = try ONNXImporter.load(contentsOf: url)
        let sidecarURL = url.deletingPathExtension().appendingPathExtension("json")
        var sidecar = Sidecar()
        if let data = FileManager.default.contents(atPath: sidecarURL.path) {
            do {
                sidecar = try JSONDecoder().decode(Sidecar.self, from: data)
            } catch {
                throw HarnessError("\(sidecarURL.path): not a valid sidecar (expected {\"mean\": [...], \"std\": [...], \"resize\": N, \"crop\": M}): \(error.localizedDescription)")
            }
        }
        let shape = graph.input.shape
        guard shape.count == 3 else {
            throw HarnessError("\(url.path): input shape [N] + \(shape) is not an image batch [N, C, H, W]")
        }
        let cropSource = crop != nil ? "--crop" : "the sidecar's \"crop\""
        let resize = resize ?? sidecar.resize, crop = crop ?? sidecar.crop
        if let crop, crop != shape[1] || crop != shape[2] {
            throw HarnessError("\(url.path): \(cropSource) \(crop) does not match the model's \(shape[1])×\(shape[2]) input")
        }
        if crop != nil, resize == nil {
            throw HarnessError("\(url.path): a crop needs a resize before it (--resize N, or \"resize\" in the sidecar)")
        }
        let preprocessing = try Preprocessing(channels: shape[0], height: shape[1], width: shape[2],
                                              mean: mean ?? sidecar.mean ?? [0], std: std ?? sidecar.std ?? [1], resize: resize)
        return ModelSource(name: url.deletingPathExtension().lastPathComponent, url: url,
                           graph: graph, preprocessing: preprocessing)
    }

    /// The input this model is fed, as summary.json records it.
    public var inputJSON: JSONValue {
        let p = preprocessing
        func number(_ value: Int?) -> JSONValue { value.map { JSONValue.number(Double($0)) } ?? .null }
        func numbers(_ values: [Float]) -> JSONValue { .array(values.map { JSONValue.number(Double("\($0)") ?? Double($0)) }) }
        let fields: [String: JSONValue] = [
            "channels": number(p.channels), "height": number(p.height), "width": number(p.width),
            "resize": number(p.resize), "crop": number(p.resize == nil ? nil : p.height),
            "mean": numbers(p.mean), "std": numbers(p.std),
        ]
        return .object(fields)
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

extension ModelSource {
    /// Each model's key in every table: its file name without the extension,
    /// or, for models whose file names are alike, as many of their folders as
    /// tell them apart ("nightly/resnet" and "candidate/resnet"). The same
    /// file given twice is an error.
    public static func keys(for urls: [URL]) throws -> [String] {
        let parts = urls.map { $0.standardizedFileURL.deletingPathExtension().pathComponents.filter { $0 != "/" } }
        func key(_ i: Int, depth: Int) -> String { parts[i].suffix(depth).joined(separator: "/") }
        var keys = parts.indices.map { key($0, depth: 1) }
        for stem in Set(keys) {
            let group = keys.indices.filter { keys[$0] == stem }
            guard group.count > 1 else { continue }
            var depth = 1
            while Set(group.map { key($0, depth: depth) }).count < group.count {
                depth += 1
                guard group.contains(where: { parts[$0].count >= depth }) else {
                    throw HarnessError("the model \(urls[group[0]].path) is given twice")
                }
            }
            for i in group { keys[i] = key(i, depth: depth) }
        }
        return keys
    }
}

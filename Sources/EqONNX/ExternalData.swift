import Foundation

/// Reads tensor bytes that an ONNX model keeps in a separate file (as the
/// dynamo exporter and large models do): `external_data` entries `location`
/// (relative to the model's folder), `offset` and `length` in bytes. Files are
/// memory-mapped and opened once each. A location must resolve, symbolic
/// links included, to a regular file inside the model's folder: a model
/// cannot read other files as weights (nor tell their sizes in an error).
final class ExternalData {
    let directory: URL
    let model: String
    private var files = [String: Data]()

    init(directory: URL, model: String) {
        self.directory = directory
        self.model = model
    }

    func read(_ entries: [String: String], tensor: String) throws -> Data {
        guard let location = entries["location"], !location.isEmpty else {
            throw TensorDecoder.Failure(message: "tensor '\(tensor)' is external but names no location")
        }
        guard !location.hasPrefix("/"), !location.split(separator: "/").contains("..") else {
            throw TensorDecoder.Failure(message: "tensor '\(tensor)' points outside the model's folder (\(location))")
        }
        let data: Data
        if let cached = files[location] {
            data = cached
        } else {
            let url = directory.appendingPathComponent(location)
            let folder = directory.resolvingSymlinksInPath().standardizedFileURL.path
            let resolved = url.resolvingSymlinksInPath().standardizedFileURL.path
            guard resolved.hasPrefix(folder.hasSuffix("/") ? folder : folder + "/") else {
                throw TensorDecoder.Failure(message: "tensor '\(tensor)': external data file \(location) resolves outside the model's folder")
            }
            let type = (try? FileManager.default.attributesOfItem(atPath: resolved))?[.type] as? FileAttributeType
            guard type == .typeRegular else {
                throw TensorDecoder.Failure(message: "tensor '\(tensor)': external data \(location) is \(type == nil ? "missing" : "not a regular file")")
            }
            guard let mapped = try? Data(contentsOf: url, options: .alwaysMapped) else {
                throw TensorDecoder.Failure(message: "tensor '\(tensor)': cannot read external data file \(url.path)")
            }
            files[location] = mapped
            data = mapped
        }
        let offset = Int(entries["offset"] ?? "0") ?? -1
        let length = entries["length"].map { Int($0) ?? -1 } ?? (data.count - max(offset, 0))
        let (end, overflow) = offset.addingReportingOverflow(length)
        guard offset >= 0, length >= 0, !overflow, end <= data.count else {
            throw TensorDecoder.Failure(message: "tensor '\(tensor)': offset \(entries["offset"] ?? "0") and length \(entries["length"] ?? "(rest)") lie outside \(location) (\(data.count) bytes)")
        }
        return data.subdata(in: offset..<(offset + length))
    }
}

/// Why an ONNX file could not be imported. Every case names the file, and where
/// it applies the node and op type, so the CLI can print one precise line.
public enum ONNXImportError: Error, Equatable, CustomStringConvertible {
    /// The file could not be read at all.
    case unreadable(file: String, reason: String)
    /// The bytes are not an ONNX model (not protobuf, truncated, or no graph).
    case notONNX(file: String, reason: String)
    /// Ops or attributes eqbench does not execute: every unsupported op type with
    /// the first node that uses it.
    case unsupported(file: String, items: [UnsupportedItem])
    /// The model is ONNX but inconsistent (bad shapes, missing inputs, NaN weights…).
    case invalid(file: String, node: String, message: String)

    /// One unsupported op type (or op type with an unsupported attribute).
    public struct UnsupportedItem: Equatable, Sendable {
        public var opType: String
        public var firstNode: String
        public var detail: String?

        public init(opType: String, firstNode: String, detail: String? = nil) {
            self.opType = opType; self.firstNode = firstNode; self.detail = detail
        }
    }

    public var description: String {
        switch self {
        case let .unreadable(file, reason):
            return "\(file): cannot read the file: \(reason)"
        case let .notONNX(file, reason):
            return "\(file): not a valid ONNX model: \(reason)"
        case let .unsupported(file, items):
            let list = items.map { item in
                "\(item.opType) (first at node '\(item.firstNode)'\(item.detail.map { ": \($0)" } ?? ""))"
            }.joined(separator: ", ")
            return "\(file): unsupported ONNX op\(items.count == 1 ? "" : "s"): \(list)"
        case let .invalid(file, node, message):
            return "\(file): node '\(node)': \(message)"
        }
    }
}

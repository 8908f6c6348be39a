import Foundation

/// Typed, defaulted access to a NodeProto's attributes.
struct Attributes {
    private let byName: [String: Onnx_AttributeProto]

    init(_ node: Onnx_NodeProto) {
        var map = [String: Onnx_AttributeProto]()
        for attribute in node.attribute { map[attribute.name] = attribute }
        byName = map
    }

    var names: Set<String> { Set(byName.keys) }
    func has(_ name: String) -> Bool { byName[name] != nil }

    func int(_ name: String, default value: Int) -> Int {
        byName[name].map { Int(clamping: $0.i) } ?? value
    }

    func float(_ name: String, default value: Float) -> Float {
        byName[name]?.f ?? value
    }

    func ints(_ name: String) -> [Int]? {
        byName[name].map { $0.ints.map { Int(clamping: $0) } }
    }

    func floats(_ name: String) -> [Float]? { byName[name]?.floats }

    func string(_ name: String) -> String? {
        byName[name].map { String(decoding: $0.s, as: UTF8.self) }
    }

    func tensor(_ name: String) -> Onnx_TensorProto? {
        guard let attribute = byName[name], attribute.hasT else { return nil }
        return attribute.t
    }
}

@testable import EqONNX
import Foundation

/// Builds small ONNX models in code, so import tests need no fixture files.
struct ModelBuilder {
    var model = Onnx_ModelProto()

    init(opset: Int64 = 13, input: String = "x", shape: [Int64?] = [nil, 1, 4, 4]) {
        model.irVersion = 8
        var op = Onnx_OperatorSetIdProto()
        op.version = opset
        model.opsetImport = [op]
        var info = Onnx_ValueInfoProto()
        info.name = input
        var type = Onnx_TypeProto.Tensor()
        type.elemType = 1
        var tensorShape = Onnx_TensorShapeProto()
        tensorShape.dim = shape.map { d in
            var dim = Onnx_TensorShapeProto.Dimension()
            if let d { dim.dimValue = d } else { dim.dimParam = "N" }
            return dim
        }
        type.shape = tensorShape
        info.type.tensorType = type
        model.graph.input = [info]
    }

    mutating func output(_ name: String) {
        var info = Onnx_ValueInfoProto()
        info.name = name
        model.graph.output.append(info)
    }

    mutating func initializer(_ name: String, _ dims: [Int64], _ values: [Float]) {
        var t = Onnx_TensorProto()
        t.name = name
        t.dims = dims
        t.dataType = 1
        t.floatData = values
        model.graph.initializer.append(t)
    }

    mutating func intInitializer(_ name: String, _ values: [Int64], scalar: Bool = false) {
        var t = Onnx_TensorProto()
        t.name = name
        t.dims = scalar ? [] : [Int64(values.count)]
        t.dataType = 7
        t.int64Data = values
        model.graph.initializer.append(t)
    }

    mutating func node(_ op: String, _ inputs: [String], _ outputs: [String], name: String = "",
                       ints: [String: [Int64]] = [:], int: [String: Int64] = [:], float: [String: Float] = [:],
                       string: [String: String] = [:], tensor: (String, Onnx_TensorProto)? = nil) {
        var n = Onnx_NodeProto()
        n.opType = op
        n.input = inputs
        n.output = outputs
        n.name = name
        for (k, v) in ints { var a = Onnx_AttributeProto(); a.name = k; a.type = .ints; a.ints = v; n.attribute.append(a) }
        for (k, v) in int { var a = Onnx_AttributeProto(); a.name = k; a.type = .int; a.i = v; n.attribute.append(a) }
        for (k, v) in float { var a = Onnx_AttributeProto(); a.name = k; a.type = .float; a.f = v; n.attribute.append(a) }
        for (k, v) in string { var a = Onnx_AttributeProto(); a.name = k; a.type = .string; a.s = Data(v.utf8); n.attribute.append(a) }
        if let (k, t) = tensor { var a = Onnx_AttributeProto(); a.name = k; a.type = .tensor; a.t = t; n.attribute.append(a) }
        model.graph.node.append(n)
    }

    func data() throws -> Data { try model.serializedData() }
}

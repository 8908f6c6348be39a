import EqTensor
import Foundation

/// Small constructors for the ONNX protobuf messages the exporter writes:
/// tensors as little-endian `raw_data`, attributes, and value infos with a
/// symbolic batch dimension.
enum ProtoBuilding {
    static func floatTensor(_ name: String, shape: [Int], values: [Float]) -> Onnx_TensorProto {
        var bytes = Data(capacity: values.count * 4)
        for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
        return tensor(name, shape: shape, type: .float, raw: bytes)
    }

    static func floatTensor(_ name: String, _ t: Tensor) -> Onnx_TensorProto {
        floatTensor(name, shape: t.shape, values: t.data)
    }

    static func int64Tensor(_ name: String, shape: [Int], values: [Int]) -> Onnx_TensorProto {
        var bytes = Data(capacity: values.count * 8)
        for v in values { withUnsafeBytes(of: Int64(v).littleEndian) { bytes.append(contentsOf: $0) } }
        return tensor(name, shape: shape, type: .int64, raw: bytes)
    }

    static func int32Tensor(_ name: String, shape: [Int], values: [Int32]) -> Onnx_TensorProto {
        var bytes = Data(capacity: values.count * 4)
        for v in values { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
        return tensor(name, shape: shape, type: .int32, raw: bytes)
    }

    /// Codes of at most 8 bits: int8 when `signed`, else uint8.
    static func byteTensor(_ name: String, shape: [Int], codes: [Int], signed: Bool) -> Onnx_TensorProto {
        let bytes = Data(codes.map { UInt8(truncatingIfNeeded: $0) })
        return tensor(name, shape: shape, type: signed ? .int8 : .uint8, raw: bytes)
    }

    static func tensor(_ name: String, shape: [Int], type: Onnx_TensorProto.DataType, raw: Data) -> Onnx_TensorProto {
        var proto = Onnx_TensorProto()
        proto.name = name
        proto.dims = shape.map { Int64($0) }
        proto.dataType = Int32(type.rawValue)
        proto.rawData = raw
        return proto
    }

    static func attribute(_ name: String, int value: Int) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name; a.type = .int; a.i = Int64(value)
        return a
    }

    static func attribute(_ name: String, float value: Float) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name; a.type = .float; a.f = value
        return a
    }

    static func attribute(_ name: String, ints values: [Int]) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name; a.type = .ints; a.ints = values.map { Int64($0) }
        return a
    }

    static func node(_ opType: String, name: String, inputs: [String], output: String,
                     attributes: [Onnx_AttributeProto] = []) -> Onnx_NodeProto {
        var proto = Onnx_NodeProto()
        proto.opType = opType
        proto.name = name
        proto.input = inputs
        proto.output = [output]
        proto.attribute = attributes
        return proto
    }

    /// A float32 value of shape [batch, perSample...], the batch dimension named `N`.
    static func valueInfo(_ name: String, perSampleShape: [Int]) -> Onnx_ValueInfoProto {
        var shape = Onnx_TensorShapeProto()
        var batch = Onnx_TensorShapeProto.Dimension()
        batch.dimParam = "N"
        shape.dim = [batch] + perSampleShape.map { extent in
            var dim = Onnx_TensorShapeProto.Dimension()
            dim.dimValue = Int64(extent)
            return dim
        }
        var tensorType = Onnx_TypeProto.Tensor()
        tensorType.elemType = Int32(Onnx_TensorProto.DataType.float.rawValue)
        tensorType.shape = shape
        var type = Onnx_TypeProto()
        type.tensorType = tensorType
        var info = Onnx_ValueInfoProto()
        info.name = name
        info.type = type
        return info
    }
}

import EqGraph
import EqTensor
import Foundation

/// A constant known at import time: a float tensor (weights, biases, scalars)
/// or an integer tensor, whose elements may be the symbolic batch size (shape
/// arithmetic such as Shape → Gather → Concat → Reshape).
enum ConstantValue: Equatable {
    case floats(Tensor)
    case ints(shape: [Int], values: [ShapeElement])

    /// An element of an integer constant: a number, or the batch size N.
    enum ShapeElement: Equatable {
        case known(Int)
        case batch
    }

    /// A float used as an integer (an index, axis or size), truncated as
    /// Int(_:) does; NaN, infinities and values beyond Int become Int.min or
    /// Int.max, which every size and axis check then refuses (Int(_:) traps).
    static func integer(_ value: Float) -> Int {
        guard value.isFinite else { return value == .infinity ? Int.max : Int.min }
        if value >= 9.2e18 { return Int.max }
        if value <= -9.2e18 { return Int.min }
        return Int(value)
    }

    var shape: [Int] {
        switch self {
        case let .floats(t): return t.shape
        case let .ints(shape, _): return shape
        }
    }

    /// The float tensor, converting known integers; nil if it holds the batch size.
    var floatTensor: Tensor? {
        switch self {
        case let .floats(t): return t
        case let .ints(shape, values):
            var data = [Float]()
            for v in values {
                guard case let .known(k) = v else { return nil }
                data.append(Float(k))
            }
            return Tensor(shape: shape, data: data)
        }
    }

    /// The integers, if every element is a known integer (floats are truncated).
    var knownInts: [Int]? {
        switch self {
        case let .floats(t): return t.data.map(ConstantValue.integer)
        case let .ints(_, values):
            var out = [Int]()
            for v in values {
                guard case let .known(k) = v else { return nil }
                out.append(k)
            }
            return out
        }
    }

    /// The elements as shape elements (floats converted to known integers).
    var elements: [ShapeElement] {
        switch self {
        case let .floats(t): return t.data.map { .known(ConstantValue.integer($0)) }
        case let .ints(_, values): return values
        }
    }
}

/// Decoding of ONNX TensorProto payloads (raw_data little-endian bytes or the
/// typed repeated fields) into eqbench constants. float16, bfloat16 and float64
/// become float32; integer and bool types become integer constants.
enum TensorDecoder {
    struct Failure: Error { var message: String }

    /// Reads the bytes of a tensor stored outside the model file, given its
    /// `external_data` entries (location, offset, length).
    typealias ExternalReader = (_ entries: [String: String], _ tensor: String) throws -> Data

    /// The most elements a tensor in a model file may declare (2^31: 8 GiB of float32).
    static let maxElements = 1 << 31

    static func decode(_ proto: Onnx_TensorProto, external: ExternalReader? = nil) throws -> ConstantValue {
        var proto = proto
        if proto.dataLocation == 1 || !proto.externalData.isEmpty {
            guard let external else {
                throw Failure(message: "tensor '\(proto.name)' keeps its data in an external file, which is only read for models loaded from a file")
            }
            let entries = Dictionary(proto.externalData.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
            proto.rawData = try external(entries, proto.name)
            proto.dataLocation = 0
            proto.externalData = []
        }
        let shape = proto.dims.map { Int($0) }
        guard shape.allSatisfy({ $0 >= 0 }) else {
            throw Failure(message: "tensor '\(proto.name)' has a negative dimension \(shape)")
        }
        // Each dimension too: a tensor with a zero dimension holds nothing, but
        // loops over its other dimensions would still run 2^40 times.
        guard let count = checkedElementCount(shape), count <= maxElements, shape.allSatisfy({ $0 <= maxElements }) else {
            throw Failure(message: "tensor '\(proto.name)' of shape \(shape) has more than \(maxElements) elements (or a dimension longer than that), eqbench's limit per tensor")
        }
        let raw = proto.rawData
        func checkCount(_ n: Int, _ what: String) throws {
            guard n == count else {
                throw Failure(message: "tensor '\(proto.name)' of shape \(shape) holds \(n) \(what) values, expected \(count)")
            }
        }
        func rawElements<T>(_ width: Int, _ load: (UnsafeRawBufferPointer, Int) -> T) throws -> [T] {
            guard raw.count == count * width else {
                throw Failure(message: "tensor '\(proto.name)' of shape \(shape) has \(raw.count) bytes of raw data, expected \(count * width)")
            }
            // raw_data may sit at any alignment inside the file: load unaligned.
            return raw.withUnsafeBytes { bytes in (0..<count).map { load(bytes, $0 * width) } }
        }
        switch Onnx_TensorProto.DataType(rawValue: Int(proto.dataType)) ?? .undefined {
        case .float:
            if !raw.isEmpty {
                let data = try rawElements(4) { Float(bitPattern: UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: $1, as: UInt32.self))) }
                return .floats(Tensor(shape: shape, data: data))
            }
            try checkCount(proto.floatData.count, "float")
            return .floats(Tensor(shape: shape, data: proto.floatData))
        case .double:
            let values: [Double]
            if !raw.isEmpty {
                values = try rawElements(8) { Double(bitPattern: UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: $1, as: UInt64.self))) }
            } else {
                try checkCount(proto.doubleData.count, "double")
                values = proto.doubleData
            }
            return .floats(Tensor(shape: shape, data: values.map { Float($0) }))
        case .float16, .bfloat16:
            let isHalf = proto.dataType == Int32(Onnx_TensorProto.DataType.float16.rawValue)
            let bits: [UInt16]
            if !raw.isEmpty {
                bits = try rawElements(2) { UInt16(littleEndian: $0.loadUnaligned(fromByteOffset: $1, as: UInt16.self)) }
            } else {
                try checkCount(proto.int32Data.count, "16-bit")
                bits = proto.int32Data.map { UInt16(truncatingIfNeeded: $0) }
            }
            let data = bits.map { isHalf ? float(fromHalf: $0) : Float(bitPattern: UInt32($0) << 16) }
            return .floats(Tensor(shape: shape, data: data))
        case .int64:
            let values: [Int64]
            if !raw.isEmpty {
                values = try rawElements(8) { Int64(littleEndian: $0.loadUnaligned(fromByteOffset: $1, as: Int64.self)) }
            } else {
                try checkCount(proto.int64Data.count, "int64")
                values = proto.int64Data
            }
            return .ints(shape: shape, values: values.map { .known(Int(clamping: $0)) })
        case .int32, .int16, .int8, .uint8, .uint16, .bool:
            let width: Int
            switch Onnx_TensorProto.DataType(rawValue: Int(proto.dataType)) {
            case .int32: width = 4
            case .int16, .uint16: width = 2
            default: width = 1
            }
            let signed = proto.dataType != Int32(Onnx_TensorProto.DataType.uint8.rawValue)
                && proto.dataType != Int32(Onnx_TensorProto.DataType.uint16.rawValue)
                && proto.dataType != Int32(Onnx_TensorProto.DataType.bool.rawValue)
            let values: [Int]
            if !raw.isEmpty {
                values = try rawElements(width) { bytes, offset in
                    switch (width, signed) {
                    case (4, _): return Int(Int32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: Int32.self)))
                    case (2, true): return Int(Int16(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: Int16.self)))
                    case (2, false): return Int(UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
                    case (_, true): return Int(bytes.load(fromByteOffset: offset, as: Int8.self))
                    default: return Int(bytes.load(fromByteOffset: offset, as: UInt8.self))
                    }
                }
            } else {
                try checkCount(proto.int32Data.count, "int32")
                values = proto.int32Data.map { Int($0) }
            }
            return .ints(shape: shape, values: values.map { .known($0) })
        default:
            throw Failure(message: "tensor '\(proto.name)' has data type \(proto.dataType), which eqbench does not read")
        }
    }

    /// IEEE 754 half precision bits to Float, done by hand so it works on every
    /// platform (including subnormals, infinities and NaN).
    static func float(fromHalf h: UInt16) -> Float {
        let sign = UInt32(h >> 15) << 31
        let exponent = Int((h >> 10) & 0x1F)
        let mantissa = UInt32(h & 0x3FF)
        if exponent == 0 {
            // Zero or subnormal: mantissa · 2^−24.
            let magnitude = Float(mantissa) * Float(sign: .plus, exponent: -24, significand: 1)
            return sign == 0 ? magnitude : -magnitude
        }
        if exponent == 31 {
            return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13))
        }
        return Float(bitPattern: sign | (UInt32(exponent - 15 + 127) << 23) | (mantissa << 13))
    }
}

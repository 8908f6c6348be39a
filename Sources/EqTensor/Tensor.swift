/// A dense float32 tensor in row-major order (NCHW for images, [out, in, kh, kw]
/// for conv weights, [out, in] for linear weights), with value semantics.
///
/// The elements live in a Swift array, so copies are copy-on-write: a graph copied
/// for a variant shares every weight until a pass changes one. Kernels work on
/// the array's buffer through unsafe pointers (see `withUnsafeBufferPointer`).
public struct Tensor: Equatable, Sendable {
    /// The extent of each dimension; the product equals `data.count`.
    public var shape: [Int]
    /// The elements, row-major.
    public var data: [Float]

    /// A tensor with the given elements; `data.count` must equal the product of `shape`.
    public init(shape: [Int], data: [Float]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        precondition(shape.reduce(1, *) == data.count,
                     "shape \(shape) holds \(shape.reduce(1, *)) elements, data has \(data.count)")
        self.shape = shape
        self.data = data
    }

    /// A tensor of the given shape with every element equal to `value`.
    public init(shape: [Int], repeating value: Float = 0) {
        self.init(shape: shape, data: [Float](repeating: value, count: shape.reduce(1, *)))
    }

    /// A rank-0 tensor holding one value.
    public init(scalar: Float) { self.init(shape: [], data: [scalar]) }

    /// The number of elements.
    @inlinable public var count: Int { data.count }
    /// The number of dimensions.
    @inlinable public var rank: Int { shape.count }

    /// Items `range` along axis 0 (a sub-batch), as a new tensor.
    public func slice(_ range: Range<Int>) -> Tensor {
        let item = shape.dropFirst().reduce(1, *)
        return Tensor(shape: [range.count] + shape.dropFirst(), data: Array(data[(range.lowerBound * item)..<(range.upperBound * item)]))
    }

    /// The same elements under another shape with the same element count.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        Tensor(shape: newShape, data: data)
    }

    /// True when any element is NaN or infinite.
    public var hasNonFinite: Bool { data.contains { !$0.isFinite } }

    /// The largest absolute difference between two tensors of the same shape.
    public func maxAbsDifference(_ other: Tensor) -> Float {
        precondition(shape == other.shape, "shapes differ: \(shape) vs \(other.shape)")
        var worst: Float = 0
        for i in data.indices { worst = max(worst, abs(data[i] - other.data[i])) }
        return worst
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let head = data.prefix(8).map { String($0) }.joined(separator: ", ")
        return "Tensor(\(shape), [\(head)\(data.count > 8 ? ", …" : "")])"
    }
}

/// An elementwise binary operation.
public enum BinaryOperator: String, Equatable, Sendable {
    case add, sub, mul, div

    @inlinable
    public func callAsFunction(_ a: Float, _ b: Float) -> Float {
        switch self {
        case .add: return a + b
        case .sub: return a - b
        case .mul: return a * b
        case .div: return a / b
        }
    }
}

/// Numpy-style broadcasting of two shapes: aligned from the right, a dimension
/// of 1 stretches to the other's extent. Returns nil when they do not broadcast.
public func broadcastShape(_ a: [Int], _ b: [Int]) -> [Int]? {
    let rank = max(a.count, b.count)
    let pa = [Int](repeating: 1, count: rank - a.count) + a
    let pb = [Int](repeating: 1, count: rank - b.count) + b
    var out = [Int]()
    for (x, y) in zip(pa, pb) {
        if x == y || y == 1 { out.append(x) } else if x == 1 { out.append(y) } else { return nil }
    }
    return out
}

/// Element strides of `shape` seen through `outShape` (0 along broadcast axes).
public func broadcastStrides(_ shape: [Int], to outShape: [Int]) -> [Int] {
    let padded = [Int](repeating: 1, count: outShape.count - shape.count) + shape
    var strides = [Int](repeating: 0, count: outShape.count)
    var step = 1
    for axis in stride(from: outShape.count - 1, through: 0, by: -1) {
        strides[axis] = padded[axis] == 1 ? 0 : step
        step *= padded[axis]
    }
    return strides
}

/// out = a ⊙ b with broadcasting; `aStrides`/`bStrides` come from
/// `broadcastStrides` for `outShape`. Equal shapes take a flat loop.
@inlinable
public func broadcastBinary(_ op: BinaryOperator,
                            _ a: UnsafePointer<Float>, aStrides: [Int],
                            _ b: UnsafePointer<Float>, bStrides: [Int],
                            _ out: UnsafeMutablePointer<Float>, outShape: [Int]) {
    let count = outShape.reduce(1, *)
    let contiguous = broadcastStrides(outShape, to: outShape)
    if aStrides == contiguous && bStrides == contiguous {
        switch op {
        case .add: for i in 0..<count { out[i] = a[i] + b[i] }
        case .sub: for i in 0..<count { out[i] = a[i] - b[i] }
        case .mul: for i in 0..<count { out[i] = a[i] * b[i] }
        case .div: for i in 0..<count { out[i] = a[i] / b[i] }
        }
        return
    }
    // Otherwise the trailing axes over which each operand is contiguous or
    // constant (a squeeze-excitation scale [C, 1, 1] over [C, H, W]: one
    // value per H·W run) form the inner loop; the outer axes walk like an odometer.
    let rank = outShape.count
    var split = rank
    while split > 0 {
        let axis = split - 1
        let aFits = aStrides[axis...].elementsEqual(contiguous[axis...]) || aStrides[axis...].allSatisfy { $0 == 0 }
        let bFits = bStrides[axis...].elementsEqual(contiguous[axis...]) || bStrides[axis...].allSatisfy { $0 == 0 }
        guard aFits && bFits else { break }
        split = axis
    }
    let inner = outShape[split...].reduce(1, *)
    let aStep = split < rank && aStrides[split...].allSatisfy { $0 == 0 } ? 0 : 1
    let bStep = split < rank && bStrides[split...].allSatisfy { $0 == 0 } ? 0 : 1
    // One copy of the loops per operator, so each inner loop vectorizes.
    @inline(__always) func runs(_ f: (Float, Float) -> Float) {
        var index = [Int](repeating: 0, count: split)
        var ai = 0, bi = 0
        for o in stride(from: 0, to: count, by: inner) {
            let dst = out + o, x = a + ai, y = b + bi
            switch (aStep, bStep) {
            case (1, 1): for i in 0..<inner { dst[i] = f(x[i], y[i]) }
            case (1, 0): let v = y[0]; for i in 0..<inner { dst[i] = f(x[i], v) }
            case (0, 1): let v = x[0]; for i in 0..<inner { dst[i] = f(v, y[i]) }
            default: let v = f(x[0], y[0]); for i in 0..<inner { dst[i] = v }
            }
            var axis = split - 1
            while axis >= 0 {
                index[axis] += 1
                ai += aStrides[axis]
                bi += bStrides[axis]
                if index[axis] < outShape[axis] { break }
                ai -= aStrides[axis] * outShape[axis]
                bi -= bStrides[axis] * outShape[axis]
                index[axis] = 0
                axis -= 1
            }
        }
    }
    switch op {
    case .add: runs(+)
    case .sub: runs(-)
    case .mul: runs(*)
    case .div: runs(/)
    }
}

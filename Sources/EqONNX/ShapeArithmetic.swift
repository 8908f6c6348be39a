import EqGraph
import EqTensor

/// Import-time evaluation of ops whose inputs are all constants: mostly the
/// shape arithmetic exporters put in front of Reshape (Shape → Gather →
/// Unsqueeze → Concat), where one element may be the symbolic batch size.
extension ImportContext {
    func foldConstant(_ opType: String, inputs: [String], attributes: Attributes) throws -> ConstantValue {
        let values = inputs.map { $0.isEmpty ? nil : constant($0) }
        guard let first = values.first ?? nil else { throw Invalid("\(opType) has no input") }
        switch opType {
        case "Shape":
            let shape = first.shape
            return .ints(shape: [shape.count], values: shape.map { .known($0) })
        case "Cast":
            let to = attributes.int("to", default: 0)
            if [1, 10, 11, 16].contains(to) {
                guard let t = first.floatTensor else { throw Unsupported("Cast of the batch size to float") }
                return .floats(t)
            }
            switch first {
            case .ints: return first
            case let .floats(t): return .ints(shape: t.shape, values: t.data.map { .known(ConstantValue.integer($0)) })
            }
        case "Gather":
            guard let indices = values.count > 1 ? values[1]?.knownInts : nil else { throw Invalid("Gather needs constant indices") }
            let indexShape = values[1]!.shape
            let shape = first.shape
            let axis = normalizeAxis(attributes.int("axis", default: 0), rank: shape.count)
            guard axis >= 0, axis < shape.count else { throw Invalid("Gather axis out of range") }
            let outer = try product(shape[..<axis]), inner = try product(shape[(axis + 1)...])
            let elements = first.elements
            var out = [ConstantValue.ShapeElement]()
            for o in 0..<outer {
                for raw in indices {
                    let i = raw < 0 ? raw + shape[axis] : raw
                    guard i >= 0, i < shape[axis] else { throw Invalid("Gather index \(raw) out of range") }
                    out += elements[(o * shape[axis] + i) * inner ..< (o * shape[axis] + i + 1) * inner]
                }
            }
            let outShape = Array(shape[..<axis]) + indexShape + Array(shape[(axis + 1)...])
            return rebuild(first, shape: outShape, elements: out)
        case "Unsqueeze", "Squeeze", "Flatten", "Reshape":
            var newShape: [Int]
            if opType == "Flatten" {
                let axis = normalizeAxis(attributes.int("axis", default: 1), rank: first.shape.count)
                newShape = [try product(first.shape[..<axis]), try product(first.shape[axis...])]
            } else if opType == "Reshape" {
                guard let target = values.count > 1 ? values[1]?.knownInts : nil else { throw Invalid("Reshape needs a constant shape") }
                newShape = try resolveTarget(target, inputShape: first.shape, allowZero: attributes.int("allowzero", default: 0) != 0)
            } else {
                newShape = try reshapeAxes(opType, shape: first.shape, axes: try axesOperand(attributes, inputs: inputs))
            }
            return rebuild(first, shape: newShape, elements: first.elements)
        case "Concat":
            let parts = values.compactMap { $0 }
            let rank = first.shape.count
            let axis = normalizeAxis(attributes.int("axis", default: 0), rank: rank)
            guard rank == 1, axis == 0 else { throw Unsupported("Concat of constants of rank \(rank)") }
            let elements = parts.flatMap(\.elements)
            if parts.allSatisfy({ if case .floats = $0 { return true } else { return false } }) {
                return .floats(Tensor(shape: [elements.count], data: parts.flatMap { $0.floatTensor!.data }))
            }
            return .ints(shape: [elements.count], values: elements)
        case "Slice":
            guard first.shape.count == 1 else { throw Unsupported("Slice of constants of rank \(first.shape.count)") }
            guard let starts = values.count > 1 ? values[1]?.knownInts : attributes.ints("starts"),
                  let ends = values.count > 2 ? values[2]?.knownInts : attributes.ints("ends"),
                  starts.count == 1, ends.count == 1 else { throw Invalid("Slice needs constant starts and ends") }
            let step = values.count > 4 ? (values[4]?.knownInts?.first ?? 1) : 1
            guard step != 0 else { throw Invalid("Slice step is 0") }
            let n = first.shape[0]
            func clampIndex(_ i: Int, _ low: Int, _ high: Int) -> Int { min(max(i < 0 ? i + n : i, low), high) }
            let elements = first.elements
            var picked = [ConstantValue.ShapeElement]()
            if step > 0 {
                var i = clampIndex(starts[0], 0, n)
                let end = clampIndex(ends[0], 0, n)
                while i < end {
                    picked.append(elements[i])
                    let (next, overflow) = i.addingReportingOverflow(step)
                    if overflow { break }
                    i = next
                }
            } else {
                var i = clampIndex(starts[0], 0, n - 1)
                let end = clampIndex(ends[0], -1, n - 1)
                while i > end {
                    picked.append(elements[i])
                    let (next, overflow) = i.addingReportingOverflow(step)
                    if overflow { break }
                    i = next
                }
            }
            return rebuild(first, shape: [picked.count], elements: picked)
        case "Add", "Sub", "Mul", "Div":
            guard values.count == 2, let a = first.floatTensor, let b = values[1]?.floatTensor else {
                throw Unsupported("arithmetic on the symbolic batch size")
            }
            guard let outShape = broadcastShape(a.shape, b.shape) else { throw Invalid("shapes \(a.shape) and \(b.shape) do not broadcast") }
            let op: BinaryOperator = ["Add": .add, "Sub": .sub, "Mul": .mul, "Div": .div][opType]!
            var out = [Float](repeating: 0, count: try product(outShape))
            a.data.withUnsafeBufferPointer { pa in
                b.data.withUnsafeBufferPointer { pb in
                    out.withUnsafeMutableBufferPointer { po in
                        broadcastBinary(op, pa.baseAddress!, aStrides: broadcastStrides(a.shape, to: outShape),
                                        pb.baseAddress!, bStrides: broadcastStrides(b.shape, to: outShape),
                                        po.baseAddress!, outShape: outShape)
                    }
                }
            }
            let result = Tensor(shape: outShape, data: out)
            if case .ints = first, case .ints? = values[1] {
                // Integer arithmetic (Div truncates toward zero, as ONNX does for ints).
                return .ints(shape: outShape, values: result.data.map { .known(ConstantValue.integer($0)) })
            }
            return .floats(result)
        default:
            throw Unsupported("constant folding of \(opType)")
        }
    }

    func rebuild(_ like: ConstantValue, shape: [Int], elements: [ConstantValue.ShapeElement]) -> ConstantValue {
        if case .floats = like {
            return .floats(Tensor(shape: shape, data: elements.map { if case let .known(k) = $0 { return Float(k) } else { return 0 } }))
        }
        return .ints(shape: shape, values: elements)
    }

    /// Squeeze/Unsqueeze of a shape; axes nil squeezes every 1 (never the batch
    /// axis, marked -1 by the caller).
    func reshapeAxes(_ opType: String, shape: [Int], axes: [Int]?) throws -> [Int] {
        if opType == "Unsqueeze" {
            guard let axes else { throw Invalid("Unsqueeze needs axes") }
            let rank = shape.count + axes.count
            let normalized = Set(axes.map { normalizeAxis($0, rank: rank) })
            guard normalized.count == axes.count, normalized.allSatisfy({ (0..<rank).contains($0) }) else {
                throw Invalid("Unsqueeze axes \(axes) must be distinct and within the output rank \(rank)")
            }
            var out = [Int](), source = shape.makeIterator()
            for axis in 0..<rank { out.append(normalized.contains(axis) ? 1 : source.next()!) }
            return out
        }
        let rank = shape.count
        let normalized = axes.map { Set($0.map { normalizeAxis($0, rank: rank) }) }
            ?? Set(shape.indices.filter { shape[$0] == 1 })
        for axis in normalized where axis < 0 || axis >= rank || shape[axis] != 1 {
            throw Invalid("Squeeze of axis \(axis), which is not of size 1 in \(shape)")
        }
        return shape.enumerated().filter { !normalized.contains($0.offset) }.map(\.element)
    }

    /// A Reshape target against a fully known shape (0 copies, −1 infers).
    func resolveTarget(_ target: [Int], inputShape: [Int], allowZero: Bool) throws -> [Int] {
        var out = target.enumerated().map { i, d in (d == 0 && !allowZero && i < inputShape.count) ? inputShape[i] : d }
        let total = try product(inputShape)
        if let hole = out.firstIndex(of: -1) {
            let known = try product(out.enumerated().filter { $0.offset != hole }.map(\.element))
            guard known > 0, total % known == 0 else { throw Invalid("cannot reshape \(inputShape) to \(target)") }
            out[hole] = total / known
        }
        guard try product(out) == total else { throw Invalid("cannot reshape \(inputShape) to \(target)") }
        return out
    }

    /// A Reshape of an activation with per-sample shape `shape`: the target's
    /// first element must come out as the batch size (N, 0 or an inferred −1),
    /// and the rest as the new per-sample shape.
    func resolveReshape(from shape: [Int], target: [ConstantValue.ShapeElement], allowZero: Bool) throws -> [Int] {
        guard let head = target.first else { throw Unsupported("Reshape to a scalar") }
        let perSample = try product(shape)
        var rest = [Int]()
        for (i, element) in target.enumerated().dropFirst() {
            switch element {
            case .batch: throw Unsupported("Reshape that moves the batch size off axis 0")
            case .known(0) where !allowZero:
                guard i - 1 < shape.count else { throw Invalid("Reshape copies dimension \(i), which the input lacks") }
                rest.append(shape[i - 1])
            case let .known(k): rest.append(k)
            }
        }
        switch head {
        case .batch:
            break
        case .known(0) where !allowZero:
            break
        case .known(-1):
            // Batch inferred: the remaining dims must hold exactly one sample.
            guard !rest.contains(-1), try product(rest) == perSample else {
                throw Unsupported("Reshape whose first dimension is not the batch size")
            }
        default:
            throw Unsupported("Reshape to a fixed batch size")
        }
        if let hole = rest.firstIndex(of: -1) {
            let known = try product(rest.enumerated().filter { $0.offset != hole }.map(\.element))
            guard known > 0, perSample % known == 0 else { throw Invalid("cannot reshape \(shape) to \(rest)") }
            rest[hole] = perSample / known
        }
        guard try product(rest) == perSample else { throw Invalid("cannot reshape [N] + \(shape) to [N] + \(rest)") }
        return rest
    }
}

/// The product of dimensions read from a model file: an error, not a trap,
/// when a dimension is negative or the product overflows.
func product<S: Sequence>(_ dims: S) throws -> Int where S.Element == Int {
    let dims = Array(dims)
    guard let count = checkedElementCount(dims) else { throw Invalid("dimensions \(dims) are negative or their product overflows") }
    return count
}

import EqGraph
import EqTensor

/// Per-channel factors waiting to be multiplied into Conv/Gemm weights, so
/// that iterative cross-layer scaling reads each weight once and writes it
/// once instead of once per iteration. The effective weight of a layer is
///
///   w'[o, i, taps] = w[o, i, taps] · row[o] · column[i]
///
/// (a depthwise conv's row and column are the same channel).
///
/// The ranges the iterations need come from magnitudes gathered in one read
/// pass at the start: max |w| per row and per column, and, for a layer that
/// gets factors on both sides (the middle of a chain), the taps-reduced
/// matrix T[o, i] = max over taps |w[o, i, taps]|, since then
///
///   max|w'| over row o = row[o] · max_i T[o, i]·column[i],
///   max|w'| over column i = column[i] · max_o T[o, i]·row[o].
///
/// T is 1/(kh·kw) of the weight (1/9 for 3×3), so an iteration costs a
/// fraction of a weight read, and only middle layers keep one.
struct PendingScales {
    struct Layer {
        var outs: Int, ins: Int, depthwise: Bool
        var row: [Float]
        var column: [Float]
        var hasRow = false
        var hasColumn = false
        /// max |w| per output row and per input column.
        var rowMax: [Float]
        var columnMax: [Float]
        /// T[o, i] (outs × ins), only for layers scaled on both sides.
        var tapMax: [Float]?
    }

    private(set) var layers = [NodeID: Layer]()

    /// Gathers magnitudes of the weights of layers `ids` (one read each, on up
    /// to `threads` threads); `bothSides` are the layers that will get row and
    /// column factors.
    init(graph: Graph, layers ids: Set<NodeID>, bothSides: Set<NodeID>, threads: Int = 1) {
        var work = [(index: NodeID, weight: Tensor, depthwise: Bool)]()
        for node in graph.nodes where ids.contains(node.id) {
            if case let .conv(c) = node.op { work.append((node.id, c.weight, c.isDepthwise)) }
            if case let .linear(l) = node.op { work.append((node.id, l.weight, false)) }
        }
        work.sort { $0.weight.count > $1.weight.count }   // largest first: the threads finish together
        let results = ConcurrentSlots([Layer?](repeating: nil, count: work.count))
        concurrentForEach(work.count, threads: threads) { [work] k in
            let (i, weight, depthwise) = work[k]
            results.pointers[k] = Self.magnitudes(of: weight, depthwise: depthwise,
                                                keepMatrix: bothSides.contains(i) && !depthwise)
        }
        for (k, item) in work.enumerated() { layers[item.index] = results.pointers[k] }
    }

    /// One pass over a weight [outs, ins, taps…] (depthwise: [outs, 1, taps…]).
    static func magnitudes(of weight: Tensor, depthwise: Bool, keepMatrix: Bool) -> Layer {
        let outs = weight.shape[0], ins = depthwise ? outs : weight.shape[1]
        let taps = weight.count / (outs * (depthwise ? 1 : ins))
        var rowMax = [Float](repeating: 0, count: outs)
        var columnMax = [Float](repeating: 0, count: depthwise ? 0 : ins)
        let matrix = keepMatrix ? UnsafeMutablePointer<Float>.allocate(capacity: outs * ins) : nil
        defer { matrix?.deallocate() }
        weight.data.withUnsafeBufferPointer { w in
            for o in 0..<outs {
                if depthwise {
                    rowMax[o] = absMax(w.baseAddress! + o * taps, count: taps)
                    continue
                }
                let rowStart = w.baseAddress! + o * ins * taps
                let matrixRow = matrix.map { $0 + o * ins }
                var m: Float = 0
                if taps == 1 {
                    typealias V = SIMD8<Float>
                    var lanes = V()
                    var i = 0
                    columnMax.withUnsafeMutableBufferPointer { cm in
                        while i + 8 <= ins {
                            let x = UnsafeRawPointer(rowStart + i).loadUnaligned(as: V.self)
                            let v = x.replacing(with: -x, where: x .< 0)
                            lanes = lanes.replacing(with: v, where: v .> lanes)
                            let c = UnsafeMutableRawPointer(cm.baseAddress! + i)
                            let old = c.load(as: V.self)
                            c.storeBytes(of: old.replacing(with: v, where: v .> old), as: V.self)
                            i += 8
                        }
                        for j in i..<ins {
                            let a = abs(rowStart[j])
                            m = max(m, a)
                            cm[j] = max(cm[j], a)
                        }
                    }
                    m = max(m, lanes.max())
                    if let matrixRow { for j in 0..<ins { matrixRow[j] = abs(rowStart[j]) } }
                } else {
                    columnMax.withUnsafeMutableBufferPointer { cm in
                        for j in 0..<ins {
                            let t = absMax(rowStart + j * taps, count: taps)
                            m = max(m, t)
                            cm[j] = max(cm[j], t)
                            matrixRow?[j] = t
                        }
                    }
                }
                rowMax[o] = m
            }
        }
        return Layer(outs: outs, ins: ins, depthwise: depthwise, row: [Float](repeating: 1, count: outs),
                     column: [Float](repeating: 1, count: ins), rowMax: rowMax, columnMax: columnMax,
                     tapMax: matrix.map { Array(UnsafeBufferPointer(start: $0, count: outs * ins)) })
    }

    /// max |p[0..<count]|, with four independent running maxima (one chain
    /// of dependent max instructions ran at a third of the load rate).
    @inline(__always)
    static func absMax(_ p: UnsafePointer<Float>, count: Int) -> Float {
        if count == 9 {
            // A 3×3 window: one 8-lane vector and the ninth tap.
            let x = UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
            let a = x.replacing(with: -x, where: x .< 0)
            let four = a.lowHalf.replacing(with: a.highHalf, where: a.highHalf .> a.lowHalf)
            let two = four.lowHalf.replacing(with: four.highHalf, where: four.highHalf .> four.lowHalf)
            return max(max(two[0], two[1]), abs(p[8]))
        }
        var (m0, m1, m2, m3): (Float, Float, Float, Float) = (0, 0, 0, 0)
        var k = 0
        while k + 4 <= count {
            m0 = max(m0, abs(p[k])); m1 = max(m1, abs(p[k + 1])); m2 = max(m2, abs(p[k + 2])); m3 = max(m3, abs(p[k + 3]))
            k += 4
        }
        while k < count { m0 = max(m0, abs(p[k])); k += 1 }
        return max(max(m0, m1), max(m2, m3))
    }

    mutating func divideOutputs(_ layer: NodeID, by s: [Float]) {
        layers[layer]!.row = zip(layers[layer]!.row, s).map { $0 / $1 }
        layers[layer]!.hasRow = true
    }

    mutating func multiplyInputs(_ layer: NodeID, by s: [Float]) {
        layers[layer]!.column = zip(layers[layer]!.column, s).map { $0 * $1 }
        layers[layer]!.hasColumn = true
    }

    /// max |w'| per output channel.
    func outputRanges(_ index: NodeID) -> [Float] {
        let l = layers[index]!
        if l.depthwise { return (0..<l.outs).map { l.rowMax[$0] * l.row[$0] * l.column[$0] } }
        guard l.hasColumn, let matrix = l.tapMax else { return (0..<l.outs).map { l.rowMax[$0] * l.row[$0] } }
        return matrix.withUnsafeBufferPointer { t in
            l.column.withUnsafeBufferPointer { column in
                (0..<l.outs).map { o in
                    // max over i of T[o, i]·column[i], eight lanes at a time.
                    typealias V = SIMD8<Float>
                    let row = t.baseAddress! + o * l.ins
                    var lanes = V()
                    var i = 0
                    while i + 8 <= l.ins {
                        let v = UnsafeRawPointer(row + i).loadUnaligned(as: V.self)
                            * UnsafeRawPointer(column.baseAddress! + i).loadUnaligned(as: V.self)
                        lanes = lanes.replacing(with: v, where: v .> lanes)
                        i += 8
                    }
                    var m = lanes.max()
                    while i < l.ins { m = max(m, row[i] * column[i]); i += 1 }
                    return m * l.row[o]
                }
            }
        }
    }

    /// max |w'| per input channel.
    func inputRanges(_ index: NodeID) -> [Float] {
        let l = layers[index]!
        if l.depthwise { return outputRanges(index) }
        guard l.hasRow, let matrix = l.tapMax else { return (0..<l.ins).map { l.columnMax[$0] * l.column[$0] } }
        var ranges = [Float](repeating: 0, count: l.ins)
        matrix.withUnsafeBufferPointer { t in
            ranges.withUnsafeMutableBufferPointer { r in
                for o in 0..<l.outs {
                    let f = l.row[o], row = t.baseAddress! + o * l.ins
                    for i in 0..<l.ins { let v = row[i] * f; r[i] = r[i] > v ? r[i] : v }
                }
            }
        }
        return zip(ranges, l.column).map { $0 * $1 }
    }

    /// Multiplies the factors into the weights and biases, each weight once,
    /// in place, on up to `threads` threads. Each weight is moved out of the
    /// graph while it is scaled, so it is uniquely referenced.
    func write(to graph: inout Graph, threads: Int = 1) {
        let pending = layers.filter { $0.value.hasRow || $0.value.hasColumn }
            .sorted { $0.value.outs * max($0.value.ins, 1) > $1.value.outs * max($1.value.ins, 1) }   // largest first
        editLayersConcurrently(&graph, pending.map { graph.index(of: $0.key)! }, threads: threads) { k, op in
            Self.scale(&op, by: pending[k].value)
        }
    }

    /// w[o, i, taps] *= row[o]·column[i] and b[o] *= row[o], in place.
    static func scale(_ op: inout Op, by l: Layer) {
        LayerScaling.editLayer(&op) { weight, bias, depthwise in
            let outs = weight.shape[0], ins = depthwise ? 1 : weight.shape[1]
            let taps = weight.count / (outs * ins)
            weight.data.withUnsafeMutableBufferPointer { p in
                for o in 0..<outs {
                    if depthwise || !l.hasColumn {
                        let f = l.row[o] * (depthwise ? l.column[o] : 1)
                        let base = p.baseAddress! + o * ins * taps
                        for t in 0..<(ins * taps) { base[t] *= f }
                        continue
                    }
                    if taps == 1 {
                        let base = p.baseAddress! + o * ins, r = l.row[o]
                        l.column.withUnsafeBufferPointer { column in
                            for i in 0..<ins { base[i] *= r * column[i] }
                        }
                        continue
                    }
                    for i in 0..<ins {
                        let f = l.row[o] * l.column[i]
                        let base = p.baseAddress! + (o * ins + i) * taps
                        if taps == 9 {
                            let raw = UnsafeMutableRawPointer(base)
                            raw.storeBytes(of: raw.loadUnaligned(as: SIMD8<Float>.self) * f, as: SIMD8<Float>.self)
                            base[8] *= f
                        } else {
                            for t in 0..<taps { base[t] *= f }
                        }
                    }
                }
            }
            if let b = bias, l.hasRow { bias = Tensor(shape: b.shape, data: b.data.enumerated().map { $1 * l.row[$0] }) }
        }
    }
}

import EqGraph
import EqTensor

/// Per-channel factors waiting to be multiplied into Conv/Gemm weights, so
/// that iterative cross-layer scaling rewrites each weight once instead of
/// once per iteration: the effective weight of a layer is
///
///   w'[o, i, taps] = w[o, i, taps] · row[o] · column[i]
///
/// (a depthwise conv's row and column are the same channel). Ranges of the
/// effective weights come from ranges of the original ones when only one side
/// has factors (max|w'| over a row is row[o] · max|w| over it); a layer with
/// factors on both sides needs a read-only pass over its weights.
struct PendingScales {
    struct Layer {
        var row: [Float]
        var column: [Float]
        var hasRow = false
        var hasColumn = false
        /// max |w| per output row and per input column of the original weights.
        var rowMax: [Float]
        var columnMax: [Float]
        var depthwise: Bool
    }

    private(set) var layers = [Int: Layer]()
    /// The original weights, shared with the graph until `write` (copy-on-write never triggers).
    private var weights: [Int: Tensor]

    init(graph: Graph, layers indices: Set<Int>) {
        var weights = [Int: Tensor]()
        for i in indices {
            let op = graph.nodes[i].op
            let weight: Tensor, depthwise: Bool
            switch op {
            case let .conv(c): (weight, depthwise) = (c.weight, c.isDepthwise)
            case let .linear(l): (weight, depthwise) = (l.weight, false)
            default: continue
            }
            weights[i] = weight
            let rowMax = LayerScaling.outputRanges(op)
            let columnMax = LayerScaling.inputRanges(op)
            layers[i] = Layer(row: [Float](repeating: 1, count: rowMax.count), column: [Float](repeating: 1, count: columnMax.count),
                              rowMax: rowMax, columnMax: columnMax, depthwise: depthwise)
        }
        self.weights = weights
    }

    mutating func divideOutputs(_ layer: Int, by s: [Float]) {
        for o in s.indices { layers[layer]!.row[o] /= s[o] }
        layers[layer]!.hasRow = true
    }

    mutating func multiplyInputs(_ layer: Int, by s: [Float]) {
        for i in s.indices { layers[layer]!.column[i] *= s[i] }
        layers[layer]!.hasColumn = true
    }

    /// max |w'| per output channel.
    func outputRanges(_ index: Int) -> [Float] {
        let l = layers[index]!
        if l.depthwise || !l.hasColumn {
            return l.rowMax.indices.map { o in l.rowMax[o] * l.row[o] * (l.depthwise ? l.column[o] : 1) }
        }
        let w = weights[index]!
        let (outs, ins) = (w.shape[0], w.shape[1])
        let taps = w.count / (outs * ins)
        return w.data.withUnsafeBufferPointer { p in
            (0..<outs).map { o in
                var m: Float = 0
                for i in 0..<ins {
                    let base = (o * ins + i) * taps
                    var c: Float = 0
                    for t in 0..<taps { c = max(c, abs(p[base + t])) }
                    m = max(m, c * l.column[i])
                }
                return m * l.row[o]
            }
        }
    }

    /// max |w'| per input channel.
    func inputRanges(_ index: Int) -> [Float] {
        let l = layers[index]!
        if l.depthwise { return outputRanges(index) }
        if !l.hasRow { return l.columnMax.indices.map { l.columnMax[$0] * l.column[$0] } }
        let w = weights[index]!
        let (outs, ins) = (w.shape[0], w.shape[1])
        let taps = w.count / (outs * ins)
        var ranges = [Float](repeating: 0, count: ins)
        w.data.withUnsafeBufferPointer { p in
            for o in 0..<outs {
                let r = l.row[o]
                for i in 0..<ins {
                    let base = (o * ins + i) * taps
                    var c: Float = 0
                    for t in 0..<taps { c = max(c, abs(p[base + t])) }
                    ranges[i] = max(ranges[i], c * r)
                }
            }
        }
        return zip(ranges, l.column).map { $0 * $1 }
    }

    /// Multiplies the factors into the weights and biases, each weight once.
    /// Releases the shared references first, so the edits happen in place.
    mutating func write(to graph: inout Graph) {
        weights = [:]
        for (index, l) in layers where l.hasRow || l.hasColumn {
            LayerScaling.editLayer(&graph.nodes[index].op) { weight, bias, depthwise in
                let (outs, ins) = (weight.shape[0], weight.shape[1])
                let taps = weight.count / (outs * ins)
                weight.data.withUnsafeMutableBufferPointer { p in
                    for o in 0..<outs {
                        for i in 0..<ins {
                            let f = l.row[o] * (depthwise ? l.column[o] : l.column[i])
                            let base = (o * ins + i) * taps
                            for t in 0..<taps { p[base + t] *= f }
                        }
                    }
                }
                if let b = bias { bias = Tensor(shape: b.shape, data: b.data.enumerated().map { $1 * l.row[$0] }) }
            }
        }
    }
}

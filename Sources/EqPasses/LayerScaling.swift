import EqGraph
import EqTensor

/// Per-channel edits of weighted layers, each touching every weight once.
enum LayerScaling {
    /// Gives `body` the weight and bias of a conv or linear op to edit in
    /// place. The op is emptied while `body` runs, so the arrays are uniquely
    /// referenced and copy-on-write never copies a whole weight tensor. (It
    /// must be `if case`: a `switch` keeps its own copy of the subject alive
    /// through the case body, and every edit then copied the weight — seen
    /// as memmove under scaleRows in `perf`.)
    static func editLayer(_ op: inout Op, _ body: (inout Tensor, inout Tensor?, _ depthwise: Bool) -> Void) {
        if case var .conv(c) = op {
            op = .reshape(to: [])
            body(&c.weight, &c.bias, c.isDepthwise)
            op = .conv(c)
        } else if case var .linear(l) = op {
            op = .reshape(to: [])
            body(&l.weight, &l.bias, false)
            op = .linear(l)
        }
    }

    /// max |w| per output channel (rows of a conv or linear weight).
    static func outputRanges(_ op: Op) -> [Float] {
        let weight: Tensor
        switch op {
        case let .conv(c): weight = c.weight
        case let .linear(l): weight = l.weight
        default: return []
        }
        let rows = weight.shape[0], row = weight.count / rows
        return weight.data.withUnsafeBufferPointer { w in
            (0..<rows).map { r in
                var m: Float = 0
                for i in (r * row)..<((r + 1) * row) { m = max(m, abs(w[i])) }
                return m
            }
        }
    }

    /// max |w| per input channel: over every output and tap of a group-1 conv,
    /// over the channel's own taps of a depthwise conv, over a linear column.
    static func inputRanges(_ op: Op) -> [Float] {
        switch op {
        case let .conv(c) where c.isDepthwise:
            return outputRanges(op)
        case let .conv(c):
            return columnRanges(c.weight)
        case let .linear(l):
            return columnRanges(l.weight)
        default:
            return []
        }
    }

    /// max |w[o, i, taps…]| over o and taps, per input channel i, reading the
    /// weight once in memory order.
    static func columnRanges(_ weight: Tensor) -> [Float] {
        let (outs, ins) = (weight.shape[0], weight.shape[1])
        let taps = weight.count / (outs * ins)
        var ranges = [Float](repeating: 0, count: ins)
        weight.data.withUnsafeBufferPointer { w in
            ranges.withUnsafeMutableBufferPointer { r in
                for o in 0..<outs {
                    for i in 0..<ins {
                        let row = w.baseAddress! + (o * ins + i) * taps
                        var m = r[i]
                        for t in 0..<taps { m = max(m, abs(row[t])) }
                        r[i] = m
                    }
                }
            }
        }
        return ranges
    }

    /// Divides output channel i (weights and bias) by s[i].
    static func divideOutputs(_ op: inout Op, by s: [Float]) {
        editLayer(&op) { weight, bias, _ in
            weight.scaleRows(by: s.map { 1 / $0 })
            if bias != nil { for i in bias!.data.indices { bias!.data[i] /= s[i] } }
        }
    }

    /// Multiplies every weight that reads input channel i by s[i].
    static func multiplyInputs(_ op: inout Op, by s: [Float]) {
        editLayer(&op) { weight, _, depthwise in
            if depthwise {
                weight.scaleRows(by: s)
                return
            }
            // Conv [out, in, kh, kw] or linear [out, in]: taps = 1 for linear.
            let (outs, ins) = (weight.shape[0], weight.shape[1])
            let taps = weight.count / (outs * ins)
            weight.data.withUnsafeMutableBufferPointer { w in
                for o in 0..<outs { for i in 0..<ins {
                    let f = s[i]
                    let base = (o * ins + i) * taps
                    for t in 0..<taps { w[base + t] *= f }
                } }
            }
        }
    }

    /// Adds W·c to the bias of a consumer whose input channel i is shifted by
    /// c[i] (conv: Σ over taps; depthwise: its own taps; linear: the column).
    static func absorbInputShift(_ op: inout Op, shift c: [Float]) {
        editLayer(&op) { weight, bias, depthwise in
            let outs = weight.shape[0]
            var b = bias?.data ?? [Float](repeating: 0, count: outs)
            weight.data.withUnsafeBufferPointer { w in
                if depthwise {
                    let taps = weight.count / outs
                    for o in 0..<outs { for t in 0..<taps { b[o] += w[o * taps + t] * c[o] } }
                } else {
                    let ins = weight.shape[1], taps = weight.count / (outs * ins)
                    for o in 0..<outs { for i in 0..<ins where c[i] != 0 { for t in 0..<taps {
                        b[o] += w[(o * ins + i) * taps + t] * c[i]
                    } } }
                }
            }
            bias = Tensor(shape: [outs], data: b)
        }
    }

    /// Adds `delta[o]` to the bias of output channel o (creating a zero bias first).
    static func addToBias(_ op: inout Op, _ delta: [Float]) {
        editLayer(&op) { _, bias, _ in
            let old = bias?.data ?? [Float](repeating: 0, count: delta.count)
            bias = Tensor(shape: [delta.count], data: zip(old, delta).map { $0 + $1 })
        }
    }

    /// Scales the per-channel state of an op between two layers: ReLU6 turns
    /// into a per-channel clip with bounds divided by s.
    static func divideBetween(_ op: inout Op, by s: [Float]) {
        switch op {
        case let .activation(.clip(lower, upper)):
            op = .clipPerChannel(lower: s.map { lower / $0 }, upper: s.map { upper / $0 })
        case let .clipPerChannel(lower, upper):
            op = .clipPerChannel(lower: zip(lower, s).map { $0 / $1 }, upper: zip(upper, s).map { $0 / $1 })
        default:
            break
        }
    }
}

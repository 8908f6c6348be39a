import EqGraph
import EqTensor

/// Per-channel edits of weighted layers, each touching every weight once.
enum LayerScaling {
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
            let (outs, ins) = (c.weight.shape[0], c.weight.shape[1])
            let taps = c.weight.count / (outs * ins)
            var ranges = [Float](repeating: 0, count: ins)
            c.weight.data.withUnsafeBufferPointer { w in
                for o in 0..<outs { for i in 0..<ins { for t in 0..<taps {
                    ranges[i] = max(ranges[i], abs(w[(o * ins + i) * taps + t]))
                } } }
            }
            return ranges
        case let .linear(l):
            let (outs, ins) = (l.outFeatures, l.inFeatures)
            var ranges = [Float](repeating: 0, count: ins)
            l.weight.data.withUnsafeBufferPointer { w in
                for o in 0..<outs { for i in 0..<ins { ranges[i] = max(ranges[i], abs(w[o * ins + i])) } }
            }
            return ranges
        default:
            return []
        }
    }

    /// Divides output channel i (weights and bias) by s[i].
    static func divideOutputs(_ op: inout Op, by s: [Float]) {
        let inverse = s.map { 1 / $0 }
        switch op {
        case var .conv(c):
            c.weight.scaleRows(by: inverse)
            if var b = c.bias { for i in b.data.indices { b.data[i] /= s[i] }; c.bias = b }
            op = .conv(c)
        case var .linear(l):
            l.weight.scaleRows(by: inverse)
            if var b = l.bias { for i in b.data.indices { b.data[i] /= s[i] }; l.bias = b }
            op = .linear(l)
        default:
            break
        }
    }

    /// Multiplies every weight that reads input channel i by s[i].
    static func multiplyInputs(_ op: inout Op, by s: [Float]) {
        switch op {
        case var .conv(c) where c.isDepthwise:
            c.weight.scaleRows(by: s)
            op = .conv(c)
        case var .conv(c):
            let (outs, ins) = (c.weight.shape[0], c.weight.shape[1])
            let taps = c.weight.count / (outs * ins)
            c.weight.data.withUnsafeMutableBufferPointer { w in
                for o in 0..<outs { for i in 0..<ins { for t in 0..<taps { w[(o * ins + i) * taps + t] *= s[i] } } }
            }
            op = .conv(c)
        case var .linear(l):
            let (outs, ins) = (l.outFeatures, l.inFeatures)
            l.weight.data.withUnsafeMutableBufferPointer { w in
                for o in 0..<outs { for i in 0..<ins { w[o * ins + i] *= s[i] } }
            }
            op = .linear(l)
        default:
            break
        }
    }

    /// Adds W·c to the bias of a consumer whose input channel i is shifted by
    /// c[i] (conv: Σ over taps; depthwise: its own taps; linear: the column).
    static func absorbInputShift(_ op: inout Op, shift c: [Float]) {
        switch op {
        case var .conv(conv):
            let outs = conv.outChannels
            var bias = conv.bias?.data ?? [Float](repeating: 0, count: outs)
            if conv.isDepthwise {
                let taps = conv.weight.count / outs
                for o in 0..<outs { for t in 0..<taps { bias[o] += conv.weight.data[o * taps + t] * c[o] } }
            } else {
                let ins = conv.weight.shape[1], taps = conv.weight.count / (outs * ins)
                for o in 0..<outs { for i in 0..<ins where c[i] != 0 { for t in 0..<taps {
                    bias[o] += conv.weight.data[(o * ins + i) * taps + t] * c[i]
                } } }
            }
            conv.bias = Tensor(shape: [outs], data: bias)
            op = .conv(conv)
        case var .linear(l):
            var bias = l.bias?.data ?? [Float](repeating: 0, count: l.outFeatures)
            for o in 0..<l.outFeatures { for i in 0..<l.inFeatures { bias[o] += l.weight.data[o * l.inFeatures + i] * c[i] } }
            l.bias = Tensor(shape: [l.outFeatures], data: bias)
            op = .linear(l)
        default:
            break
        }
    }

    /// Adds `delta[o]` to the bias of output channel o (creating a zero bias first).
    static func addToBias(_ op: inout Op, _ delta: [Float]) {
        func added(_ bias: Tensor?) -> Tensor {
            let old = bias?.data ?? [Float](repeating: 0, count: delta.count)
            return Tensor(shape: [delta.count], data: zip(old, delta).map { $0 + $1 })
        }
        switch op {
        case var .conv(c): c.bias = added(c.bias); op = .conv(c)
        case var .linear(l): l.bias = added(l.bias); op = .linear(l)
        default: break
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

import EqTensor

/// How a positive per-channel scale s on an op's input reaches its output:
/// the one rule every scaling pass (cross-layer scaling, channel
/// equalization, SmoothQuant and input-weight equalization) walks graphs by.
/// Channel i is axis 0 of the per-sample shape.
public enum ChannelScaleCrossing: Equatable, Sendable {
    /// A Conv or Gemm: absorbs s in its weights (output rows ÷ s, input columns × s).
    case layer
    /// op(x / s) = op(x) / s channel for channel (ReLU, LeakyReLU, PReLU,
    /// pooling, zero padding of spatial axes, reshapes that keep axis 0).
    case commutes
    /// Commutes once the op's per-channel bounds are divided by s:
    /// Clip(0, u) with u > 0 becomes Clip(0, u/s) (`ClipPerChannel`).
    case commutesWithBoundsScaled
    /// An Add of equal shapes: every input and the output carry one scale.
    case residualAdd
    /// A Concat on the channel axis: each input carries its slice of the scale.
    case channelConcat
    /// The scale cannot cross; the reason names what breaks it.
    case blocks(String)

    /// True for ops a scale passes through unchanged or with scaled bounds.
    public var passesThrough: Bool {
        switch self {
        case .commutes, .commutesWithBoundsScaled: return true
        case .layer, .residualAdd, .channelConcat, .blocks: return false
        }
    }
}

/// The op-trait table: what passes, the quantization plan and the runtime's
/// planner need to know about each op, each answered by one exhaustive switch
/// so that a new op must be classified here once and nowhere else.
extension Op {
    /// The number of activation inputs the op reads.
    public var arity: ClosedRange<Int> {
        switch self {
        case .binary: return 2...2
        case .concat: return 1...Int.max
        case .conv, .linear, .batchNorm, .activation, .clipPerChannel, .prelu, .binaryConstant, .maxPool,
             .averagePool, .globalAveragePool, .reshape, .softmax, .pad:
            return 1...1
        }
    }

    /// True for the layers whose weights quantization and equalization act on.
    public var isWeightedLayer: Bool {
        switch self {
        case .conv, .linear: return true
        case .batchNorm, .activation, .clipPerChannel, .prelu, .binary, .binaryConstant, .concat, .maxPool,
             .averagePool, .globalAveragePool, .reshape, .softmax, .pad:
            return false
        }
    }

    /// The weight tensor of a conv or linear layer; nil for other ops.
    public var layerWeight: Tensor? {
        switch self {
        case let .conv(c): return c.weight
        case let .linear(l): return l.weight
        case .batchNorm, .activation, .clipPerChannel, .prelu, .binary, .binaryConstant, .concat, .maxPool,
             .averagePool, .globalAveragePool, .reshape, .softmax, .pad:
            return nil
        }
    }

    /// True for the layers an int8 runtime computes as one u8 × s8 GEMM per
    /// image: linear layers and group-1 convs that are not depthwise.
    public var runsAsOneGemm: Bool {
        switch self {
        case let .conv(c): return c.group == 1 && !c.isDepthwise
        case .linear: return true
        case .batchNorm, .activation, .clipPerChannel, .prelu, .binary, .binaryConstant, .concat, .maxPool,
             .averagePool, .globalAveragePool, .reshape, .softmax, .pad:
            return false
        }
    }

    /// The number of learned parameters the op holds.
    public var parameterCount: Int {
        switch self {
        case let .conv(c): return c.weight.count + (c.bias?.count ?? 0)
        case let .linear(l): return l.weight.count + (l.bias?.count ?? 0)
        case let .batchNorm(b): return 4 * b.channels
        case let .prelu(s): return s.count
        case let .binaryConstant(_, c, _): return c.count
        case let .clipPerChannel(lower, upper): return lower.count + upper.count
        case .activation, .binary, .concat, .maxPool, .averagePool, .globalAveragePool, .reshape, .softmax, .pad:
            return 0
        }
    }

    /// True when an int8 runtime consumes the op's inputs as integers, so the
    /// simulation quantizes them: layers, elementwise ops of two activations,
    /// concatenation and pooling. Activations, batch norms left unfolded,
    /// reshapes and padding read whatever their producer wrote.
    public var readsQuantizedInput: Bool {
        switch self {
        case .conv, .linear, .binary, .concat, .maxPool, .averagePool, .globalAveragePool: return true
        case .batchNorm, .activation, .clipPerChannel, .prelu, .binaryConstant, .reshape, .softmax, .pad: return false
        }
    }

    /// True when dividing the op's output channels by s can be absorbed in its
    /// own parameters: a Conv or Gemm (rows and bias ÷ s) or a batch norm (γ, β ÷ s).
    public var absorbsOutputScale: Bool {
        switch self {
        case .conv, .linear, .batchNorm: return true
        case .activation, .clipPerChannel, .prelu, .binary, .binaryConstant, .concat, .maxPool, .averagePool,
             .globalAveragePool, .reshape, .softmax, .pad:
            return false
        }
    }

    /// How a per-channel scale on the op's input crosses it; `inputs` and
    /// `output` are the per-sample shapes of its activations.
    public func channelScaleCrossing(inputs: [[Int]], output: [Int]) -> ChannelScaleCrossing {
        switch self {
        case .conv, .linear:
            return .layer
        case .activation(.relu), .activation(.leakyRelu), .prelu, .maxPool, .averagePool, .globalAveragePool:
            return .commutes
        case let .activation(.clip(lower, upper)):
            return lower == 0 && upper > 0 ? .commutesWithBoundsScaled
                : .blocks("clips to [\(lower), \(upper)], not positive-homogeneous")
        case let .clipPerChannel(lower, upper):
            return lower.allSatisfy { $0 == 0 } && upper.allSatisfy { $0 > 0 } ? .commutesWithBoundsScaled
                : .blocks("clips to bounds that are not [0, u > 0]")
        case .activation(.sigmoid), .activation(.hardSigmoid), .activation(.hardSwish), .activation(.silu), .softmax:
            return .blocks("is not positive-homogeneous")
        case .batchNorm:
            return .blocks("is an unfolded batch norm")
        case let .pad(pads, value):
            let rank = pads.count / 2
            guard value == 0 else { return .blocks("pads with \(value), not zero") }
            return rank > 0 && pads[0] == 0 && pads[rank] == 0 ? .commutes : .blocks("pads the channel axis")
        case .reshape:
            // Row-major order keeps channel i's elements in row i when axis 0 stays.
            let from = inputs.first ?? []
            return !from.isEmpty && from.first == output.first ? .commutes : .blocks("mixes channels")
        case .binary(.add):
            return inputs.allSatisfy { $0 == output } ? .residualAdd : .blocks("broadcasts")
        case let .binary(op):
            return .blocks("is a \(op.rawValue) of two activations")
        case .binaryConstant:
            return .blocks("applies a constant elementwise")
        case let .concat(axis):
            return axis == 1 || axis == 1 - (output.count + 1) ? .channelConcat : .blocks("concatenates along a non-channel axis")
        }
    }
}

import EqGraph
import EqTensor

/// A path along which a positive per-channel scale can move between two
/// weighted layers without changing the float function: the producer's output
/// channel i, divided by s_i, reaches the consumer's input channel i through
/// ops that commute with positive scaling (ReLU, LeakyReLU, PReLU, ReLU6 with
/// per-channel bounds, max/average/global pooling, zero padding, reshapes that
/// keep channels), each read by nothing else.
public struct ScalingHop: Equatable, Sendable {
    /// Index of the producing Conv/Gemm.
    public var producer: Int
    /// Indices of the ops between, in order.
    public var between: [Int]
    /// Index of the consuming Conv/Gemm (or depthwise conv).
    public var consumer: Int
}

/// A cross-layer-scaling set: a pair (one hop) or a conv → depthwise → conv
/// triplet (two hops through the depthwise layer).
public struct ScalingSet: Equatable, Sendable {
    public var hops: [ScalingHop]
    /// The layers of the set in order, by node index.
    public var layers: [Int] { [hops[0].producer] + hops.map(\.consumer) }
    /// The total scale applied so far on each hop (product over iterations).
    public var scales: [[Float]] = []
}

/// Finds scaling hops and sets in a graph, and explains each layer left out.
/// ReLU6 (Clip(0, 6)) is passed through only when `relu6` allows it.
public struct ScalingChainFinder {
    public enum ReLU6Policy: String, Sendable { case skip, perChannel }

    let graph: Graph
    let shapes: [String: [Int]]
    let consumers: [String: [Int]]
    let relu6: ReLU6Policy

    public init(graph: Graph, relu6: ReLU6Policy) throws {
        self.graph = graph
        self.shapes = try graph.inferShapes()
        self.consumers = graph.consumers()
        self.relu6 = relu6
    }

    /// The hop starting at weighted layer `start`, or why there is none.
    public func hop(from start: Int) -> Result<ScalingHop, SkipReason> {
        guard let channels = Self.outputChannelCount(graph.nodes[start].op) else { return .failure(.notWeighted) }
        if case let .conv(c) = graph.nodes[start].op, c.group != 1, !(c.isDepthwise && c.outChannels == c.inChannels) {
            return .failure(.groups(c.group))
        }
        var value = graph.nodes[start].output
        var between = [Int]()
        while true {
            if graph.outputs.contains(value) { return .failure(.graphOutput) }
            let readers = consumers[value] ?? []
            guard readers.count == 1 else { return .failure(readers.isEmpty ? .graphOutput : .sharedOutput(readers.count)) }
            let next = readers[0]
            let node = graph.nodes[next]
            switch node.op {
            case let .conv(c):
                guard c.inChannels == channels else { return .failure(.channelMismatch) }
                guard c.group == 1 || (c.isDepthwise && c.outChannels == c.inChannels) else { return .failure(.groups(c.group)) }
                return .success(ScalingHop(producer: start, between: between, consumer: next))
            case let .linear(l):
                guard l.inFeatures == channels else { return .failure(.channelMismatch) }
                return .success(ScalingHop(producer: start, between: between, consumer: next))
            case .activation(.relu), .activation(.leakyRelu), .prelu, .maxPool, .averagePool, .globalAveragePool:
                break
            case let .activation(.clip(lower, upper)):
                guard lower == 0, upper > 0 else { return .failure(.notHomogeneous(node.op.typeName)) }
                guard relu6 == .perChannel else { return .failure(.relu6Kept) }
            case let .clipPerChannel(lower, _):
                guard lower.allSatisfy({ $0 == 0 }) else { return .failure(.notHomogeneous(node.op.typeName)) }
            case let .pad(pads, value) where value == 0:
                let rank = pads.count / 2
                guard pads[0] == 0, pads[rank] == 0 else { return .failure(.notHomogeneous("Pad of channels")) }
            case let .reshape(to):
                // Only reshapes that keep channel i as feature i ([C,1,1] ↔ [C]).
                let from = shapes[node.inputs[0]]!
                guard from.first == channels, to.first == channels,
                      from.dropFirst().allSatisfy({ $0 == 1 }), to.dropFirst().allSatisfy({ $0 == 1 })
                else { return .failure(.notHomogeneous("Reshape that mixes channels")) }
            default:
                return .failure(.notHomogeneous(node.op.typeName))
            }
            between.append(next)
            value = node.output
        }
    }

    /// Every pair and triplet, each layer in at most one set as producer and one
    /// as consumer; a depthwise layer between two hops makes a triplet.
    public func sets() -> [ScalingSet] {
        var sets = [ScalingSet]()
        var consumed = Set<Int>()      // layers already the middle or end of a triplet's first hop
        for (i, node) in graph.nodes.enumerated() where node.op.isWeightedLayer && !consumed.contains(i) {
            guard case let .success(first) = hop(from: i) else { continue }
            if case let .conv(mid) = graph.nodes[first.consumer].op, mid.isDepthwise,
               case let .success(second) = hop(from: first.consumer) {
                sets.append(ScalingSet(hops: [first, second]))
                consumed.insert(first.consumer)
            } else {
                sets.append(ScalingSet(hops: [first]))
            }
        }
        return sets
    }

    /// Channels of a weighted layer's output.
    static func outputChannelCount(_ op: Op) -> Int? {
        switch op {
        case let .conv(c): return c.outChannels
        case let .linear(l): return l.outFeatures
        default: return nil
        }
    }
}

/// Why a layer is not part of a scaling set.
public enum SkipReason: Error, Equatable, CustomStringConvertible {
    case notWeighted
    case groups(Int)
    case graphOutput
    case sharedOutput(Int)
    case channelMismatch
    case notHomogeneous(String)
    case relu6Kept

    public var description: String {
        switch self {
        case .notWeighted: return "not a Conv or Gemm"
        case let .groups(g): return "groups not 1 and not channels (group \(g))"
        case .graphOutput: return "output is a graph output, no layer to pair with"
        case let .sharedOutput(n): return "shared output: read by \(n) nodes"
        case .channelMismatch: return "next layer's input channels differ"
        case let .notHomogeneous(op): return "non-positive-homogeneous op between: \(op)"
        case .relu6Kept: return "ReLU6 kept (policy skip)"
        }
    }
}

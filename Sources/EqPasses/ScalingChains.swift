import EqGraph
import EqTensor

/// A path along which a positive per-channel scale can move between two
/// weighted layers without changing the float function: the producer's output
/// channel i, divided by s_i, reaches the consumer's input channel i through
/// ops that pass a scale on (`ChannelScaleCrossing.passesThrough`), each read
/// by nothing else. Nodes are named by their stable ids, so a hop stays valid
/// when other passes insert or remove nodes.
public struct ScalingHop: Equatable, Sendable {
    /// The producing Conv/Gemm.
    public var producer: NodeID
    /// The ops between, in order.
    public var between: [NodeID]
    /// The consuming Conv/Gemm (or depthwise conv).
    public var consumer: NodeID
}

/// A cross-layer-scaling set: a pair (one hop) or a conv → depthwise → conv
/// triplet (two hops through the depthwise layer).
public struct ScalingSet: Equatable, Sendable {
    public var hops: [ScalingHop]
    /// The layers of the set in order.
    public var layers: [NodeID] { [hops[0].producer] + hops.map(\.consumer) }
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
    let position: [NodeID: Int]
    let relu6: ReLU6Policy

    public init(graph: Graph, relu6: ReLU6Policy) throws {
        self.graph = graph
        self.shapes = try graph.inferShapes()
        self.consumers = graph.consumers()
        self.position = Dictionary(uniqueKeysWithValues: graph.nodes.enumerated().map { ($1.id, $0) })
        self.relu6 = relu6
    }

    /// The hop starting at weighted layer `start`, or why there is none.
    public func hop(from start: NodeID) -> Result<ScalingHop, SkipReason> {
        guard let first = position[start], let channels = Self.outputChannelCount(graph.nodes[first].op) else {
            return .failure(.notWeighted)
        }
        if case let .conv(c) = graph.nodes[first].op, c.group != 1, !(c.isDepthwise && c.outChannels == c.inChannels) {
            return .failure(.groups(c.group))
        }
        var value = graph.nodes[first].output
        var between = [NodeID]()
        while true {
            if graph.outputs.contains(value) { return .failure(.graphOutput) }
            let readers = consumers[value] ?? []
            guard readers.count == 1 else { return .failure(readers.isEmpty ? .graphOutput : .sharedOutput(readers.count)) }
            let node = graph.nodes[readers[0]]
            switch node.op.channelScaleCrossing(inputs: node.inputs.map { shapes[$0]! }, output: shapes[node.output]!) {
            case .layer:
                if case let .conv(c) = node.op {
                    guard c.inChannels == channels else { return .failure(.channelMismatch) }
                    guard c.group == 1 || (c.isDepthwise && c.outChannels == c.inChannels) else { return .failure(.groups(c.group)) }
                } else if case let .linear(l) = node.op, l.inFeatures != channels {
                    return .failure(.channelMismatch)
                }
                return .success(ScalingHop(producer: start, between: between, consumer: node.id))
            case .commutes:
                break
            case .commutesWithBoundsScaled:
                if case .activation(.clip) = node.op, relu6 == .skip { return .failure(.relu6Kept) }
            case .residualAdd, .channelConcat, .blocks:
                return .failure(.notHomogeneous(node.op.typeName))
            }
            between.append(node.id)
            value = node.output
        }
    }

    /// Every pair and triplet, each layer in at most one set as producer and one
    /// as consumer; a depthwise layer between two hops makes a triplet.
    public func sets() -> [ScalingSet] {
        var sets = [ScalingSet]()
        var consumed = Set<NodeID>()      // layers already the middle of a triplet
        for node in graph.nodes where node.op.isWeightedLayer && !consumed.contains(node.id) {
            guard case let .success(first) = hop(from: node.id) else { continue }
            if case let .conv(mid) = graph.nodes[position[first.consumer]!].op, mid.isDepthwise,
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
        if case let .conv(c) = op { return c.outChannels }
        if case let .linear(l) = op { return l.outFeatures }
        return nil
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

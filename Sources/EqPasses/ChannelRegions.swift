import EqGraph

/// A group of activations that one per-channel scale vector must move through
/// together, found by channel equalization (the pairing sets of SiMa.ai's channel_scaling).
///
/// Starting from a layer's output, the region takes in every value tied to it
/// channel for channel: through ops that commute with a positive per-channel
/// scale (ReLU, LeakyReLU, PReLU, ReLU6 as per-channel bounds, pooling, zero
/// padding, channel-keeping reshapes) in both directions, and through
/// residual Adds (both inputs and the output of an Add carry the same scale).
/// Its *parents* are the Conv/Gemm layers producing its values, its
/// *children* the Conv/Gemm layers reading them. A region that reaches
/// anything else (a graph input or output, a Mul, a Softmax, a reshape that
/// mixes channels) cannot be scaled, and `problem` says why.
///
/// A Concat on the channel axis is a region boundary: the concat's inputs are
/// parent regions whose only outside readers are concats, and its output
/// starts a region whose producer is the concat (`concatProducer`).
public struct ChannelRegion: Equatable, Sendable {
    /// Channels of every value in the region.
    public var channels: Int
    /// The activations of the region, sorted.
    public var values: [String] = []
    /// Node indices, each list in graph order.
    public var parents: [Int] = []
    public var children: [Int] = []
    /// Ops inside the region that a scale passes through (scaled per channel where they hold state).
    public var between: [Int] = []
    public var adds: [Int] = []
    /// Channel-axis Concats reading a value of the region.
    public var concatReaders: [Int] = []
    /// The Concat producing the region's first value, if any.
    public var concatProducer: Int?
    /// Why the region cannot be scaled (nil: it can).
    public var problem: String?
}

/// Partitions the activations of a graph into `ChannelRegion`s.
struct ChannelRegionFinder {
    let graph: Graph
    let shapes: [String: [Int]]
    let producers: [String: Int]
    let consumers: [String: [Int]]

    init(graph: Graph) throws {
        self.graph = graph
        self.shapes = try graph.inferShapes()
        self.producers = graph.producers()
        self.consumers = graph.consumers()
    }

    /// Every region that starts at a Conv/Gemm output or a channel-axis Concat
    /// output, in graph order, each once.
    func regions() -> [ChannelRegion] {
        var seen = Set<String>()
        var found = [ChannelRegion]()
        for node in graph.nodes where node.op.isWeightedLayer || isChannelConcat(node.op, output: node.output) {
            guard !seen.contains(node.output) else { continue }
            let region = explore(from: node.output)
            seen.formUnion(region.values)
            found.append(region)
        }
        return found
    }

    /// Graph walk over the values tied to `start`.
    func explore(from start: String) -> ChannelRegion {
        let channels = shapes[start]?.first ?? 0
        var region = ChannelRegion(channels: channels)
        var visited: Set<String> = [start]
        var queue = [start]
        func enqueue(_ value: String) {
            if visited.insert(value).inserted { queue.append(value) }
        }
        // A layer may be both a parent and a child (a residual block's conv reads
        // the family and feeds it), so producers and readers are tracked apart;
        // ops inside the region are visited once from either side.
        var producersSeen = Set<Int>(), readersSeen = Set<Int>(), inside = Set<Int>()
        func fail(_ why: String) { if region.problem == nil { region.problem = why } }
        func visit(_ n: Int, role: Role, asReader: Bool) {
            let node = graph.nodes[n]
            switch role {
            case .layer:
                if !asReader { region.parents.append(n) }
                else if let why = childProblem(node.op) { fail("\(node.name) \(why)") }
                else { region.children.append(n) }
            case .passThrough:
                guard inside.insert(n).inserted else { return }
                region.between.append(n); enqueue(node.inputs[0]); enqueue(node.output)
            case .add:
                guard inside.insert(n).inserted else { return }
                region.adds.append(n); for input in node.inputs { enqueue(input) }; enqueue(node.output)
            case .concat:
                if asReader { region.concatReaders.append(n) }
                else if node.output == start { region.concatProducer = n }
                else { fail("\(node.name) (Concat) feeds the region from inside") }
            case let .blocked(why):
                fail("\(node.name) (\(node.op.typeName)) \(why)")
            }
        }

        while let value = queue.popLast() {
            if shapes[value]?.first != channels { fail("\(value) has a different channel count"); continue }
            if graph.outputs.contains(value) { fail("\(value) is a graph output") }
            if let p = producers[value] {
                if producersSeen.insert(p).inserted { visit(p, role: role(of: graph.nodes[p].op, node: graph.nodes[p]), asReader: false) }
            } else {
                fail("\(value) is the graph input")
            }
            for r in consumers[value] ?? [] where readersSeen.insert(r).inserted {
                visit(r, role: role(of: graph.nodes[r].op, node: graph.nodes[r]), asReader: true)
            }
        }
        for keyPath in [\ChannelRegion.parents, \.children, \.between, \.adds, \.concatReaders] { region[keyPath: keyPath].sort() }
        if region.concatProducer == nil, region.parents.isEmpty { fail("no Conv/Gemm produces it") }
        region.values = visited.sorted()
        return region
    }

    enum Role {
        case layer, passThrough, add, concat
        case blocked(String)
    }

    /// How an op relates to the channels of the values it touches (the op-trait table's crossing rule).
    func role(of op: Op, node: Node) -> Role {
        let inputs = node.inputs.map { shapes[$0] ?? [] }
        switch op.channelScaleCrossing(inputs: inputs, output: shapes[node.output] ?? []) {
        case .layer: return .layer
        case .commutes, .commutesWithBoundsScaled: return .passThrough
        case .residualAdd: return .add
        case .channelConcat: return .concat
        case let .blocks(why): return .blocked(why)
        }
    }

    /// Why a reading layer cannot take a per-input-channel division (nil: it can).
    func childProblem(_ op: Op) -> String? {
        guard case let .conv(c) = op, c.group != 1 else { return nil }
        if !c.isDepthwise { return "is a grouped conv (group \(c.group))" }
        return c.outChannels == c.inChannels ? nil : "is a depthwise conv with a channel multiplier"
    }

    func isChannelConcat(_ op: Op, output: String) -> Bool {
        guard case .concat = op else { return false }
        return op.channelScaleCrossing(inputs: [], output: shapes[output] ?? []) == .channelConcat
    }
}

import EqTensor

/// A node's identity within its graph: given when the node joins the graph,
/// never reused, and unchanged when other nodes are inserted or removed. State
/// that passes keep about nodes (folded batch-norm statistics, scaling sets)
/// is keyed by it, never by a node's position in `Graph.nodes`.
public struct NodeID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let value: Int
    public init(_ value: Int) { self.value = value }
    /// The id of a node not yet added to a graph.
    public static let unassigned = NodeID(-1)
    public static func < (a: NodeID, b: NodeID) -> Bool { a.value < b.value }
    public var description: String { "#\(value)" }
}

/// One operation applied to named activation values, producing one value.
public struct Node: Equatable, Sendable {
    /// Stable identity, assigned by the graph the node is added to.
    public internal(set) var id: NodeID
    /// Unique within the graph (ONNX node name, or a generated one).
    public var name: String
    public var op: Op
    /// The activation values the op reads, in the op's order.
    public var inputs: [String]
    /// The value the op writes.
    public var output: String

    public init(name: String, op: Op, inputs: [String], output: String) {
        self.id = .unassigned
        self.name = name; self.op = op; self.inputs = inputs; self.output = output
    }
}

/// The network's data input: a value name and its per-sample shape (the batch
/// dimension is symbolic and not stored, e.g. [1, 28, 28] for NCHW images).
public struct GraphInput: Equatable, Sendable {
    public var name: String
    public var shape: [Int]

    public init(name: String, shape: [Int]) { self.name = name; self.shape = shape }
}

/// eqbench's network IR: one data input, nodes in topological order, named
/// outputs. Value semantics: copying a graph for a variant is cheap (weights are
/// copy-on-write) and passes mutate their own copy.
///
/// Every value is produced by exactly one node (or is the input) and has a
/// static per-sample shape; `inferShapes()` computes them and checks the graph.
/// Every node has a `NodeID`: a node added to `nodes` without one (a fresh
/// `Node(...)`) gets the next unused id.
public struct Graph: Equatable, Sendable {
    public var name: String
    public var input: GraphInput
    public var nodes: [Node] { didSet { assignMissingIDs() } }
    public var outputs: [String]
    /// The next id to give; ids below it are taken, even by removed nodes.
    private var nextID = 0

    public init(name: String, input: GraphInput, nodes: [Node], outputs: [String]) {
        self.name = name; self.input = input; self.nodes = nodes; self.outputs = outputs
        assignMissingIDs()
    }

    private mutating func assignMissingIDs() {
        for node in nodes where node.id.value >= nextID { nextID = node.id.value + 1 }
        guard nodes.contains(where: { $0.id == .unassigned }) else { return }
        for i in nodes.indices where nodes[i].id == .unassigned {
            nodes[i].id = NodeID(nextID)
            nextID += 1
        }
    }

    /// The position of the node with this id in `nodes`.
    public func index(of id: NodeID) -> Int? { nodes.firstIndex { $0.id == id } }

    /// The node with this id; the id must belong to this graph.
    public subscript(id: NodeID) -> Node {
        get {
            guard let i = index(of: id) else { preconditionFailure("node \(id) is not in graph \(name)") }
            return nodes[i]
        }
        set {
            guard let i = index(of: id) else { preconditionFailure("node \(id) is not in graph \(name)") }
            nodes[i] = newValue
        }
    }

    /// Inserts `node` right before the node `id`; returns the new node's id.
    @discardableResult
    public mutating func insert(_ node: Node, before id: NodeID) -> NodeID {
        guard let i = index(of: id) else { preconditionFailure("node \(id) is not in graph \(name)") }
        nodes.insert(node, at: i)
        return nodes[i].id
    }

    /// Index of the node that produces each value.
    public func producers() -> [String: Int] {
        var map = [String: Int]()
        for (i, node) in nodes.enumerated() { map[node.output] = i }
        return map
    }

    /// Indices of the nodes that read each value, in graph order.
    public func consumers() -> [String: [Int]] {
        var map = [String: [Int]]()
        for (i, node) in nodes.enumerated() {
            for input in Set(node.inputs) { map[input, default: []].append(i) }
        }
        return map
    }

    /// `base`, or `base` with the smallest suffix ".2", ".3", … that no node
    /// or value of the graph uses yet.
    public func uniqueName(_ base: String) -> String {
        let taken = Set(nodes.flatMap { [$0.name, $0.output] } + [input.name])
        guard taken.contains(base) else { return base }
        return (2...).lazy.map { "\(base).\($0)" }.first { !taken.contains($0) }!
    }

    /// The index of the node with this name.
    public func index(ofNode name: String) -> Int? { nodes.firstIndex { $0.name == name } }

    /// The total number of learned parameters.
    public var parameterCount: Int { nodes.reduce(0) { $0 + $1.op.parameterCount } }

    /// How many nodes of each op type the graph has, most frequent first.
    public var opCounts: [(op: String, count: Int)] {
        var counts = [String: Int]()
        for node in nodes { counts[node.op.typeName, default: 0] += 1 }
        return counts.map { ($0.key, $0.value) }.sorted { ($0.count, $1.op) > ($1.count, $0.op) }
    }
}

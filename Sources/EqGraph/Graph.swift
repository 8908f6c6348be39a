import EqTensor

/// One operation applied to named activation values, producing one value.
public struct Node: Equatable, Sendable {
    /// Unique within the graph (ONNX node name, or a generated one).
    public var name: String
    public var op: Op
    /// The activation values the op reads, in the op's order.
    public var inputs: [String]
    /// The value the op writes.
    public var output: String

    public init(name: String, op: Op, inputs: [String], output: String) {
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
public struct Graph: Equatable, Sendable {
    public var name: String
    public var input: GraphInput
    public var nodes: [Node]
    public var outputs: [String]

    public init(name: String, input: GraphInput, nodes: [Node], outputs: [String]) {
        self.name = name; self.input = input; self.nodes = nodes; self.outputs = outputs
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

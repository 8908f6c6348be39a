import EqGraph

/// The human-readable listing `eqbench inspect` prints: input and output
/// shapes, parameter count, op counts and every node with its output shape.
public enum GraphSummary {
    public static func render(_ graph: Graph, source: String) throws -> String {
        let shapes = try graph.inferShapes()
        func shape(_ value: String) -> String { "[N, " + shapes[value]!.map(String.init).joined(separator: ", ") + "]" }
        var lines = [
            "model: \(source)",
            "input: \(graph.input.name) \(shape(graph.input.name))",
            "outputs: " + graph.outputs.map { "\($0) \(shape($0))" }.joined(separator: ", "),
            "nodes: \(graph.nodes.count), parameters: \(graph.parameterCount)",
            "ops: " + graph.opCounts.map { "\($0.op) ×\($0.count)" }.joined(separator: ", "),
            "",
        ]
        // Inputs are shown as the index of the node that produces them.
        let producers = graph.producers()
        func origin(_ value: String) -> String { producers[value].map { "#\($0)" } ?? value }
        let rows = graph.nodes.enumerated().map { i, node in
            [String(i), node.name, node.op.typeName, node.inputs.map(origin).joined(separator: ", "), shape(node.output),
             node.op.parameterCount > 0 ? String(node.op.parameterCount) : ""]
        }
        lines.append(TextTable.render(["#", "node", "op", "from", "output shape", "params"], rows))
        return lines.joined(separator: "\n")
    }
}

import EqGraph
import EqPasses
import Foundation

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

/// What the equalization passes would do to a model, as `eqbench inspect`
/// prints it: the batch-norm folds, then for each ReLU6 policy the
/// cross-layer-scaling sets and every Conv/Gemm's coverage, and the
/// channel-equalization pairing sets.
public enum EqualizationSummary {
    public static func render(_ graph: Graph) throws -> String {
        var folded = graph
        var context = PassContext()
        let fold = try BatchNormFolding().apply(to: &folded, context: &context)
        var lines = ["equalization (after bnfold: \(fold.details))"]
        for policy in [ScalingChainFinder.ReLU6Policy.skip, .perChannel] {
            let (sets, coverage) = try CrossLayerScaling(relu6: policy).find(in: folded)
            let label = policy == .skip ? "cls (ReLU6 kept, pairs through it skipped)" : "cls6 / dfq6 (ReLU6 bounds scaled per channel)"
            lines.append("")
            lines.append("\(label): \(sets.count) sets, \(coverage.filter { $0.status == .equalized }.count) of \(coverage.count) layers covered")
            for set in sets {
                let kind = set.hops.count == 2 ? "triplet" : "pair"
                lines.append("  \(kind): " + set.layers.map { folded[$0].name }.joined(separator: " → "))
            }
            let skipped = coverage.filter { $0.status == .skipped }
            if !skipped.isEmpty {
                lines.append("  skipped:")
                lines += skipped.map { "    \($0.node) (\($0.op)): \($0.reason)" }
            }
        }
        let chaneq = ChannelEqualization()
        let (sets, skipped, _) = try chaneq.find(in: folded)
        lines.append("")
        lines.append("chaneq (channel equalization; scales need calibration images): \(sets.count) sets, \(skipped.count) skipped")
        lines += sets.map { "  " + chaneq.describe($0, graph: folded) }
        if !skipped.isEmpty {
            lines.append("  skipped:")
            lines += skipped.map { s in
                "    \(s.kind.rawValue) (\(s.members.map { folded.nodes[$0].name }.joined(separator: ", "))): \(s.reason)"
            }
        }
        return lines.joined(separator: "\n")
    }
}

/// A variant applied to a model without data, as `eqbench inspect --variant`
/// prints it: each pass's report and time. Passes that need calibration
/// images (empirical bias correction) are listed as not run.
public enum PipelineSummary {
    public static func render(_ graph: Graph, variant: Variant) throws -> String {
        var transformed = graph
        var context = PassContext(precision: nil, threads: 1)
        var rows = [[String]]()
        for pass in variant.passes {
            let began = DispatchTime.now().uptimeNanoseconds
            let report: PassReport
            do {
                report = try pass.apply(to: &transformed, context: &context)
            } catch let error as PassError {
                rows.append([pass.name, "", "", "", "", "not run: \(error.message)"])
                continue
            }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - began) / 1e9
            rows.append([pass.name, String(report.setsFound), String(report.setsScaled),
                         report.scaleRange.map { String(format: "%.3g–%.3g", $0.min, $0.max) } ?? "",
                         String(format: "%.4f", seconds), report.details])
        }
        let header = "variant \(variant.name): \(variant.summary); \(graph.parameterCount) parameters\n"
            + "float function: \(variant.floatEffectDescription)"
        return header + "\n" + TextTable.render(["pass", "found", "changed", "scales", "seconds", "details"], rows)
    }
}

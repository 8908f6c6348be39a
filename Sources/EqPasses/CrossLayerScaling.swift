import EqGraph
import EqTensor
import Foundation

/// Cross-layer scaling (Nagel et al. 2019, "Data-Free Quantization Through
/// Weight Equalization and Bias Correction"; AIMET's CrossLayerScaling).
///
/// For a pair of layers with a positively homogeneous path between them
/// (`ScalingChainFinder`), output channel i of the first is divided by s_i and
/// input channel i of the second multiplied by it, which leaves the float
/// function unchanged. With r1_i the range (max |w|) of the first layer's output
/// channel i and r2_i that of the second's input channel i,
///
///   s_i = √(r1_i · r2_i) / r2_i,
///
/// after which both ranges equal √(r1_i · r2_i). For a conv → depthwise →
/// conv triplet with ranges r0, r1, r2 and g = (r0·r1·r2)^(1/3), the first hop
/// scales by r0/g and the second by r0·r1/g², leaving all three ranges at g.
///
/// Sets are scaled repeatedly, because a layer in two sets changes both, until
/// every scale of an iteration is within `tolerance` of 1 or `maxIterations`
/// is reached (both reported). A channel with zero range keeps scale 1; scales
/// are clamped to `scaleBounds` (counted), since unbounded scaling can blow up
/// activations. ReLU6 between layers is kept and skipped (`.skip`), or kept as
/// per-channel bounds Clip(0, 6/s_i) (`.perChannel`); DFQ's `replace` runs the
/// ReLU6 → ReLU pass first. `manualSets` (AIMET's manual mode) restricts the
/// pass to the listed chains of node names.
public struct CrossLayerScaling: GraphPass {
    public let name = "cls"
    public let floatEffect = FloatEffect.preserves
    public var relu6: ScalingChainFinder.ReLU6Policy
    public var maxIterations: Int
    public var tolerance: Float
    public var scaleBounds: ClosedRange<Float>
    public var manualSets: [[String]]?

    public init(relu6: ScalingChainFinder.ReLU6Policy = .skip, maxIterations: Int = 20, tolerance: Float = 1e-3,
                scaleBounds: ClosedRange<Float> = 1e-3...1e3, manualSets: [[String]]? = nil) {
        self.relu6 = relu6; self.maxIterations = maxIterations; self.tolerance = tolerance
        self.scaleBounds = scaleBounds; self.manualSets = manualSets
    }

    /// The sets this pass would scale on `graph`, and a coverage entry for every
    /// weighted layer (what `inspect` prints).
    public func find(in graph: Graph) throws -> (sets: [ScalingSet], coverage: [CoverageEntry]) {
        let finder = try ScalingChainFinder(graph: graph, relu6: relu6)
        var sets = finder.sets()
        if let manualSets {
            let wanted = manualSets.map { $0 }
            let names = { (set: ScalingSet) in set.layers.map { graph[$0].name } }
            for chain in wanted where !sets.contains(where: { names($0) == chain }) {
                throw PassError("cls: manual set \(chain.joined(separator: " → ")) is not a scalable chain in this graph")
            }
            sets = sets.filter { wanted.contains(names($0)) }
        }
        var membership = [NodeID: String]()
        for set in sets {
            let label = set.layers.map { graph[$0].name }.joined(separator: " → ")
            for layer in set.layers where membership[layer] == nil { membership[layer] = label }
        }
        var coverage = [CoverageEntry]()
        for node in graph.nodes where node.op.isWeightedLayer {
            if let label = membership[node.id] {
                coverage.append(CoverageEntry(node: node.name, op: node.op.typeName, set: label, status: .equalized, reason: ""))
            } else {
                let reason: String
                switch finder.hop(from: node.id) {
                case let .failure(why): reason = why.description
                case .success: reason = manualSets == nil ? "its next layer is already in another set" : "not in the manual sets"
                }
                coverage.append(CoverageEntry(node: node.name, op: node.op.typeName, set: "", status: .skipped, reason: reason))
            }
        }
        return (sets, coverage)
    }

    public func apply(to graph: inout Graph, context: inout PassContext) throws -> PassReport {
        var report = PassReport(pass: name)
        var (sets, coverage) = try find(in: graph)
        report.coverage = coverage
        report.setsFound = sets.count
        for s in sets.indices { sets[s].scales = sets[s].hops.map { hop in [Float](repeating: 1, count: channels(of: graph[hop.producer].op)) } }
        var clamps = 0
        var iterations = 0
        var converged = sets.isEmpty
        // Iterations work on pending per-channel factors; the weights are
        // rewritten once at the end, so each weight is written once.
        let producers = Set(sets.flatMap { $0.hops.map(\.producer) }), consumers = Set(sets.flatMap { $0.hops.map(\.consumer) })
        var pending = PendingScales(graph: graph, layers: producers.union(consumers), bothSides: producers.intersection(consumers),
                                    threads: context.threads)
        while iterations < maxIterations && !converged {
            iterations += 1
            var largestStep: Float = 0
            for s in sets.indices {
                let steps = scales(for: sets[s], ranges: pending, clamps: &clamps)
                for (h, step) in steps.enumerated() {
                    apply(step, along: sets[s].hops[h], to: &graph, pending: &pending, context: &context)
                    for c in step.indices { sets[s].scales[h][c] *= step[c] }
                    largestStep = max(largestStep, step.map { abs(log($0)) }.max() ?? 0)
                }
            }
            converged = largestStep < tolerance
        }
        pending.write(to: &graph, threads: context.threads)
        report.setsScaled = sets.filter { $0.scales.joined().contains { $0 != 1 } }.count
        report.noteScales(sets.flatMap { $0.scales.joined() })
        report.details = "\(iterations) iteration\(iterations == 1 ? "" : "s"), \(converged ? "converged" : "not converged") (tolerance \(tolerance)), \(clamps) scale\(clamps == 1 ? "" : "s") clamped to \(scaleBounds.lowerBound)...\(scaleBounds.upperBound), ReLU6 policy \(relu6.rawValue)"
        context.scalingSets = sets
        return report
    }

    func channels(of op: Op) -> Int { ScalingChainFinder.outputChannelCount(op) ?? 0 }

    /// This iteration's scale per hop of a set, from the current weights.
    func scales(for set: ScalingSet, ranges: PendingScales, clamps: inout Int) -> [[Float]] {
        func clamp(_ s: Float) -> Float {
            guard s.isFinite, s > 0 else { return 1 }
            let c = min(max(s, scaleBounds.lowerBound), scaleBounds.upperBound)
            if c != s { clamps += 1 }
            return c
        }
        let first = ranges.outputRanges(set.hops[0].producer)
        if set.hops.count == 1 {
            let second = ranges.inputRanges(set.hops[0].consumer)
            return [zip(first, second).map { r1, r2 in r1 > 0 && r2 > 0 ? clamp((r1 * r2).squareRoot() / r2) : 1 }]
        }
        let middle = ranges.outputRanges(set.hops[0].consumer)
        let last = ranges.inputRanges(set.hops[1].consumer)
        var a = [Float](), c = [Float]()
        for i in first.indices {
            let (r0, r1, r2) = (first[i], middle[i], last[i])
            guard r0 > 0, r1 > 0, r2 > 0 else { a.append(1); c.append(1); continue }
            let g = Float(pow(Double(r0) * Double(r1) * Double(r2), 1.0 / 3))
            a.append(clamp(r0 / g))
            c.append(clamp(r0 * r1 / (g * g)))
        }
        return [a, c]
    }

    /// Moves scale s along one hop: producer outputs ÷ s, ops between adjusted,
    /// consumer inputs × s (both as pending factors); folded-BN statistics of the producer ÷ s.
    func apply(_ s: [Float], along hop: ScalingHop, to graph: inout Graph, pending: inout PendingScales,
               context: inout PassContext) {
        pending.divideOutputs(hop.producer, by: s)
        for b in hop.between { LayerScaling.divideBetween(&graph[b].op, by: s) }
        pending.multiplyInputs(hop.consumer, by: s)
        context.outputsDivided(hop.producer, by: s)
    }
}

import EqGraph
import EqTensor

/// High-bias fold, or bias absorption (Nagel et al. 2019, §4.1; AIMET's
/// HighBiasFold): for a pair P → ReLU → Q whose P has folded-BN statistics
/// (γ, β in P's current output scale, `PassContext.foldedStatistics`), the
/// constant
///
///   c_i = max(0, β_i − 3|γ_i|)
///
/// is subtracted from P's bias and W_Q·c added to Q's bias. Pre-activations
/// inside the 3σ band (x_i ≥ c_i) give exactly the same output, so this is
/// exact there and approximate elsewhere; the harness measures its float
/// change at every layer it touched. ReLU6 kept as per-channel bounds moves
/// its upper bound down by c_i; a max pool after the ReLU commutes with the
/// shift. A Q with zero padding would miss the absorbed constant at its
/// borders, so such pairs are skipped unless `absorbAtPadding` is set.
///
/// The pairs are found on the graph as it is when the pass runs (every
/// scaling hop, `ScalingChainFinder`, with ReLU6 left out), never taken from
/// an earlier pass, so passes that insert nodes in between cannot mislead it.
public struct HighBiasFold: GraphPass {
    public let name = "hbf"
    public let floatEffect = FloatEffect.approximate("exact where a pre-activation is at least c = β − 3|γ|, the folded BN's lower 3σ bound")
    public let requires: Set<PipelineFact> = [.foldedBatchNormStatistics]
    public var absorbAtPadding: Bool

    public init(absorbAtPadding: Bool = false) { self.absorbAtPadding = absorbAtPadding }

    /// Why a layer's pair is not folded.
    public enum Skip: String, Sendable, CaseIterable {
        case noPair = "no scaling pair starts here"
        case noStatistics = "no folded BN statistics"
        case noRectifier = "no ReLU directly after the first layer"
        case padding = "zero padding in the second layer"
        case noHighBias = "no bias above 3σ"
    }

    public func apply(to graph: inout Graph, context: inout PassContext) throws -> PassReport {
        var report = PassReport(pass: name)
        var skipped = [Skip: Int]()
        var absorbed = [Float]()
        let finder = try ScalingChainFinder(graph: graph, relu6: .skip)
        for layer in graph.nodes.filter({ $0.op.isWeightedLayer }).map(\.id) {
            func skip(_ why: Skip) {
                if why != .noPair { skipped[why, default: 0] += 1 }
                report.coverage.append(CoverageEntry(node: graph[layer].name, op: graph[layer].op.typeName, set: "",
                                                     status: .skipped, reason: why.rawValue))
            }
            guard case let .success(hop) = finder.hop(from: layer) else { skip(.noPair); continue }
            report.setsFound += 1
            guard let stats = context.foldedStatistics[hop.producer] else { skip(.noStatistics); continue }
            guard let activation = hop.between.first, isRectifier(graph[activation].op),
                  hop.between.dropFirst().allSatisfy({ if case .maxPool = graph[$0].op { return true } else { return false } })
            else { skip(.noRectifier); continue }
            if case let .conv(q) = graph[hop.consumer].op, !q.geometry.isUnpadded, !absorbAtPadding { skip(.padding); continue }
            let c = zip(stats.beta, stats.gamma).map { beta, gamma in max(0, beta - 3 * abs(gamma)) }
            guard c.contains(where: { $0 > 0 }) else { skip(.noHighBias); continue }
            LayerScaling.addToBias(&graph[hop.producer].op, c.map { -$0 })
            context.biasAdded(hop.producer, c.map { -$0 })
            if case let .clipPerChannel(lower, upper) = graph[activation].op {
                graph[activation].op = .clipPerChannel(lower: lower, upper: zip(upper, c).map { $0 - $1 })
            }
            LayerScaling.absorbInputShift(&graph[hop.consumer].op, shift: c)
            report.setsScaled += 1
            absorbed += c.filter { $0 > 0 }
            report.coverage.append(CoverageEntry(node: graph[layer].name, op: graph[layer].op.typeName,
                                                 set: graph[hop.producer].name + " → " + graph[hop.consumer].name,
                                                 status: .equalized, reason: "", checkedValue: graph[hop.consumer].output))
        }
        report.details = "\(absorbed.count) channel\(absorbed.count == 1 ? "" : "s") absorbed"
            + (absorbed.max().map { String(format: " (largest %.4g)", $0) } ?? "")
            + skipped.sorted { $0.key.rawValue < $1.key.rawValue }.map { "; \($0.value) skipped: \($0.key.rawValue)" }.joined()
        return report
    }

    func isRectifier(_ op: Op) -> Bool {
        if case .activation(.relu) = op { return true }
        if case let .clipPerChannel(lower, _) = op { return lower.allSatisfy { $0 == 0 } }
        return false
    }
}

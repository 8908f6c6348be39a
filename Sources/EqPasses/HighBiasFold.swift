import EqGraph
import EqTensor

/// High-bias fold, or bias absorption (Nagel et al. 2019, §4.1; AIMET's
/// HighBiasFold): for a scaled pair P → ReLU → Q whose P has folded-BN
/// statistics (γ, β, already divided by the CLS scales), the constant
///
///   c_i = max(0, β_i − 3|γ_i|)
///
/// is subtracted from P's bias and W_Q·c added to Q's bias. Pre-activations
/// inside the 3σ band (x_i ≥ c_i) give exactly the same output, so this is
/// exact there and approximate elsewhere; the harness measures its float
/// change. ReLU6 kept as per-channel bounds moves its upper bound down by
/// c_i; a max pool after the ReLU commutes with the shift. A Q with zero padding
/// would miss the absorbed constant at its borders, so such pairs are skipped
/// unless `absorbAtPadding` is set.
public struct HighBiasFold: GraphPass {
    public let name = "hbf"
    public let preservesFloatFunction = false
    public var absorbAtPadding: Bool

    public init(absorbAtPadding: Bool = false) { self.absorbAtPadding = absorbAtPadding }

    public func apply(to graph: inout Graph, context: inout PassContext) throws -> PassReport {
        var report = PassReport(pass: name)
        var skipped = [String: Int]()
        var absorbed = [Float]()
        let hops = context.scalingSets.flatMap(\.hops)
        report.setsFound = hops.count
        for hop in hops {
            let producer = graph.nodes[hop.producer].name
            guard let stats = context.batchNormStatistics[producer] else { skipped["no folded BN statistics", default: 0] += 1; continue }
            guard let activation = hop.between.first, isRectifier(graph.nodes[activation].op),
                  hop.between.dropFirst().allSatisfy({ if case .maxPool = graph.nodes[$0].op { return true } else { return false } })
            else { skipped["no ReLU directly after the first layer", default: 0] += 1; continue }
            if case let .conv(q) = graph.nodes[hop.consumer].op, !q.geometry.isUnpadded, !absorbAtPadding {
                skipped["zero padding in the second layer", default: 0] += 1
                continue
            }
            let c = zip(stats.beta, stats.gamma).map { beta, gamma in max(0, beta - 3 * abs(gamma)) }
            guard c.contains(where: { $0 > 0 }) else { skipped["no bias above 3σ", default: 0] += 1; continue }
            LayerScaling.addToBias(&graph.nodes[hop.producer].op, c.map { -$0 })
            if case let .clipPerChannel(lower, upper) = graph.nodes[activation].op {
                graph.nodes[activation].op = .clipPerChannel(lower: lower, upper: zip(upper, c).map { $0 - $1 })
            }
            LayerScaling.absorbInputShift(&graph.nodes[hop.consumer].op, shift: c)
            context.batchNormStatistics[producer] = (stats.gamma, zip(stats.beta, c).map { $0 - $1 })
            report.setsScaled += 1
            absorbed += c.filter { $0 > 0 }
        }
        report.details = "\(absorbed.count) channel\(absorbed.count == 1 ? "" : "s") absorbed"
            + (absorbed.max().map { String(format: " (largest %.4g)", $0) } ?? "")
            + skipped.sorted { $0.key < $1.key }.map { "; \($0.value) skipped: \($0.key)" }.joined()
        return report
    }

    func isRectifier(_ op: Op) -> Bool {
        switch op {
        case .activation(.relu): return true
        case let .clipPerChannel(lower, _): return lower.allSatisfy { $0 == 0 }
        default: return false
        }
    }
}

import EqGraph
import EqTensor

/// Batch-norm folding (TF's fold_batch_norms, AIMET's fold_all_batch_norms).
///
/// After a layer: w' = w·γ/√(σ²+ε) per output channel, b' = (b − μ)·γ/√(σ²+ε) + β
/// (Conv, grouped and depthwise too, and linear layers).
/// Before a layer, where exact: a BN whose output feeds only one unpadded
/// conv or a linear layer folds forward, w'[:, i] = w[:, i]·a_i and
/// b' = b + Σ_i w[:, i]·t_i, with a = γ/√(σ²+ε), t = β − μ·a (zero padding
/// between them would not be transformed by the BN, so padded convs keep it).
/// A BN that folds neither way stays, and runs as a per-channel affine op.
/// The γ and β of each backward-folded BN go into the context for the
/// high-bias fold. Preserves the float function.
public struct BatchNormFolding: GraphPass {
    public let name = "bnfold"
    public let floatEffect = FloatEffect.preserves
    public let provides: Set<PipelineFact> = [.foldedBatchNormStatistics]
    public let invalidates: Set<PipelineFact> = []

    public init() {}

    public func apply(to graph: inout Graph, context: inout PassContext) throws -> PassReport {
        var report = PassReport(pass: name)
        report.setsFound = graph.nodes.filter { if case .batchNorm = $0.op { return true } else { return false } }.count
        // Biases and graph first, then every folded layer's rows scaled in one
        // concurrent pass over the weights.
        let folds = graph.foldBatchNormsIntoPrecedingLayers(scalingWeights: false)
        let index = Dictionary(graph.nodes.indices.map { (graph.nodes[$0].name, $0) }, uniquingKeysWith: { first, _ in first })
        let layers = folds.map { index[$0.layer]! }
        editLayersConcurrently(&graph, layers, threads: context.threads) { k, op in
            LayerScaling.editLayer(&op) { weight, _, _ in weight.scaleRows(by: folds[k].scale) }
        }
        context.record(folds)
        let forward = foldForward(&graph)
        report.setsScaled = folds.count + forward
        let left = report.setsFound - report.setsScaled
        report.details = "\(folds.count) into the layer before, \(forward) into the layer after, \(left) kept as affine ops"
        return report
    }

    /// Folds BNs into the single unpadded conv or linear layer that reads them.
    func foldForward(_ graph: inout Graph) -> Int {
        var count = 0
        var changed = true
        while changed {
            changed = false
            let consumers = graph.consumers()
            for (i, node) in graph.nodes.enumerated() {
                guard case let .batchNorm(bn) = node.op, !graph.outputs.contains(node.output),
                      let readers = consumers[node.output], readers.count == 1 else { continue }
                let j = readers[0]
                let (a, t) = bn.affine()
                var op = graph.nodes[j].op
                switch op {
                case let .conv(c) where c.geometry.isUnpadded && c.group == 1 && c.inChannels == bn.channels:
                    LayerScaling.absorbInputShift(&op, shift: t)
                    LayerScaling.multiplyInputs(&op, by: a)
                case let .linear(l) where l.inFeatures == bn.channels:
                    LayerScaling.absorbInputShift(&op, shift: t)
                    LayerScaling.multiplyInputs(&op, by: a)
                default:
                    continue
                }
                graph.nodes[j].op = op
                graph.nodes[j].inputs = graph.nodes[j].inputs.map { $0 == node.output ? node.inputs[0] : $0 }
                graph.nodes.remove(at: i)
                count += 1
                changed = true
                break
            }
        }
        return count
    }
}

/// ReLU6 → ReLU (Clip(0, 6) → Relu), the first step of the DFQ recipe so that
/// cross-layer scaling can pass through. Changes the float function: on
/// trained models pre-activations above 6 are common, so the harness reports
/// this pass's own float change apart from the quantization error.
public struct ReLU6ToReLU: GraphPass {
    public let name = "relu6relu"
    public let floatEffect = FloatEffect.changes("every output above 6 of a ReLU6 is no longer clipped")

    public init() {}

    public func apply(to graph: inout Graph, context: inout PassContext) throws -> PassReport {
        var report = PassReport(pass: name)
        for i in graph.nodes.indices {
            if case .activation(.clip(0, 6)) = graph.nodes[i].op {
                graph.nodes[i].op = .activation(.relu)
                report.setsFound += 1
            }
        }
        report.setsScaled = report.setsFound
        report.details = "\(report.setsFound) ReLU6 replaced by ReLU"
        return report
    }
}

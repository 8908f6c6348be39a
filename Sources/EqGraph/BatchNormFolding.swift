import EqTensor

/// A batch norm that was folded into the layer before it, with the
/// parameters the high-bias fold needs later (γ and β of the folded BN).
public struct FoldedBatchNorm: Equatable, Sendable {
    public var batchNorm: String
    public var layer: String
    public var layerID: NodeID
    public var gamma: [Float]
    public var beta: [Float]
    /// The per-output-channel factor γ/√(σ²+ε) of the layer's weight rows
    /// (already applied unless the fold was asked to leave the weights).
    public var scale: [Float]
}

extension Graph {
    /// Folds every BatchNormalization that directly follows a Conv (grouped and
    /// depthwise too) or linear layer into that layer, as int8 runtimes do
    /// before quantizing weights (TF's fold_batch_norms; Jacob et al. 2018):
    ///
    ///   w'[o] = w[o] · γ[o]/√(σ²[o]+ε),   b'[o] = (b[o] − μ[o]) · γ[o]/√(σ²[o]+ε) + β[o]
    ///
    /// A fold happens only when the layer's output feeds nothing but the BN and
    /// is not a graph output; the folded layer then writes the BN's output value.
    /// Returns the folds in graph order. The float function is unchanged up to
    /// rounding. With `scalingWeights` false the weights are left as they are
    /// and the caller must multiply row o of each fold's layer by `scale[o]`
    /// (biases are folded either way): the passes scale many layers at once.
    @discardableResult
    public mutating func foldBatchNormsIntoPrecedingLayers(scalingWeights: Bool = true) -> [FoldedBatchNorm] {
        var folds = [FoldedBatchNorm]()
        var removed = Set<Int>()
        let producers = self.producers()
        let consumers = self.consumers()
        // By index: iterating `nodes` itself would keep a second reference to
        // every weight and turn each in-place edit below into a full copy.
        for i in nodes.indices {
            let node = nodes[i]
            guard case let .batchNorm(bn) = node.op,
                  let p = producers[node.inputs[0]], !removed.contains(p),
                  consumers[node.inputs[0]]?.count == 1, !outputs.contains(node.inputs[0]) else { continue }
            let (scale, shift) = bn.affine()
            /// w' = w·scale per row, b' = b·scale + shift.
            func fold(_ weight: inout Tensor, _ bias: inout Tensor?) {
                if scalingWeights { weight.scaleRows(by: scale) }
                bias = Tensor(shape: [bn.channels], data: (0..<bn.channels).map { o in
                    (bias?.data[o] ?? 0) * scale[o] + shift[o]
                })
            }
            // Empty the node while its layer is edited, so the weight array is
            // uniquely referenced and scaled in place (no copy-on-write copy).
            // `if case`, not `switch`: a switch keeps a copy of its subject
            // alive through the case body, and the weight was copied.
            if case var .conv(layer) = nodes[p].op, layer.outChannels == bn.channels {
                nodes[p].op = .reshape(to: [])
                fold(&layer.weight, &layer.bias)
                nodes[p].op = .conv(layer)
            } else if case var .linear(layer) = nodes[p].op, layer.outFeatures == bn.channels {
                nodes[p].op = .reshape(to: [])
                fold(&layer.weight, &layer.bias)
                nodes[p].op = .linear(layer)
            } else {
                continue
            }
            nodes[p].output = node.output
            removed.insert(i)
            folds.append(FoldedBatchNorm(batchNorm: node.name, layer: nodes[p].name, layerID: nodes[p].id, gamma: bn.gamma, beta: bn.beta, scale: scale))
        }
        nodes = nodes.indices.filter { !removed.contains($0) }.map { nodes[$0] }
        return folds
    }
}

extension Tensor {
    /// Multiplies each slice along axis 0 (an output channel of a conv or
    /// linear weight) by its own factor.
    public mutating func scaleRows(by factors: [Float]) {
        precondition(factors.count == shape[0], "\(factors.count) factors for \(shape[0]) rows")
        let row = count / shape[0]
        data.withUnsafeMutableBufferPointer { p in
            for r in 0..<shape[0] {
                let f = factors[r]
                for i in (r * row)..<((r + 1) * row) { p[i] *= f }
            }
        }
    }
}

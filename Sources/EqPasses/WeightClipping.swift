import EqGraph
import EqTensor

/// Weight clipping: each output channel of every Conv and Gemm keeps its
/// weights within k standard deviations of the channel's mean,
///
///   w ← min(max(w, μ_c − k·σ_c), μ_c + k·σ_c),
///
/// the outlier clipping that Zhao et al. 2019 (Outlier Channel Splitting)
/// compare against: a few large weights no longer set a per-tensor (or
/// per-channel) quantization range for all the others. Changes the float
/// function wherever a weight lies outside the band; layers with fewer than
/// two weights per channel are left alone.
public struct WeightClipping: GraphPass {
    public let name = "wclip"
    public var floatEffect: FloatEffect { .changes("weights beyond \(deviations) standard deviations of their output channel clipped") }
    /// k: the band's half-width in standard deviations.
    public var deviations: Float

    public init(deviations: Float = 3) { self.deviations = deviations }

    public func apply(to graph: inout Graph, context: inout PassContext) throws -> PassReport {
        var report = PassReport(pass: name)
        var clipped = 0, total = 0
        for i in graph.nodes.indices where graph.nodes[i].op.isWeightedLayer {
            report.setsFound += 1
            var layerClipped = 0
            LayerScaling.editLayer(&graph.nodes[i].op) { weight, _, _ in
                let channels = weight.shape[0], row = weight.count / max(channels, 1)
                guard row > 1 else { return }
                weight.data.withUnsafeMutableBufferPointer { w in
                    for c in 0..<channels {
                        let values = w[(c * row)..<((c + 1) * row)]
                        let mean = values.reduce(0.0) { $0 + Double($1) } / Double(row)
                        let variance = values.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(row)
                        let band = Double(deviations) * variance.squareRoot()
                        let (low, high) = (Float(mean - band), Float(mean + band))
                        for k in (c * row)..<((c + 1) * row) where w[k] < low || w[k] > high {
                            w[k] = min(max(w[k], low), high)
                            layerClipped += 1
                        }
                    }
                }
                total += weight.count
            }
            clipped += layerClipped
            if layerClipped > 0 { report.setsScaled += 1 }
        }
        report.details = "k = \(deviations): \(clipped) of \(total) weights clipped"
        return report
    }
}

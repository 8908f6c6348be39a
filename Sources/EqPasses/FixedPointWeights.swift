import EqGraph
import EqQuant
import EqTensor

/// Fixed-point weights, as nnabla's FixedPointWeightConverter:
/// the weights and biases of every Conv and Gemm are replaced by their
/// quantize-dequantize values on a power-of-two step, one step per tensor,
///
///   δ = 2^⌈log2(max|w| / (2^n − 1))⌉   (⌊·⌋ with `floor`),
///
/// with n = bits − 1 for signed values (a sign bit) and n = bits for unsigned
/// ones (negative values then clip to 0); codes are clipped to ±(2^n − 1)
/// (signed) or [0, 2^n − 1]. Weights and biases have separate settings; a
/// tensor that is all zero is left alone. The result is float weights, so the
/// pass composes with any precision. Changes the float function.
public struct FixedPointWeights: GraphPass {
    /// Bit width and sign of one kind of tensor; nil leaves it in float.
    public struct Setting: Equatable, Sendable {
        public var bits: Int
        public var signed: Bool
        public init(bits: Int, signed: Bool = true) { self.bits = bits; self.signed = signed }
    }

    public let name = "fixedpoint"
    public let floatEffect = FloatEffect.changes("weights and biases rounded to power-of-two steps")
    public var weights: Setting?
    public var biases: Setting?
    public var floor: Bool

    public init(weights: Setting? = Setting(bits: 8), biases: Setting? = Setting(bits: 8), floor: Bool = false) {
        self.weights = weights; self.biases = biases; self.floor = floor
    }

    /// The quantizer of one tensor, or nil when it is all zero.
    func quantizer(_ t: Tensor, _ setting: Setting) throws -> FakeQuantizer? {
        let largest = t.data.reduce(Float(0)) { max($0, abs($1)) }
        guard largest > 0 else { return nil }
        let pow2: QuantScheme.PowerOfTwo = floor ? .floor : .ceil
        if setting.signed {
            // Narrow symmetric: codes ±(2^(bits−1) − 1), step max / (2^(bits−1) − 1) rounded to a power of two.
            return try QuantScheme(bits: setting.bits, signed: true, symmetric: true, narrowRange: true, powerOfTwo: pow2)
                .quantizer(min: -largest, max: largest)
        }
        return try QuantScheme(bits: setting.bits, signed: false, symmetric: false, powerOfTwo: pow2).quantizer(min: 0, max: largest)
    }

    public func apply(to graph: inout Graph, context: inout PassContext) throws -> PassReport {
        var report = PassReport(pass: name)
        var steps = [Float]()
        for i in graph.nodes.indices where graph.nodes[i].op.isWeightedLayer {
            report.setsFound += 1
            let node = graph.nodes[i].name
            var failure: Error?
            LayerScaling.editLayer(&graph.nodes[i].op) { weight, bias, _ in
                do {
                    if let setting = weights, let q = try quantizer(weight, setting) {
                        weight = weight.fakeQuantized([q]); steps.append(q.scale)
                    }
                    if let setting = biases, let b = bias, let q = try quantizer(b, setting) {
                        bias = b.fakeQuantized([q])
                    }
                } catch {
                    failure = PassError("fixedpoint: \(node): \(error)")
                }
            }
            if let failure { throw failure }
            report.setsScaled += 1
        }
        report.noteScales(steps)
        report.details = "weights " + (weights.map { "\($0.signed ? "signed" : "unsigned") \($0.bits)-bit" } ?? "float")
            + ", biases " + (biases.map { "\($0.signed ? "signed" : "unsigned") \($0.bits)-bit" } ?? "float")
            + ", step 2^\(floor ? "floor" : "ceil")(log2(max|w| / (2^n − 1))); scales = weight steps"
        return report
    }
}

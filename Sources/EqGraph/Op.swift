import EqTensor

/// A convolution layer (ONNX Conv): weight [out, in/group, kh, kw], optional
/// bias [out], window geometry and group count. group == in == out/multiplier
/// is a depthwise convolution.
public struct ConvLayer: Equatable, Sendable {
    public var weight: Tensor
    public var bias: Tensor?
    public var geometry: WindowGeometry
    public var group: Int

    public init(weight: Tensor, bias: Tensor?, geometry: WindowGeometry, group: Int) {
        self.weight = weight; self.bias = bias; self.geometry = geometry; self.group = group
    }

    public var outChannels: Int { weight.shape[0] }
    public var inChannels: Int { weight.shape[1] * group }
    /// True when every group holds exactly one input channel.
    public var isDepthwise: Bool { group > 1 && group == inChannels }
}

/// A fully connected layer, y = W·x + b, with weight [out, in] and optional
/// bias [out]. ONNX Gemm (alpha, beta, transB) and MatMul(+Add) with a constant
/// right operand import as this, their transposes and scalars folded in.
public struct LinearLayer: Equatable, Sendable {
    public var weight: Tensor
    public var bias: Tensor?

    public init(weight: Tensor, bias: Tensor?) { self.weight = weight; self.bias = bias }

    public var outFeatures: Int { weight.shape[0] }
    public var inFeatures: Int { weight.shape[1] }
}

/// Inference-mode batch normalisation over axis 1:
/// y = γ·(x − μ)/√(σ² + ε) + β, i.e. the per-channel affine map
/// y = x·scale + shift with scale = γ/√(σ²+ε) and shift = β − μ·scale.
public struct BatchNorm: Equatable, Sendable {
    public var gamma: [Float]
    public var beta: [Float]
    public var mean: [Float]
    public var variance: [Float]
    public var epsilon: Float

    public init(gamma: [Float], beta: [Float], mean: [Float], variance: [Float], epsilon: Float) {
        self.gamma = gamma; self.beta = beta; self.mean = mean
        self.variance = variance; self.epsilon = epsilon
    }

    public var channels: Int { gamma.count }

    /// The per-channel (scale, shift) of the equivalent affine map.
    public func affine() -> (scale: [Float], shift: [Float]) {
        var scale = [Float](repeating: 0, count: channels)
        var shift = scale
        for c in 0..<channels {
            scale[c] = gamma[c] / (variance[c] + epsilon).squareRoot()
            shift[c] = beta[c] - mean[c] * scale[c]
        }
        return (scale, shift)
    }
}

/// An operation of the IR. Parameters (weights, constants) live in the op
/// itself, so graph edges carry activations only and every parameter has
/// exactly one owner: a pass edits a layer's weights without aliasing worries.
///
/// Axes (`concat`, `softmax`) count the batch dimension as axis 0, as in ONNX.
public enum Op: Equatable, Sendable {
    case conv(ConvLayer)
    case linear(LinearLayer)
    case batchNorm(BatchNorm)
    case activation(Activation)
    /// Clip with bounds per channel (axis 0 of the per-sample shape): what
    /// ReLU6 becomes when a positive per-channel scale s moves through it,
    /// Clip(0, 6/s_i), exact in float.
    case clipPerChannel(lower: [Float], upper: [Float])
    /// PRelu: x ≥ 0 ? x : slope[c]·x, one slope per channel or one shared.
    case prelu(slopes: [Float])
    /// Elementwise op on two activations, numpy broadcasting.
    case binary(BinaryOperator)
    /// Elementwise op of an activation and a constant (`constantFirst`: c ⊙ x).
    /// The constant's shape is aligned to the per-sample shape (no batch axis).
    case binaryConstant(BinaryOperator, constant: Tensor, constantFirst: Bool)
    case concat(axis: Int)
    case maxPool(WindowGeometry)
    case averagePool(WindowGeometry, countIncludePad: Bool)
    case globalAveragePool
    /// Reshape (also Flatten, Squeeze, Unsqueeze) to a per-sample shape.
    case reshape(to: [Int])
    /// Softmax along `axis`; `coerced2D` gives the opset < 13 meaning, where
    /// all axes from `axis` on are flattened into one.
    case softmax(axis: Int, coerced2D: Bool)
    /// Constant-value padding; `pads` holds, per per-sample axis, the count
    /// before, then (after the first half) the count after, as ONNX orders them.
    case pad(pads: [Int], value: Float)

    /// The ONNX-style name of the op, for tables and reports.
    public var typeName: String {
        switch self {
        case let .conv(c): return c.isDepthwise ? "DepthwiseConv" : "Conv"
        case .linear: return "Gemm"
        case .batchNorm: return "BatchNormalization"
        case let .activation(a):
            switch a {
            case .relu: return "Relu"
            case let .clip(lo, hi): return lo == 0 && hi == 6 ? "Relu6" : "Clip"
            case .leakyRelu: return "LeakyRelu"
            case .sigmoid: return "Sigmoid"
            case .hardSigmoid: return "HardSigmoid"
            case .hardSwish: return "HardSwish"
            case .silu: return "SiLU"
            }
        case .clipPerChannel: return "ClipPerChannel"
        case .prelu: return "PRelu"
        case let .binary(op): return op.rawValue.capitalized
        case let .binaryConstant(op, _, _): return op.rawValue.capitalized + "Constant"
        case .concat: return "Concat"
        case .maxPool: return "MaxPool"
        case .averagePool: return "AveragePool"
        case .globalAveragePool: return "GlobalAveragePool"
        case .reshape: return "Reshape"
        case .softmax: return "Softmax"
        case .pad: return "Pad"
        }
    }
}

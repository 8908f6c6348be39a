/// What a conv kernel does to each output value before it stores it at p:
///
///   y = clamp(x · scale[c] + shift[c] + p[residualOffset], lower, upper)
///
/// where c is the output channel (a row of the GEMM's C). It carries an
/// inference-mode BatchNorm fused into the conv (scale = γ/√(σ²+ε),
/// shift = β − μ·scale; no scale means no affine), a residual Add after it
/// (the same element of the Add's other input, `residualOffset` floats from
/// the output; none when nil), and the ReLU (lower 0, upper +∞) or clip
/// (ReLU6: 0 and 6) after that (±∞ when there is none): ResNet's
/// conv → BN → Add → ReLU and MobileNetV2's conv → BN → Add become one step.
///
/// The arithmetic is that of the separate steps (`ChannelAffine`, the
/// elementwise add, `Activation.apply`): a multiply, then an add, not a fused
/// multiply-add, then the residual's add, then
/// `x < lower ? lower : (x > upper ? upper : x)`, which passes NaN and −0
/// through as ReLU does. So fusing changes no value; it saves reads and
/// writes of the whole output, which the kernels make while the tile is still
/// in registers.
public struct OutputEpilogue {
    public var scale: UnsafePointer<Float>?
    public var shift: UnsafePointer<Float>?
    /// Floats from where an output is stored to the residual input's same
    /// element (a fused Add), or nil. The residual has the output's layout.
    public var residualOffset: Int?
    public var lower: Float
    public var upper: Float

    public init(scale: UnsafePointer<Float>?, shift: UnsafePointer<Float>?, residualOffset: Int? = nil,
                lower: Float = -.infinity, upper: Float = .infinity) {
        precondition((scale == nil) == (shift == nil), "an epilogue's scale and shift come together")
        self.scale = scale
        self.shift = shift
        self.residualOffset = residualOffset
        self.lower = lower
        self.upper = upper
    }

    /// No affine, no clamp: every value as it is.
    @inlinable
    public static var identity: OutputEpilogue { OutputEpilogue(scale: nil, shift: nil) }

    /// The epilogue of channels `offset...` (a later group, or a later block of rows).
    @inlinable @inline(__always)
    public func advanced(by offset: Int) -> OutputEpilogue {
        var e = self
        e.scale = scale.map { $0 + offset }
        e.shift = shift.map { $0 + offset }
        return e
    }

    /// The epilogue of a vector to be stored at p, in generic code (rowGemm's
    /// tiles), run by the concrete SIMD8 or SIMD16 method below. Generic SIMD
    /// comparisons and `replace` are the protocol's lane-by-lane defaults,
    /// which cost a rowGemm with a fused batch norm 2–15× its time; the
    /// concrete ones are one compare and one blend each.
    @usableFromInline @_transparent
    func apply<V: SIMD>(_ x: V, channel: Int, at p: UnsafePointer<Float>) -> V where V.Scalar == Float {
        if V.scalarCount == 8 {
            return unsafeBitCast(apply(unsafeBitCast(x, to: SIMD8<Float>.self), channel: channel, at: p), to: V.self)
        }
        // Sixteen lanes (unsafeBitCast traps on any other size).
        return unsafeBitCast(apply(unsafeBitCast(x, to: SIMD16<Float>.self), channel: channel, at: p), to: V.self)
    }

    /// The epilogue of the eight outputs to be stored at p.
    @inlinable @inline(__always)
    func apply(_ x: SIMD8<Float>, channel: Int, at p: UnsafePointer<Float>) -> SIMD8<Float> {
        var v = affine(x, channel: channel)
        if let residualOffset { v = v + load8(p + residualOffset) }
        return clamped(v)
    }

    /// The epilogue of one channel with its scale and shift read once, for a
    /// kernel that stores a whole plane of that channel (depthwise; never a
    /// residual). Read through the pointers, they were re-read after every
    /// store, which the compiler must assume may have changed them: 8 of the
    /// 32 instructions of a 7-wide depthwise row.
    @inlinable @inline(__always)
    public func resolved(channel: Int) -> ChannelEpilogue {
        precondition(residualOffset == nil, "a channel epilogue has no residual")
        guard let scale, let shift else { return ChannelEpilogue(affine: nil, lower: lower, upper: upper) }
        return ChannelEpilogue(affine: (scale[channel], shift[channel]), lower: lower, upper: upper)
    }

    /// Written as one value updated in place, as in `ChannelEpilogue.apply`:
    /// the same code with an early return for "no affine" made the depthwise
    /// kernel slower (commit d26210a).
    @inlinable @inline(__always)
    func affine(_ x: SIMD8<Float>, channel: Int) -> SIMD8<Float> {
        var v = x
        if let scale, let shift { v = v * SIMD8(repeating: scale[channel]) + SIMD8(repeating: shift[channel]) }
        return v
    }

    @inlinable @inline(__always)
    func clamped(_ v: SIMD8<Float>) -> SIMD8<Float> { clampLanes(v, lower: lower, upper: upper) }

    /// The SIMD8 method's arithmetic on 16 lanes. Not two 8-lane halves:
    /// splitting a vector made LLVM split the multiply-adds that feed it too
    /// (the depthwise kernel's became 4- and 8-lane).
    @inlinable @inline(__always)
    func apply(_ x: SIMD16<Float>, channel: Int, at p: UnsafePointer<Float>) -> SIMD16<Float> {
        var v = x
        if let scale, let shift {
            v = v * SIMD16(repeating: scale[channel]) + SIMD16(repeating: shift[channel])
        }
        if let residualOffset { v = v + UnsafeRawPointer(p + residualOffset).loadUnaligned(as: SIMD16<Float>.self) }
        var y = v
        y.replace(with: upper, where: v .> upper)
        y.replace(with: lower, where: v .< lower)
        return y
    }

    /// The epilogue of the output to be stored at p.
    @inlinable @inline(__always)
    public func apply(_ x: Float, channel: Int, at p: UnsafePointer<Float>) -> Float {
        var v = x
        if let scale, let shift { v = v * scale[channel] + shift[channel] }
        if let residualOffset { v = v + p[residualOffset] }
        return v < lower ? lower : (v > upper ? upper : v)
    }
}

/// `OutputEpilogue` for one channel, its scale and shift as values: the same
/// multiply, add and clamp, y = clamp(x · scale + shift, lower, upper).
public struct ChannelEpilogue {
    public var affine: (scale: Float, shift: Float)?
    public var lower: Float
    public var upper: Float

    @inlinable @inline(__always)
    public init(affine: (scale: Float, shift: Float)?, lower: Float, upper: Float) {
        self.affine = affine
        self.lower = lower
        self.upper = upper
    }

    @inlinable @inline(__always)
    func apply(_ x: SIMD8<Float>) -> SIMD8<Float> {
        var v = x
        if let affine { v = v * SIMD8(repeating: affine.scale) + SIMD8(repeating: affine.shift) }
        return clampLanes(v, lower: lower, upper: upper)
    }

    /// The same on sixteen lanes, its clamp written out (see `OutputEpilogue`'s
    /// SIMD16 method).
    @inlinable @inline(__always)
    func apply(_ x: SIMD16<Float>) -> SIMD16<Float> {
        var v = x
        if let affine { v = v * SIMD16(repeating: affine.scale) + SIMD16(repeating: affine.shift) }
        var y = v
        y.replace(with: upper, where: v .> upper)
        y.replace(with: lower, where: v .< lower)
        return y
    }
}

/// The epilogues' clamp of eight lanes: upper first, then lower from the
/// unclamped value, the scalar ternary's result whatever the order of the bounds.
@inlinable @inline(__always)
func clampLanes(_ v: SIMD8<Float>, lower: Float, upper: Float) -> SIMD8<Float> {
    var y = v
    y.replace(with: upper, where: v .> upper)
    y.replace(with: lower, where: v .< lower)
    return y
}

extension Activation {
    /// The activation as an epilogue's clamp (lower, upper): ReLU is
    /// (0, +∞), clip its own bounds; nil for the others, which need their own pass.
    @inlinable
    public var clampBounds: (lower: Float, upper: Float)? {
        switch self {
        case .relu: return (0, .infinity)
        case let .clip(lower, upper): return (lower, upper)
        default: return nil
        }
    }
}

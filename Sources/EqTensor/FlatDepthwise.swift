/// Depthwise convolution with a 3×3 window on small planes, over each output
/// plane as one flat row of H·W floats in vectors of the build's widest
/// register: at stride 1 padded by the dilation (output H × W = input), and
/// at stride 2 on even planes padded by 1 (output H/2 × W/2) — every
/// depthwise conv of the MobileNets on 7² and 14² outputs (the runtime uses
/// it where `KernelTuning.flatDepthwisePlaneMax` says it is the faster one).
///
/// Stride 1:
///
///   out[c, p] = epilogue(bias[c] + Σ_{i,j} w[c, i, j] · mask[j](p) · in[c / m, p + (i − 1)·R + (j − 1)·C])
///
/// where p = oh·W + ow, R = W·dh and C = dw (the flat distances between
/// window rows and columns), and mask[j](p) is 0 where column
/// ow + (j − 1)·dw is outside the plane (the flat read would wrap into the
/// previous or next row) and 1 elsewhere; the middle column never wraps.
/// Stride 2 first splits each input plane into its four phases
/// (input[2r + a][2c + b] at phase 2a + b, [r][c]), each the output's size;
/// every tap is then one phase shifted by 0 or −1 output row and column
/// (`halvingTaps`), so it is the same flat sum over four planes, with only
/// the left column masked.
///
/// The planes (or phases) are copied, each as one contiguous run, between
/// zero gaps in scratch, so a read above a plane is a zero. The masks depend
/// only on the geometry and are built once (`init`), as all-ones or all-zero
/// bit patterns that an AND applies to the loaded vector, so a masked lane
/// is exactly +0 whatever the memory held.
///
/// The vectors start at 0, lanes, 2·lanes, … and the last at H·W − lanes, so
/// every lane is an output, and the stores out do not go row by row: the
/// row-by-row kernel (`depthwiseConv2D`) copies every row into a
/// zero-bordered plane and computes 8-wide row pieces, which on a 7-wide row
/// is a copy per seven outputs and a vector one-eighth idle. The arithmetic
/// is that kernel's: the bias, then one fused multiply-add per tap in tap
/// order (a padded tap adds w·0), then the epilogue, so the two give the same
/// bits.
public struct FlatDepthwise: Sendable {
    /// The input plane, and the output plane (the input's at stride 1, half of it at stride 2).
    public let height: Int, width: Int
    public let outHeight: Int, outWidth: Int
    /// 1, or 2 (`run` then reads the input's four row and column phases).
    public let stride: Int
    /// Floats between window rows (W·dh) and between window columns (dw) at
    /// stride 1; at stride 2, between output rows (outW) and 1.
    let rowStep: Int, columnStep: Int
    /// Where each vector of outputs starts.
    let vectorStarts: [Int]
    /// How many vectors each block of `Flat3x3` computes together, in order.
    let blockSizes: [Int]
    /// [vector][left, right][lane] bit masks: all ones where that window
    /// column is inside the plane.
    let columnMasks: [UInt32]
    /// Zero floats before each copied plane (and after the last): the farthest
    /// a tap reads, and at stride 2 at least the 7 floats a phase row's last
    /// eight-wide store may write past it.
    let margin: Int

    /// The layout for a 3×3 conv at stride 1 padded by its dilation, or at
    /// stride 2 without dilation on an even-sized plane padded by 1 before
    /// (and 0 or 1 after, which such a window never reads); nil for any other
    /// conv, or when its output plane is shorter than a vector or longer than
    /// `largestPlane` (the runtime passes `KernelTuning.flatDepthwisePlaneMax`;
    /// the kernel is tested up to 14²).
    public init?(height: Int, width: Int, geometry g: WindowGeometry, largestPlane: Int = 256) {
        let lanes = WideLane.scalarCount
        guard g.kernelH == 3, g.kernelW == 3 else { return nil }
        let unit = g.strideH == 1 && g.strideW == 1
            && g.padTop == g.dilationH && g.padBottom == g.dilationH && g.padLeft == g.dilationW && g.padRight == g.dilationW
        let halving = g.strideH == 2 && g.strideW == 2 && g.dilationH == 1 && g.dilationW == 1 && height % 2 == 0 && width % 2 == 0
            && g.padTop == 1 && g.padLeft == 1 && g.padBottom <= 1 && g.padRight <= 1
        guard unit || halving else { return nil }
        stride = unit ? 1 : 2
        self.height = height
        self.width = width
        outHeight = height / stride
        outWidth = width / stride
        let plane = outHeight * outWidth
        guard plane >= lanes, plane <= largestPlane else { return nil }
        rowStep = unit ? width * g.dilationH : outWidth
        columnStep = unit ? g.dilationW : 1
        let starts = Array(Swift.stride(from: 0, to: plane - lanes, by: lanes)) + [plane - lanes]
        vectorStarts = starts
        var sizes = [Int](), left = starts.count
        while left > 0 {
            let blocks = (left + 3) / 4, size = (left + blocks - 1) / blocks
            sizes.append(size)
            left -= size
        }
        blockSizes = sizes
        var masks = [UInt32]()
        for start in starts {
            for shift in [-g.dilationW, g.dilationW] {
                for lane in 0..<lanes {
                    let iw = (start + lane) % outWidth + shift
                    masks.append(iw >= 0 && iw < outWidth ? ~0 : 0)
                }
            }
        }
        columnMasks = masks
        margin = unit ? rowStep + columnStep : max(rowStep + columnStep, 8)
    }

    /// Floats from one copied plane to the next: the plane and a zero gap.
    /// At stride 2 the planes are the input's phases, each outH × outW.
    var planeStride: Int { outHeight * outWidth + margin }

    /// Copied planes per input channel: 1, or the 4 phases at stride 2.
    var planesPerChannel: Int { stride * stride }

    /// Scratch floats `run` needs for `channels` input planes: every plane
    /// (or phase) copied, a zero margin before the first and after each.
    public func scratchCount(channels: Int) -> Int { margin + channels * planesPerChannel * planeStride }

    /// One image: `channels` input planes, `multiplier` output channels per
    /// input channel, weights [out channel][3×3], an optional bias per output
    /// channel and the epilogue of a fused batch norm and ReLU/clip (no residual).
    public func run(input: UnsafePointer<Float>, channels: Int, weights: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                    multiplier: Int, epilogue: OutputEpilogue?, output: UnsafeMutablePointer<Float>,
                    scratch: UnsafeMutablePointer<Float>) {
        // One copy of the loops per stride: testing the stride inside them
        // slowed stride 1 (commit 934c820).
        if stride == 1 {
            run(unit: true, input: input, channels: channels, weights: weights, bias: bias, multiplier: multiplier,
                epilogue: epilogue, output: output, scratch: scratch)
        } else {
            run(unit: false, input: input, channels: channels, weights: weights, bias: bias, multiplier: multiplier,
                epilogue: epilogue, output: output, scratch: scratch)
        }
    }

    @inline(__always)
    private func run(unit: Bool, input: UnsafePointer<Float>, channels: Int, weights: UnsafePointer<Float>,
                     bias: UnsafePointer<Float>?, multiplier: Int, epilogue: OutputEpilogue?,
                     output: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>) {
        let plane = outHeight * outWidth, phases = unit ? 1 : 4, channelStride = phases * planeStride
        let e = epilogue ?? .identity
        // Every plane is copied before any is read, so no read waits on the
        // stores of the copy just before it (a 16-wide read spans two 8-wide
        // stores, which store forwarding cannot serve); copying each plane
        // right before its reads timed the same within noise.
        scratch.update(repeating: 0, count: margin)
        for c in 0..<channels {
            let copy = scratch + margin + c * channelStride
            if unit {
                copyPlane(input + c * height * width, copy, count: plane)
            } else {
                splitPhases(input + c * height * width, inputEnd: input + channels * height * width, into: copy)
            }
            for p in 0..<phases { (copy + p * planeStride + plane).update(repeating: 0, count: margin) }
        }
        columnMasks.withUnsafeBufferPointer { masks in
            vectorStarts.withUnsafeBufferPointer { starts in
                for c in 0..<channels {
                    let source = UnsafePointer(scratch + margin + c * channelStride)
                    // Stride 1 reads from `source` ± row ± column; its taps go unused.
                    let taps = unit ? (source, source, source, source, source, source, source, source, source)
                        : halvingTaps(source)
                    for m in 0..<multiplier {
                        let oc = c * multiplier + m
                        Flat3x3(unit: unit, src: source, row: rowStep, column: columnStep, taps: taps, weights: weights + oc * 9,
                                bias: bias?[oc] ?? 0, masks: masks.baseAddress!, starts: starts.baseAddress!,
                                epilogue: e.resolved(channel: oc), output: output + oc * plane)
                            .run(blockSizes)
                    }
                }
            }
        }
    }

    /// Where tap (i, j) reads at stride 2. Input row 2·oh + i − 1 is row
    /// oh − 1 of the odd rows for i = 0, row oh of the even rows for i = 1 and
    /// of the odd rows for i = 2, and likewise for columns, so each tap is a
    /// phase plane (rows a, columns b: phase 2a + b) shifted by 0 or −1 row
    /// and 0 or −1 column of the output.
    private func halvingTaps(_ p: UnsafePointer<Float>) -> Flat3x3.Taps {
        let (R, C, S) = (rowStep, columnStep, planeStride)
        let even = p, evenOdd = p + S, oddEven = p + 2 * S, odd = p + 3 * S
        return (odd - R - C, oddEven - R, odd - R, evenOdd - C, even, evenOdd, odd - C, oddEven, odd)
    }

    /// Splits one input plane into its four phases, phase 2a + b holding
    /// input[2r + a][2c + b] at [r][c], planeStride apart: sixteen input
    /// floats per step into eight of each column phase. A phase row's last
    /// eight-wide store may write up to 7 floats past it, into the next row
    /// (written after it) or the zero margin after the plane (zeroed after
    /// the split); a read that would pass `inputEnd` goes element by element.
    private func splitPhases(_ plane: UnsafePointer<Float>, inputEnd: UnsafePointer<Float>, into phases: UnsafeMutablePointer<Float>) {
        for r in 0..<height {
            let src = plane + r * width, a = r & 1
            let even = phases + (2 * a) * planeStride + (r >> 1) * outWidth, odd = even + planeStride
            for x in Swift.stride(from: 0, to: width, by: 16) {
                if src + x + 16 <= inputEnd {
                    let v = UnsafeRawPointer(src + x).loadUnaligned(as: SIMD16<Float>.self)
                    store8(v.evenHalf, even + x / 2)
                    store8(v.oddHalf, odd + x / 2)
                } else {
                    for k in Swift.stride(from: x, to: width, by: 2) {
                        even[k / 2] = src[k]
                        odd[k / 2] = src[k + 1]
                    }
                }
            }
        }
    }
}

/// Copies a plane of at least one vector with whole vectors of the build's
/// width, the last one overlapping the one before it (`copyRow` goes eight
/// floats at a time and handles rows shorter than a vector, which a flat
/// plane never is).
@inline(__always)
private func copyPlane(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, count: Int) {
    let lanes = WideLane.scalarCount
    var x = 0
    while x < count - lanes {
        storeLanes(loadLanes(src + x) as WideLane, dst + x)
        x += lanes
    }
    storeLanes(loadLanes(src + count - lanes) as WideLane, dst + count - lanes)
}

/// One output plane of `FlatDepthwise`: the nine weights broadcast once,
/// the taps at ±row ± column around each vector's start, the left and right
/// columns' masks read once per vector, and up to four vectors computed side
/// by side (their multiply-add chains overlap; one vector at a time left each
/// vector's nine multiply-adds waiting on each other). A first version
/// looked every tap's offset, column and mask up in tables, which was more
/// instructions than the multiply-adds. The column step is a run-time value
/// on purpose: with a literal 1, LLVM merged the three overlapping loads of a
/// row into one and rebuilt the others with permutes, four shuffles per tap.
private struct Flat3x3 {
    typealias Taps = (UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>,
                      UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>,
                      UnsafePointer<Float>)
    /// Stride 1: the copied plane, and the floats between window rows (W·dh)
    /// and columns (dw); the right column is masked too (at stride 2 it
    /// never wraps).
    let unit: Bool
    let src: UnsafePointer<Float>
    let row: Int, column: Int
    /// At stride 2: where each tap (i, j), in row-major order, reads for output position 0.
    let taps: Taps
    let weights: UnsafePointer<Float>
    let bias: Float
    let masks: UnsafePointer<UInt32>
    let starts: UnsafePointer<Int>
    let epilogue: ChannelEpilogue
    let output: UnsafeMutablePointer<Float>

    typealias Weights = (WideLane, WideLane, WideLane, WideLane, WideLane, WideLane, WideLane, WideLane, WideLane)

    @inline(__always)
    func run(_ blockSizes: [Int]) {
        typealias V = WideLane
        let w = (V(repeating: weights[0]), V(repeating: weights[1]), V(repeating: weights[2]),
                 V(repeating: weights[3]), V(repeating: weights[4]), V(repeating: weights[5]),
                 V(repeating: weights[6]), V(repeating: weights[7]), V(repeating: weights[8]))
        var first = 0
        for size in blockSizes {
            if unit {
                switch size {
                case 4: block(4, first) { vector(unit: $0, w) }
                case 3: block(3, first) { vector(unit: $0, w) }
                case 2: block(2, first) { vector(unit: $0, w) }
                default: block(1, first) { vector(unit: $0, w) }
                }
            } else {
                switch size {
                case 4: block(4, first) { vector(phases: $0, w) }
                case 3: block(3, first) { vector(phases: $0, w) }
                case 2: block(2, first) { vector(phases: $0, w) }
                default: block(1, first) { vector(phases: $0, w) }
                }
            }
            first += size
        }
    }

    /// Vectors first ..< first + count (count 1...4, a constant in each
    /// copy), each computed by `vector` from its index.
    @inline(__always)
    private func block(_ count: Int, _ first: Int, _ vector: (Int) -> WideLane) {
        @inline(__always) func index(_ k: Int) -> Int { first + min(k, count - 1) }
        let a0 = vector(index(0))
        let a1 = count > 1 ? vector(index(1)) : a0
        let a2 = count > 2 ? vector(index(2)) : a0
        let a3 = count > 3 ? vector(index(3)) : a0
        storeLanes(epilogue.apply(a0), output + starts[first])
        if count > 1 { storeLanes(epilogue.apply(a1), output + starts[first + 1]) }
        if count > 2 { storeLanes(epilogue.apply(a2), output + starts[first + 2]) }
        if count > 3 { storeLanes(epilogue.apply(a3), output + starts[first + 3]) }
    }

    @inline(__always)
    private func masked(_ p: UnsafePointer<Float>, _ bits: WideBits) -> WideLane {
        unsafeBitCast(unsafeBitCast(loadLanes(p) as WideLane, to: WideBits.self) & bits, to: WideLane.self)
    }

    /// Vector v at stride 1: each window row read from one pointer ± C.
    @inline(__always)
    private func vector(unit v: Int, _ w: Weights) -> WideLane {
        let lanes = WideLane.scalarCount, at = starts[v], R = row, C = column
        let left = loadBits(masks + (2 * v) * lanes), right = loadBits(masks + (2 * v + 1) * lanes)
        let up = src + at - R, mid = src + at, down = src + at + R
        var acc = WideLane(repeating: bias)
        acc = acc.addingProduct(masked(up - C, left), w.0)
        acc = acc.addingProduct(loadLanes(up), w.1)
        acc = acc.addingProduct(masked(up + C, right), w.2)
        acc = acc.addingProduct(masked(mid - C, left), w.3)
        acc = acc.addingProduct(loadLanes(mid), w.4)
        acc = acc.addingProduct(masked(mid + C, right), w.5)
        acc = acc.addingProduct(masked(down - C, left), w.6)
        acc = acc.addingProduct(loadLanes(down), w.7)
        acc = acc.addingProduct(masked(down + C, right), w.8)
        return acc
    }

    /// Vector v at stride 2: each tap from its phase plane; only the left
    /// column can fall in the padding.
    @inline(__always)
    private func vector(phases v: Int, _ w: Weights) -> WideLane {
        let lanes = WideLane.scalarCount, at = starts[v], t = taps
        let left = loadBits(masks + (2 * v) * lanes)
        var acc = WideLane(repeating: bias)
        acc = acc.addingProduct(masked(t.0 + at, left), w.0)
        acc = acc.addingProduct(loadLanes(t.1 + at), w.1)
        acc = acc.addingProduct(loadLanes(t.2 + at), w.2)
        acc = acc.addingProduct(masked(t.3 + at, left), w.3)
        acc = acc.addingProduct(loadLanes(t.4 + at), w.4)
        acc = acc.addingProduct(loadLanes(t.5 + at), w.5)
        acc = acc.addingProduct(masked(t.6 + at, left), w.6)
        acc = acc.addingProduct(loadLanes(t.7 + at), w.7)
        acc = acc.addingProduct(loadLanes(t.8 + at), w.8)
        return acc
    }
}

#if EQBENCH_AVX512
/// `WideLane`'s bits, for masking with AND.
typealias WideBits = SIMD16<UInt32>
#else
/// `WideLane`'s bits, for masking with AND.
typealias WideBits = SIMD8<UInt32>
#endif

@inline(__always)
func loadBits(_ p: UnsafePointer<UInt32>) -> WideBits { UnsafeRawPointer(p).loadUnaligned(as: WideBits.self) }

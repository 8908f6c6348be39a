/// Depthwise convolution of small stride-1 planes with a 3×3 window padded
/// by its dilation on every side (so output H × W = input H × W: the 7² and
/// 14² depthwise convs of MobileNets), over each plane as one flat row of
/// H·W floats, in vectors of the build's widest register:
///
///   out[c, p] = epilogue(bias[c] + Σ_{i,j} w[c, i, j] · mask[j](p) · in[c / m, p + (i − 1)·R + (j − 1)·C])
///
/// where p = oh·W + ow, R = W·dh and C = dw (the flat distances between
/// window rows and columns), and mask[j](p) is 0 where column
/// ow + (j − 1)·dw is outside the plane (the flat read would wrap into the
/// previous or next row) and 1 elsewhere; the middle column never wraps. The
/// input planes are copied, each as one contiguous run, between zero gaps in
/// scratch, so a read above or below a plane is a zero. The masks depend only
/// on the geometry and are built once (`init`), as all-ones or all-zero bit
/// patterns that an AND applies to the loaded vector, so a masked lane is
/// exactly +0 whatever the memory held.
///
/// The vectors start at 0, lanes, 2·lanes, … and the last at H·W − lanes, so
/// every lane is an output, and neither the copy in nor the stores out go row
/// by row: the row-by-row kernel (`depthwiseConv2D`) copies every row into a
/// zero-bordered plane and computes 8-wide row pieces, which on a 7-wide row
/// is a copy per seven outputs and a vector one-eighth idle. The arithmetic
/// is that kernel's: the bias, then one fused multiply-add per tap in tap
/// order (a padded tap adds w·0), then the epilogue, so the two give the same
/// bits.
public struct FlatDepthwise: Sendable {
    public let height: Int, width: Int
    /// Floats between window rows (W·dh) and between window columns (dw).
    let rowStep: Int, columnStep: Int
    /// Where each vector of outputs starts.
    let vectorStarts: [Int]
    /// How many vectors each block of `Flat3x3` computes together, in order.
    let blockSizes: [Int]
    /// [vector][left, right][lane] bit masks: all ones where that window
    /// column is inside the plane.
    let columnMasks: [UInt32]
    /// Zero floats before each copied plane and after the last: the farthest a tap reads.
    let margin: Int

    /// Planes of at most this many floats (14²).
    public static let largestPlane = 256

    /// The layout for a stride-1 3×3 conv padded by its dilation, or nil when
    /// the conv is not one, or its plane is shorter than a vector or longer
    /// than `largestPlane`.
    public init?(height: Int, width: Int, geometry g: WindowGeometry) {
        let lanes = WideLane.scalarCount, plane = height * width
        guard g.kernelH == 3, g.kernelW == 3, g.strideH == 1, g.strideW == 1,
              g.padTop == g.dilationH, g.padBottom == g.dilationH, g.padLeft == g.dilationW, g.padRight == g.dilationW,
              plane >= lanes, plane <= Self.largestPlane else { return nil }
        self.height = height
        self.width = width
        rowStep = width * g.dilationH
        columnStep = g.dilationW
        let starts = Array(stride(from: 0, to: plane - lanes, by: lanes)) + [plane - lanes]
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
                    let iw = (start + lane) % width + shift
                    masks.append(iw >= 0 && iw < width ? ~0 : 0)
                }
            }
        }
        columnMasks = masks
        margin = rowStep + columnStep
    }

    /// Floats from one copied plane to the next: the plane and a zero gap.
    var planeStride: Int { height * width + margin }

    /// Scratch floats `run` needs for `channels` input planes: every plane
    /// copied, a zero margin before the first and after each.
    public func scratchCount(channels: Int) -> Int { margin + channels * planeStride }

    /// One image: `channels` input planes, `multiplier` output channels per
    /// input channel, weights [out channel][3×3], an optional bias per output
    /// channel and the epilogue of a fused batch norm and ReLU/clip (no residual).
    public func run(input: UnsafePointer<Float>, channels: Int, weights: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                    multiplier: Int, epilogue: OutputEpilogue?, output: UnsafeMutablePointer<Float>,
                    scratch: UnsafeMutablePointer<Float>) {
        let plane = height * width
        let e = epilogue ?? .identity
        // Every plane is copied before any is read, so no read waits on the
        // stores of the copy just before it (a 16-wide read spans two 8-wide
        // stores, which store forwarding cannot serve); copying each plane
        // right before its reads timed the same within noise.
        scratch.update(repeating: 0, count: margin)
        for c in 0..<channels {
            let copy = scratch + margin + c * planeStride
            copyPlane(input + c * plane, copy, count: plane)
            (copy + plane).update(repeating: 0, count: margin)
        }
        columnMasks.withUnsafeBufferPointer { masks in
            vectorStarts.withUnsafeBufferPointer { starts in
                for c in 0..<channels {
                    let source = UnsafePointer(scratch + margin + c * planeStride)
                    for m in 0..<multiplier {
                        let oc = c * multiplier + m
                        Flat3x3(src: source, row: rowStep, column: columnStep, weights: weights + oc * 9,
                                bias: bias?[oc] ?? 0, masks: masks.baseAddress!, starts: starts.baseAddress!,
                                epilogue: e.resolved(channel: oc), output: output + oc * plane)
                            .run(blockSizes)
                    }
                }
            }
        }
    }
}

/// Copies a plane of at least one vector with whole vectors, the last one
/// overlapping the one before it. Not `copyRow`: its four-float loads,
/// specialized once more here, were then outlined by the compiler inside
/// `rowGemm` too, as a call per load (the demo ResNet's convs ran 30% slower).
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
    let src: UnsafePointer<Float>
    /// Floats between window rows (W·dh) and between window columns (dw).
    let row: Int, column: Int
    let weights: UnsafePointer<Float>
    let bias: Float
    let masks: UnsafePointer<UInt32>
    let starts: UnsafePointer<Int>
    let epilogue: ChannelEpilogue
    let output: UnsafeMutablePointer<Float>

    @inline(__always)
    func run(_ blockSizes: [Int]) {
        typealias V = WideLane
        let w = (V(repeating: weights[0]), V(repeating: weights[1]), V(repeating: weights[2]),
                 V(repeating: weights[3]), V(repeating: weights[4]), V(repeating: weights[5]),
                 V(repeating: weights[6]), V(repeating: weights[7]), V(repeating: weights[8]))
        var first = 0
        for size in blockSizes {
            switch size {
            case 4: block(4, first, w)
            case 3: block(3, first, w)
            case 2: block(2, first, w)
            default: block(1, first, w)
            }
            first += size
        }
    }

    typealias Weights = (WideLane, WideLane, WideLane, WideLane, WideLane, WideLane, WideLane, WideLane, WideLane)

    /// Vectors first ..< first + count (count 1...4, a constant in each copy).
    @inline(__always)
    private func block(_ count: Int, _ first: Int, _ w: Weights) {
        typealias V = WideLane
        let lanes = V.scalarCount, R = row, C = column
        @inline(__always) func masked(_ p: UnsafePointer<Float>, _ bits: WideBits) -> V {
            unsafeBitCast(unsafeBitCast(loadLanes(p) as V, to: WideBits.self) & bits, to: V.self)
        }
        @inline(__always) func vector(_ k: Int) -> V {
            let v = first + min(k, count - 1), at = starts[v]
            let left = loadBits(masks + (2 * v) * lanes), right = loadBits(masks + (2 * v + 1) * lanes)
            let up = src + at - R, mid = src + at, down = src + at + R
            var acc = V(repeating: bias)
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
        let a0 = vector(0)
        let a1 = count > 1 ? vector(1) : a0
        let a2 = count > 2 ? vector(2) : a0
        let a3 = count > 3 ? vector(3) : a0
        storeLanes(epilogue.apply(a0), output + starts[first])
        if count > 1 { storeLanes(epilogue.apply(a1), output + starts[first + 1]) }
        if count > 2 { storeLanes(epilogue.apply(a2), output + starts[first + 2]) }
        if count > 3 { storeLanes(epilogue.apply(a3), output + starts[first + 3]) }
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

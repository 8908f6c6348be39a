/// Depthwise convolution of small stride-1 "same" planes (output H × W = input
/// H × W: the 7² and 14² maps of MobileNets) over each plane as one flat row
/// of H·W floats, in vectors of the build's widest register:
///
///   out[c, p] = epilogue(bias[c] + Σ_t w[c, t] · mask[j(t)](p) · in[c / m, p + offset[t]])
///
/// where p = oh·W + ow, tap t = (i, j) reads at the constant flat offset
/// (i·dh − padTop)·W + (j·dw − padLeft), and mask[j](p) is 0 where column
/// ow − padLeft + j·dw is outside the plane (the flat read would wrap into the
/// previous or next row) and 1 elsewhere. The input planes are copied, each
/// as one contiguous run, between zero margins in scratch, so a read above or
/// below a plane is a zero; the column masks depend only on the geometry and are
/// built once (`init`), as all-ones or all-zero bit patterns that an AND
/// applies to the loaded vector (a masked lane is exactly +0). A window's
/// middle column (j·dw = padLeft) never wraps and is not masked.
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
    /// Flat offset of each tap's read from the output position.
    let tapOffsets: [Int]
    /// Each tap's window column j, or −1 for a column that never wraps.
    let tapColumns: [Int]
    /// Where each vector of outputs starts.
    let vectorStarts: [Int]
    /// How many vectors each block of `flatPlane` computes, in order.
    let blockSizes: [Int]
    /// [vector][window column][lane] bit masks: all ones where the column is inside the plane.
    let columnMasks: [UInt32]
    let kernelW: Int
    /// Zero floats before and after the copied plane: the farthest a tap reads.
    let margin: Int
    /// A 3×3 window padded by its dilation on every side (every depthwise
    /// conv of MobileNet v1–v3 at stride 1): `Flat3x3` runs it.
    let isPadded3x3: Bool
    let dilationH: Int, dilationW: Int

    /// Planes of at most this many floats (14²).
    public static let largestPlane = 256

    /// The layout for a stride-1 conv whose output plane is its input plane's
    /// size, or nil when the conv is not one, or its plane is shorter than a
    /// vector or longer than `largestPlane`.
    public init?(height: Int, width: Int, geometry g: WindowGeometry, outHeight: Int, outWidth: Int) {
        let lanes = WideLane.scalarCount, plane = height * width
        guard g.strideH == 1, g.strideW == 1, outHeight == height, outWidth == width,
              plane >= lanes, plane <= Self.largestPlane else { return nil }
        self.height = height
        self.width = width
        kernelW = g.kernelW
        var offsets = [Int](), columns = [Int]()
        for i in 0..<g.kernelH {
            for j in 0..<g.kernelW {
                let shift = j * g.dilationW - g.padLeft
                offsets.append((i * g.dilationH - g.padTop) * width + shift)
                columns.append(shift == 0 ? -1 : j)
            }
        }
        tapOffsets = offsets
        tapColumns = columns
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
            for j in 0..<g.kernelW {
                for lane in 0..<lanes {
                    let iw = (start + lane) % width - g.padLeft + j * g.dilationW
                    masks.append(iw >= 0 && iw < width ? ~0 : 0)
                }
            }
        }
        columnMasks = masks
        margin = offsets.map(abs).max() ?? 0
        isPadded3x3 = g.kernelH == 3 && g.kernelW == 3 && g.padTop == g.dilationH && g.padBottom == g.dilationH
            && g.padLeft == g.dilationW && g.padRight == g.dilationW
        dilationH = g.dilationH
        dilationW = g.dilationW
    }

    /// Floats from one copied plane to the next: the plane and a zero gap.
    var planeStride: Int { height * width + margin }

    /// Scratch floats `run` needs for `channels` input planes: every plane
    /// copied, a zero margin before the first and after each.
    public func scratchCount(channels: Int) -> Int { margin + channels * planeStride }

    /// One image: `channels` input planes, `multiplier` output channels per
    /// input channel, weights [out channel][tap], an optional bias per output
    /// channel and the epilogue of a fused batch norm and ReLU/clip (no residual).
    public func run(input: UnsafePointer<Float>, channels: Int, weights: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                    multiplier: Int, epilogue: OutputEpilogue?, output: UnsafeMutablePointer<Float>,
                    scratch: UnsafeMutablePointer<Float>) {
        let plane = height * width, taps = tapOffsets.count
        let e = epilogue ?? .identity
        // Every plane is copied before any is read: a plane copied right
        // before its reads made them wait for the copy's stores to retire
        // (each 16-wide read spans two of them, which defeats store
        // forwarding), so channels ran one after another instead of
        // overlapping (128 channels at 7²: 5.4 µs against 2.x).
        scratch.update(repeating: 0, count: margin)
        for c in 0..<channels {
            let plane0 = scratch + margin + c * planeStride
            copyPlane(input + c * plane, plane0, count: plane)
            (plane0 + plane).update(repeating: 0, count: margin)
        }
        tapOffsets.withUnsafeBufferPointer { offsets in
            tapColumns.withUnsafeBufferPointer { columns in
                columnMasks.withUnsafeBufferPointer { masks in
                    vectorStarts.withUnsafeBufferPointer { starts in
                        for c in 0..<channels {
                            let source = UnsafePointer(scratch + margin + c * planeStride)
                            for m in 0..<multiplier {
                                let oc = c * multiplier + m
                                if isPadded3x3 {
                                    Flat3x3(src: source, row: width * dilationH, column: dilationW, weights: weights + oc * taps, bias: bias?[oc] ?? 0,
                                            masks: masks.baseAddress!, starts: starts.baseAddress!,
                                            epilogue: e.resolved(channel: oc), output: output + oc * plane)
                                        .run(blockSizes)
                                    continue
                                }
                                var block = FlatBlock(src: source, weights: weights + oc * taps, bias: bias?[oc] ?? 0,
                                                      offsets: offsets.baseAddress!, columns: columns.baseAddress!, taps: taps,
                                                      masks: masks.baseAddress!, maskStride: kernelW * WideLane.scalarCount,
                                                      starts: starts.baseAddress!, epilogue: e.resolved(channel: oc),
                                                      output: output + oc * plane)
                                for size in blockSizes {
                                    switch size {
                                    case 4: block.run(4)
                                    case 3: block.run(3)
                                    case 2: block.run(2)
                                    default: block.run(1)
                                    }
                                    block.advance(size)
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Up to four vectors of one output plane of `FlatDepthwise`, computed side
/// by side: with one vector at a time, each vector's nine multiply-adds
/// waited on each other.
private struct FlatBlock {
    let src: UnsafePointer<Float>
    let weights: UnsafePointer<Float>
    let bias: Float
    let offsets: UnsafePointer<Int>
    let columns: UnsafePointer<Int>
    let taps: Int
    /// The first vector's column masks ([vector][window column][lane]).
    var masks: UnsafePointer<UInt32>
    let maskStride: Int
    var starts: UnsafePointer<Int>
    let epilogue: ChannelEpilogue
    let output: UnsafeMutablePointer<Float>

    /// Moves on to the block after `count` vectors.
    @inline(__always)
    mutating func advance(_ count: Int) {
        starts += count
        masks += count * maskStride
    }

    /// `count` (1...4, a constant in each copy) vectors: the bias, one
    /// multiply-add per tap in tap order, the epilogue, the store.
    @inline(__always)
    func run(_ count: Int) {
        typealias V = WideLane
        let lanes = V.scalarCount
        @inline(__always) func start(_ k: Int) -> Int { starts[min(k, count - 1)] }
        let (s0, s1, s2, s3) = (start(0), start(1), start(2), start(3))
        var a0 = V(repeating: bias), a1 = a0, a2 = a0, a3 = a0
        @inline(__always) func tap(_ acc: inout V, _ at: Int, _ mask: UnsafePointer<UInt32>?, _ w: V) {
            var x: V = loadLanes(src + at)
            if let mask { x = unsafeBitCast(unsafeBitCast(x, to: WideBits.self) & loadBits(mask), to: V.self) }
            acc = acc.addingProduct(x, w)
        }
        for t in 0..<taps {
            let w = V(repeating: weights[t]), offset = offsets[t], column = columns[t]
            if column < 0 {
                tap(&a0, s0 &+ offset, nil, w)
                if count > 1 { tap(&a1, s1 &+ offset, nil, w) }
                if count > 2 { tap(&a2, s2 &+ offset, nil, w) }
                if count > 3 { tap(&a3, s3 &+ offset, nil, w) }
            } else {
                let m = masks + column * lanes
                tap(&a0, s0 &+ offset, m, w)
                if count > 1 { tap(&a1, s1 &+ offset, m + maskStride, w) }
                if count > 2 { tap(&a2, s2 &+ offset, m + 2 * maskStride, w) }
                if count > 3 { tap(&a3, s3 &+ offset, m + 3 * maskStride, w) }
            }
        }
        storeLanes(epilogue.apply(a0), output + s0)
        if count > 1 { storeLanes(epilogue.apply(a1), output + s1) }
        if count > 2 { storeLanes(epilogue.apply(a2), output + s2) }
        if count > 3 { storeLanes(epilogue.apply(a3), output + s3) }
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

/// `FlatBlock` for a 3×3 window padded by its dilation: the nine weights
/// broadcast once per plane, the taps at ±row ± column around each vector's
/// start (row = W·dh, column = dw), and the left and right columns' masks
/// (columns 0 and 2 of the mask table) read once per vector. The generic
/// block's per-tap offset, column and mask lookups were more instructions
/// than its multiply-adds. The column step is a run-time value on purpose:
/// with a literal 1, LLVM merged the three overlapping loads of a row into
/// one and rebuilt the others with permutes, four shuffles per tap.
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
            let left = loadBits(masks + (3 * v) * lanes), right = loadBits(masks + (3 * v + 2) * lanes)
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

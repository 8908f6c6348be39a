/// Direct depthwise convolution of one image: every output channel c reads only
/// input channel c / multiplier (ONNX Conv with group = input channels):
///
///   out[c, oh, ow] = epilogue(bias[c] + Σ_{i,j} w[c, i, j] · in[c / m, oh·sh − pt + i·dh, ow·sw − pl + j·dw])
///
/// with zero padding; the epilogue (a fused batch norm and ReLU/clip, never a
/// residual: `ExecutionPlan` fuses Adds into GEMM convs only) is applied in
/// registers before each store. Each input plane is copied into a
/// zero-bordered scratch plane so the inner loops need no bounds checks; the
/// border is zeroed once per image, since every channel overwrites only the
/// interior.
@inlinable
public func depthwiseConv2D(input: UnsafePointer<Float>, channels: Int, height: Int, width: Int,
                            weights: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                            multiplier: Int, geometry g: WindowGeometry,
                            outHeight: Int, outWidth: Int, epilogue: OutputEpilogue? = nil,
                            output: UnsafeMutablePointer<Float>,
                            scratch: UnsafeMutablePointer<Float>) {
    let paddedH = height + g.padTop + g.padBottom
    let paddedW = width + g.padLeft + g.padRight
    let taps = g.kernelH * g.kernelW
    let planeCount = paddedH * paddedW + depthwisePlaneSlack(g)
    let wide = scratch + planeCount
    // The border stays zero across channels: zero it once, then copy interiors.
    scratch.update(repeating: 0, count: planeCount)
    let unitStride = g.strideH == 1 && g.strideW == 1
    // Stride 1 reads the padded plane; a stride sw reads its column phases,
    // where tap j sits in phase (j·dw) mod sw at ⌊j·dw / sw⌋. The taps' offsets
    // are the same for every channel (on 7² maps, computing them per channel
    // cost more than the channel's 63 multiply-adds).
    let rowLength = unitStride ? paddedW : phaseRowStride(paddedW: paddedW, stride: g.strideW)
    withUnsafeTemporaryAllocation(of: Int.self, capacity: taps) { tapOffsets in
        for i in 0..<g.kernelH {
            for j in 0..<g.kernelW {
                let column = j * g.dilationW
                let phase = unitStride ? 0 : column % g.strideW
                tapOffsets[i * g.kernelW + j] = (phase * paddedH + i * g.dilationH) * rowLength
                    + (unitStride ? column : column / g.strideW)
            }
        }
        let source = UnsafePointer(unitStride ? scratch : wide)
        let e = epilogue ?? .identity
        let outputEnd = output + channels * multiplier * outHeight * outWidth
        for c in 0..<channels {
            let src = input + c * height * width
            for h in 0..<height {
                copyRow(src + h * width, scratch + (h + g.padTop) * paddedW + g.padLeft, count: width)
            }
            if !unitStride {
                splitColumnPhases(scratch, paddedH: paddedH, paddedW: paddedW, stride: g.strideW, phases: wide)
            }
            for m in 0..<multiplier {
                let oc = c * multiplier + m
                depthwisePlane(source, rowLength: rowLength, rowStride: g.strideH, tapOffsets: tapOffsets.baseAddress!,
                               tapCount: taps, weights: weights + oc * taps, bias: bias?[oc] ?? 0,
                               epilogue: e.resolved(channel: oc), outHeight: outHeight, outWidth: outWidth,
                               output: output + oc * outHeight * outWidth, outputEnd: outputEnd)
            }
        }
    }
}

/// One output plane: out[oh, ow] = epilogue(b + Σ_t w[t] · src[oh·sh·rowLength + tapOffsets[t] + ow]),
/// eight outputs at a time in one register, every tap a fused multiply-add in
/// tap order. The last outWidth mod 8 outputs of a row are computed eight
/// wide too, reading past the row into the next one or the scratch slack;
/// they are stored eight wide as well, the extra lanes landing on outputs
/// written after them (the next row's, or the next plane's: planes are
/// computed in order), unless they would pass `outputEnd`: there only the
/// valid lanes are stored.
///
/// A 3×3 window at stride 1 or 2 (the MobileNets' depthwise convs) has its
/// own loop: its nine weights in registers and its taps at fixed offsets from
/// one or two pointers per vector and the row length, so each is one
/// addressing mode. On 7² maps, where each row is one vector, the generic
/// loop's per-row address arithmetic cost more than the nine multiply-adds.
@inlinable
func depthwisePlane(_ src: UnsafePointer<Float>, rowLength L: Int, rowStride: Int, tapOffsets t: UnsafePointer<Int>,
                    tapCount: Int, weights w: UnsafePointer<Float>, bias b: Float, epilogue e: ChannelEpilogue,
                    outHeight: Int, outWidth: Int, output: UnsafeMutablePointer<Float>,
                    outputEnd: UnsafeMutablePointer<Float>) {
    typealias V = SIMD8<Float>
    @inline(__always) func store(_ acc: V, _ dst: UnsafeMutablePointer<Float>, _ ow: Int) {
        let v = e.apply(acc)
        if dst + ow + 8 <= outputEnd {
            store8(v, dst + ow)
        } else {
            for lane in 0..<(outWidth - ow) { dst[ow + lane] = v[lane] }
        }
    }
    let start = V(repeating: b)
    let rowStep = rowStride * L
    if tapCount == 9 {
        let (w0, w1, w2) = (V(repeating: w[0]), V(repeating: w[1]), V(repeating: w[2]))
        let (w3, w4, w5) = (V(repeating: w[3]), V(repeating: w[4]), V(repeating: w[5]))
        let (w6, w7, w8) = (V(repeating: w[6]), V(repeating: w[7]), V(repeating: w[8]))
        // Taps (i, 0), (i, 1), (i, 2) at a, b, c plus i·L.
        @inline(__always) func window(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafePointer<Float>) -> V {
            var acc = start.addingProduct(load8(a), w0)
            acc = acc.addingProduct(load8(b), w1); acc = acc.addingProduct(load8(c), w2)
            acc = acc.addingProduct(load8(a + L), w3); acc = acc.addingProduct(load8(b + L), w4)
            acc = acc.addingProduct(load8(c + L), w5); acc = acc.addingProduct(load8(a + 2 * L), w6)
            acc = acc.addingProduct(load8(b + 2 * L), w7); acc = acc.addingProduct(load8(c + 2 * L), w8)
            return acc
        }
        let evenRows = t[0] == 0 && t[3] == L && t[6] == 2 * L
        let P = t[1]  // the odd phase's offset at stride 2
        // The two loops differ only in where the middle column is; written
        // out (not one loop taking a closure), they compile to fixed
        // addressing modes, which the closure version did not (commit fb3d4b8).
        if evenRows && t[1] == 1 && t[2] == 2 && t[4] == L + 1 && t[5] == L + 2 && t[7] == 2 * L + 1 && t[8] == 2 * L + 2 {
            var row = src, dst = output
            for _ in 0..<outHeight {
                var ow = 0
                while ow < outWidth {
                    let e = row + ow
                    store(window(e, e + 1, e + 2), dst, ow)
                    ow &+= 8
                }
                row += rowStep
                dst += outWidth
            }
            return
        }
        if evenRows && t[2] == 1 && t[4] == P + L && t[5] == L + 1 && t[7] == P + 2 * L && t[8] == 2 * L + 1 {
            var row = src, dst = output
            for _ in 0..<outHeight {
                var ow = 0
                while ow < outWidth {
                    let e = row + ow
                    store(window(e, e + P, e + 1), dst, ow)
                    ow &+= 8
                }
                row += rowStep
                dst += outWidth
            }
            return
        }
    }
    var row = src, dst = output
    for _ in 0..<outHeight {
        var ow = 0
        while ow < outWidth {
            var acc = start
            for k in 0..<tapCount { acc = acc.addingProduct(load8(row + ow + t[k]), V(repeating: w[k])) }
            store(acc, dst, ow)
            ow &+= 8
        }
        row += rowStep
        dst += outWidth
    }
}

/// Splits a zero-bordered plane into strideW column phases: phase p holds
/// padded columns p, p + sw, p + 2·sw, … of every row, in rows of
/// `phaseRowStride` floats. Stride 2 (every strided depthwise conv of the
/// demo and ImageNet MobileNets) deinterleaves sixteen columns per step into
/// eight of each phase; the scalar strided loop it replaced was about a
/// third of the conv's own instructions on MobileNetV2 (callgrind).
@inlinable
func splitColumnPhases(_ padded: UnsafePointer<Float>, paddedH: Int, paddedW: Int, stride sw: Int,
                       phases: UnsafeMutablePointer<Float>) {
    let rowStride = phaseRowStride(paddedW: paddedW, stride: sw)
    if sw == 2 {
        for h in 0..<paddedH {
            let src = padded + h * paddedW
            let even = phases + h * rowStride, odd = phases + (paddedH + h) * rowStride
            for x in stride(from: 0, to: paddedW, by: 16) {
                // Reads up to 15 floats past the row (the next row, or the plane's slack).
                let v = UnsafeRawPointer(src + x).loadUnaligned(as: SIMD16<Float>.self)
                store8(v.evenHalf, even + x / 2)
                store8(v.oddHalf, odd + x / 2)
            }
        }
        return
    }
    for p in 0..<sw {
        let n = (paddedW - p + sw - 1) / sw
        for h in 0..<paddedH {
            let src = padded + h * paddedW + p, dst = phases + (p * paddedH + h) * rowStride
            for x in 0..<n { dst[x] = src[x &* sw] }
        }
    }
}

/// Floats per row of a column phase: ⌈paddedW / sw⌉ rounded up to a multiple
/// of 8, so the eight-wide stores of `splitColumnPhases` stay in their row.
@inlinable
func phaseRowStride(paddedW: Int, stride sw: Int) -> Int { ((paddedW + sw - 1) / sw + 7) / 8 * 8 }

/// Elements past the zero-bordered plane that its readers may touch: the row
/// tails' slack, or the sixteen-wide reads of the stride-2 phase split.
@inlinable
func depthwisePlaneSlack(_ g: WindowGeometry) -> Int {
    g.strideW == 2 ? max(16, depthwiseSlack(g)) : depthwiseSlack(g)
}

/// Elements past a plane that the eight-wide row tails may read.
@inlinable
func depthwiseSlack(_ g: WindowGeometry) -> Int { 8 + g.dilationW * (g.kernelW - 1) }

/// The scratch elements `depthwiseConv2D` needs: the zero-bordered plane, and
/// for strides above 1 its column phases, each with the tails' slack.
@inlinable
public func depthwiseScratchCount(height: Int, width: Int, geometry g: WindowGeometry) -> Int {
    let paddedW = width + g.padLeft + g.padRight
    let paddedH = height + g.padTop + g.padBottom
    let plane = paddedH * paddedW + depthwisePlaneSlack(g)
    guard g.strideH != 1 || g.strideW != 1 else { return plane }
    return plane + g.strideW * paddedH * phaseRowStride(paddedW: paddedW, stride: g.strideW) + depthwiseSlack(g)
}

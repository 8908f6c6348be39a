// The shifted-rows form of a stride-1 conv: its GEMM reads B's rows straight
// from one zero-bordered copy of the input (see ConvKernel in EqRuntime).

/// Floats per row of the shifted layout (`padPlanes`): the input row, then
/// max(padLeft, padRight) zeros that are this row's right padding and the
/// next row's left padding at once, so a 3×3 window on a W-wide map costs
/// W + 1 columns per output row rather than W + 2 (at least the output row's
/// width, for windows narrower than their padding).
@inlinable
public func shiftedRowLength(width: Int, geometry g: WindowGeometry) -> Int {
    let outWidth = width + g.padLeft + g.padRight - g.dilationW * (g.kernelW - 1)
    return max(width + max(g.padLeft, g.padRight), outWidth)
}

/// Copies every channel of one image [C, H, W] into its own zero-bordered
/// plane of (H + padTop + padBottom) rows of `shiftedRowLength` floats, one
/// after another: the B operand of a stride-1 conv run as shifted rows
/// (`rowGemm`). Each input row starts padLeft floats into its padded row; the
/// zeros after it serve as the right padding of that row and, read on past
/// the row's end, as the left padding of the next. Row (c, i, j) of the GEMM
/// is the run of outH·rowLength elements starting at
/// padded[c][i·dh·rowLength + j·dw]; output pixel (oh, ow) sits at its column
/// oh·rowLength + ow, and the rowLength − outW columns past each output row
/// are junk that `copyValidColumns` drops.
///
/// `padded` must hold `paddedPlanesCount` elements.
@inlinable
public func padPlanes(input: UnsafePointer<Float>, channels: Int, height: Int, width: Int,
                      geometry g: WindowGeometry, padded: UnsafeMutablePointer<Float>) {
    let rowLength = shiftedRowLength(width: width, geometry: g)
    let paddedPlane = (height + g.padTop + g.padBottom) * rowLength
    let count = paddedPlanesCount(channels: channels, height: height, width: width, geometry: g)
    // Zeros only between one input row and the next (a memset of everything
    // first wrote the planes twice). A gap of up to eight floats (the one
    // padding column of a 3×3 window) is one vector store, whose extra lanes
    // land on floats written after it.
    var zeroFrom = 0
    for c in 0..<channels {
        let src = input + c * height * width
        let first = c * paddedPlane + g.padTop * rowLength + g.padLeft
        for h in 0..<height {
            let at = first + h * rowLength
            if at - zeroFrom <= 8 && zeroFrom + 8 <= count {
                store8(SIMD8<Float>(), padded + zeroFrom)
            } else {
                (padded + zeroFrom).update(repeating: 0, count: at - zeroFrom)
            }
            copyRow(src + h * width, padded + at, count: width)
            zeroFrom = at + width
        }
    }
    (padded + zeroFrom).update(repeating: 0, count: count - zeroFrom)
}

/// The B-row offsets of a stride-1 conv run on `padPlanes`'s output: row
/// (c, i, j) starts at c·paddedPlane + i·dh·rowLength + j·dw.
public func shiftedRowOffsets(channels: Int, height: Int, width: Int, geometry g: WindowGeometry) -> [Int] {
    let rowLength = shiftedRowLength(width: width, geometry: g)
    let paddedPlane = (height + g.padTop + g.padBottom) * rowLength
    return (0..<channels).flatMap { c in
        (0..<g.kernelH).flatMap { i in
            (0..<g.kernelW).map { j in c * paddedPlane + i * g.dilationH * rowLength + j * g.dilationW }
        }
    }
}

/// Elements of `padPlanes`'s output: each zero-bordered plane, plus the
/// slack that the last plane's junk columns read past its end.
@inlinable
public func paddedPlanesCount(channels: Int, height: Int, width: Int, geometry g: WindowGeometry) -> Int {
    channels * (height + g.padTop + g.padBottom) * shiftedRowLength(width: width, geometry: g) + g.dilationW * (g.kernelW - 1)
}

/// The epilogue of a shifted-rows GEMM: out[c, oh, ow] = epilogue(wide[c, oh·rowLength + ow])
/// for the outW valid columns of each row (the conv's fused batch norm and
/// activation are applied here, not by the GEMM). Rows of eight or more are copied
/// in eight-wide vectors, the last one overlapping the one before it (the
/// compiler's loop for 28-wide rows ran four wide after a runtime overlap
/// check, a sixth of the conv's own instructions on the demo ResNet). Shorter
/// rows (7² maps) are stored eight wide too, spilling into the next output row,
/// which is written after them; only rows whose eight floats would pass the end
/// of `wide` or of `output` go lane by lane.
@inlinable
public func copyValidColumns(_ wide: UnsafePointer<Float>, rowLength: Int, channels: Int, outHeight: Int, outWidth: Int,
                             epilogue: OutputEpilogue? = nil, output: UnsafeMutablePointer<Float>) {
    let e = epilogue ?? .identity
    let rows = channels * outHeight
    for channel in 0..<channels {
        for oh in 0..<outHeight {
            let row = channel * outHeight + oh
            let src = wide + row * rowLength, dst = output + row * outWidth
            guard outWidth >= 8 else {
                if row * rowLength + 8 <= rows * rowLength && row * outWidth + 8 <= rows * outWidth {
                    store8(e.apply(load8(src), channel: channel, at: dst), dst)
                } else {
                    for ow in 0..<outWidth { dst[ow] = e.apply(src[ow], channel: channel, at: dst + ow) }
                }
                continue
            }
            // The overlapping last vector reads the GEMM's result, not the
            // stored output, so no value gets the epilogue twice.
            forEachOverlappingVector(outWidth) { at in store8(e.apply(load8(src + at), channel: channel, at: dst + at), dst + at) }
        }
    }
}

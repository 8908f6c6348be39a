/// im2col: unfolds the receptive fields of one image [C, H, W] into a matrix
/// [C·kh·kw, outH·outW], so that a convolution becomes one GEMM
/// W[out, C·kh·kw] × cols. Row (c, i, j) holds input pixel
/// (c, oh·sh − padTop + i·dh, ow·sw − padLeft + j·dw) for every output pixel,
/// zero where that falls into the padding.
///
/// A padded window first copies each input plane into the zero-bordered plane
/// `padded` (`im2colScratchCount` elements; its border is zeroed once per call,
/// since every channel overwrites only the interior), so the copy loops need
/// no bounds checks and no per-row zero fills.
@inlinable
public func im2col(input: UnsafePointer<Float>, channels: Int, height: Int, width: Int,
                   geometry g: WindowGeometry, outHeight: Int, outWidth: Int,
                   columns: UnsafeMutablePointer<Float>, padded: UnsafeMutablePointer<Float>) {
    let outPlane = outHeight * outWidth
    let paddedW = width + g.padLeft + g.padRight
    let paddedH = height + g.padTop + g.padBottom
    if !g.isUnpadded { padded.update(repeating: 0, count: paddedH * paddedW) }
    var row = 0
    for c in 0..<channels {
        var plane = input + c * height * width
        if !g.isUnpadded {
            for h in 0..<height {
                (padded + (h + g.padTop) * paddedW + g.padLeft).update(from: plane + h * width, count: width)
            }
            plane = UnsafePointer(padded)
        }
        for i in 0..<g.kernelH {
            for j in 0..<g.kernelW {
                let dst = columns + row * outPlane
                row += 1
                if !g.isUnpadded && outWidth <= 8 && g.strideW <= 2 {
                    // Small maps (7 or 8 wide): one vector per row, read from
                    // the padded plane's slack and stored eight wide; the
                    // extra lanes land on the next row, written after them,
                    // or in the columns' slack (`im2colColumnSlack`).
                    for oh in 0..<outHeight {
                        let src = plane + (oh * g.strideH + i * g.dilationH) * paddedW + j * g.dilationW
                        store8(g.strideW == 1 ? load8(src) : loadEven8(src), dst + oh * outWidth)
                    }
                    continue
                }
                if g.strideW == 2 && outWidth >= 8 && 2 * outWidth <= paddedW - j * g.dilationW {
                    // Eight outputs from the even lanes of sixteen inputs, the
                    // last vector overlapping the one before it; every read
                    // stays in the source row (1×1 stride-2 convs read 14-wide
                    // outputs from 28-wide rows). Pointers step row by row:
                    // the per-row index arithmetic, overflow-checked, cost
                    // more than the two vectors of a 14-wide row.
                    var src = plane + i * g.dilationH * paddedW + j * g.dilationW, dstRow = dst
                    let rowStep = g.strideH * paddedW
                    for _ in 0..<outHeight {
                        forEachOverlappingVector(outWidth) { at in
                            store8(loadEven8(src + (at &* 2)), dstRow + at)
                        }
                        src += rowStep
                        dstRow += outWidth
                    }
                    continue
                }
                for oh in 0..<outHeight {
                    let src = plane + (oh * g.strideH + i * g.dilationH) * paddedW + j * g.dilationW
                    let dstRow = dst + oh * outWidth
                    if g.strideW == 1 {
                        for ow in 0..<outWidth { dstRow[ow] = src[ow] }
                    } else if g.strideW == 2 {
                        // A constant stride (wrapping multiply: no overflow
                        // branch in the loop) lets the compiler use shuffles.
                        for ow in 0..<outWidth { dstRow[ow] = src[ow &* 2] }
                    } else {
                        let s = g.strideW
                        for ow in 0..<outWidth { dstRow[ow] = src[ow &* s] }
                    }
                }
            }
        }
    }
}

/// The scratch elements `im2col` needs for its zero-bordered plane, with the
/// slack its sixteen-wide reads of the last rows may touch.
@inlinable
public func im2colScratchCount(height: Int, width: Int, geometry g: WindowGeometry) -> Int {
    g.isUnpadded ? 0 : (height + g.padTop + g.padBottom) * (width + g.padLeft + g.padRight) + 16
}

/// Elements past the column matrix that `im2col`'s eight-wide row stores may write.
public let im2colColumnSlack = 8

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
    padded.update(repeating: 0, count: paddedPlanesCount(channels: channels, height: height, width: width, geometry: g))
    for c in 0..<channels {
        let src = input + c * height * width
        let dst = padded + c * paddedPlane + g.padTop * rowLength + g.padLeft
        for h in 0..<height { (dst + h * rowLength).update(from: src + h * width, count: width) }
    }
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
                    store8(e.apply(load8(src), channel: channel), dst)
                } else {
                    for ow in 0..<outWidth { dst[ow] = e.apply(src[ow], channel: channel) }
                }
                continue
            }
            // The overlapping last vector reads the GEMM's result, not the
            // stored output, so no value gets the epilogue twice.
            forEachOverlappingVector(outWidth) { at in store8(e.apply(load8(src + at), channel: channel), dst + at) }
        }
    }
}

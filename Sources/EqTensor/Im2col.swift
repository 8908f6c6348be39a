/// im2col: unfolds the receptive fields of one image [C, H, W] into a matrix
/// [C·kh·kw, outH·outW], so that a convolution becomes one GEMM
/// W[out, C·kh·kw] × cols. Row (c, i, j) holds input pixel
/// (c, oh·sh − padTop + i·dh, ow·sw − padLeft + j·dw) for every output pixel,
/// zero where that falls into the padding.
@inlinable
public func im2col(input: UnsafePointer<Float>, channels: Int, height: Int, width: Int,
                   geometry g: WindowGeometry, outHeight: Int, outWidth: Int,
                   columns: UnsafeMutablePointer<Float>) {
    let outPlane = outHeight * outWidth
    var row = 0
    for c in 0..<channels {
        let plane = input + c * height * width
        for i in 0..<g.kernelH {
            for j in 0..<g.kernelW {
                let dst = columns + row * outPlane
                row += 1
                let colOffset = j * g.dilationW - g.padLeft
                for oh in 0..<outHeight {
                    let ih = oh * g.strideH - g.padTop + i * g.dilationH
                    let dstRow = dst + oh * outWidth
                    if ih < 0 || ih >= height {
                        dstRow.update(repeating: 0, count: outWidth)
                        continue
                    }
                    let src = plane + ih * width
                    if g.strideW == 1 {
                        // Contiguous run: zero the borders, copy the middle.
                        let first = max(0, -colOffset)
                        let last = min(outWidth, width - colOffset)
                        if first > 0 { dstRow.update(repeating: 0, count: min(first, outWidth)) }
                        if last > first {
                            (dstRow + first).update(from: src + first + colOffset, count: last - first)
                        }
                        if last < outWidth {
                            let from = max(last, 0)
                            (dstRow + from).update(repeating: 0, count: outWidth - from)
                        }
                    } else {
                        for ow in 0..<outWidth {
                            let iw = ow * g.strideW + colOffset
                            dstRow[ow] = (iw >= 0 && iw < width) ? src[iw] : 0
                        }
                    }
                }
            }
        }
    }
}

/// 2-D max pooling of `channels` planes (ONNX MaxPool): the maximum over each
/// window, padding cells ignored (a window always holds at least one input cell
/// for the geometries ONNX allows).
///
/// Without dilation the window is separable: a row pass takes the maximum
/// over each window's columns for every input row, and a column pass the
/// maximum of those over the window's rows, both as element-wise loops the
/// compiler vectorizes (`scratch` holds height·outWidth floats).
///
/// Stride-1 windows on rows of at least eight (the inception's 3×3 "same"
/// pools) take `maxPoolStride1`, eight outputs per vector.
@inlinable
public func maxPool2D(input: UnsafePointer<Float>, channels: Int, height: Int, width: Int,
                      geometry g: WindowGeometry, outHeight: Int, outWidth: Int,
                      output: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>? = nil) {
    if let line = scratch, g.strideH == 1, g.strideW == 1, g.dilationH == 1, g.dilationW == 1,
       g.padTop < g.kernelH, g.padBottom < g.kernelH,   // every window holds an input row
       width >= 8, outWidth >= 8, height * outWidth >= width + g.padLeft + g.padRight + 8 {
        maxPoolStride1(input: input, channels: channels, height: height, width: width, geometry: g,
                       outHeight: outHeight, outWidth: outWidth, output: output, line: line)
        return
    }
    if let rows = scratch, g.dilationH == 1, g.dilationW == 1 {
        // Per column tap j: its offset in the row and the output columns
        // whose tap j falls inside the row (the same for every row; computed
        // per row, the divisions were a fifth of the kernel on 28-wide maps).
        let taps = (0..<g.kernelW).compactMap { j -> (offset: Int, first: Int, last: Int)? in
            let offset = j - g.padLeft
            guard offset < width else { return nil }
            let first = max(0, (-offset + g.strideW - 1) / g.strideW)
            let last = min(outWidth, (width - 1 - offset) / g.strideW + 1)
            return first < last ? (offset, first, last) : nil
        }
        for c in 0..<channels {
            let src = input + c * height * width
            let dst = output + c * outHeight * outWidth
            // Row pass: rows[ih][ow] = max over the window's columns (at least one is inside).
            for ih in 0..<height {
                let line = src + ih * width, out = rows + ih * outWidth
                for ow in 0..<outWidth { out[ow] = -.infinity }
                for (offset, first, last) in taps {
                    if g.strideW == 1 {
                        let from = line + offset
                        for ow in first..<last { let v = from[ow]; out[ow] = (v > out[ow] || v != v) ? v : out[ow] }
                    } else {
                        for ow in first..<last { let v = line[ow * g.strideW + offset]; out[ow] = (v > out[ow] || v != v) ? v : out[ow] }
                    }
                }
            }
            // Column pass.
            for oh in 0..<outHeight {
                let out = dst + oh * outWidth
                for ow in 0..<outWidth { out[ow] = -.infinity }
                let h0 = oh * g.strideH - g.padTop
                for ih in max(0, h0)..<min(height, h0 + g.kernelH) {
                    let row = rows + ih * outWidth
                    for ow in 0..<outWidth { let v = row[ow]; out[ow] = (v > out[ow] || v != v) ? v : out[ow] }
                }
            }
        }
        return
    }
    for c in 0..<channels {
        let src = input + c * height * width
        let dst = output + c * outHeight * outWidth
        for oh in 0..<outHeight {
            for ow in 0..<outWidth {
                var best = -Float.infinity
                for i in 0..<g.kernelH {
                    let ih = oh * g.strideH - g.padTop + i * g.dilationH
                    guard ih >= 0 && ih < height else { continue }
                    for j in 0..<g.kernelW {
                        let iw = ow * g.strideW - g.padLeft + j * g.dilationW
                        guard iw >= 0 && iw < width else { continue }
                        let v = src[ih * width + iw]
                        // NaN propagates, as in ONNX Runtime.
                        if v > best || v.isNaN { best = v }
                    }
                }
                dst[oh * outWidth + ow] = best
            }
        }
    }
}

/// The maximum of a and b that keeps a NaN from either side (as ONNX Runtime
/// does); `max`/`vmaxps` would drop a NaN in one argument order or the other.
@inlinable @inline(__always)
func maxKeepingNaN(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> {
    a.replacing(with: b, where: (b .> a) .| (b .!= b))
}

/// Stride-1 max pooling, eight outputs per vector. For each output row, the
/// window's input rows are reduced into `line` (the row's maximum over them,
/// between padLeft and padRight cells of −∞), then each output is the
/// maximum of kernelW neighbours of `line`; no bounds test in either loop.
/// Rows are covered by eight-wide vectors, the last one overlapping the one
/// before it. `line` holds paddedW + 8 floats; width and outWidth are ≥ 8.
@inlinable
func maxPoolStride1(input: UnsafePointer<Float>, channels: Int, height: Int, width: Int, geometry g: WindowGeometry,
                    outHeight: Int, outWidth: Int, output: UnsafeMutablePointer<Float>, line: UnsafeMutablePointer<Float>) {
    for x in 0..<g.padLeft { line[x] = -.infinity }
    for x in 0..<g.padRight { line[g.padLeft + width + x] = -.infinity }
    let row = line + g.padLeft
    for c in 0..<channels {
        let src = UnsafePointer(input + c * height * width), dst = output + c * outHeight * outWidth
        for oh in 0..<outHeight {
            let first = max(0, oh - g.padTop), last = min(height, oh - g.padTop + g.kernelH)
            forEachOverlappingVector(width) { x in
                var m = load8(src + first * width + x)
                for ih in (first + 1)..<last { m = maxKeepingNaN(m, load8(src + ih * width + x)) }
                store8(m, row + x)
            }
            forEachOverlappingVector(outWidth) { ow in
                var m = load8(line + ow)
                for j in 1..<g.kernelW { m = maxKeepingNaN(m, load8(line + ow + j)) }
                store8(m, dst + oh * outWidth + ow)
            }
        }
    }
}

/// 2-D average pooling (ONNX AveragePool): the mean over each window. With
/// `countIncludePad` the divisor is the window size clipped to the padded input
/// (as ONNX Runtime does); without it, the number of real input cells.
@inlinable
public func averagePool2D(input: UnsafePointer<Float>, channels: Int, height: Int, width: Int,
                          geometry g: WindowGeometry, countIncludePad: Bool,
                          outHeight: Int, outWidth: Int, output: UnsafeMutablePointer<Float>) {
    let paddedH = height + g.padBottom, paddedW = width + g.padRight
    for c in 0..<channels {
        let src = input + c * height * width
        let dst = output + c * outHeight * outWidth
        for oh in 0..<outHeight {
            let h0 = oh * g.strideH - g.padTop
            for ow in 0..<outWidth {
                let w0 = ow * g.strideW - g.padLeft
                var sum: Float = 0
                var cells = 0
                for i in 0..<g.kernelH {
                    let ih = h0 + i * g.dilationH
                    guard ih >= 0 && ih < height else { continue }
                    for j in 0..<g.kernelW {
                        let iw = w0 + j * g.dilationW
                        guard iw >= 0 && iw < width else { continue }
                        sum += src[ih * width + iw]
                        cells += 1
                    }
                }
                if countIncludePad {
                    let hSpan = min(h0 + (g.kernelH - 1) * g.dilationH + 1, paddedH) - h0
                    let wSpan = min(w0 + (g.kernelW - 1) * g.dilationW + 1, paddedW) - w0
                    cells = ((hSpan + g.dilationH - 1) / g.dilationH) * ((wSpan + g.dilationW - 1) / g.dilationW)
                }
                dst[oh * outWidth + ow] = cells > 0 ? sum / Float(cells) : 0
            }
        }
    }
}

/// Global average pooling: the mean of each of `channels` planes of `plane` cells.
@inlinable
public func globalAveragePool(input: UnsafePointer<Float>, channels: Int, plane: Int,
                              output: UnsafeMutablePointer<Float>) {
    for c in 0..<channels {
        let src = input + c * plane
        var sum: Float = 0
        for i in 0..<plane { sum += src[i] }
        output[c] = sum / Float(plane)
    }
}

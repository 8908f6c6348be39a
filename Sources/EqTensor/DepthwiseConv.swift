/// Direct depthwise convolution of one image: every output channel c reads only
/// input channel c / multiplier (ONNX Conv with group = input channels):
///
///   out[c, oh, ow] = bias[c] + Σ_{i,j} w[c, i, j] · in[c / m, oh·sh − pt + i·dh, ow·sw − pl + j·dw]
///
/// with zero padding. Each input plane is copied into a zero-bordered scratch
/// plane so the inner loops need no bounds checks; the border is zeroed once
/// per image, since every channel overwrites only the interior.
@inlinable
public func depthwiseConv2D(input: UnsafePointer<Float>, channels: Int, height: Int, width: Int,
                            weights: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                            multiplier: Int, geometry g: WindowGeometry,
                            outHeight: Int, outWidth: Int,
                            output: UnsafeMutablePointer<Float>,
                            scratch: UnsafeMutablePointer<Float>) {
    let paddedH = height + g.padTop + g.padBottom
    let paddedW = width + g.padLeft + g.padRight
    let taps = g.kernelH * g.kernelW
    let planeCount = paddedH * paddedW + g.dilationW * (g.kernelW - 1)
    let wide = scratch + planeCount
    // The border (and the slack after the plane) stays zero across channels:
    // zero it once, then copy interiors.
    scratch.update(repeating: 0, count: planeCount)
    let unitStride = g.strideH == 1 && g.strideW == 1
    for c in 0..<channels {
        let src = input + c * height * width
        for h in 0..<height {
            (scratch + (h + g.padTop) * paddedW + g.padLeft).update(from: src + h * width, count: width)
        }
        if !unitStride {
            splitColumnPhases(scratch, paddedH: paddedH, paddedW: paddedW, stride: g.strideW, phases: wide)
        }
        for m in 0..<multiplier {
            let oc = c * multiplier + m
            if unitStride {
                depthwisePlaneStride1(scratch, paddedW: paddedW, weights: weights + oc * taps, bias: bias?[oc] ?? 0,
                                      geometry: g, outHeight: outHeight, outWidth: outWidth,
                                      output: output + oc * outHeight * outWidth, wide: wide)
            } else {
                depthwisePlaneStrided(paddedH: paddedH, paddedW: paddedW, weights: weights + oc * taps,
                                      bias: bias?[oc] ?? 0, geometry: g, outHeight: outHeight, outWidth: outWidth,
                                      output: output + oc * outHeight * outWidth, phases: wide)
            }
        }
    }
}

/// Stride 1: the output is accumulated `paddedW` wide, so every tap is one
/// contiguous loop over the whole plane, out[k] += w · in[k + i·dh·paddedW + j·dw]
/// (the extra columns hold values that are thrown away), then the valid
/// `outWidth` columns of each row are copied out.
@inlinable
func depthwisePlaneStride1(_ padded: UnsafePointer<Float>, paddedW: Int, weights w: UnsafePointer<Float>, bias b: Float,
                           geometry g: WindowGeometry, outHeight: Int, outWidth: Int,
                           output: UnsafeMutablePointer<Float>, wide: UnsafeMutablePointer<Float>) {
    let count = outHeight * paddedW
    wide.update(repeating: b, count: count)
    for i in 0..<g.kernelH {
        for j in 0..<g.kernelW {
            let wv = w[i * g.kernelW + j]
            let source = padded + i * g.dilationH * paddedW + j * g.dilationW
            for k in 0..<count { wide[k] += wv * source[k] }
        }
    }
    for oh in 0..<outHeight {
        (output + oh * outWidth).update(from: wide + oh * paddedW, count: outWidth)
    }
}

/// Splits a zero-bordered plane into strideW column phases: phase p holds
/// padded columns p, p + sw, p + 2·sw, … of every row, phaseW = ⌈paddedW / sw⌉ wide.
@inlinable
func splitColumnPhases(_ padded: UnsafePointer<Float>, paddedH: Int, paddedW: Int, stride sw: Int,
                       phases: UnsafeMutablePointer<Float>) {
    let phaseW = (paddedW + sw - 1) / sw
    for p in 0..<sw {
        let n = (paddedW - p + sw - 1) / sw
        for h in 0..<paddedH {
            let src = padded + h * paddedW + p, dst = phases + (p * paddedH + h) * phaseW
            for x in 0..<n { dst[x] = src[x &* sw] }
        }
    }
}

/// A strided output plane from the column phases of its input: tap j reads
/// phase (j·dw) mod sw at offset ⌊j·dw / sw⌋, so every row loop is contiguous
/// and vectorizes (a stride-sw loop over the plane ran scalar).
@inlinable
func depthwisePlaneStrided(paddedH: Int, paddedW: Int,
                           weights w: UnsafePointer<Float>, bias b: Float,
                           geometry g: WindowGeometry, outHeight: Int, outWidth: Int,
                           output: UnsafeMutablePointer<Float>, phases: UnsafePointer<Float>) {
    let sw = g.strideW
    let phaseW = (paddedW + sw - 1) / sw
    for oh in 0..<outHeight {
        let dst = output + oh * outWidth
        dst.update(repeating: b, count: outWidth)
        for i in 0..<g.kernelH {
            let rowIndex = oh * g.strideH + i * g.dilationH
            for j in 0..<g.kernelW {
                let column = j * g.dilationW
                let wv = w[i * g.kernelW + j]
                let src = phases + ((column % sw) * paddedH + rowIndex) * phaseW + column / sw
                for ow in 0..<outWidth { dst[ow] += wv * src[ow] }
            }
        }
    }
}

/// The scratch elements `depthwiseConv2D` needs: the zero-bordered plane, then
/// the stride-1 wide accumulator or the strided column phases.
@inlinable
public func depthwiseScratchCount(height: Int, width: Int, geometry g: WindowGeometry) -> Int {
    let paddedW = width + g.padLeft + g.padRight
    let paddedH = height + g.padTop + g.padBottom
    let plane = paddedH * paddedW + g.dilationW * (g.kernelW - 1)
    let outHeight = paddedH - g.dilationH * (g.kernelH - 1)
    let phases = g.strideW * paddedH * ((paddedW + g.strideW - 1) / g.strideW)
    return plane + max(max(outHeight, 0) * paddedW, phases)
}

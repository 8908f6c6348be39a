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
    for c in 0..<channels {
        let src = input + c * height * width
        for h in 0..<height {
            (scratch + (h + g.padTop) * paddedW + g.padLeft).update(from: src + h * width, count: width)
        }
        for m in 0..<multiplier {
            let oc = c * multiplier + m
            if g.strideH == 1 && g.strideW == 1 {
                depthwisePlaneStride1(scratch, paddedW: paddedW, weights: weights + oc * taps, bias: bias?[oc] ?? 0,
                                      geometry: g, outHeight: outHeight, outWidth: outWidth,
                                      output: output + oc * outHeight * outWidth, wide: wide)
            } else {
                depthwisePlane(scratch, paddedW: paddedW, weights: weights + oc * taps, bias: bias?[oc] ?? 0,
                               geometry: g, outHeight: outHeight, outWidth: outWidth,
                               output: output + oc * outHeight * outWidth)
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

/// One output plane of a depthwise convolution from a zero-bordered input
/// plane: each tap adds w · (shifted input row) to the output row; with
/// stride 1 these row loops are contiguous and the compiler vectorises them.
@inlinable
func depthwisePlane(_ padded: UnsafePointer<Float>, paddedW: Int, weights w: UnsafePointer<Float>, bias b: Float,
                    geometry g: WindowGeometry, outHeight: Int, outWidth: Int, output: UnsafeMutablePointer<Float>) {
    for oh in 0..<outHeight {
        let dst = output + oh * outWidth
        dst.update(repeating: b, count: outWidth)
        for i in 0..<g.kernelH {
            let row = padded + (oh * g.strideH + i * g.dilationH) * paddedW
            for j in 0..<g.kernelW {
                let wv = w[i * g.kernelW + j]
                let base = row + j * g.dilationW
                if g.strideW == 1 {
                    for ow in 0..<outWidth { dst[ow] += wv * base[ow] }
                } else {
                    for ow in 0..<outWidth { dst[ow] += wv * base[ow * g.strideW] }
                }
            }
        }
    }
}

/// The scratch elements `depthwiseConv2D` needs for one plane.
@inlinable
public func depthwiseScratchCount(height: Int, width: Int, geometry g: WindowGeometry) -> Int {
    let paddedW = width + g.padLeft + g.padRight
    let plane = (height + g.padTop + g.padBottom) * paddedW + g.dilationW * (g.kernelW - 1)
    let outHeight = height + g.padTop + g.padBottom - g.dilationH * (g.kernelH - 1)
    return plane + max(outHeight, 0) * paddedW
}
